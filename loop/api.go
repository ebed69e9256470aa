package loop

// The Go API. Every method is safe to call from any goroutine: it runs a
// copy on the event loop (onLoop) and returns the copy, so none blocks the
// loop; each gives up when ctx is done, and after five seconds at most
// (ErrTimeout). Errors work with errors.Is (ErrNotRunning, ErrTimeout,
// ctx's error) and errors.As (*NoSuchClientError, *ClientConnectedError).
//
// ClientNames, Clients, ClientLog and ClientState mirror the original
// JavaScript logatron's clientNames(), clients(), clientLog(name) and
// clientState(name), in Go types. ClientInfo(s), Log, State, Grep and Stats
// return the query package's flat copies, which the admin port and HTTP
// render as they are.

import (
	"context"
	"regexp"
	"runtime/metrics"
	"slices"
	"strings"
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
	Closed      bool      // the connection ended; the client is kept (retention)
	ClosedAt    time.Time // zero while connected
	CloseReason string    // eof, reset, keepalive, replaced, shutdown, "error: <text>"
	Reconnects  uint64
	Log         []Entry // oldest first
	State       map[string]string
}

// Query selects clients and entries. Its zero value selects every
// connected client (ClientInfos) and every entry (Log, Grep).
type Query struct {
	Clients string // glob over names: * any run, ? one byte; "" every name
	Which   Which  // Connected (the default), Closed or All
	After   string // only names sorting after this one: the next page
	// Limit is at most how many clients ClientInfos returns (0: all) or
	// hits Grep returns (0: 1000, at most 100,000: the newest).
	Limit        int
	Last         int            // the newest Last of the selected entries (0: all)
	Since, Until time.Time      // entries with Since <= time <= Until; zero: unbounded
	Match        *regexp.Regexp // entries whose message matches; nil: every one
}

// WatchQuery selects the events of Watch and Subscribe.
type WatchQuery struct {
	Clients []string       // name globs; none: every client
	Match   *regexp.Regexp // LOG and CONT events whose text matches; nil: every one
	// Backlog is how many stored entries of each selected client come
	// first, as LOG events with their stored times, merged in time order,
	// with no entry lost or repeated before the live events.
	Backlog int
}

// The GREP limits.
const (
	GrepDefaultLimit = 1000
	GrepMaxLimit     = 100_000
)

// entries is the store's form of q's entry selection.
func (q *Query) entries() store.Entries {
	e := store.EveryEntry()
	if !q.Since.IsZero() {
		e.Since = q.Since.UnixMilli()
	}
	if !q.Until.IsZero() {
		e.Until = q.Until.UnixMilli()
	}
	e.Match = query.NewMatcher(q.Match)
	e.Last = q.Last
	return e
}

// Event is one thing that happened to a client, as a Subscription delivers it.
type Event = store.Event

// Stream is an event subscription delivered as rendered lines; see Watch.
type Stream = store.Stream

// Subscription delivers events on a channel; see Subscribe.
type Subscription = store.Subscription

// Which selects clients by status: Connected, Closed or All.
type Which = store.Which

// The selections of Query.Which.
const (
	Connected = store.Connected
	Closed    = store.Closed
	All       = store.All
)

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
func (s *Server) ClientNames(ctx context.Context) ([]string, error) {
	var names []string
	err := s.onLoop(ctx, func() { names = s.st.Names() })
	return names, err
}

// Clients returns every client held, connected and closed, by name.
func (s *Server) Clients(ctx context.Context) (map[string]Client, error) {
	out := make(map[string]Client)
	err := s.dump(ctx, func(ds []query.Dump) error {
		for i := range ds {
			d := &ds[i]
			c := Client{
				ConnectedAt: time.UnixMilli(d.ConnectedAt).UTC(), Closed: d.Closed, CloseReason: d.CloseReason,
				Reconnects: d.Reconnects, Log: entries(&d.Log), State: stateMap(d.State),
			}
			if d.Closed {
				c.ClosedAt = time.UnixMilli(d.ClosedAt).UTC()
			}
			out[d.Name] = c
		}
		return nil
	})
	return out, err
}

// ClientLog returns the entries of a client that q selects (its time
// window, Match and Last), oldest first, or a *NoSuchClientError.
func (s *Server) ClientLog(ctx context.Context, name string, q Query) ([]Entry, error) {
	l, err := s.Log(ctx, name, q)
	if err != nil {
		return nil, err
	}
	return entries(&l), nil
}

