// Package web serves Logatron over HTTP (../shared/SPEC.md §3): the JSON
// API, Prometheus metrics, a WebSocket event stream and a status page. Every
// handler gets copies from the event loop through loop.Server's methods;
// nothing here touches the store.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

//go:embed static/index.html
var static embed.FS

// Handler routes every HTTP endpoint to srv.
func Handler(srv *loop.Server, log zerolog.Logger) http.Handler {
	h := &handlers{srv: srv, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(srv), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/stats", h.stats)
	mux.HandleFunc("GET /api/clients", h.clients)
	mux.HandleFunc("GET /api/clients/{name}", h.client)
	mux.HandleFunc("GET /api/clients/{name}/log", h.clientLog)
	mux.HandleFunc("GET /api/clients/{name}/state", h.state)
	mux.HandleFunc("GET /api/watch", h.watch)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLog{log}}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "static/index.html")
	})
	return mux
}

type handlers struct {
	srv *loop.Server
	log zerolog.Logger
}

// reply writes the JSON body that render makes with query (which ends it
// with "\n"), or, without rendering, the error as {"error": ...} with its
// status.
func reply(w http.ResponseWriter, render func() []byte, err error) {
	w.Header().Set("Content-Type", "application/json")
	var body []byte
	if err == nil {
		body = render()
	} else {
		status := http.StatusServiceUnavailable
		var nsc *loop.NoSuchClientError
		if errors.As(err, &nsc) {
			status = http.StatusNotFound
		}
		w.WriteHeader(status)
		body = query.AppendError(nil, query.JSON, err.Error())
	}
	_, _ = w.Write(body)
}

func (h *handlers) stats(w http.ResponseWriter, _ *http.Request) {
	st, err := h.srv.Stats()
	reply(w, func() []byte { return query.AppendStats(nil, query.JSON, &st) }, err)
}

func (h *handlers) clients(w http.ResponseWriter, _ *http.Request) {
	cs, err := h.srv.ClientInfos()
	reply(w, func() []byte { return query.AppendClients(nil, query.JSON, cs) }, err)
}

func (h *handlers) client(w http.ResponseWriter, r *http.Request) {
	c, err := h.srv.ClientInfo(r.PathValue("name"))
	reply(w, func() []byte { return query.AppendClient(nil, query.JSON, &c) }, err)
}

func (h *handlers) clientLog(w http.ResponseWriter, r *http.Request) {
	n := -1
	if v := r.URL.Query().Get("n"); v != "" || r.URL.Query().Has("n") {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(query.AppendError(nil, query.JSON, "usage: n must be a non-negative integer"))
			return
		}
	}
	l, err := h.srv.Log(r.PathValue("name"), n)
	reply(w, func() []byte { return query.AppendLog(nil, query.JSON, &l) }, err)
}

func (h *handlers) state(w http.ResponseWriter, r *http.Request) {
	kvs, err := h.srv.State(r.PathValue("name"))
	reply(w, func() []byte { return query.AppendState(nil, query.JSON, kvs) }, err)
}

// watch streams events over a WebSocket, one JSON event per message. A
// reader that falls watch-buffer behind is closed with status 1008 and the
// reason "slow consumer".
func (h *handlers) watch(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	defer c.CloseNow()
	st, err := h.srv.Watch(query.JSON, r.URL.Query()["client"]...)
	if err != nil {
		_ = c.Close(websocket.StatusTryAgainLater, err.Error())
		return
	}
	defer st.Close()
	ctx := c.CloseRead(r.Context()) // we never read: this answers pings and notices the close
	var batch []byte
	for {
		if batch, err = st.Next(ctx, batch); err != nil {
			switch {
			case errors.Is(err, loop.ErrDropped):
				h.log.Warn().Str("addr", r.RemoteAddr).Msg("websocket watcher dropped: slow consumer")
				_ = c.Close(websocket.StatusPolicyViolation, "slow consumer: watch-buffer exceeded")
			case errors.Is(err, loop.ErrEnded):
				_ = c.Close(websocket.StatusGoingAway, "server stopping")
			}
			return
		}
		for len(batch) > 0 {
			i := bytes.IndexByte(batch, '\n')
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Write(wctx, websocket.MessageText, batch[:i])
			cancel()
			if err != nil {
				return
			}
			batch = batch[i+1:]
		}
	}
}

type promLog struct{ l zerolog.Logger }

func (p promLog) Println(v ...any) { p.l.Error().Str("from", "metrics").Msgf("%v", v) }

// LimitListener accepts at most n connections at once, so the HTTP port
// cannot use up the file descriptors the data port needs; the rest wait in
// the kernel's backlog.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
