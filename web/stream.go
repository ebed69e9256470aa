package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
)

// parseWatch reads what /api/watch and /api/tail take (SPEC §7): client=
// name globs (repeatable; none means every client; an empty one is
// ignored), match= (a regex on LOG and CONT messages) and backlog= (stored
// entries of each client to send first).
func parseWatch(q url.Values) (loop.WatchQuery, error) {
	var wq loop.WatchQuery
	for _, c := range q["client"] {
		if c != "" {
			wq.Clients = append(wq.Clients, c)
		}
	}
	var err error
	if wq.Match, err = parseMatch(q); err != nil {
		return wq, err
	}
	if wq.Backlog, err = parseCount(q, "backlog", 0); err != nil {
		return wq, err
	}
	return wq, nil
}

// watchStream opens wq's stream on the loop, in JSON.
func (s *Server) watchStream(ctx context.Context, wq loop.WatchQuery) (*loop.Stream, error) {
	return s.srv.Watch(ctx, query.JSON, wq)
}

// openStream does what both stream routes do before answering: refuse
// another origin (403), a bad query (400), one stream too many (503), and
// open the loop's stream. When ok is false it has answered the request;
// otherwise the caller must call done when the stream ends.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) (st *loop.Stream, done func(), ok bool) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "forbidden: a stream must come from this server's own origin, not "+r.Header.Get("Origin"))
		return nil, nil, false
	}
	wq, err := parseWatch(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, nil, false
	}
	select {
	case s.streams <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many streams: "+strconv.Itoa(cap(s.streams))+" WebSocket and event-stream connections are open")
		return nil, nil, false
	}
	if st, err = s.watchStream(r.Context(), wq); err != nil {
		<-s.streams
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return nil, nil, false
	}
	return st, func() { _ = st.Close(); <-s.streams }, true
}

// pump hands st's batches (whole lines, each ending in "\n") to send until
// ctx ends or the stream does, and calls beat after each idle period without
// events (never, when idle is 0). It returns why it stopped: ctx's error,
// loop.ErrDropped, loop.ErrEnded, or send's or beat's error.
func pump(ctx context.Context, st *loop.Stream, idle time.Duration, send func([]byte) error, beat func() error) error {
	var batch []byte
	for {
		next, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			next, cancel = context.WithTimeout(ctx, idle)
		}
		b, err := st.Next(next, batch)
		cancel()
		switch {
		case err == nil:
			batch = b
			if err := send(b); err != nil {
				return err
			}
		case idle > 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			if err := beat(); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// endReason is what a stream's reader is told when the server ends it, ""
// when the reader ended it.
func (s *Server) endReason(err error, addr string) string {
	switch {
	case errors.Is(err, loop.ErrDropped):
		s.log.Warn().Str("addr", addr).Msg("HTTP watcher dropped: slow consumer")
		return "slow consumer: watch-buffer exceeded"
	case errors.Is(err, loop.ErrEnded), errors.Is(err, loop.ErrNotRunning):
		return "server stopping"
	}
	return ""
}

// watch streams events over a WebSocket, one JSON event per message. A
// reader that falls watch-buffer behind is closed with status 1008 and the
// reason "slow consumer"; a server that stops closes it with 1001.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	st, done, ok := s.openStream(w, r)
	if !ok {
		return
	}
	defer done()
	c, err := websocket.Accept(w, r, nil) // also checks the Origin, by the same rule as openStream
	if err != nil {
		return // Accept has answered the request
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // we never read: this answers pings and notices the close
	err = pump(ctx, st, 0, func(batch []byte) error {
		for len(batch) > 0 {
			i := bytes.IndexByte(batch, '\n')
			wctx, cancel := context.WithTimeout(ctx, streamWriteTimeout)
			err := c.Write(wctx, websocket.MessageText, batch[:i])
			cancel()
			if err != nil {
				return err
			}
			batch = batch[i+1:]
		}
		return nil
	}, nil)
	switch reason := s.endReason(err, r.RemoteAddr); {
	case errors.Is(err, loop.ErrDropped):
		_ = c.Close(websocket.StatusPolicyViolation, reason)
	case reason != "":
		_ = c.Close(websocket.StatusGoingAway, reason)
	}
}

// tail streams events as server-sent events (text/event-stream, for
// `curl -N` and EventSource): one "data: <JSON event>" per event, a comment
// line after Heartbeat of silence, and, when the server ends the stream,
// "event: error" with data {"error":"<reason>"}.
func (s *Server) tail(w http.ResponseWriter, r *http.Request) {
	st, done, ok := s.openStream(w, r)
	if !ok {
		return
	}
	defer done()
	rc := http.NewResponseController(w)
	// WriteTimeout would end the stream; each write gets its own deadline
	// instead. (ReadTimeout does not apply: net/http lifts the read deadline
	// once a request without a body has been read.)
	write := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	if write(nil) != nil { // sends the header now, so the reader knows the stream is open
		return
	}
	var out []byte
	err := pump(r.Context(), st, s.opts.Heartbeat, func(batch []byte) error {
		out = out[:0]
		for len(batch) > 0 {
			i := bytes.IndexByte(batch, '\n')
			out = append(out, "data: "...)
			out = append(out, batch[:i]...)
			out = append(out, "\n\n"...)
			batch = batch[i+1:]
		}
		return write(out)
	}, func() error { return write([]byte(": keep-alive\n\n")) })
	if reason := s.endReason(err, r.RemoteAddr); reason != "" {
		msg := append([]byte("event: error\ndata: "), query.AppendError(nil, query.JSON, reason)...)
		_ = write(append(msg, '\n'))
	}
}
