package codec

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header byte by byte: signature, version/command,
// family/transport, the big-endian length of body, body.
func v2(verCmd, fam byte, body ...[]byte) []byte {
	b := []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, verCmd, fam, 0, 0}
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-16))
	return b
}

// tlv is one type-length-value vector.
func tlv(typ byte, val []byte) []byte {
	return append([]byte{typ, byte(len(val) >> 8), byte(len(val))}, val...)
}

// withCRC fills the value of the CRC32C TLV that ends hdr (a zeroed
// 4-byte value) with the checksum of the whole header, as a sender does.
func withCRC(hdr []byte) []byte {
	binary.BigEndian.PutUint32(hdr[len(hdr)-4:], crc32.Checksum(hdr, crc32.MakeTable(crc32.Castagnoli)))
	return hdr
}

var (
	// addr4 is 172.19.0.1:42578 -> 172.19.0.3:80, the address block of a
	// header haproxy sent in front of an HTTP request.
	addr4 = []byte{0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50}
	// addr6 is [2001:db8::1]:8080 -> [2001:db8::2]:2212.
	addr6 = []byte{
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		0x1f, 0x90, 0x08, 0xa4,
	}
	// addr6mapped is [::ffff:10.1.2.3]:1 -> [::ffff:10.0.0.1]:2.
	addr6mapped = []byte{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1,
		0, 1, 0, 2,
	}
)

