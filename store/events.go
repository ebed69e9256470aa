package store

import (
	"cmp"
	"context"
	"errors"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/logatron/logatron/query"
	"github.com/rs/zerolog"
)

// The event kinds a Hub delivers.
const (
	EventReady = query.EventReady
	EventLog   = query.EventLog
	EventSet   = query.EventSet
	EventClose = query.EventClose
	EventCont  = query.EventCont
)

// Errors of event delivery.
var (
	// ErrDropped: the consumer fell behind by more than its buffer and the
	// store dropped it, so that the loop never waits for it.
	ErrDropped = errors.New("logatron: subscriber dropped: it fell behind by more than its buffer")
	// ErrEnded: the stream was closed, or the server stopped.
	ErrEnded = errors.New("logatron: event stream ended")
)

// Event is one thing that happened to a client, as a Subscription delivers it.
type Event struct {
	TS      int64 // Unix epoch milliseconds
	Kind    query.EventKind
	Client  string
	Message string // EventLog
	Key     string // EventSet
	Value   string // EventSet
	Reason  string // EventClose: why the connection ended
}

// Hub is the store's one event fan-out. With nobody watching, Emit is a
// length check. With watchers, each event is rendered at most once per
// format and appended to each byte watcher's pending batch; Flush hands the
// batches over once per read, so a watcher costs one lock per read, not one
// per event. A watcher that would owe more than watch-buffer is dropped.
type Hub struct {
	log     zerolog.Logger
	limit   int // watch-buffer
	list    []*watcher
	dropped uint64
	dirty   bool // some watcher has a pending batch

	text, json []byte // the current event, rendered on first need
	clock      query.Clock
}

// WatchFilter selects the events a watcher gets.
type WatchFilter struct {
	Clients []string       // name globs; none: every client
	Match   *regexp.Regexp // LOG and CONT events whose text matches; nil: every one
	Backlog int            // stored entries of each selected client sent first
}

// watcher is one consumer: a Stream (admin WATCH, WebSocket) or a Go
// Subscription.
type watcher struct {
	globs  []query.Glob // none: every client
	match  query.Matcher
	stream *Stream
	format query.Format // the stream's
	sub    *Subscription
	batch  []byte // rendered events not yet handed to the stream
}

func newWatcher(f *WatchFilter) *watcher {
	x := &watcher{match: query.NewMatcher(f.Match)}
	for _, g := range f.Clients {
		x.globs = append(x.globs, query.NewGlob(g))
	}
	return x
}

// selects reports whether the watcher wants the events of client name.
func (x *watcher) selects(name string) bool {
	if len(x.globs) == 0 {
		return true
	}
	for i := range x.globs {
		if x.globs[i].Match(name) {
			return true
		}
	}
	return false
}

// wants reports whether the watcher gets this event: its client is
// selected and, for a LOG or CONT, its text matches.
func (x *watcher) wants(kind query.EventKind, name string, text []byte) bool {
	return x.selects(name) && (kind != EventLog && kind != EventCont || x.match.Match(text))
}

// Active reports whether anybody watches, so that every event must be emitted.
func (h *Hub) Active() bool { return len(h.list) != 0 }

// Len is the number of watchers.
func (h *Hub) Len() int { return len(h.list) }

// Dropped counts the watchers dropped for falling behind.
func (h *Hub) Dropped() uint64 { return h.dropped }

// Emit delivers one event. For EventLog a is the message; for EventSet a
// is the key and b the value; for EventClose a is the reason. Neither is
// kept.
func (h *Hub) Emit(kind query.EventKind, ts int64, name string, a, b []byte) {
	if len(h.list) != 0 {
		h.fanout(kind, ts, name, a, b)
	}
}

