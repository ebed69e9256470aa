// Package web serves Logatron over HTTP (../shared/SPEC.md §3, §7, §8): the
// JSON API, Prometheus metrics, a WebSocket and a server-sent-events stream
// of events, and a status page. Every handler gets copies from the event loop
// through loop.Server's methods; nothing here touches the store.
//
// What the status page must send when the server has an admin token: GET /
// loads without one (the page holds no data). Every other route but /healthz
// answers 401 with {"error":...} and "WWW-Authenticate: Bearer" until the
// request carries the token, either as the header
// "Authorization: Bearer <token>" or as the query parameter "token=<token>".
// Browsers cannot put headers on a WebSocket or an EventSource, so the page
// opens /api/watch and /api/tail with ?token=; its fetch calls may use either.
package web

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

//go:embed static/index.html
var static embed.FS

// Limits on every HTTP request. Streaming routes lift the read and write
// deadlines for their own connection and bound each write instead.
const (
	readHeaderTimeout  = 10 * time.Second // a slow client must finish its header in this time
	maxHeaderBytes     = 16 << 10         // request line and headers
	streamWriteTimeout = 10 * time.Second // one write of a WebSocket or event-stream batch
	healthTimeout      = time.Second      // /healthz: how long the loop has to answer
)

// Options are the HTTP server's settings. Zero fields take the defaults given
// on each.
type Options struct {
	Log zerolog.Logger
	// AdminToken, when set, is required on every route but /healthz and the
	// status page, as "Authorization: Bearer <token>" or "?token=<token>".
	AdminToken string
	// CertFile and KeyFile (PEM) make the server speak HTTPS; both or neither.
	CertFile, KeyFile string
	// MaxConns caps open HTTP connections (default 64); more wait in the
	// kernel's backlog until one closes.
	MaxConns int
	// MaxStreams caps WebSocket and event-stream connections together; more
	// are answered 503. Default: MaxConns less a quarter of it (at least
	// one), so streams can never hold every connection slot.
	MaxStreams int
	// IdleTimeout closes a keep-alive connection that has sent no request
	// for this long (default 30s), so idle clients cannot hold the slots.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading one request, header and body (default
	// 30s); WriteTimeout bounds writing one reply (default 30s). Neither
	// applies to a WebSocket or an event stream once it is open.
	ReadTimeout, WriteTimeout time.Duration
	// Heartbeat is how long an event stream may stay silent before a comment
	// line is sent to keep proxies from closing it (default 15s).
	Heartbeat time.Duration
	// Cluster, when set, serves /api/cluster/ (package cluster's Handler),
	// behind the same Host and token checks as every route.
	Cluster http.Handler
}

func (o *Options) setDefaults() error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("web: a certificate and its key go together (both -http-cert and -http-key, or neither)")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = o.MaxConns - max(1, o.MaxConns/4)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	return nil
}

// Server is Logatron's HTTP server. Make it with NewServer, run it with
// Serve, end it with Close.
type Server struct {
	srv      *loop.Server
	log      zerolog.Logger
	opts     Options
	hs       *http.Server
	mux      *http.ServeMux
	streams  chan struct{} // one token per open WebSocket or event stream
	health   health
	loopback bool // the listener is on a loopback address: Host is checked
	serving  atomic.Bool
	ctx      context.Context // the requests' base context, ended by Close
	cancel   context.CancelFunc
}

// NewServer makes the HTTP server for srv. It fails on inconsistent options
// or a certificate that cannot be loaded.
func NewServer(srv *loop.Server, opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		srv:     srv,
		log:     opts.Log,
		opts:    opts,
		streams: make(chan struct{}, opts.MaxStreams),
		health:  health{srv: srv},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = s.routes()
	// HTTP/1.1 only: WebSocket needs its Upgrade, and one connection then
	// carries one request at a time, so MaxConns and MaxStreams mean what
	// they say.
	var protos http.Protocols
	protos.SetHTTP1(true)
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         &protos,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          stdlog.New(errorLog{opts.Log}, "", 0),
	}
	if opts.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("web: load certificate: %w", err)
		}
		s.hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Serve answers HTTP (HTTPS with a certificate) on ln, at most MaxConns
