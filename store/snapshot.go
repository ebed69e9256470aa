package store

import (
	"cmp"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/logatron/logatron/query"
)

// The methods here copy; they run on the store's goroutine and do nothing
// else, so a query holds up ingest only for the copy. Sorting and
// rendering happen on the caller's goroutine (FillAddrs, SortState).

// Names copies every connected client's name, sorted.
func (s *Store) Names() []string {
	names := make([]string, 0, s.Connected())
	for _, cl := range s.byName {
		if cl.connected {
			names = append(names, cl.name) // strings are immutable: sharing them is a copy
		}
	}
	return names
}

// Which selects clients by status.
type Which uint8

// The selections of CLIENTS: connected (the default), closed=1, all=1.
const (
	Connected Which = iota
	Closed
	All
)

// Has reports whether the selection includes cl.
func (w Which) Has(cl *Client) bool {
	return w == All || (w == Connected) == cl.connected
}

// Info copies the client's identity and counters, but for Addr: see Peer
// and FillAddrs.
func (cl *Client) Info() query.ClientInfo {
	return query.ClientInfo{
		Name: cl.name, ConnectedAt: cl.connectedAt,
		Entries: cl.ring.Len(), Keys: len(cl.keys),
		Lines: cl.lines, Bytes: cl.bytes, Truncated: cl.truncated, Errors: cl.errors,
		LastError: cl.lastError,
		Closed:    !cl.connected, ClosedAt: cl.closedAt, CloseReason: cl.closeReason, Reconnects: cl.reconnects,
	}
}

// Peer is the client's remote address.
func (cl *Client) Peer() Peer { return cl.peer }

// Peer is a remote address as the store keeps it: an IPv4 address packed
// as ip<<16|port, whose text is made only when asked for (a CLIENTS over
// 10,000 clients then formats them off the loop in one buffer), or else
// the address's text.
type Peer struct {
	v4   uint64
	text string
}

// PeerOf returns a's Peer.
func PeerOf(a net.Addr) Peer {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		if a == nil {
			return Peer{}
		}
		return Peer{text: a.String()}
	}
	ap := t.AddrPort()
	return PeerOfAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// PeerOfAddrPort returns the Peer of ap.
func PeerOfAddrPort(ap netip.AddrPort) Peer {
	if a := ap.Addr(); a.Is4() {
		b := a.As4()
		return Peer{v4: uint64(binary.BigEndian.Uint32(b[:]))<<16 | uint64(ap.Port())}
	}
	return Peer{text: ap.String()}
}

// Addr is the peer's address, the zero AddrPort for one of no known form.
func (p Peer) Addr() netip.AddrPort {
	if p.v4 != 0 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(p.v4>>16))
		return netip.AddrPortFrom(netip.AddrFrom4(b), uint16(p.v4))
	}
	ap, _ := netip.ParseAddrPort(p.text)
	return ap
}

// String is the address as net.TCPAddr.String would write it.
func (p Peer) String() string { return string(p.Append(nil)) }

// Append appends the peer's address text.
func (p Peer) Append(dst []byte) []byte {
	if p.v4 == 0 {
		return append(dst, p.text...)
	}
	ip := p.v4 >> 16
	for shift := 24; shift >= 0; shift -= 8 {
		dst = strconv.AppendUint(dst, ip>>shift&0xff, 10)
		if shift > 0 {
			dst = append(dst, '.')
		}
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, p.v4&0xffff, 10)
}

// FillAddrs sets each info's Addr from its peer, off the loop. The texts
// are written into one buffer that becomes one string, which each Addr
// slices: one allocation for 10,000 clients instead of 10,000.
func FillAddrs(cs []query.ClientInfo, peers []Peer) {
	buf := make([]byte, 0, len(peers)*len("127.0.0.1:65535"))
	ends := make([]int, len(peers))
	for i, p := range peers {
		buf = p.Append(buf)
		ends[i] = len(buf)
	}
	all := string(buf)
	start := 0
	for i, end := range ends {
		cs[i].Addr = all[start:end]
		start = end
	}
}

// Log copies the newest n entries (n < 0: all) in three allocations.
func (cl *Client) Log(n int) query.Log {
	var l query.Log
	cl.logInto(&l, n)
	return l
}

// logInto copies the newest n entries (n < 0: all) into l, reusing its
// arrays, and grows them at most once each.
func (cl *Client) logInto(l *query.Log, n int) {
	if n < 0 || n > cl.ring.Len() {
		n = cl.ring.Len()
	}
	size := 0
	cl.ring.Last(n, func(_ int64, msg []byte) bool { size += len(msg); return true })
	l.TS, l.End, l.Data = slices.Grow(l.TS[:0], n), slices.Grow(l.End[:0], n), slices.Grow(l.Data[:0], size)
	cl.ring.Last(n, func(ts int64, msg []byte) bool { l.Append(ts, msg); return true })
}

// State copies the client's keys and values, unsorted.
func (cl *Client) State() []query.KV {
	kvs := make([]query.KV, 0, len(cl.keys))
	for k, v := range cl.keys {
		kvs = append(kvs, query.KV{Key: k, Value: v})
	}
	return kvs
}

// Dump copies everything held for the client.
func (cl *Client) Dump() query.Dump {
	var d query.Dump
	cl.DumpInto(&d)
	return d
}

// DumpInto copies everything held for the client into d, reusing d's
// arrays: a DUMP of the whole store copies it a step at a time into the
// same few megabytes, instead of allocating it all again.
func (cl *Client) DumpInto(d *query.Dump) {
	log, state := d.Log, d.State[:0]
	cl.logInto(&log, -1)
	for k, v := range cl.keys {
		state = append(state, query.KV{Key: k, Value: v})
	}
	*d = query.Dump{
		Name: cl.name, ConnectedAt: cl.connectedAt, Log: log, State: state,
		Closed: !cl.connected, ClosedAt: cl.closedAt, CloseReason: cl.closeReason, Reconnects: cl.reconnects,
	}
}

// SortState orders state by key, in place.
func SortState(kvs []query.KV) {
	slices.SortFunc(kvs, func(a, b query.KV) int { return cmp.Compare(a.Key, b.Key) })
}
