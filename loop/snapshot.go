package loop

import (
	"cmp"
	"net"
	"net/netip"
	"runtime/metrics"
	"slices"
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

// infos copies every client; peers[i] is client i's remote address, whose
// text the caller makes off the loop (gnet never changes a conn's address
// value, so reading it elsewhere is safe).
func (st *store) infos() (out []query.ClientInfo, peers []net.Addr) {
	out = make([]query.ClientInfo, 0, len(st.clients))
	peers = make([]net.Addr, 0, len(st.clients))
	for _, d := range st.clients {
		out = append(out, d.info())
		peers = append(peers, d.c.RemoteAddr())
	}
	return out, peers
}

// fillAddrs sets each info's Addr from its peer, off the loop.
func fillAddrs(cs []query.ClientInfo, peers []net.Addr) {
	for i, p := range peers {
		cs[i].Addr = addrString(p)
	}
}

// addrString formats a peer address; through netip for TCP, which is
// several times faster than net.TCPAddr.String.
func addrString(a net.Addr) string {
	switch a := a.(type) {
	case nil:
		return ""
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return a.String()
}

// sortInfos orders cs by name. It sorts pointers and then copies once:
// swapping the structs themselves cost more than the comparisons.
func sortInfos(cs []query.ClientInfo) []query.ClientInfo {
	ps := make([]*query.ClientInfo, len(cs))
	for i := range cs {
		ps[i] = &cs[i]
	}
	slices.SortFunc(ps, func(a, b *query.ClientInfo) int { return byName(a.Name, b.Name) })
	out := make([]query.ClientInfo, len(cs))
	for i, p := range ps {
		out[i] = *p
	}
	return out
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

func (s *Server) infos(direct bool) (cs []query.ClientInfo, peers []net.Addr, err error) {
	err = s.on(direct, func() { cs, peers = s.st.infos() })
	return cs, peers, err
}

func (s *Server) dump(direct bool) (ds []query.Dump, err error) {
	err = s.on(direct, func() { ds = s.st.dump() })
	return ds, err
}

func (s *Server) clientInfo(name string, direct bool) (query.ClientInfo, error) {
	var c query.ClientInfo
	var peer net.Addr
	err := s.withClient(name, direct, func(d *dataConn) { c, peer = d.info(), d.c.RemoteAddr() })
	c.Addr = addrString(peer)
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