// connections at once, until Close; then it returns http.ErrServerClosed.
// When ln is bound to a loopback address, only requests whose Host is a
// loopback name or address are answered (others get 421), so a page on
// another site cannot read the logs through DNS rebinding. A Server serves
// one listener.
func (s *Server) Serve(ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("web: Serve called twice")
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		s.loopback = true
	}
	ll := limitListener(ln, s.opts.MaxConns)
	if s.hs.TLSConfig != nil {
		return s.hs.ServeTLS(ll, "", "")
	}
	return s.hs.Serve(ll)
}

// Close closes the listener and every connection, streams included.
func (s *Server) Close() error {
	s.cancel() // ends the WebSocket handlers, whose hijacked connections http.Server no longer tracks
	return s.hs.Close()
}

func (s *Server) routes() *http.ServeMux {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s.srv), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/stats", s.stats)
	mux.HandleFunc("GET /api/clients", s.clients)
	mux.HandleFunc("GET /api/grep", s.grep)
	mux.HandleFunc("DELETE /api/clients/{name}", s.forget)
	mux.HandleFunc("GET /api/clients/{name}", s.client)
	mux.HandleFunc("GET /api/clients/{name}/log", s.clientLog)
	mux.HandleFunc("GET /api/clients/{name}/state", s.state)
	mux.HandleFunc("GET /api/watch", s.watch)
	mux.HandleFunc("GET /api/tail", s.tail)
	if s.opts.Cluster != nil {
		mux.Handle("/api/cluster/", s.opts.Cluster)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLog{s.log}}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "static/index.html")
	})
	return mux
}

// ServeHTTP checks the Host and the token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.loopback && !loopbackHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "misdirected request: this server answers only to localhost, 127.0.0.1 or [::1]")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="logatron"`)
		writeError(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <token>")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// writeError answers with status and {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(query.AppendError(nil, query.JSON, msg))
}

