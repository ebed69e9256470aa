package loop

import (
	"context"
	"sync"

	"github.com/logatron/logatron/query"
)

// Stream is an event subscription delivered as rendered lines (WATCH's text
// or JSON), bounded in bytes: when its reader owes more than watch-buffer
// the loop drops it and Next returns ErrDropped. Admin WATCH and the
// WebSocket both read one, so both follow the same slow-consumer rule.
type Stream struct {
	s    *Server
	addr string // who reads it, for the log
	mu   sync.Mutex
	wake chan struct{} // signalled on new lines, a drop or the end
	buf  []byte        // lines owed, not yet taken
	held int           // bytes taken and not yet released by the next take
	drop bool
	end  bool
}

// newStream makes a stream whose activity signals wake (cap 1), so that an
// admin responder can wait on its requests and its stream at once.
func newStream(s *Server, addr string, wake chan struct{}) *Stream {
	return &Stream{s: s, addr: addr, wake: wake}
}

// Watch starts a Stream of the named clients' events (none named: all).
func (s *Server) Watch(f query.Format, names ...string) (*Stream, error) {
	st := newStream(s, "", make(chan struct{}, 1))
	if err := s.onLoop(func() { s.st.watch.add(newWatcher(st, f, names)) }); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *Stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// push is called on the loop; false means the reader is too far behind.
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

func (st *Stream) stop(dropped bool) {
	st.mu.Lock()
	st.drop = st.drop || dropped
	st.end = true
	st.mu.Unlock()
	st.signal()
}

// take returns the lines owed without waiting (nil if none), releasing the
// previous batch; err is ErrDropped or, once ended and drained, ErrNotRunning.
func (st *Stream) take(spare []byte) ([]byte, error) {
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
		return nil, ErrNotRunning
	}
	return nil, nil
}

// Next waits for events and returns them as whole lines, each ending in
// "\n". The slice is valid until the next call; pass the previous one back
// as spare to reuse its memory. It returns ErrDropped once the loop dropped
// the stream, ErrNotRunning when the server stopped or Close was called.
func (st *Stream) Next(ctx context.Context, spare []byte) ([]byte, error) {
	for {
		if b, err := st.take(spare); b != nil || err != nil {
			return b, err
		}
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
