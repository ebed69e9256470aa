package store

import (
	"net"
	"slices"
	"testing"

	"github.com/logatron/logatron/query"
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

func TestSortInfos(t *testing.T) {
	for _, names := range [][]string{
		{"worker_10", "worker_9", "worker_1", "worker_100", "worker_", "worker_0"},
		{"b", "a", "ab", "aa", "a_"},
		{"same_prefix_longer_than_8_bytes_x2", "same_prefix_longer_than_8_bytes_x10", "same_prefix_longer_than_8_bytes_x1"},
		{"Z", "z", "0", "_"},
		{"only"},
		{},
	} {
		cs := make([]query.ClientInfo, len(names))
		for i, n := range names {
			cs[i] = query.ClientInfo{Name: n, Lines: uint64(i)}
		}
		got := SortInfos(cs)
		want := slices.Clone(names)
		slices.Sort(want)
		for i := range got {
			if got[i].Name != want[i] || names[got[i].Lines] != got[i].Name {
				t.Fatalf("%q: sorted to %v", names, got)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d infos", names, len(got))
		}
	}
}
