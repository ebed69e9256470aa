package loop

// The Go API. Every method is safe to call from any goroutine: it runs a
// copy on the event loop (onLoop) and returns the copy, so none blocks the
// loop, and each gives up after five seconds (ErrTimeout).
//
// ClientNames, Clients, ClientLog and ClientState mirror the original
// JavaScript logatron's clientNames(), clients(), clientLog(name) and
// clientState(name). ClientInfo(s), Log, State and Stats return the query
// package's flat copies, which the admin port and HTTP render.

import (
	"runtime/metrics"
	"slices"
	"time"

	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
)

// Entry is one log entry.
type Entry struct {
	Time    time.Time
	Message string
}

// Client is everything held for one client.
type Client struct {
	ConnectedAt time.Time
	Log         []Entry // oldest first
	State       map[string]string
}

// Event is one thing that happened to a client, as a Subscription delivers it.
type Event = store.Event

// Stream is an event subscription delivered as rendered lines; see Watch.
type Stream = store.Stream

// Subscription delivers events on a channel; see Subscribe.
type Subscription = store.Subscription

// NoSuchClientError is returned for a name the server does not hold.
type NoSuchClientError struct{ Name string }

func (e *NoSuchClientError) Error() string { return "no such client: " + e.Name }

func entries(l *query.Log) []Entry {
	out := make([]Entry, l.Len())
	for i := range out {
		ts, msg := l.At(i)
		out[i] = Entry{Time: time.UnixMilli(ts).UTC(), Message: string(msg)}
	}
	return out
}

func stateMap(kvs []query.KV) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// ClientNames returns the connected clients' names, sorted.
func (s *Server) ClientNames() ([]string, error) {
	var names []string
	err := s.onLoop(func() { names = s.st.Names() })
	slices.Sort(names)
	return names, err
}

// Clients returns every client by name.
func (s *Server) Clients() (map[string]Client, error) {
	ds, err := s.dump()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Client, len(ds))
	for i := range ds {
		d := &ds[i]
		out[d.Name] = Client{ConnectedAt: time.UnixMilli(d.ConnectedAt).UTC(), Log: entries(&d.Log), State: stateMap(d.State)}
	}
	return out, nil
}

// ClientLog returns a client's log, oldest first, or a *NoSuchClientError.
func (s *Server) ClientLog(name string) ([]Entry, error) {
	l, err := s.Log(name, -1)
	if err != nil {
		return nil, err
	}
	return entries(&l), nil
}

// ClientState returns a client's keys and values, or a *NoSuchClientError.
func (s *Server) ClientState(name string) (map[string]string, error) {
	kvs, err := s.State(name)
	if err != nil {
		return nil, err
	}
	return stateMap(kvs), nil
}

// withClient runs fn on the loop with the named client, or returns a
// *NoSuchClientError.
func (s *Server) withClient(name string, fn func(cl *store.Client)) error {
	found := false
	err := s.onLoop(func() {
		if cl := s.st.Lookup(name); cl != nil {
			found = true
			fn(cl)
		}
	})
	if err == nil && !found {
		err = &NoSuchClientError{Name: name}
	}
	return err
}

// ClientInfos returns every client's identity and counters, sorted by name.
func (s *Server) ClientInfos() ([]query.ClientInfo, error) {
	var cs []query.ClientInfo
	var peers []store.Peer
	if err := s.onLoop(func() { cs, peers = s.st.Infos() }); err != nil {
		return nil, err
	}
	store.FillAddrs(cs, peers)
	return store.SortInfos(cs), nil
}

// ClientInfo returns one client's identity and counters.
func (s *Server) ClientInfo(name string) (query.ClientInfo, error) {
	var c query.ClientInfo
	var p store.Peer
	err := s.withClient(name, func(cl *store.Client) { c, p = cl.Info(), cl.Peer() })
	c.Addr = p.String()
	return c, err
}

// Log returns a client's newest n entries (n < 0: all), oldest first.
func (s *Server) Log(name string, n int) (query.Log, error) {
	var l query.Log
	err := s.withClient(name, func(cl *store.Client) { l = cl.Log(n) })
	return l, err
}

// State returns a client's keys and values, sorted by key.
func (s *Server) State(name string) ([]query.KV, error) {
	var kvs []query.KV
	if err := s.withClient(name, func(cl *store.Client) { kvs = cl.State() }); err != nil {
		return nil, err
	}
	store.SortState(kvs)
	return kvs, nil
}

// dump copies everything held for every client, sorted by name.
func (s *Server) dump() ([]query.Dump, error) {
	var ds []query.Dump
	if err := s.onLoop(func() { ds = s.st.Dump() }); err != nil {
		return nil, err
	}
	return store.SortDump(ds), nil
}

// Stats returns the server-wide counters and the Go runtime's heap and GC figures.
func (s *Server) Stats() (query.Stats, error) {
	var st query.Stats
	err := s.onLoop(func() {
		t := s.st.Totals()
		st = query.Stats{
			Version:              Version,
			Clients:              s.st.Len(),
			MaxClients:           s.cfg.MaxClients,
			ClientsTotal:         t.Clients,
			RejectedTotal:        t.Rejected,
			LinesTotal:           t.Lines,
			BytesTotal:           t.Bytes,
			ErrorsTotal:          t.Errors,
			TruncatedTotal:       t.Truncated,
			AdminConnections:     s.admins,
			Watchers:             s.st.Watch.Len(),
			WatchersDroppedTotal: s.st.Watch.Dropped(),
		}
	})
	if err != nil {
		return st, err
	}
	st.UptimeS = int64(time.Since(s.started).Seconds())
	st.HeapBytes, st.GCCPUFraction = runtimeFigures()
	return st, nil
}

// runtimeFigures reads the live heap and the share of the process's CPU
// time spent in GC since start (STATS heap_bytes and gc_cpu_fraction), from
// runtime/metrics, which unlike runtime.ReadMemStats does not stop the world.
func runtimeFigures() (heap uint64, gcFraction float64) {
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

// Watch starts a Stream of the named clients' events (none named: all),
// rendered in format f and bounded by watch-buffer.
func (s *Server) Watch(f query.Format, names ...string) (*Stream, error) {
	st := s.newStream("", nil)
	if err := s.onLoop(func() { s.st.Watch.AddStream(st, f, names) }); err != nil {
		return nil, err
	}
	return st, nil
}

// newStream makes a stream whose Close removes it from the hub.
func (s *Server) newStream(addr string, wake chan struct{}) *Stream {
	return store.NewStream(addr, wake, s.done, func(st *Stream) error {
		return s.onLoop(func() { s.st.Watch.RemoveStream(st) })
	})
}

// Subscribe starts a subscription to the named clients' events (none named:
// every client). buffer is how many events may wait unread (at least 1).
// The loop never waits for it: when C is full the loop closes C and Err
// says ErrDropped, so a gap is never silent.
func (s *Server) Subscribe(buffer int, names ...string) (*Subscription, error) {
	sub := store.NewSubscription(buffer, func(sub *Subscription) error {
		return s.onLoop(func() { s.st.Watch.RemoveSubscription(sub) })
	})
	if err := s.onLoop(func() { s.st.Watch.AddSubscription(sub, names) }); err != nil {
		return nil, err
	}
	return sub, nil
}
