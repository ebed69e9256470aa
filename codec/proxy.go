package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
)

// PROXY protocol header limits (HAProxy's proxy-protocol.txt).
const (
	// MaxProxyV1Len is the longest version 1 line, CRLF included: the
	// specification's worst case ("PROXY UNKNOWN" with two full IPv6
	// addresses and ports).
	MaxProxyV1Len = 107
	// MaxProxyHeaderLen bounds a version 2 header: the 16 fixed bytes plus
	// addresses and TLVs. The format allows 16+65535 bytes; 16 KiB is
	// HAProxy's default buffer size, so no header HAProxy itself would
	// accept is refused, and a connection awaiting its header never holds
	// more than this.
	MaxProxyHeaderLen = 16 << 10
)

// proxyV1Sig starts a version 1 header; proxyV2Sig a version 2 header.
var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// The errors ParseProxy returns. Each means the connection must be closed:
// the peer is not speaking the PROXY protocol it was configured for.
var (
	ErrProxyNone      = errors.New("proxy protocol: no PROXY header")
	errProxyV1Long    = errors.New("proxy protocol: v1 header without CRLF in 107 bytes")
	errProxyV1CRLF    = errors.New("proxy protocol: v1 header not ended by CRLF")
	errProxyV1Proto   = errors.New("proxy protocol: v1 protocol not TCP4, TCP6 or UNKNOWN")
	errProxyV1Fields  = errors.New("proxy protocol: v1 header not <proto> <src> <dst> <sport> <dport>")
	errProxyV1Addr    = errors.New("proxy protocol: v1 address invalid or not of the protocol's family")
	errProxyV1Port    = errors.New("proxy protocol: v1 port invalid")
	errProxyV2Version = errors.New("proxy protocol: v2 header with version other than 2")
	errProxyV2Command = errors.New("proxy protocol: v2 command neither LOCAL nor PROXY")
	errProxyV2Family  = errors.New("proxy protocol: v2 address family or transport unassigned")
	errProxyV2Long    = errors.New("proxy protocol: v2 header over 16 KiB")
	errProxyV2Short   = errors.New("proxy protocol: v2 header shorter than its addresses")
	errProxyV2TLV     = errors.New("proxy protocol: v2 TLV runs past the header")
	errProxyV2CRC     = errors.New("proxy protocol: v2 CRC32C mismatch")
)

// ParseProxy parses the PROXY protocol header, version 1 (text) or 2
// (binary), at the start of b, the bytes a connection has sent so far.
//
//   - complete and valid: n is the header's length (the connection's own
//     data starts at b[n]) and src the client's address. src is the zero
//     AddrPort (IsValid false) when the header carries none to use: a v1
//     UNKNOWN line, a v2 LOCAL command (a proxy's health check), or a v2
//     PROXY header for a family or transport other than TCP over IPv4/IPv6
//     (UNSPEC, UDP, UNIX); the caller then uses the connection's own peer
//     address. An IPv4-mapped IPv6 source is returned as IPv4.
//   - a proper prefix of a valid header: more is true, n is 0; call again
//     when more bytes have arrived. A v1 line is awaited up to
//     MaxProxyV1Len bytes, a v2 header up to MaxProxyHeaderLen.
//   - anything else: err is non-nil (its text starts "proxy protocol: "), n
//     is 0, and the caller closes the connection. ErrProxyNone means b starts
//     with neither signature.
//
// Version 2 TLVs are walked and must tile the rest of the header exactly; a
// CRC32C TLV is verified; the others are skipped. A LOCAL header is skipped
// whole without looking at its body, as the specification asks. n never
// exceeds len(b). ParseProxy reads only b, does not allocate for a v2
// header, and runs in time linear in n.
func ParseProxy(b []byte) (src netip.AddrPort, n int, more bool, err error) {
	switch {
	case isPrefixCompatible(b, proxyV2Sig):
		if len(b) < 16 {
			return netip.AddrPort{}, 0, true, nil
		}
		return parseProxyV2(b)
	case isPrefixCompatible(b, proxyV1Sig):
		if len(b) < len(proxyV1Sig) {
			return netip.AddrPort{}, 0, true, nil
		}
		return parseProxyV1(b)
	}
	return netip.AddrPort{}, 0, false, ErrProxyNone
}

// isPrefixCompatible reports whether b and sig agree on their common length.
func isPrefixCompatible(b, sig []byte) bool {
	k := min(len(b), len(sig))
	return bytes.Equal(b[:k], sig[:k])
}

func proxyFail(err error) (netip.AddrPort, int, bool, error) {
	return netip.AddrPort{}, 0, false, err
}

