package loop

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/query"
)

// The Go API mirrors the original JavaScript logatron's: clientNames(),
// clients(), clientLog(name), clientState(name) and its events. Every call
// runs a copy on the event loop and returns the copy; none blocks the loop
// and each gives up after five seconds (ErrTimeout).

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

// Clients returns every connected client by name.
func (s *Server) Clients() (map[string]Client, error) {
	ds, err := s.Dump()
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

// ErrDropped is why a Subscription's channel closed when the subscriber fell
// more than its buffer behind.
var ErrDropped = errors.New("logatron: subscriber dropped: it fell behind by more than its buffer")

// Subscription delivers events (ready, log, set, close) on C. The loop never
// waits for it: when C is full the loop closes C and Err reports ErrDropped,
// so a gap is never silent.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	s       *Server
	dropped atomic.Bool
}

// Subscribe starts a subscription to the named clients' events (none named:
// every client). buffer is how many events may wait unread (at least 1).
func (s *Server) Subscribe(buffer int, names ...string) (*Subscription, error) {
	c := make(chan Event, max(buffer, 1))
	sub := &Subscription{C: c, c: c, s: s}
	filter := nameSet(names)
	if err := s.onLoop(func() { s.st.watch.add(&watcher{names: filter, sub: sub}) }); err != nil {
		return nil, err
	}
	return sub, nil
}

// Err is ErrDropped once the loop has dropped the subscription, else nil.
func (sub *Subscription) Err() error {
	if sub.dropped.Load() {
		return ErrDropped
	}
	return nil
}

// Close ends the subscription and closes C (if the loop has not already).
func (sub *Subscription) Close() error {
	return sub.s.onLoop(func() {
		if sub.s.st.watch.remove(func(x *watcher) bool { return x.sub == sub }) {
			close(sub.c)
		}
	})
}