// ClientState returns a client's keys and values, or a *NoSuchClientError.
func (s *Server) ClientState(ctx context.Context, name string) (map[string]string, error) {
	kvs, err := s.State(ctx, name)
	if err != nil {
		return nil, err
	}
	return stateMap(kvs), nil
}

// withClient runs fn on the loop with the named client, connected or
// closed, or returns a *NoSuchClientError.
func (s *Server) withClient(ctx context.Context, name string, fn func(cl *store.Client)) error {
	found := false
	err := s.onLoop(ctx, func() {
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

// sliceClients is how many clients one step on the loop looks at when a
// query goes over the whole store: about a millisecond of copying.
const sliceClients = 1000

// ClientInfos returns the identity and counters of the clients q selects
// (Clients, Which, After, Limit), sorted by name. It copies on the loop in
// slices of a thousand clients, so a whole-store listing never holds up
// ingest for long; a client that connects or goes during the call may or
// may not be listed.
func (s *Server) ClientInfos(ctx context.Context, q Query) ([]query.ClientInfo, error) {
	var cs []query.ClientInfo
	var peers []store.Peer
	err := s.scan(ctx, q, sliceClients, func(cl *store.Client) (int, bool) {
		if cs == nil {
			// Sized once for every client held (or the page), not grown
			// step after step by copying.
			n := s.st.Connected() + s.st.Closed()
			if q.Limit > 0 {
				n = min(n, q.Limit)
			}
			cs, peers = make([]query.ClientInfo, 0, n), make([]store.Peer, 0, n)
		}
		cs = append(cs, cl.Info())
		peers = append(peers, cl.Peer())
		return 1, q.Limit <= 0 || len(cs) < q.Limit
	}, nil)
	if err != nil {
		return nil, err
	}
	store.FillAddrs(cs, peers)
	return cs, nil
}

// scan visits the clients q selects (Clients, Which, After) in name order,
// in steps on the loop, until visit says no more. visit returns what the
// client cost; a step ends once the costs reach budget or it has looked at
// sliceClients clients, so no step holds up ingest for long. step, when
// not nil, runs off the loop after each step (to render and write what it
// copied); an error from it ends the scan.
func (s *Server) scan(ctx context.Context, q Query, budget int, visit func(cl *store.Client) (cost int, more bool), step func() error) error {
	f := store.NewFilter(q.Clients, q.Which)
	c := store.Cursor{After: q.After}
	stop := false
	for !c.Done && !stop {
		if err := s.onLoop(ctx, func() {
			spent := 0
			s.st.Scan(&c, &f, sliceClients, func(cl *store.Client) bool {
				cost, more := visit(cl)
				spent += cost
				stop = !more
				return more && spent < budget
			})
		}); err != nil {
			return err
		}
		if step != nil {
			if err := step(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ClientInfo returns one client's identity and counters.
func (s *Server) ClientInfo(ctx context.Context, name string) (query.ClientInfo, error) {
	var c query.ClientInfo
	var p store.Peer
	err := s.withClient(ctx, name, func(cl *store.Client) { c, p = cl.Info(), cl.Peer() })
	c.Addr = p.String()
	return c, err
}

// Log returns the entries of a client that q selects, oldest first.
func (s *Server) Log(ctx context.Context, name string, q Query) (query.Log, error) {
	var l query.Log
	e := q.entries()
	err := s.withClient(ctx, name, func(cl *store.Client) { l = cl.LogOf(&e) })
	return l, err
}

// State returns a client's keys and values, sorted by key.
func (s *Server) State(ctx context.Context, name string) ([]query.KV, error) {
	var kvs []query.KV
	if err := s.withClient(ctx, name, func(cl *store.Client) { kvs = cl.State() }); err != nil {
		return nil, err
	}
	store.SortState(kvs)
	return kvs, nil
}

// sliceEntries is how many entries one step of a GREP reads on the loop.
const sliceEntries = 20_000

// Grep returns the newest q.Limit entries (default 1000, at most 100,000)
// of every client held, connected or closed, whose name matches q.Clients,
// within q's time window and matching q.Match, merged in time order (ties
// by name, then ring order), oldest first. It reads the store in steps of
// about 20,000 entries on the loop.
func (s *Server) Grep(ctx context.Context, q Query) ([]query.Hit, error) {
	g := store.Grep{Q: q.entries(), Limit: q.Limit}
	if g.Limit <= 0 {
		g.Limit = GrepDefaultLimit
	}
	g.Limit = min(g.Limit, GrepMaxLimit)
	q.Which, q.After = All, ""
	err := s.scan(ctx, q, sliceEntries, func(cl *store.Client) (int, bool) { return g.Scan(cl), true }, nil)
	if err != nil {
		return nil, err
	}
	return g.Result(), nil
}

// dump copies every client held, connected and closed, in name order, and
// hands emit the copies a slice at a time (about a mebibyte of entries
// each), so that a DUMP of gigabytes is never held whole.
func (s *Server) dump(ctx context.Context, emit func([]query.Dump) error) error {
	// Every client of a step is copied into one arena, reused from step to
	// step (once a step is emitted its copies are free): a DUMP holds one
	// step's copy however large the store. The arena is made and its pages
	// touched here, off the loop: a step copying into fresh memory would
	// take its page faults (the heap is given back to the OS when quiet)
	// on the loop, and hold up ingest for them. It is no larger than what
	// the store holds (its ring arrays: message bytes, a word per entry).
	var held int
	if err := s.onLoop(ctx, func() { held = int(s.st.Bytes()) }); err != nil {
		return err
	}
	ar := newDumpArena(min(sliceDump+min(s.cfg.BufferBytes, sliceDump), held),
		min(sliceDump/dumpEntryCost+min(s.cfg.Buffer, sliceDump/dumpEntryCost), held/8))
	var ds []query.Dump
	k := 0
	return s.scan(ctx, Query{Which: All}, sliceDump, func(cl *store.Client) (int, bool) {
		if k == len(ds) {
			ds = append(ds, query.Dump{})
		}
		d := &ds[k]
		d.Log = ar.rest()
		cl.DumpInto(d)
		ar.took(d.Log)
		k++
		return len(d.Log.Data) + dumpEntryCost*len(d.Log.TS), true
	}, func() error {
		for i := range ds[:k] {
			store.SortState(ds[i].State)
		}
		err := emit(ds[:k])
		k = 0
		ar.reset()
		return err
	})
}

// dumpEntryCost is what an entry's timestamp and end offset add to a
// DUMP step's copy, in bytes.
const dumpEntryCost = 16

// dumpArena is the memory one DUMP step copies into: each client's log is
// sliced from the free end of the same three arrays, which hold a step's
// budget and one more ring of up to the budget (a step's last client
// overshoots it). A client that does not fit gets arrays of its own from
// DumpInto.
type dumpArena struct{ log query.Log }

func newDumpArena(bytes, entries int) *dumpArena {
	a := &dumpArena{log: query.Log{
		TS:   make([]int64, entries),
		End:  make([]int, entries),
		Data: make([]byte, bytes),
	}}
	// Touch every page so that the kernel maps them now, not during a step.
	for i := 0; i < len(a.log.Data); i += 4096 {
		a.log.Data[i] = 1
	}
	for i := 0; i < len(a.log.TS); i += 512 {
		a.log.TS[i], a.log.End[i] = 1, 1
	}
	a.reset()
	return a
}

// rest is the arena's free part, as an empty log with its capacity.
func (a *dumpArena) rest() query.Log {
	n, e, m := len(a.log.TS), len(a.log.End), len(a.log.Data)
	return query.Log{TS: a.log.TS[n:n], End: a.log.End[e:e], Data: a.log.Data[m:m]}
}

// took marks the arrays of l that are the arena's as used. DumpInto
// gives a client that does not fit arrays of its own, each of the three
// separately.
func (a *dumpArena) took(l query.Log) {
	if n := len(a.log.TS); len(l.TS) > 0 && len(l.TS) <= cap(a.log.TS)-n && &l.TS[0] == &a.log.TS[:n+1][n] {
		a.log.TS = a.log.TS[:n+len(l.TS)]
	}
	if n := len(a.log.End); len(l.End) > 0 && len(l.End) <= cap(a.log.End)-n && &l.End[0] == &a.log.End[:n+1][n] {
		a.log.End = a.log.End[:n+len(l.End)]
	}
	if m := len(a.log.Data); len(l.Data) > 0 && len(l.Data) <= cap(a.log.Data)-m && &l.Data[0] == &a.log.Data[:m+1][m] {
		a.log.Data = a.log.Data[:m+len(l.Data)]
	}
}

func (a *dumpArena) reset() {
	a.log.TS, a.log.End, a.log.Data = a.log.TS[:0], a.log.End[:0], a.log.Data[:0]
}

// sliceDump is how many bytes of entries one step of a DUMP copies.
const sliceDump = 1 << 20

// Stats returns the server-wide counters and the Go runtime's heap and GC figures.
func (s *Server) Stats(ctx context.Context) (query.Stats, error) {
	var st query.Stats
	err := s.onLoop(ctx, func() {
		t := s.st.Totals()
		st = query.Stats{
			Version:              Version,
			Clients:              s.st.Connected(),
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
			ClosedClients:        s.st.Closed(),
			ForgottenTotal:       t.Forgotten,
			StoreBytes:           uint64(s.st.Bytes()),
			MaxMemory:            uint64(max(s.cfg.MaxMemory, 0)),
			EvictedTotal:         t.Evicted,
			SetsTotal:            t.Sets,
		}
	})
	if err != nil {
		return st, err
	}
	st.UptimeS = int64(time.Since(s.started).Seconds())
	st.HeapBytes, st.GCCPUFraction = runtimeFigures()
	if s.cfg.StatsHook != nil {
		s.cfg.StatsHook(&st)
	}
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

// Watch starts a Stream of the events q selects, rendered in format f and
// bounded by watch-buffer; see WatchQuery for the backlog.
func (s *Server) Watch(ctx context.Context, f query.Format, q WatchQuery) (*Stream, error) {
	return s.watch(ctx, "", nil, f, q, nil)
}

// watch starts a stream read at addr whose activity signals wake, opened
// with head.
func (s *Server) watch(ctx context.Context, addr string, wake chan struct{}, f query.Format, q WatchQuery, head []byte) (*Stream, error) {
	st := s.newStream(addr, wake)
	wf := store.WatchFilter{Clients: q.Clients, Match: q.Match, Backlog: q.Backlog}
	if err := s.onLoop(ctx, func() { s.st.WatchStream(st, f, &wf, head) }); err != nil {
		return nil, err
	}
	return st, nil
}

// newStream makes a stream whose Close removes it from the hub.
func (s *Server) newStream(addr string, wake chan struct{}) *Stream {
	return store.NewStream(addr, wake, s.done, func(st *Stream) error {
		return s.onLoop(context.Background(), func() { s.st.Watch.RemoveStream(st) })
	})
}

// Subscribe starts a subscription to the events q selects. buffer is how
// many events may wait unread (at least 1); a backlog larger than buffer is
// cut to its newest entries. The loop never waits for it: when C is full
// the loop closes C and Err says ErrDropped, so a gap is never silent.
func (s *Server) Subscribe(ctx context.Context, buffer int, q WatchQuery) (*Subscription, error) {
	sub := store.NewSubscription(buffer, func(sub *Subscription) error {
		return s.onLoop(context.Background(), func() { s.st.Watch.RemoveSubscription(sub) })
	})
	wf := store.WatchFilter{Clients: q.Clients, Match: q.Match, Backlog: q.Backlog}
	if err := s.onLoop(ctx, func() { s.st.WatchSubscription(sub, &wf) }); err != nil {
		return nil, err
	}
	return sub, nil
}

// ClientConnectedError is Forget's answer for a client that is connected.
type ClientConnectedError struct{ Name string }

func (e *ClientConnectedError) Error() string { return "client is connected: " + e.Name }

// Forget removes a closed client at once. It returns a
// *NoSuchClientError for a name the server does not hold and a
// *ClientConnectedError for one that is connected.
func (s *Server) Forget(ctx context.Context, name string) error {
	connected := false
	err := s.withClient(ctx, name, func(cl *store.Client) { connected = !s.st.Forget(cl) })
	if err == nil && connected {
		err = &ClientConnectedError{Name: name}
	}
	return err
}

// RejectReasons are the label values of the rejections-by-reason metric:
// the fatal ERR reasons, without a name ("name in use: x" is "name in use").
var RejectReasons = []string{"expected IAM", "invalid name", "not authorized", "not allowed",
	"name in use", "too many clients", "identify timeout", "line too long"}

// Metrics are the counters that Prometheus shows beside STATS.
type Metrics struct {
	RejectedBy []uint64 // in RejectReasons order
	Closes     store.Closes
}

// Metrics copies the counters by reason and the connection durations.
func (s *Server) Metrics(ctx context.Context) (Metrics, error) {
	var m Metrics
	err := s.onLoop(ctx, func() {
		m.RejectedBy = slices.Clone(s.rejectedBy[:])
		m.Closes = s.st.Closes()
	})
	return m, err
}

// countReject counts a rejection under its reason's kind.
func (s *Server) countReject(reason string) {
	for i, r := range RejectReasons {
		if strings.HasPrefix(reason, r) {
			s.rejectedBy[i]++
			return
		}
	}
}