func (h *Hub) fanout(kind query.EventKind, ts int64, name string, a, b []byte) {
	h.text, h.json = h.text[:0], h.json[:0]
	var ev Event
	made := false
	for i := 0; i < len(h.list); i++ {
		x := h.list[i]
		if !x.wants(kind, name, a) {
			continue
		}
		ok := true
		switch {
		case x.sub != nil:
			if !made {
				ev = Event{TS: ts, Kind: kind, Client: name}
				switch kind {
				case EventLog, EventCont:
					ev.Message = string(a)
				case EventSet:
					ev.Key, ev.Value = string(a), string(b)
				case EventClose:
					ev.Reason = string(a)
				}
				made = true
			}
			select {
			case x.sub.c <- ev:
			default:
				ok = false
			}
		default:
			buf := &h.text
			if x.format == query.JSON {
				buf = &h.json
			}
			if len(*buf) == 0 {
				*buf = query.AppendEvent(*buf, x.format, &h.clock, ts, kind, name, a, b)
			}
			if len(x.batch)+len(*buf) > h.limit/handOver {
				// A long read can bring more events than watch-buffer: hand
				// the batch over now, so the reader drains it while the loop
				// goes on, and only a reader that owes watch-buffer is dropped.
				ok = x.hand(h.limit)
			}
			if ok {
				x.batch = append(x.batch, *buf...)
				h.dirty = true
			}
		}
		if !ok {
			h.drop(i, "slow consumer: watch-buffer exceeded")
			i--
		}
	}
}

// handOver: a watcher's batch is handed to its stream before the end of a
// read once it would pass 1/handOver of watch-buffer.
const handOver = 8

// Flush hands each byte watcher its pending batch; call it after each read.
func (h *Hub) Flush() {
	if !h.dirty {
		return
	}
	h.dirty = false
	for i := 0; i < len(h.list); i++ {
		x := h.list[i]
		if len(x.batch) == 0 {
			continue
		}
		if !x.hand(h.limit) {
			h.drop(i, "slow consumer: watch-buffer exceeded")
			i--
		}
	}
}

// hand gives a byte watcher's batch to its stream; false means the reader
// would owe more than limit.
func (x *watcher) hand(limit int) bool {
	ok := x.stream.push(x.batch, limit)
	x.batch = x.batch[:0]
	return ok
}

// AddStream starts delivering the events f selects to st, rendered in
// format f; the backlog is the caller's (Store.WatchStream).
func (h *Hub) addStream(st *Stream, format query.Format, f *WatchFilter) *watcher {
	x := newWatcher(f)
	x.stream, x.format = st, format
	h.list = append(h.list, x)
	return x
}

// addSubscription starts delivering the events f selects to sub.
func (h *Hub) addSubscription(sub *Subscription, f *WatchFilter) *watcher {
	x := newWatcher(f)
	x.sub = sub
	h.list = append(h.list, x)
	return x
}

// RemoveStream forgets st; it reports whether st was there.
func (h *Hub) RemoveStream(st *Stream) bool {
	return h.remove(func(x *watcher) bool { return x.stream == st })
}

// RemoveSubscription forgets sub and closes its channel, unless the hub
// had already dropped it.
func (h *Hub) RemoveSubscription(sub *Subscription) {
	if h.remove(func(x *watcher) bool { return x.sub == sub }) {
		close(sub.c)
	}
}

func (h *Hub) remove(match func(*watcher) bool) bool {
	for i, x := range h.list {
		if match(x) {
			h.unlist(i)
			return true
		}
	}
	return false
}

func (h *Hub) unlist(i int) {
	h.list[i] = h.list[len(h.list)-1]
	h.list[len(h.list)-1] = nil
	h.list = h.list[:len(h.list)-1]
}

// drop disconnects watcher i. It must not re-enter the loop's callbacks
// (we may be inside fanout): a stream's reader closes its connection.
func (h *Hub) drop(i int, reason string) {
	x := h.list[i]
	h.unlist(i)
	h.dropped++
	switch {
	case x.stream != nil:
		h.log.Warn().Str("addr", x.stream.addr).Str("reason", reason).Msg("watcher dropped")
		x.stream.stop(true)
	case x.sub != nil:
		h.log.Warn().Str("reason", reason).Msg("subscriber dropped")
		x.sub.dropped.Store(true)
		close(x.sub.c)
	}
}

