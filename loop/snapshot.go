package loop

import (
	"cmp"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime/metrics"
	"slices"
	"strconv"
	"time"

	"github.com/logatron/logatron/query"
)

// The functions on store copy; they run on the loop and do nothing else, so
// a query stalls ingest only for the copy. Sorting and rendering happen on
// the caller's goroutine.

func (st *store) names() []string {
	names := make([]string, 0, len(st.clients))
	for name := range st.clients {
		names = append(names, name) // strings are immutable: sharing them is a copy
	}
	return names
}

// info copies d's identity and counters, but for Addr: see peers.
func (d *dataConn) info() query.ClientInfo {
	return query.ClientInfo{
		Name: d.name, ConnectedAt: d.at,
		Entries: d.ring.Len(), Keys: len(d.keys),
		Lines: d.lines, Bytes: d.bytes, Truncated: d.truncated, Errors: d.errors,
		LastError: d.lastError,
	}
}

// peer is a client's remote address as the loop hands it out: an IPv4
// address packed as in dataConn.v4, whose text is made off the loop, or
// else the address's text, made on the loop: gnet may recycle the bytes of
// an IPv6 zone once the connection closes, so its net.Addr must not be
// read elsewhere.
type peer struct {
	v4   uint64
	text string
}

func (d *dataConn) peer() peer {
	if d.v4 != 0 || d.c == nil {
		return peer{v4: d.v4}
	}
	return peer{text: string(appendAddr(nil, d.c.RemoteAddr()))}
}

// packV4 packs a TCP peer's IPv4 address and port as ip<<16|port; 0 for
// anything else (no peer has address 0.0.0.0 and port 0).
func packV4(a net.Addr) uint64 {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip4 := t.IP.To4(); ip4 != nil {
			return uint64(binary.BigEndian.Uint32(ip4))<<16 | uint64(uint16(t.Port))
		}
	}
	return 0
}

// infos copies every client, and peers[i] is client i's address.
func (st *store) infos() (out []query.ClientInfo, peers []peer) {
	out = make([]query.ClientInfo, 0, len(st.clients))
	peers = make([]peer, 0, len(st.clients))
	for _, d := range st.clients {
		out = append(out, d.info())
		peers = append(peers, d.peer())
	}
	return out, peers
}

// fillAddrs sets each info's Addr from its peer, off the loop. The texts
// are written into one buffer that becomes one string, which each Addr
// slices: one allocation for 10,000 clients instead of 10,000.
func fillAddrs(cs []query.ClientInfo, peers []peer) {
	buf := make([]byte, 0, len(peers)*len("127.0.0.1:65535"))
	ends := make([]int, len(peers))
	for i, p := range peers {
		buf = appendPeer(buf, p)
		ends[i] = len(buf)
	}
	all := string(buf)
	start := 0
	for i, end := range ends {
		cs[i].Addr = all[start:end]
		start = end
	}
}

// appendPeer appends a peer's address text, as net.TCPAddr.String would.
func appendPeer(dst []byte, p peer) []byte {
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

// appendAddr appends an address's text; a TCP one through netip, several
// times faster than net.TCPAddr.String.
func appendAddr(dst []byte, a net.Addr) []byte {
	switch a := a.(type) {
	case nil:
		return dst
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(dst)
	}
	return append(dst, a.String()...)
}

// sortInfos orders cs by name, in place, and returns it. Names often share
// a long prefix (worker_1, worker_2, ...), which makes string comparisons
// slow; so it sorts small records keyed by the 8 bytes that follow the
// prefix all names share, comparing whole names only on equal keys, and
// then moves each info once, following the permutation's cycles.
func sortInfos(cs []query.ClientInfo) []query.ClientInfo {
	if len(cs) < 2 {
		return cs
	}
	lcp := len(cs[0].Name)
	for i := 1; i < len(cs) && lcp > 0; i++ {
		a, b := cs[0].Name[:lcp], cs[i].Name
		n := 0
		for n < len(a) && n < len(b) && a[n] == b[n] {
			n++
		}
		lcp = n
	}
	type rec struct {
		key uint64 // big-endian bytes lcp..lcp+8 of the name, zero-padded
		i   int
	}
	rs := make([]rec, len(cs))
	for i := range cs {
		var k [8]byte
		copy(k[:], cs[i].Name[lcp:])
		rs[i] = rec{binary.BigEndian.Uint64(k[:]), i}
	}
	// Zero padding orders a shorter name first, as string comparison does:
	// names hold no zero bytes.
	slices.SortFunc(rs, func(a, b rec) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return byName(cs[a.i].Name, cs[b.i].Name)
	})
	// Position i takes the info at rs[i].i; a done record is marked -1.
	for start := range rs {
		if rs[start].i < 0 || rs[start].i == start {
			continue
		}
		tmp := cs[start]
		j := start
		for {
			from := rs[j].i
			rs[j].i = -1
			if from == start {
				cs[j] = tmp
				break
			}
			cs[j] = cs[from]
			j = from
		}
	}
	return cs
}