// reply writes the JSON body that render makes with query (which ends it
// with "\n"), or, without rendering, the error as {"error": ...}: 404 for an
// unknown client, 503 when the loop did not answer.
func reply(w http.ResponseWriter, render func() []byte, err error) {
	if err != nil {
		status := http.StatusServiceUnavailable
		var nsc *loop.NoSuchClientError
		if errors.As(err, &nsc) {
			status = http.StatusNotFound
		}
		writeError(w, status, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(render())
}

// healthz answers 200 when the event loop answered within healthTimeout.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.health.check(healthTimeout) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("event loop not answering\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	st, err := s.srv.Stats(context.Background())
	reply(w, func() []byte { return query.AppendStats(nil, query.JSON, &st) }, err)
}

// clients answers /api/clients?match=<glob>&limit=&after=&closed=1|all=1.
func (s *Server) clients(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := loop.Query{Clients: v.Get("match"), After: v.Get("after")}
	closed, all := v.Get("closed") == "1", v.Get("all") == "1"
	switch {
	case closed && all:
		writeError(w, http.StatusBadRequest, "usage: closed=1 and all=1 exclude each other")
		return
	case closed:
		q.Which = loop.Closed
	case all:
		q.Which = loop.All
	}
	var err error
	if q.Limit, err = parseCount(v, "limit", 0); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var cs []query.ClientInfo
	if !v.Has("limit") || q.Limit > 0 {
		cs, err = s.srv.ClientInfos(r.Context(), q)
	}
	reply(w, func() []byte { return query.AppendClients(nil, query.JSON, cs) }, err)
}

// grep answers /api/grep?q=<regex>&clients=<glob>&since=&until=&limit=.
func (s *Server) grep(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := loop.Query{Clients: v.Get("clients"), Which: loop.All}
	var err error
	re, err := codec.CompileRegex(v.Get("q"))
	if err == nil {
		q.Match = re
		err = parseWindow(v, &q)
	}
	if err == nil {
		q.Limit, err = parseCount(v, "limit", loop.GrepDefaultLimit)
		if err == nil && q.Limit > loop.GrepMaxLimit {
			err = errors.New("usage: limit must be at most 100000")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, usage(err))
		return
	}
	var hits []query.Hit
	if q.Limit > 0 {
		hits, err = s.srv.Grep(r.Context(), q)
	}
	reply(w, func() []byte { return query.AppendGrep(nil, query.JSON, hits) }, err)
}

// usage prefixes a parse error as the admin port does.
func usage(err error) string {
	if m := err.Error(); strings.HasPrefix(m, "usage: ") {
		return m
	}
	return "usage: " + err.Error()
}

// parseWindow reads since= and until= (RFC 3339, Unix ms, or a duration ago).
func parseWindow(v url.Values, q *loop.Query) error {
	since, err := parseTime(v, "since")
	if err != nil {
		return err
	}
	until, err := parseTime(v, "until")
	if err != nil {
		return err
	}
	lo, hi := codec.Window(since, until, time.Now().UnixMilli())
	if since.IsSet() {
		q.Since = time.UnixMilli(lo)
	}
	if until.IsSet() {
		q.Until = time.UnixMilli(hi)
	}
	return nil
}

func parseTime(v url.Values, key string) (codec.Time, error) {
	if !v.Has(key) {
		return codec.Time{}, nil
	}
	t, err := codec.ParseTime(v.Get(key))
	if err != nil {
		return t, errors.New("usage: " + key + ": " + err.Error())
	}
	return t, nil
}

// parseMatch reads match= as a regex; empty or absent matches everything.
func parseMatch(v url.Values) (*regexp.Regexp, error) {
	re, err := codec.CompileRegex(v.Get("match"))
	if err != nil {
		return nil, errors.New("usage: match: " + err.Error())
	}
	return re, nil
}

// parseCount reads a non-negative integer parameter, def when absent.
func parseCount(v url.Values, key string, def int) (int, error) {
	if !v.Has(key) {
		return def, nil
	}
	n, err := strconv.Atoi(v.Get(key))
	if err != nil || n < 0 {
		return 0, errors.New("usage: " + key + " must be a non-negative integer")
	}
	return n, nil
}

func (s *Server) client(w http.ResponseWriter, r *http.Request) {
	c, err := s.srv.ClientInfo(r.Context(), r.PathValue("name"))
	reply(w, func() []byte { return query.AppendClient(nil, query.JSON, &c) }, err)
}

// clientLog answers /api/clients/{name}/log?n=&since=&until=&match=.
func (s *Server) clientLog(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	n, err := parseCount(v, "n", -1)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := loop.Query{Last: max(n, 0)}
	if err = parseWindow(v, &q); err == nil {
		q.Match, err = parseMatch(v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, usage(err))
		return
	}
	l, err := s.srv.Log(r.Context(), r.PathValue("name"), q)
	if n == 0 {
		l = query.Log{}
	}
	reply(w, func() []byte { return query.AppendLog(nil, query.JSON, &l) }, err)
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	kvs, err := s.srv.State(r.Context(), r.PathValue("name"))
	reply(w, func() []byte { return query.AppendState(nil, query.JSON, kvs) }, err)
}

// health runs one probe of the loop at a time and lets every /healthz
// request in the meantime wait on it, so a stalled loop costs one waiting
// goroutine, not one per request.
type health struct {
	srv *loop.Server
	mu  sync.Mutex
	cur *probe // the probe in flight, if any
}

type probe struct {
	done chan struct{} // closed when the loop answered or gave up
	ok   bool
}

// check reports whether the loop answers a cheap request (STATS: counters
// copied on the loop) within timeout.
func (h *health) check(timeout time.Duration) bool {
	h.mu.Lock()
	p := h.cur
	if p == nil {
		p = &probe{done: make(chan struct{})}
		h.cur = p
		go func() {
			_, err := h.srv.Stats(context.Background()) // returns within loop's own API timeout, stalled or not
			p.ok = err == nil
			h.mu.Lock()
			h.cur = nil
			h.mu.Unlock()
			close(p.done)
		}()
	}
	h.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.ok
	case <-t.C:
		return false
	}
}

type promLog struct{ l zerolog.Logger }

func (p promLog) Println(v ...any) { p.l.Error().Str("from", "metrics").Msgf("%v", v) }

// errorLog takes net/http's own messages (TLS handshake failures, accept
// errors): debug level, since any peer can cause them.
type errorLog struct{ l zerolog.Logger }

func (e errorLog) Write(p []byte) (int, error) {
	e.l.Debug().Str("from", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// limitListener accepts at most n connections at once, so the HTTP port
// cannot use up the file descriptors the data port needs; the rest wait in
// the kernel's backlog.
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
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

func (l *limitedListener) Close() error {
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

// forget answers DELETE /api/clients/{name}: FORGET over HTTP (409 for a
// connected client).
func (s *Server) forget(w http.ResponseWriter, r *http.Request) {
	err := s.srv.Forget(r.Context(), r.PathValue("name"))
	var connected *loop.ClientConnectedError
	if errors.As(err, &connected) {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	reply(w, func() []byte { return []byte("{\"ok\":true}\n") }, err)
}
