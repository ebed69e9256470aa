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
// length check; with watchers, each event is rendered at most once per format
// and each watcher gets a copy of the bytes, or is dropped when it owes more
// than it may.
type watchers struct {
	log     zerolog.Logger
	limit   int // watch-buffer
	list    []*watcher
	dropped uint64

	text, json []byte // the current event, rendered on first need
}

// watcher is one consumer: an admin WATCH (r set) or a Go Subscription (sub set).
type watcher struct {
	names  map[string]bool // nil: every client
	r      *responder
	format query.Format
	sub    *Subscription
	stream *Stream
}

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
		case x.r != nil || x.stream != nil:
			buf := &w.text
			if x.format == query.JSON {
				buf = &w.json
			}
			if len(*buf) == 0 {
				*buf = query.AppendEvent(*buf, x.format, ts, kind, name, a, b)
			}
			if x.r != nil {
				ok = x.r.pushEvent(*buf, w.limit)
			} else {
				ok = x.stream.push(*buf, w.limit)
			}
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
		}
		if !ok {
			w.drop(i, "slow consumer: watch-buffer exceeded")
			i--
		}
	}
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
	case x.r != nil:
		w.log.Warn().Str("addr", x.r.addr).Str("reason", reason).Msg("watcher dropped")
		x.r.abort()
	case x.stream != nil:
		w.log.Warn().Str("reason", reason).Msg("stream dropped")
		x.stream.stop(true)
	case x.sub != nil:
		w.log.Warn().Str("reason", reason).Msg("subscriber dropped")
		x.sub.dropped.Store(true)
		close(x.sub.c)
	}
}