// End ends every watcher: the store is going away. Streams end (their
// readers get ErrEnded once drained) and subscriptions' channels close,
// with Err() ErrEnded.
func (h *Hub) End() {
	h.Flush()
	for _, x := range h.list {
		switch {
		case x.stream != nil:
			x.stream.stop(false)
		case x.sub != nil:
			x.sub.ended.Store(true)
			close(x.sub.c)
		}
	}
	clear(h.list)
	h.list = h.list[:0]
}

// Stream is an event subscription delivered as rendered lines (WATCH's text
// or JSON), bounded in bytes: when its reader owes more than watch-buffer
// the hub drops it and Next returns ErrDropped. Admin WATCH and the
// WebSocket both read one, so both follow the same slow-consumer rule.
// Push happens on the loop, reading on the reader's goroutine.
type Stream struct {
	addr   string          // who reads it, for the log. Immutable.
	done   <-chan struct{} // closed when the server stops. Immutable.
	cancel func() error    // removes the stream from its hub. Immutable.
	wake   chan struct{}   // signalled on new lines, a drop or the end

	mu   sync.Mutex
	buf  []byte // lines owed, not yet taken
	held int    // bytes taken and not yet released by the next take
	drop bool
	end  bool
}

// NewStream makes a stream for a reader at addr whose activity signals
// wake (cap 1; nil makes one), so that an admin connection can wait on its
// requests and its stream at once. done is the server's end; cancel
// removes the stream from the hub (run through the loop).
func NewStream(addr string, wake chan struct{}, done <-chan struct{}, cancel func(*Stream) error) *Stream {
	if wake == nil {
		wake = make(chan struct{}, 1)
	}
	st := &Stream{addr: addr, wake: wake, done: done}
	st.cancel = func() error { return cancel(st) }
	return st
}

func (st *Stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *Stream) push(b []byte, limit int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.buf)+st.held+len(b) > limit {
		return false
	}
	st.buf = append(st.buf, b...)
	st.signal()
	return true
}

// Stop ends the stream from the loop's side; dropped says it fell behind.
func (st *Stream) Stop(dropped bool) { st.stop(dropped) }

func (st *Stream) stop(dropped bool) {
	st.mu.Lock()
	st.drop = st.drop || dropped
	st.end = true
	st.mu.Unlock()
	st.signal()
}

// Take returns the lines owed without waiting (nil if none), releasing the
// previous batch; err is ErrDropped or, once ended and drained, ErrEnded.
func (st *Stream) Take(spare []byte) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.held = 0
	switch {
	case st.drop:
		return nil, ErrDropped
	case len(st.buf) > 0:
		out := st.buf
		st.buf = spare[:0]
		st.held = len(out)
		return out, nil
	case st.end:
		return nil, ErrEnded
	}
	return nil, nil
}

// Next waits for events and returns them as whole lines, each ending in
// "\n". The slice is valid until the next call; pass the previous one back
// as spare to reuse its memory. It returns ErrDropped once the hub dropped
// the stream, ErrEnded when the server stopped or Close was called.
func (st *Stream) Next(ctx context.Context, spare []byte) ([]byte, error) {
	for {
		if b, err := st.Take(spare); b != nil || err != nil {
			return b, err
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-st.done:
			return nil, ErrEnded
		}
	}
}

// Close ends the stream.
func (st *Stream) Close() error {
	st.stop(false)
	return st.cancel()
}

// Subscription delivers events (ready, log, set, close) on C. The loop never
// waits for it: when C is full the hub closes C and Err reports ErrDropped,
// so a gap is never silent.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	cancel  func() error
	dropped atomic.Bool
	ended   atomic.Bool
}

// NewSubscription makes a subscription buffering up to buffer events (at
// least 1); cancel removes it from the hub (run through the loop).
func NewSubscription(buffer int, cancel func(*Subscription) error) *Subscription {
	c := make(chan Event, max(buffer, 1))
	sub := &Subscription{C: c, c: c}
	sub.cancel = func() error { return cancel(sub) }
	return sub
}

