package loop

import (
	"context"
	"sync"

	"github.com/logatron/logatron/query"
)

// Stream is an event subscription delivered as rendered lines (WATCH's text
// or JSON), bounded in bytes: when its reader owes more than watch-buffer
// the loop drops it and Next returns ErrDropped. It is how a consumer that
// writes events to a socket (the WebSocket) follows the same slow-consumer
// rule as admin WATCH.
type Stream struct {
	s    *Server
	mu   sync.Mutex
	wake chan struct{}
	buf  []byte // lines owed, not yet taken
	held int    // bytes taken by Next and not yet released by the next call
	drop bool
	end  bool
}

// Watch starts a Stream of the named clients' events (none named: all).
func (s *Server) Watch(f query.Format, names ...string) (*Stream, error) {
	st := &Stream{s: s, wake: make(chan struct{}, 1)}
	var filter map[string]bool
	if len(names) > 0 {
		filter = make(map[string]bool, len(names))
		for _, n := range names {
			filter[n] = true
		}
	}
	if err := s.onLoop(func() { s.st.watch.add(&watcher{names: filter, stream: st, format: f}) }); err != nil {
		return nil, err
	}
	return st, nil
}

// push is called on the loop; false means the reader is too far behind.
func (st *Stream) push(b []byte, limit int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.buf)+st.held+len(b) > limit {
		return false
	}
	st.buf = append(st.buf, b...)
	select {
	case st.wake <- struct{}{}:
	default:
	}
	return true
}

func (st *Stream) stop(dropped bool) {
	st.mu.Lock()
	st.drop = st.drop || dropped
	st.end = true
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// Next waits for events and returns them as whole lines, each ending in
// "\n". The slice is valid until the next call; pass the previous one back
// as spare to reuse its memory. It returns ErrDropped once the loop dropped
// the stream, ErrNotRunning when the server stopped or Close was called.
func (st *Stream) Next(ctx context.Context, spare []byte) ([]byte, error) {
	for {
		st.mu.Lock()
		st.held = 0
		switch {
		case st.drop:
			st.mu.Unlock()
			return nil, ErrDropped
		case len(st.buf) > 0:
			out := st.buf
			st.buf = spare[:0]
			st.held = len(out)
			st.mu.Unlock()
			return out, nil
		case st.end:
			st.mu.Unlock()
			return nil, ErrNotRunning
		}
		st.mu.Unlock()
		select {
		case <-st.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-st.s.done:
			return nil, ErrNotRunning
		}
	}
}

// Close ends the stream.
func (st *Stream) Close() error {
	st.stop(false)
	return st.s.onLoop(func() { st.s.st.watch.remove(func(x *watcher) bool { return x.stream == st }) })
}
