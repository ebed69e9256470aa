package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
	"github.com/nats-io/nats.go"
)

// ErrSlowWatcher ends a CLUSTER WATCH whose reader owes more than
// watch-buffer: as on one node, it is disconnected rather than let the
// events pile up.
var ErrSlowWatcher = errors.New("cluster watcher dropped: slow consumer: watch-buffer exceeded")

// subscribeError: a CLUSTER WATCH could not subscribe; nothing was written.
type subscribeError struct {
	subject string
	err     error
}

func (e *subscribeError) Error() string {
	return "cannot subscribe to " + e.subject + ": " + e.err.Error()
}

// errWatchStopped ends a CLUSTER WATCH when the node stops.
var errWatchStopped = errors.New("cluster watcher ended: node stopping")

// eventJSON is an event's payload on logatron.events.<node>.<client>.
type eventJSON struct {
	TS      int64  `json:"ts"`
	Event   string `json:"event"`
	Client  string `json:"client"`
	Node    string `json:"node"`
	Message string `json:"message"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	Reason  string `json:"reason"`
}

var eventKinds = map[string]query.EventKind{
	"ready": query.EventReady, "log": query.EventLog, "set": query.EventSet,
	"close": query.EventClose, "cont": query.EventCont,
}

// watcher is one CLUSTER WATCH: the NATS subscriptions' handler renders
// the events it selects into buf, which the watch's writer drains.
type watcher struct {
	f       query.Format
	globs   []query.Glob // none: every client
	match   query.Matcher
	limit   int
	mu      sync.Mutex
	buf     []byte
	dropped bool
	clock   query.Clock
	wake    chan struct{} // a token when buf has something
	drop    chan struct{} // closed when dropped
}

func (x *watcher) selects(ev *eventJSON, kind query.EventKind) bool {
	if len(x.globs) > 0 {
		in := false
		for i := range x.globs {
			if x.globs[i].Match(ev.Client) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return kind != query.EventLog && kind != query.EventCont || x.match.Match([]byte(ev.Message))
}

// onMsg renders the events of one message (JSON lines); it never blocks
// (NATS delivers the next message only after it returns), and marks the
// watcher dropped once it owes more than limit bytes.
func (x *watcher) onMsg(m *nats.Msg) {
	for b := m.Data; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		x.onEvent(b[:i])
		b = b[min(i+1, len(b)):]
	}
}

func (x *watcher) onEvent(line []byte) {
	var ev eventJSON
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	kind, ok := eventKinds[ev.Event]
	if !ok || !ValidNode(ev.Node) || !x.selects(&ev, kind) {
		return
	}
	a, b := eventArgs(kind, ev.Message, ev.Key, ev.Value, ev.Reason)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dropped {
		return
	}
	x.buf = query.AppendNodeEvent(x.buf, x.f, &x.clock, ev.TS, kind, ev.Node, ev.Client, []byte(a), []byte(b))
	if len(x.buf) > x.limit {
		x.dropped, x.buf = true, nil
		close(x.drop)
		return
	}
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// take returns what is owed (nil if nothing) and whether the watcher was
// dropped; spare's memory is reused for what comes next.
func (x *watcher) take(spare []byte) ([]byte, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dropped {
		return nil, true
	}
	if len(x.buf) == 0 {
		return nil, false
	}
	out := x.buf
	x.buf = spare[:0]
	return out, false
}

// watchSubjects are the subjects a watch of globs subscribes to: one per
// plain name (the events of that client on every node), or every event
// when any glob has a wildcard or none is given.
func watchSubjects(globs []query.Glob) []string {
	var subs []string
	for i := range globs {
		if !globs[i].Literal() {
			return []string{allEvents}
		}
		subs = append(subs, eventsPrefix+"*."+Token(globs[i].String()))
	}
	if len(subs) == 0 {
		return []string{allEvents}
	}
	return subs
}

// watch streams the events of every node that req selects to w, in f,
// once it has subscribed to them and called opened with the nodes known
// but late (opened writes the stream's head), until ctx ends (nil), w fails (its error) or the reader falls
// watch-buffer behind (ErrSlowWatcher). A write to w may still be in
// progress when it returns (blocked on a reader that stopped reading, it
// is not waited for): writing is closed when none is; the caller ends a
// blocked one by closing w or setting its deadline. Events come from NATS, so a node
// disconnected from NATS sees none, its own included. backlog= is not
// taken: stored entries are for CLUSTER GREP and LOG.
func (n *Node) watch(ctx context.Context, f query.Format, req *codec.Request, w io.Writer, opened func(missing []string) error) (writing <-chan struct{}, err error) {
	x := &watcher{f: f, match: query.NewMatcher(req.Match), limit: n.cfg.WatchBuffer,
		wake: make(chan struct{}, 1), drop: make(chan struct{})}
	for _, g := range req.Names {
		x.globs = append(x.globs, query.NewGlob(g))
	}
	for _, subj := range watchSubjects(x.globs) {
		sub, err := n.nc.Subscribe(subj, x.onMsg)
		if err != nil {
			return closed, &subscribeError{subj, err}
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	// A round trip to the NATS server, so that it has the subscriptions
	// before the stream opens: every event published after the head
	// reaches the reader. Disconnected, the subscriptions wait for the
	// reconnect.
	if n.nc.IsConnected() {
		_ = n.nc.FlushTimeout(n.cfg.Timeout)
	}
	named, alive := n.peers.known(n.cfg.Forget, n.cfg.Heartbeat)
	if err := opened(without(named, alive)); err != nil {
		return closed, err
	}
	// The writes go on in their own goroutine, so that a reader that
	// stops reading is dropped as soon as it owes watch-buffer, not when
	// its blocked write times out.
	failed := make(chan error, 1)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(done)
		var spare []byte
		for {
			select {
			case <-ctx.Done():
				return
			case <-x.drop:
				return
			case <-x.wake:
			}
			out, dropped := x.take(spare)
			if dropped {
				return
			}
			if out == nil {
				continue
			}
			if _, err := w.Write(out); err != nil {
				failed <- err
				return
			}
			spare = out
		}
	}()
	select {
	case <-ctx.Done():
		return done, nil
	case err := <-failed:
		return done, err
	case <-n.stop:
		return done, errWatchStopped
	case <-x.drop:
		n.log.Warn().Msg("cluster watcher dropped: slow consumer")
		return done, ErrSlowWatcher
	}
}

// closed is a closed channel: no write in progress.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// without returns the elements of all that are not in some.
func without(all, some []string) []string {
	var out []string
	for _, s := range all {
		found := false
		for _, t := range some {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}
