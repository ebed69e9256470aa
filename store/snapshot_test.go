package store

import (
	"net"
	"testing"
)

func TestPeerText(t *testing.T) {
	for _, a := range []*net.TCPAddr{
		{IP: net.IPv4(127, 0, 0, 1), Port: 1},
		{IP: net.IPv4(0, 0, 0, 0), Port: 65535},
		{IP: net.IPv4(255, 10, 100, 9), Port: 2212},
		{IP: net.IP{10, 1, 2, 3}, Port: 80}, // 4-byte form
		{IP: net.ParseIP("::1"), Port: 443},
		{IP: net.ParseIP("2001:db8::7"), Port: 9},
	} {
		p := PeerOf(a)
		if got := p.String(); got != a.String() {
			t.Errorf("%v: %q", a, got)
		}
		if got := p.Addr(); got != a.AddrPort() && got.String() != a.String() {
			t.Errorf("%v: Addr %v", a, got)
		}
	}
	if p := PeerOf(&net.UnixAddr{Name: "x"}); p.v4 != 0 || (Peer{}).String() != "" {
		t.Error("a peer that is not TCP must not pack, and the zero Peer prints as nothing")
	}
}
