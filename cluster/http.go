package cluster

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
)

// maxHTTPWatches bounds the /api/cluster/watch streams open at once.
const maxHTTPWatches = 16

// HTTP stream timing: a write that blocks this long ends the stream, and
// a comment line is sent after this much silence.
const (
	sseWriteTimeout = 10 * time.Second
	sseKeepAlive    = 15 * time.Second
)

// Handler serves the cluster's HTTP API under /api/cluster/, in JSON, the
// CLUSTER shapes (see render.go) with the query parameters of the
// single-node routes:
//
//	GET /api/cluster/names
//	GET /api/cluster/clients?match=<glob>&limit=&after=&closed=1|all=1
//	GET /api/cluster/clients/{name}
//	GET /api/cluster/clients/{name}/log?n=&since=&until=&match=
//	GET /api/cluster/clients/{name}/state
//	GET /api/cluster/grep?q=&clients=&since=&until=&limit=
//	GET /api/cluster/stats
//	GET /api/cluster/watch?client=<glob>&match=   server-sent events, one "data: <JSON event>" each
//
// A bad parameter is 400, a client that no node holds 404, no node
// answering 503. The caller (package web) checks the Host and the token.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, line func(r *http.Request) string) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) { n.serveQuery(w, r, line(r)) })
	}
	route("/api/cluster/names", func(*http.Request) string { return "NAMES" })
	route("/api/cluster/stats", func(*http.Request) string { return "STATS" })
	route("/api/cluster/clients", func(r *http.Request) string {
		v := r.URL.Query()
		return "CLIENTS" + pos(v, "match") + opts(v, "limit", "after", "closed", "all")
	})
	route("/api/cluster/clients/{name}", func(r *http.Request) string {
		return "CLIENT " + quote(r.PathValue("name"))
	})
	route("/api/cluster/clients/{name}/state", func(r *http.Request) string {
		return "STATE " + quote(r.PathValue("name"))
	})
	route("/api/cluster/clients/{name}/log", func(r *http.Request) string {
		v := r.URL.Query()
		return "LOG " + quote(r.PathValue("name")) + pos(v, "n") + opts(v, "since", "until", "match")
	})
	route("/api/cluster/grep", func(r *http.Request) string {
		v := r.URL.Query()
		return "GREP " + quote(v.Get("q")) + opts(v, "clients", "since", "until", "limit")
	})
	mux.HandleFunc("GET /api/cluster/watch", n.serveWatch)
	mux.HandleFunc("/api/cluster/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}

// quote makes s one token of an admin request line, whatever it holds.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// pos is the positional argument key, when given.
func pos(v url.Values, key string) string {
	if !v.Has(key) {
		return ""
	}
	return " " + quote(v.Get(key))
}

// opts are the options keys=value among those given.
func opts(v url.Values, keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		if v.Has(k) {
			b.WriteString(" " + k + "=" + quote(v.Get(k)))
		}
	}
	return b.String()
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(query.AppendError(nil, query.JSON, msg))
}

// serveQuery answers one request line as JSON.
func (n *Node) serveQuery(w http.ResponseWriter, r *http.Request, line string) {
	if !n.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, errNotStarted.Error())
		return
	}
	req, err := parse(line)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, err := n.query(r.Context(), &req, line)
	switch {
	case err != nil:
		writeError(w, statusOf(err), err.Error())
	case m.noSuch != "":
		err = &loop.NoSuchClientError{Name: m.noSuch}
		writeError(w, statusOf(err), err.Error())
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = m.render(w, query.JSON)
	}
}

// serveWatch streams CLUSTER WATCH as server-sent events.
func (n *Node) serveWatch(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			writeError(w, http.StatusForbidden, "forbidden: a stream must come from this server's own origin, not "+o)
			return
		}
	}
	v := r.URL.Query()
	line := "WATCH" + opts(v, "match")
	for _, c := range v["client"] {
		if c != "" {
			line += " " + quote(c)
		}
	}
	req, err := parse(line)
	if err == nil && v.Has("backlog") {
		err = errWatchBacklog
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !n.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, errNotStarted.Error())
		return
	}
	select {
	case n.watches <- struct{}{}:
		defer func() { <-n.watches }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many cluster watch streams")
		return
	}
	s := &sse{w: w, rc: http.NewResponseController(w)}
	ctx, cancel := context.WithCancel(r.Context())
	var beats sync.WaitGroup
	defer func() { cancel(); beats.Wait() }()
	writing, err := n.watch(ctx, query.JSON, &req, s, func([]string) error {
		// Subscribed: the header goes out now, so that the reader knows
		// every event from now on comes.
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		beats.Add(1)
		go func() { defer beats.Done(); s.keepAlive(ctx, cancel) }()
		return s.write(nil)
	})
	var se *subscribeError
	if errors.As(err, &se) {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	// The handler must not return while a write is in progress: one
	// blocked on a reader that stopped reading is ended now.
	_ = s.rc.SetWriteDeadline(time.Now())
	<-writing
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	switch {
	case errors.Is(err, ErrSlowWatcher):
		_ = s.write([]byte("event: error\ndata: {\"error\":\"slow consumer: watch-buffer exceeded\"}\n\n")) // fails if the write was cut
	case errors.Is(err, errWatchStopped):
		_ = s.write([]byte("event: error\ndata: {\"error\":\"server stopping\"}\n\n"))
	}
}

// sse writes JSON lines as server-sent events, one write at a time.
type sse struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	rc  *http.ResponseController
	out []byte
}

func (s *sse) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)); err != nil {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Write takes whole JSON lines and sends each as "data: <line>\n\n".
func (s *sse) Write(lines []byte) (int, error) {
	s.out = s.out[:0]
	for rest := lines; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		s.out = append(s.out, "data: "...)
		s.out = append(s.out, rest[:i]...)
		s.out = append(s.out, "\n\n"...)
		rest = rest[min(i+1, len(rest)):]
	}
	if err := s.write(s.out); err != nil {
		return 0, err
	}
	return len(lines), nil
}

// keepAlive sends a comment line every sseKeepAlive, so that proxies keep
// an idle stream open; a failed write ends the stream.
func (s *sse) keepAlive(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(sseKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.write([]byte(": keep-alive\n\n")) != nil {
				cancel()
				return
			}
		}
	}
}