// Err is ErrDropped once the hub has dropped the subscription, ErrEnded
// once the server stopped, else nil.
func (sub *Subscription) Err() error {
	switch {
	case sub.dropped.Load():
		return ErrDropped
	case sub.ended.Load():
		return ErrEnded
	}
	return nil
}

// Close ends the subscription and closes C (if the hub has not already).
func (sub *Subscription) Close() error { return sub.cancel() }

// MaxBacklog bounds the entries a watcher's backlog copies in one step on
// the loop, over all its clients: a WATCH backlog=128 of 20,000 clients
// sends the newest MaxBacklog of their entries.
const MaxBacklog = 100_000

// backlogEntry is one stored entry for a backlog; msg aliases the ring and
// is valid only during the step that collected it.
type backlogEntry struct {
	ts   int64
	name string
	msg  []byte
}

// backlog collects the newest f.Backlog entries of each client x selects
// whose message matches, merged in time order (ties by name, then ring
// order), at most MaxBacklog in all (the newest).
func (s *Store) backlog(x *watcher, n int) []backlogEntry {
	if n <= 0 {
		return nil
	}
	var out []backlogEntry
	var picked []backlogEntry
	for _, cl := range s.byName {
		if !x.selects(cl.name) {
			continue
		}
		picked = picked[:0]
		collect := func(ts int64, msg []byte) bool {
			if x.match.Match(msg) {
				picked = append(picked, backlogEntry{ts, cl.name, msg})
			}
			return true
		}
		if x.match.Regexp() == nil {
			cl.ring.Last(n, collect) // only the newest n are read
		} else {
			cl.ring.Range(0, collect)
		}
		if len(picked) > n {
			picked = picked[len(picked)-n:]
		}
		out = append(out, picked...)
		if len(out) > 2*MaxBacklog {
			out = newestEntries(out, MaxBacklog)
		}
	}
	return newestEntries(out, MaxBacklog)
}

// newestEntries sorts es in time order (stable: ties stay in name, then
// ring order) and keeps the newest n.
func newestEntries(es []backlogEntry, n int) []backlogEntry {
	slices.SortStableFunc(es, func(a, b backlogEntry) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	if len(es) > n {
		es = es[len(es)-n:]
	}
	return es
}

// WatchStream starts a stream of the events f selects, in format format,
// opening it with head (e.g. "OK stream"). With a backlog, the newest
// stored entries come first as LOG events with their stored timestamps,
// then the live events, with none lost or repeated between the two: both
// happen in this one step on the store's goroutine. A backlog that would
// not fit in half of watch-buffer is cut to its newest entries that do.
func (s *Store) WatchStream(st *Stream, format query.Format, f *WatchFilter, head []byte) {
	h := &s.Watch
	x := h.addStream(st, format, f)
	out := append([]byte(nil), head...)
	if es := s.backlog(x, f.Backlog); len(es) > 0 {
		var clock query.Clock
		// Render newest first until half of watch-buffer is used, so a
		// backlog never gets its watcher dropped.
		ends := make([][]byte, 0, len(es))
		size := 0
		for i := len(es) - 1; i >= 0; i-- {
			e := &es[i]
			line := query.AppendEvent(nil, format, &clock, e.ts, EventLog, e.name, e.msg, nil)
			if size+len(line) > h.limit/2 {
				break
			}
			size += len(line)
			ends = append(ends, line)
		}
		for i := len(ends) - 1; i >= 0; i-- {
			out = append(out, ends[i]...)
		}
	}
	if !st.push(out, h.limit) {
		h.RemoveStream(st)
		st.stop(true)
	}
}

// WatchSubscription starts delivering the events f selects to sub, after
// the backlog (see WatchStream): at most the newest entries that fit in
// sub's buffer.
func (s *Store) WatchSubscription(sub *Subscription, f *WatchFilter) {
	x := s.Watch.addSubscription(sub, f)
	es := s.backlog(x, f.Backlog)
	if room := cap(sub.c) - len(sub.c); len(es) > room {
		es = es[len(es)-room:]
	}
	for _, e := range es {
		sub.c <- Event{TS: e.ts, Kind: EventLog, Client: e.name, Message: string(e.msg)}
	}
}