func TestParseProxy(t *testing.T) {
	const (
		ok    = ""
		ap4   = "172.19.0.1:42578"
		none  = "-" // complete, no address to use
		more  = "more"
		v1max = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
	)
	crcZero := []byte{0, 0, 0, 0}
	big := bytes.Repeat([]byte{0xee}, MaxProxyHeaderLen-16-12-3)
	tests := []struct {
		name string
		in   []byte
		src  string // want src, none, or more
		n    int    // want n (complete only)
		err  string
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"), "192.168.0.1:56324", 47, ok},
		{"v1 tcp4 alone", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), "192.168.0.1:56324", 47, ok},
		{"v1 tcp4 max", []byte("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\nIAM x\n"), "255.255.255.255:65535", 56, ok},
		{"v1 port 0", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n"), "1.2.3.4:0", 32, ok},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:DB8::2 8080 2212\r\nIAM x\n"), "[2001:db8::1]:8080", 46, ok},
		{"v1 tcp6 full", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 104, ok},
		{"v1 tcp6 mapped", []byte("PROXY TCP6 ::ffff:10.1.2.3 ::1 1 2\r\n"), "10.1.2.3:1", 36, ok},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\nIAM x\n"), none, 15, ok},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), none, 35, ok},
		{"v1 unknown 107", []byte(v1max + "rest"), none, 107, ok},
		{"v1 unknown garbage", []byte("PROXY UNKNOWN \x00\xff anything\r\n"), none, 27, ok},

		{"empty", nil, more, 0, ok},
		{"v1 prefix P", []byte("P"), more, 0, ok},
		{"v1 prefix PROXY", []byte("PROXY"), more, 0, ok},
		{"v1 no CRLF yet", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), more, 0, ok},
		{"v1 CR only yet", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), more, 0, ok},
		{"v1 106 without CRLF", []byte(v1max[:106]), more, 0, ok},
		{"v1 107 without CRLF", []byte(strings.Repeat("PROXY UNKNOWN ", 8)[:107]), "", 0, "proxy protocol: v1 header without CRLF in 107 bytes"},
		{"v1 CRLF at 108", []byte(v1max[:105] + "f\r\n"), "", 0, "proxy protocol: v1 header without CRLF in 107 bytes"},
		{"v1 bare LF", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nIAM x\n"), "", 0, "proxy protocol: v1 header not ended by CRLF"},
		{"v1 bare LF right after sig", []byte("PROXY \n"), "", 0, "proxy protocol: v1 header not ended by CRLF"},
		{"v1 empty proto", []byte("PROXY \r\n"), "", 0, "proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN"},
		{"v1 lower case", []byte("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN"},
		{"v1 UDP4", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN"},
		{"v1 UNKNOWNX", []byte("PROXY UNKNOWNX\r\n"), "", 0, "proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN"},
		{"v1 two spaces", []byte("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN"},
		{"v1 double space inside", []byte("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>"},
		{"v1 trailing space", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), "", 0, "proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>"},
		{"v1 missing port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "", 0, "proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>"},
		{"v1 extra field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), "", 0, "proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>"},
		{"v1 tab", []byte("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>"},
		{"v1 tcp4 with v6", []byte("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 tcp4 with mapped", []byte("PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 tcp6 with v4", []byte("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 tcp6 dst v4", []byte("PROXY TCP6 ::1 1.2.3.4 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 tcp6 zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 octal-looking", []byte("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 octet over 255", []byte("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 name", []byte("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), "", 0, "proxy protocol: v1 address invalid or not of the protocol's family"},
		{"v1 port 65536", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "", 0, "proxy protocol: v1 port invalid"},
		{"v1 port leading 0", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"), "", 0, "proxy protocol: v1 port invalid"},
		{"v1 dport bad", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 80 +2\r\n"), "", 0, "proxy protocol: v1 port invalid"},
		{"v1 port 6 digits", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n"), "", 0, "proxy protocol: v1 port invalid"},

		{"not proxy", []byte("IAM bob\n"), "", 0, "proxy protocol: no PROXY header"},
		{"not proxy lower", []byte("proxy TCP4"), "", 0, "proxy protocol: no PROXY header"},
		{"not proxy PROXYX", []byte("PROXYX"), "", 0, "proxy protocol: no PROXY header"},
		{"not proxy CRLF", []byte("\r\n\r\nX"), "", 0, "proxy protocol: no PROXY header"},
		{"v2 signature with version 1", []byte("\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x00"), "", 0, "proxy protocol: v2 header with version other than 2"},

		{"v2 haproxy capture", append(v2(0x21, 0x11, addr4), "GET / HTTP/1.1\r\n"...), ap4, 28, ok},
		{"v2 tcp4 alone", v2(0x21, 0x11, addr4), ap4, 28, ok},
		{"v2 tcp6", v2(0x21, 0x21, addr6), "[2001:db8::1]:8080", 52, ok},
		{"v2 tcp6 mapped", v2(0x21, 0x21, addr6mapped), "10.1.2.3:1", 52, ok},
		{"v2 tlvs", v2(0x21, 0x11, addr4, tlv(0x01, []byte("h2")), tlv(0x04, nil), tlv(0x20, []byte{1, 0, 0, 0, 0, 0x21, 0, 3, 'T', 'L', 'S'})), ap4, 28 + 5 + 3 + 14, ok},
		{"v2 tlv crc", withCRC(v2(0x21, 0x11, addr4, tlv(0x05, []byte("id-1")), tlv(0x03, crcZero))), ap4, 28 + 7 + 7, ok},
		{"v2 tlv max size", v2(0x21, 0x11, addr4, tlv(0xe0, big)), ap4, MaxProxyHeaderLen, ok},
		{"v2 local", v2(0x20, 0x00), none, 16, ok},
		{"v2 local with addresses", append(v2(0x20, 0x11, addr4), "IAM x\n"...), none, 28, ok},
		{"v2 local body not read", v2(0x20, 0x11, []byte{1, 2, 3}), none, 19, ok},
		{"v2 unspec", v2(0x21, 0x00, []byte("ignored")), none, 23, ok},
		{"v2 inet unspec transport", v2(0x21, 0x10, addr4), none, 28, ok},
		{"v2 udp4", v2(0x21, 0x12, addr4), none, 28, ok},
		{"v2 udp6", v2(0x21, 0x22, addr6), none, 52, ok},
		{"v2 unix stream", v2(0x21, 0x31, make([]byte, 216)), none, 232, ok},
		{"v2 unix dgram with tlv", v2(0x21, 0x32, make([]byte, 216), tlv(0x04, []byte{0})), none, 236, ok},

		{"v2 prefix 1", []byte("\r"), more, 0, ok},
		{"v2 prefix 12", []byte("\r\n\r\n\x00\r\nQUIT\n"), more, 0, ok},
		{"v2 prefix 15", v2(0x21, 0x11, addr4)[:15], more, 0, ok},
		{"v2 fixed part only", v2(0x21, 0x11, addr4)[:16], more, 0, ok},
		{"v2 address cut", v2(0x21, 0x11, addr4)[:27], more, 0, ok},
		{"v2 local cut", v2(0x20, 0x11, addr4)[:20], more, 0, ok},

		{"v2 version 1", v2(0x11, 0x11, addr4), "", 0, "proxy protocol: v2 header with version other than 2"},
		{"v2 version 3", v2(0x31, 0x11, addr4), "", 0, "proxy protocol: v2 header with version other than 2"},
		{"v2 command 2", v2(0x22, 0x11, addr4), "", 0, "proxy protocol: v2 command neither LOCAL nor PROXY"},
		{"v2 command 15", v2(0x2f, 0x11, addr4), "", 0, "proxy protocol: v2 command neither LOCAL nor PROXY"},
		{"v2 family 4", v2(0x21, 0x41, addr4), "", 0, "proxy protocol: v2 address family or transport unassigned"},
		{"v2 transport 3", v2(0x21, 0x13, addr4), "", 0, "proxy protocol: v2 address family or transport unassigned"},
		{"v2 local family 4", v2(0x20, 0x40), "", 0, "proxy protocol: v2 address family or transport unassigned"},
		{"v2 tcp4 short", v2(0x21, 0x11, addr4[:11]), "", 0, "proxy protocol: v2 header shorter than its addresses"},
		{"v2 tcp6 with v4 block", v2(0x21, 0x21, addr4), "", 0, "proxy protocol: v2 header shorter than its addresses"},
		{"v2 unix short", v2(0x21, 0x31, make([]byte, 215)), "", 0, "proxy protocol: v2 header shorter than its addresses"},
		{"v2 over 16 KiB", v2(0x21, 0x11, addr4, tlv(0xe0, append(big, 0))), "", 0, "proxy protocol: v2 header over 16 KiB"},
		{"v2 over 16 KiB before body", v2(0x21, 0x11, addr4, tlv(0xe0, append(big, 0)))[:16], "", 0, "proxy protocol: v2 header over 16 KiB"},
		{"v2 length 65535", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"), "", 0, "proxy protocol: v2 header over 16 KiB"},
		{"v2 tlv 1 byte left", v2(0x21, 0x11, addr4, []byte{0x04}), "", 0, "proxy protocol: v2 TLV runs past the header"},
		{"v2 tlv 2 bytes left", v2(0x21, 0x11, addr4, []byte{0x04, 0}), "", 0, "proxy protocol: v2 TLV runs past the header"},
		{"v2 tlv overruns", v2(0x21, 0x11, addr4, tlv(0x04, []byte{1, 2, 3})[:5]), "", 0, "proxy protocol: v2 TLV runs past the header"},
		{"v2 tlv crc wrong size", v2(0x21, 0x11, addr4, tlv(0x03, []byte{0, 0, 0})), "", 0, "proxy protocol: v2 TLV runs past the header"},
		{"v2 tlv crc mismatch", v2(0x21, 0x11, addr4, tlv(0x03, []byte{1, 2, 3, 4})), "", 0, "proxy protocol: v2 CRC32C mismatch"},
		{"v2 tlv crc of other header", func() []byte {
			h := withCRC(v2(0x21, 0x11, addr4, tlv(0x03, crcZero)))
			h[16]++ // the source address changed after the checksum
			return h
		}(), "", 0, "proxy protocol: v2 CRC32C mismatch"},
	}
	for _, tc := range tests {
		src, n, gotMore, err := ParseProxy(tc.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		got := src.String()
		switch {
		case gotMore:
			got = more
		case err == nil && !src.IsValid():
			got = none
		case err != nil:
			got = ""
		}
		if gotErr != tc.err || got != tc.src || n != tc.n {
			t.Errorf("%s: ParseProxy(%q) = %s, %d, more %v, %q; want %s, %d, %q", tc.name, tc.in, src, n, gotMore, gotErr, tc.src, tc.n, tc.err)
		}
		if err != nil && src.IsValid() || gotMore && (err != nil || n != 0) || n > len(tc.in) {
			t.Errorf("%s: inconsistent result %s, %d, %v, %v", tc.name, src, n, gotMore, err)
		}
	}
}

// Every proper prefix of a valid header asks for more, never fails: a
// header that arrives a byte at a time is still read.
func TestParseProxyByteAtATime(t *testing.T) {
	for _, h := range [][]byte{
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
		[]byte("PROXY TCP6 2001:db8::1 2001:db8::2 8080 2212\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		v2(0x21, 0x11, addr4),
		v2(0x21, 0x21, addr6, tlv(0x01, []byte("h2"))),
		withCRC(v2(0x21, 0x11, addr4, tlv(0x03, []byte{0, 0, 0, 0}))),
		v2(0x20, 0x00),
	} {
		for k := range len(h) {
			if _, n, more, err := ParseProxy(h[:k]); !more || n != 0 || err != nil {
				t.Errorf("ParseProxy(%q) = %d, more %v, %v; want more", h[:k], n, more, err)
			}
		}
		if _, n, more, err := ParseProxy(h); n != len(h) || more || err != nil {
			t.Errorf("ParseProxy(%q) = %d, %v, %v; want %d", h, n, more, err, len(h))
		}
	}
}

func TestParseProxyV2NoAllocs(t *testing.T) {
	h := withCRC(v2(0x21, 0x21, addr6, tlv(0x01, []byte("h2")), tlv(0x03, []byte{0, 0, 0, 0})))
	want := netip.MustParseAddrPort("[2001:db8::1]:8080")
	if n := testing.AllocsPerRun(100, func() {
		if src, _, _, err := ParseProxy(h); err != nil || src != want {
			t.Fatalf("ParseProxy: %v %v", src, err)
		}
	}); n != 0 {
		t.Errorf("ParseProxy(v2) allocates %v times", n)
	}
}