// copyLog copies the newest n entries (n < 0: all) in three allocations.
func (d *dataConn) copyLog(n int) query.Log {
	if n < 0 || n > d.ring.Len() {
		n = d.ring.Len()
	}
	size := 0
	d.ring.Last(n, func(_ int64, msg []byte) bool { size += len(msg); return true })
	l := query.Log{TS: make([]int64, 0, n), End: make([]int, 0, n), Data: make([]byte, 0, size)}
	d.ring.Last(n, func(ts int64, msg []byte) bool { l.Append(ts, msg); return true })
	return l
}

func (d *dataConn) copyState() []query.KV {
	kvs := make([]query.KV, 0, len(d.keys))
	for k, v := range d.keys {
		kvs = append(kvs, query.KV{Key: k, Value: v})
	}
	return kvs
}

func (st *store) dump() []query.Dump {
	out := make([]query.Dump, 0, len(st.clients))
	for _, d := range st.clients {
		out = append(out, query.Dump{Name: d.name, ConnectedAt: d.at, Log: d.copyLog(-1), State: d.copyState()})
	}
	return out
}

func (st *store) stats() query.Stats {
	return query.Stats{
		Version:              Version,
		Clients:              len(st.clients),
		MaxClients:           st.cfg.MaxClients,
		ClientsTotal:         st.clientsTotal,
		RejectedTotal:        st.rejectedTotal,
		LinesTotal:           st.linesTotal,
		BytesTotal:           st.bytesTotal,
		ErrorsTotal:          st.errorsTotal,
		TruncatedTotal:       st.truncTo,
		AdminConnections:     st.admins,
		Watchers:             len(st.watch.list),
		WatchersDroppedTotal: st.watch.dropped,
	}
}

// NoSuchClientError is returned for a name that is not connected.
type NoSuchClientError struct{ Name string }

func (e *NoSuchClientError) Error() string { return "no such client: " + e.Name }

// on runs fn on the loop: at once when the caller is the loop itself
// (direct), else through onLoop.
func (s *Server) on(direct bool, fn func()) error {
	if direct {
		fn()
		return nil
	}
	return s.onLoop(fn)
}

// withClient runs fn on the loop with the named client.
func (s *Server) withClient(name string, direct bool, fn func(d *dataConn)) error {
	found := false
	err := s.on(direct, func() {
		if d, ok := s.st.clients[name]; ok {
			found = true
			fn(d)
		}
	})
	if err == nil && !found {
		err = &NoSuchClientError{Name: name}
	}
	return err
}

func byName(a, b string) int { return cmp.Compare(a, b) }

// The lower-case methods below are the loop side of the queries: each
// copies, on the loop, and leaves sorting and rendering to its caller. The
// Go API and HTTP call them through the exported methods; an admin request
// that the loop answers itself calls them with direct set.

func (s *Server) names(direct bool) (names []string, err error) {
	err = s.on(direct, func() { names = s.st.names() })
	return names, err
}

