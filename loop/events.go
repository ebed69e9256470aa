package loop

import (
	"github.com/logatron/logatron/query"
	"github.com/rs/zerolog"
)

const (
	eventReady = query.EventReady
	eventLog   = query.EventLog
	eventSet   = query.EventSet
	eventClose = query.EventClose
)

// Event is one thing that happened to a client, as a Subscription delivers it.
type Event struct {
	TS      int64 // Unix epoch milliseconds
	Kind    query.EventKind
	Client  string
	Message string // EventLog
	Key     string // EventSet
	Value   string // EventSet
}

// watchers is the loop's one event fan-out. With nobody watching, emit is a
// length check. With watchers, each event is rendered at most once per
// format and appended to each byte watcher's pending batch; flush hands the
// batches over once per read, so a watcher costs one lock per read, not one
// per event. A watcher that would owe more than watch-buffer is dropped.
type watchers struct {
	log     zerolog.Logger
	limit   int // watch-buffer
	list    []*watcher
	dropped uint64
	dirty   bool // some watcher has a pending batch

	text, json []byte // the current event, rendered on first need
	clock      query.Clock
}

// watcher is one consumer: a Stream (admin WATCH, WebSocket) or a Go
// Subscription.
type watcher struct {
	names  map[string]bool // nil: every client
	stream *Stream
	format query.Format // the stream's
	sub    *Subscription
	batch  []byte // rendered events not yet handed to the stream (loop-owned)
}

func newWatcher(st *Stream, f query.Format, names []string) *watcher {
	return &watcher{names: nameSet(names), stream: st, format: f}
}

// nameSet is a watcher's filter; nil means every client.
func nameSet(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// active reports whether anybody watches, so that every event must be emitted.
func (w *watchers) active() bool { return len(w.list) != 0 }

func (w *watchers) emit(kind query.EventKind, ts int64, name string, a, b []byte) {
	if len(w.list) != 0 {
		w.fanout(kind, ts, name, a, b)
	}
}

func (w *watchers) fanout(kind query.EventKind, ts int64, name string, a, b []byte) {
	w.text, w.json = w.text[:0], w.json[:0]
	var ev Event
	made := false
	for i := 0; i < len(w.list); i++ {
		x := w.list[i]
		if x.names != nil && !x.names[name] {
			continue
		}
		ok := true
		switch {
		case x.sub != nil:
			if !made {
				ev = Event{TS: ts, Kind: kind, Client: name}
				switch kind {
				case eventLog:
					ev.Message = string(a)
				case eventSet:
					ev.Key, ev.Value = string(a), string(b)
				}
				made = true
			}
			select {
			case x.sub.c <- ev:
			default:
				ok = false
			}
		default:
			buf := &w.text
			if x.format == query.JSON {
				buf = &w.json
			}
			if len(*buf) == 0 {
				*buf = query.AppendEvent(*buf, x.format, &w.clock, ts, kind, name, a, b)
			}
			if len(x.batch)+len(*buf) > w.limit/handOver {
				// A long read can bring more events than watch-buffer: hand
				// the batch over now, so the reader drains it while the loop
				// goes on, and only a reader that owes watch-buffer is dropped.
				ok = x.hand(w.limit)
			}
			if ok {
				x.batch = append(x.batch, *buf...)
				w.dirty = true
			}
		}
		if !ok {
			w.drop(i, "slow consumer: watch-buffer exceeded")
			i--
		}
	}
}

// handOver: a watcher's batch is handed to its stream before the end of a
// read once it would pass 1/handOver of watch-buffer.
const handOver = 8

// flush hands each byte watcher its pending batch.
func (w *watchers) flush() {
	if !w.dirty {
		return
	}
	w.dirty = false
	for i := 0; i < len(w.list); i++ {
		x := w.list[i]
		if len(x.batch) == 0 {
			continue
		}
		if !x.hand(w.limit) {
			w.drop(i, "slow consumer: watch-buffer exceeded")
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

func (w *watchers) add(x *watcher) { w.list = append(w.list, x) }

// remove forgets a watcher that ended on its own; it reports whether it was there.
func (w *watchers) remove(match func(*watcher) bool) bool {
	for i, x := range w.list {
		if match(x) {
			w.list[i] = w.list[len(w.list)-1]
			w.list[len(w.list)-1] = nil
			w.list = w.list[:len(w.list)-1]
			return true
		}
	}
	return false
}

// drop disconnects watcher i. It must not re-enter the loop's callbacks
// (we may be inside fanout), so the admin connection is closed asynchronously.
func (w *watchers) drop(i int, reason string) {
	x := w.list[i]
	w.list[i] = w.list[len(w.list)-1]
	w.list[len(w.list)-1] = nil
	w.list = w.list[:len(w.list)-1]
	w.dropped++
	switch {
	case x.stream != nil:
		w.log.Warn().Str("addr", x.stream.addr).Str("reason", reason).Msg("watcher dropped")
		x.stream.stop(true) // its reader closes the connection
	case x.sub != nil:
		w.log.Warn().Str("reason", reason).Msg("subscriber dropped")
		x.sub.dropped.Store(true)
		close(x.sub.c)
	}
}