// parseProxyV1 parses "PROXY <proto> <src> <dst> <sport> <dport>\r\n", b
// starting with "PROXY ".
func parseProxyV1(b []byte) (netip.AddrPort, int, bool, error) {
	end := bytes.IndexByte(b[:min(len(b), MaxProxyV1Len)], '\n')
	switch {
	case end < 0 && len(b) >= MaxProxyV1Len:
		return proxyFail(errProxyV1Long)
	case end < 0:
		return netip.AddrPort{}, 0, true, nil
	case b[end-1] != '\r':
		return proxyFail(errProxyV1CRLF)
	}
	n := end + 1
	rest := b[len(proxyV1Sig) : end-1]
	proto, rest, _ := bytes.Cut(rest, []byte(" "))
	var want4 bool
	switch string(proto) {
	case "UNKNOWN": // the rest of the line is to be ignored
		return netip.AddrPort{}, n, false, nil
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return proxyFail(errProxyV1Proto)
	}
	var f [4][]byte
	for i := range f {
		var found bool
		f[i], rest, found = bytes.Cut(rest, []byte(" "))
		if len(f[i]) == 0 || found != (i < len(f)-1) {
			return proxyFail(errProxyV1Fields)
		}
	}
	var addrs [2]netip.Addr
	for i := range addrs {
		a, err := netip.ParseAddr(string(f[i]))
		if err != nil || a.Is4() != want4 || a.Zone() != "" {
			return proxyFail(errProxyV1Addr)
		}
		addrs[i] = a
	}
	sport, ok1 := parsePort(f[2])
	_, ok2 := parsePort(f[3])
	if !ok1 || !ok2 {
		return proxyFail(errProxyV1Port)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), sport), n, false, nil
}

// parsePort reads a decimal port 0-65535 without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return uint16(v), v <= 0xffff
}

// v2 header fields: the command (low nibble of byte 12), the family and
// transport (byte 13), and the TLV type of a CRC32C checksum.
const (
	proxyV2Local   = 0x0
	proxyV2Proxy   = 0x1
	proxyV2TCP4    = 0x11
	proxyV2UDP4    = 0x12
	proxyV2TCP6    = 0x21
	proxyV2UDP6    = 0x22
	proxyV2Stream  = 0x31
	proxyV2Dgram   = 0x32
	proxyV2TLVCRC  = 0x03
	proxyV2CRCSize = 4
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// crcZeros stands in for a CRC32C TLV's value while it is checked; a
	// package variable because a local one would escape through crc32.
	crcZeros [proxyV2CRCSize]byte
)

// parseProxyV2 parses a binary header, b holding at least its 16 fixed bytes.
func parseProxyV2(b []byte) (netip.AddrPort, int, bool, error) {
	verCmd, fam := b[12], b[13]
	switch {
	case verCmd>>4 != 2:
		return proxyFail(errProxyV2Version)
	case verCmd&0xf > proxyV2Proxy:
		return proxyFail(errProxyV2Command)
	case fam>>4 > 3 || fam&0xf > 2:
		return proxyFail(errProxyV2Family)
	}
	n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	switch {
	case n > MaxProxyHeaderLen:
		return proxyFail(errProxyV2Long)
	case len(b) < n:
		return netip.AddrPort{}, 0, true, nil
	case verCmd&0xf == proxyV2Local:
		return netip.AddrPort{}, n, false, nil
	}
	hdr := b[:n]
	var addrLen int
	switch fam {
	case proxyV2TCP4, proxyV2UDP4:
		addrLen = 2*4 + 2*2
	case proxyV2TCP6, proxyV2UDP6:
		addrLen = 2*16 + 2*2
	case proxyV2Stream, proxyV2Dgram:
		addrLen = 2 * 108
	default: // UNSPEC family or transport: no known layout to read
		return netip.AddrPort{}, n, false, nil
	}
	if n < 16+addrLen {
		return proxyFail(errProxyV2Short)
	}
	if err := checkProxyTLVs(hdr, 16+addrLen); err != nil {
		return proxyFail(err)
	}
	var src netip.AddrPort
	switch fam {
	case proxyV2TCP4:
		src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(hdr[16:20])), binary.BigEndian.Uint16(hdr[24:26]))
	case proxyV2TCP6:
		a := netip.AddrFrom16([16]byte(hdr[16:32])).Unmap()
		src = netip.AddrPortFrom(a, binary.BigEndian.Uint16(hdr[48:50]))
	}
	return src, n, false, nil
}

// checkProxyTLVs walks the TLVs of hdr from off to its end: each is a type
// byte, a two-byte big-endian length and that many value bytes, and they
// must end exactly at the header's end. A CRC32C TLV must hold the checksum
// of the whole header computed with its own value zeroed.
func checkProxyTLVs(hdr []byte, off int) error {
	for off < len(hdr) {
		if len(hdr)-off < 3 {
			return errProxyV2TLV
		}
		typ, size := hdr[off], int(binary.BigEndian.Uint16(hdr[off+1:off+3]))
		val := off + 3
		end := val + size
		if end > len(hdr) {
			return errProxyV2TLV
		}
		if typ == proxyV2TLVCRC {
			if size != proxyV2CRCSize {
				return errProxyV2TLV
			}
			c := crc32.Update(0, castagnoli, hdr[:val])
			c = crc32.Update(c, castagnoli, crcZeros[:])
			c = crc32.Update(c, castagnoli, hdr[end:])
			if c != binary.BigEndian.Uint32(hdr[val:end]) {
				return errProxyV2CRC
			}
		}
		off = end
	}
	return nil
}