func (s *Server) infos(direct bool) (cs []query.ClientInfo, peers []peer, err error) {
	err = s.on(direct, func() { cs, peers = s.st.infos() })
	return cs, peers, err
}

func (s *Server) dump(direct bool) (ds []query.Dump, err error) {
	err = s.on(direct, func() { ds = s.st.dump() })
	return ds, err
}

func (s *Server) clientInfo(name string, direct bool) (query.ClientInfo, error) {
	var c query.ClientInfo
	var p peer
	err := s.withClient(name, direct, func(d *dataConn) { c, p = d.info(), d.peer() })
	c.Addr = string(appendPeer(nil, p))
	return c, err
}

func (s *Server) logOf(name string, n int, direct bool) (query.Log, error) {
	var l query.Log
	err := s.withClient(name, direct, func(d *dataConn) { l = d.copyLog(n) })
	return l, err
}

func (s *Server) state(name string, direct bool) ([]query.KV, error) {
	var kvs []query.KV
	if err := s.withClient(name, direct, func(d *dataConn) { kvs = d.copyState() }); err != nil {
		return nil, err
	}
	slices.SortFunc(kvs, func(a, b query.KV) int { return byName(a.Key, b.Key) })
	return kvs, nil
}

func (s *Server) stats(direct bool) (query.Stats, error) {
	var st query.Stats
	if err := s.on(direct, func() { st = s.st.stats() }); err != nil {
		return st, err
	}
	st.UptimeS = int64(time.Since(s.started).Seconds())
	st.HeapBytes, st.GCCPUFraction = RuntimeFigures()
	return st, nil
}

// ClientNames returns the connected clients' names, sorted.
func (s *Server) ClientNames() ([]string, error) {
	names, err := s.names(false)
	slices.SortFunc(names, byName)
	return names, err
}

// ClientInfos returns every client's identity and counters, sorted by name.
func (s *Server) ClientInfos() ([]query.ClientInfo, error) {
	cs, peers, err := s.infos(false)
	if err != nil {
		return nil, err
	}
	fillAddrs(cs, peers)
	return sortInfos(cs), nil
}

// ClientInfo returns one client's identity and counters.
func (s *Server) ClientInfo(name string) (query.ClientInfo, error) { return s.clientInfo(name, false) }

// Log returns a client's newest n entries (n < 0: all), oldest first.
func (s *Server) Log(name string, n int) (query.Log, error) { return s.logOf(name, n, false) }

// State returns a client's keys and values, sorted by key.
func (s *Server) State(name string) ([]query.KV, error) { return s.state(name, false) }

// Dump returns everything held for every client, sorted by name.
func (s *Server) Dump() ([]query.Dump, error) {
	ds, err := s.dump(false)
	if err != nil {
		return nil, err
	}
	return sortDump(ds), nil
}

// sortDump orders a dump's clients by name and each state by key.
func sortDump(ds []query.Dump) []query.Dump {
	slices.SortFunc(ds, func(a, b query.Dump) int { return byName(a.Name, b.Name) })
	for i := range ds {
		slices.SortFunc(ds[i].State, func(a, b query.KV) int { return byName(a.Key, b.Key) })
	}
	return ds
}

// Stats returns the server-wide counters and the Go runtime's heap and GC figures.
func (s *Server) Stats() (query.Stats, error) { return s.stats(false) }

// RuntimeFigures reads the live heap and the share of the process's CPU time
// spent in GC since start (STATS heap_bytes and gc_cpu_fraction), from
// runtime/metrics, which unlike runtime.ReadMemStats does not stop the world.
func RuntimeFigures() (heap uint64, gcFraction float64) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
	}
	metrics.Read(samples)
	heap = samples[0].Value.Uint64()
	gc, total, idle := samples[1].Value.Float64(), samples[2].Value.Float64(), samples[3].Value.Float64()
	if busy := total - idle; busy > 0 {
		gcFraction = gc / busy
	}
	return heap, gcFraction
}
