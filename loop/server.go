// Package loop is the Logatron server: a Server owns the listeners, one gnet
// event loop (one goroutine) that serves the data port and the admin port,
// and the store (package store), which only that goroutine touches, so it
// needs no locks. Anything off the loop (the Go API in api.go, admin
// replies being rendered and written, HTTP handlers) hands a function to
// the loop (onLoop) and gets a copy back.
//
// Files: server.go the lifecycle, gnet.go the engine's callbacks and the
// gnet workarounds, conn.go data connections, admin.go and adminpoll.go the
// admin port, api.go the exported queries.
package loop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Version is reported by STATS.
const Version = "0.2.0"

// Config holds a server's addresses and limits; see DefaultConfig for the
// defaults and ../shared/SPEC.md for what each limit means to a client.
type Config struct {
	Listen       string        // data address, host:port
	Admin        string        // admin address; "" disables the admin port
	Buffer       int           // ring entries per client
	BufferBytes  int           // ring message bytes per client
	MaxLine      int           // longest data-port line, terminator excluded
	MaxClients   int           // data connections at once; 0 derives it from the open-file limit
	MaxKeys      int           // state keys per client
	MaxAdmin     int           // admin connections at once
	IdentTimeout time.Duration // time allowed between connect and a valid IAM
	WatchBuffer  int           // unsent bytes a watcher may owe before it is dropped
	WriteTimeout time.Duration // longest an admin or watch client may leave one write blocked
	KeepAlive    time.Duration // TCP keepalive idle time; 0 disables
	Retain       time.Duration // how long a closed client is kept; 0 removes it at once
	RetainMax    int           // closed clients kept at most (the oldest closed goes first)
	AdminToken   string        // when set, admin connections must first send AUTH <token>
	IdleTimeout  time.Duration // an admin connection that sends nothing this long (and does not watch) is closed; 0: never

	// Who may connect, and how much they may hold (SPEC §8).
	Allow         []netip.Prefix // data peers allowed; none: every address
	MaxPerIP      int            // open data connections from one address; 0: no limit
	Tokens        store.Tokens   // rules an IAM's token must satisfy; nil: tokens not used
	ProxyFrom     []netip.Prefix // peers whose connections start with a PROXY protocol v1/v2 header
	MaxMemory     int64          // ring and state bytes of every client; 0: no bound
	MaxStateBytes int            // one client's keys and values; 0: no cap

	// Cluster answers the admin request CLUSTER <inner> (inner is the
	// request's text after the word) by writing the whole reply, in format
	// f, to w; for CLUSTER WATCH it streams until ctx ends (the connection
	// closed). nil: CLUSTER answers that the cluster is not enabled.
	Cluster func(ctx context.Context, f query.Format, inner string, w io.Writer) error
	// StatsHook, when set, adds figures kept outside the loop (log lines
	// dropped, NATS events dropped, the node's name) to every STATS copy.
	StatsHook func(*query.Stats)
	Reserve   int // file descriptors kept back from MaxClients for admin, HTTP and the process (New adds the acceptors' own)
	Log       zerolog.Logger
}

// DefaultConfig returns the settings of `logatron` run with no flags.
func DefaultConfig() Config {
	return Config{
		Listen:        "0.0.0.0:2212",
		Admin:         "127.0.0.1:2213",
		Buffer:        128,
		BufferBytes:   1 << 20,
		MaxLine:       64 << 10,
		MaxKeys:       1024,
		MaxAdmin:      64,
		IdentTimeout:  10 * time.Second,
		WatchBuffer:   4 << 20,
		WriteTimeout:  30 * time.Second,
		KeepAlive:     30 * time.Second,
		Retain:        time.Hour,
		RetainMax:     10000,
		IdleTimeout:   5 * time.Minute,
		MaxMemory:     DefaultMaxMemory(),
		MaxStateBytes: 64 << 10,
		Reserve:       256,
		Log:           zerolog.Nop(),
	}
}

// Errors returned by the Go API.
var (
	ErrNotRunning = errors.New("logatron: server is not running")
	ErrTimeout    = errors.New("logatron: event loop did not answer in time")
	// ErrDropped: a Stream or Subscription fell behind by more than its
	// buffer and was dropped.
	ErrDropped = store.ErrDropped
	// ErrEnded: a Stream was closed, or the server stopped.
	ErrEnded = store.ErrEnded
)

// Server is a Logatron server. Create it with New, run it with Start, end it
// with Stop. Its query methods are safe to call from any goroutine.
type Server struct {
	cfg Config
	log zerolog.Logger

	eng      gnet.Engine
	ctl      gnet.Conn // the control connection: its EventLoop runs our functions on the loop
	ctlPeer  *os.File  // our end of the control socketpair
	ready    chan struct{}
	done     chan struct{}
	err      error // why the loop ended; read after done is closed
	stopping atomic.Bool
	starting atomic.Bool // Start was called
	started  time.Time   // when Start was called; its monotonic reading times the loop
	// wall is the clock entries and closes are stamped with (time.Now; a
	// test steps it). Every timeout uses since instead, so a step of the
	// wall clock moves timestamps and never a timeout. Immutable once
	// Start is called.
	wall      func() time.Time
	startErr  error
	ctlOnce   sync.Once
	dataAddr  *net.TCPAddr // set by Start before the loop runs; then immutable
	adminAddr *net.TCPAddr // nil when the admin port is disabled
	acc       acceptors

	// stopping is also read by the loop: once set, data reads are not
	// ingested (gnet runs its shutdown only after the connections already
	// ready in this poll), they are closed, unread.

	// Owned by the loop goroutine.
	st     *store.Store
	conns  int       // open data connections, identified or not
	admins int       // open admin connections (counted until their responder is done)
	apoll  adminPoll // admin sockets, checked between data reads
	// Connections waiting for IAM, in the order they opened, so the
	// identify sweep looks only at the front.
	unidentified []*dataConn
	unidentHead  int
	perIP        map[netip.Addr]int // open data connections by peer address (when MaxPerIP is set)
	rejectLog    logLimit
	rejectedBy   [8]uint64 // by RejectReasons
}

// New checks cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if limit := defaultMaxClients(cfg.Reserve + 2*maxPending); cfg.MaxClients == 0 {
		cfg.MaxClients = limit
	} else if cfg.MaxClients > limit {
		// More could be accepted only to meet EMFILE, which pauses accepting.
		cfg.Log.Warn().Int("max_clients", cfg.MaxClients).Int("lowered_to", limit).
			Msg("max-clients is above what the open-file limit allows (less a reserve for admin and HTTP); lowered")
		cfg.MaxClients = limit
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Log,
		ready: make(chan struct{}),
		done:  make(chan struct{}),
		wall:  time.Now,
	}
	s.st = store.New(store.Config{
		Buffer: cfg.Buffer, BufferBytes: cfg.BufferBytes, MaxLine: cfg.MaxLine,
		MaxKeys: cfg.MaxKeys, WatchBuffer: cfg.WatchBuffer, Log: cfg.Log,
		Retain: cfg.Retain, RetainMax: cfg.RetainMax,
		MaxMemory: cfg.MaxMemory, MaxStateBytes: cfg.MaxStateBytes, Tokens: cfg.Tokens,
	})
	s.apoll.ep = -1
	s.perIP = make(map[netip.Addr]int)
	s.st.Replaced = func(old *store.Conn) {
		if d, ok := old.Owner.(*dataConn); ok {
			d.reason = "replaced"
			_ = d.c.Close()
		}
	}
	return s, nil
}

func (c *Config) check() error {
	for _, v := range []struct {
		name string
		val  int
	}{
		{"buffer", c.Buffer}, {"buffer-bytes", c.BufferBytes}, {"max-line", c.MaxLine},
		{"max-keys", c.MaxKeys}, {"max-admin", c.MaxAdmin}, {"watch-buffer", c.WatchBuffer},
	} {
		if v.val < 1 {
			return fmt.Errorf("logatron: %s must be at least 1, got %d", v.name, v.val)
		}
	}
	if c.Retain < 0 || c.RetainMax < 0 {
		return fmt.Errorf("logatron: retain and retain-max must not be negative, got %s and %d", c.Retain, c.RetainMax)
	}
	if c.MaxClients < 0 {
		return fmt.Errorf("logatron: max-clients must not be negative, got %d", c.MaxClients)
	}
	if c.WriteTimeout <= 0 {
		return fmt.Errorf("logatron: write-timeout must be positive, got %s", c.WriteTimeout)
	}
	if c.IdentTimeout <= 0 {
		return fmt.Errorf("logatron: ident-timeout must be positive, got %s", c.IdentTimeout)
	}
	if c.Listen == "" {
		return errors.New("logatron: the data address must not be empty")
	}
	return nil
}

// defaultMaxClients is the open-file limit less a reserve, so that data
// connections alone never exhaust the descriptors that admin, HTTP and
// pending accepts (accept.go) need.
func defaultMaxClients(reserve int) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 10000
	}
	return max(1, int(lim.Cur)-reserve)
}

// MaxClients is the data-connection limit in force (derived at New when the
// configuration left it 0).
func (s *Server) MaxClients() int { return s.cfg.MaxClients }

// readSize is the most the loop reads from one socket at a time (gnet's
// default is 64 KiB). A client sending flat out then costs a quarter of
// the read system calls and loop rounds, and its ring takes only the last
// entries of each read (the rest would be evicted by the same read). The
// buffer is one per loop. Admin requests do not wait for the longer
// rounds: they are polled between reads (adminPoll).
const readSize = 256 << 10

// Start binds the listeners and runs the event loop in the background. It
// returns once the server accepts connections, or with the reason it cannot.
func (s *Server) Start() error {
	s.starting.Store(true)
	if err := s.listen(); err != nil {
		s.err = err
		close(s.done)
		return err
	}
	opts := []gnet.Option{
		gnet.WithMulticore(false),
		gnet.WithNumEventLoop(1),
		gnet.WithTicker(true),
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithLogger(gnetLogger{s.log}),
		gnet.WithReadBufferCap(readSize),
	}
	// gnet will not run an engine without a listener of its own, so it
	// gets one that only this user can reach, in a private directory: the
	// loop serves the connections our acceptors enroll (accept.go), and
	// closes any that arrive there.
	dir, err := os.MkdirTemp("", "logatron-")
	if err != nil {
		s.acc.close()
		s.err = fmt.Errorf("logatron: start: %w", err)
		close(s.done)
		return s.err
	}
	s.started = time.Now()
	go func() {
		err := gnet.Rotate(&handler{s: s}, []string{"unix://" + filepath.Join(dir, "loop")}, opts...)
		_ = os.RemoveAll(dir)
		s.acc.close()
		// The loop has ended and closed every connection (their CLOSE
		// events, reason shutdown, went out): end the watchers that
		// outlive it, such as Go subscriptions.
		s.st.Watch.End()
		if err == nil && !s.stopping.Load() {
			err = errors.New("logatron: event loop stopped unexpectedly (see the log above)")
		}
		s.err = err
		close(s.done)
	}()
	select {
	case <-s.ready:
		if s.startErr != nil {
			_ = s.Stop(context.Background())
			return s.startErr
		}
		s.startAccepting()
		ev := s.log.Info().Str("data", s.dataAddr.String()).Int("max_clients", s.cfg.MaxClients)
		if s.adminAddr != nil {
			ev = ev.Str("admin", s.adminAddr.String())
		}
		ev.Msg("listening")
		return nil
	case <-s.done:
		return fmt.Errorf("logatron: start: %w", s.err)
	}
}

// listen binds the data port, then the admin port; when the admin bind
// fails the data listener is closed again.
func (s *Server) listen() error {
	s.acc.lns = make([]*net.TCPListener, 2)
	s.acc.pending = make(chan enrolling, maxPending)
	s.acc.quit = make(chan struct{})
	data, err := listen(dataPort, s.cfg.Listen, s.cfg.KeepAlive)
	if err != nil {
		return err
	}
	s.acc.lns[dataPort], s.dataAddr = data, data.Addr().(*net.TCPAddr)
	if s.cfg.Admin != "" {
		admin, err := listen(adminPort, s.cfg.Admin, 0)
		if err != nil {
			_ = data.Close()
			return err
		}
		s.acc.lns[adminPort], s.adminAddr = admin, admin.Addr().(*net.TCPAddr)
	}
	return nil
}

// DataAddr is the data port's bound address (its port resolved when 0 was asked).
func (s *Server) DataAddr() *net.TCPAddr { return s.dataAddr }

// AdminAddr is the admin port's bound address, nil when it is disabled.
func (s *Server) AdminAddr() *net.TCPAddr { return s.adminAddr }

// Done is closed when the event loop has ended, by Stop or by a failure.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the loop ended: nil after Stop, else the failure. Call it after Done.
func (s *Server) Err() error {
	select {
	case <-s.done:
		if s.stopping.Load() {
			return nil
		}
		return s.err
	default:
		return nil
	}
}

// Stop stops accepting, closes every connection and waits for the loop to
// end, or for ctx.
func (s *Server) Stop(ctx context.Context) error {
	if !s.starting.Load() {
		return nil // never started: nothing to stop
	}
	if !s.stopping.CompareAndSwap(false, true) {
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() {
		s.acc.close()
		_ = s.eng.Stop(context.Background())
	}()
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("logatron: stop: %w", ctx.Err())
	}
	if s.ctlPeer != nil {
		_ = s.ctlPeer.Close()
	}
	return nil
}

// onLoop runs fn on the event loop and waits for it, until ctx is done or
// at most apiTimeout. fn must only copy: whatever it returns is owned by
// the caller. When onLoop returns an error, fn may still run later, so the
// caller must not read what fn writes.
func (s *Server) onLoop(ctx context.Context, fn func()) error {
	if !s.starting.Load() {
		return ErrNotRunning // not started: ready would never close
	}
	// One timer bounds the whole call, the wait for a Start in progress included.
	t := time.NewTimer(apiTimeout)
	defer t.Stop()
	select {
	case <-s.ready:
	case <-s.done:
		return ErrNotRunning
	case <-t.C:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.startErr != nil {
		return ErrNotRunning
	}
	finished := make(chan struct{})
	err := s.ctl.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		close(finished)
		return nil
	}))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	select {
	case <-finished:
		return nil
	case <-s.done:
		return ErrNotRunning
	case <-t.C:
		return ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

const apiTimeout = 5 * time.Second

// post runs fn on the loop without waiting for it; it is dropped if the loop has ended.
func (s *Server) post(fn func()) {
	select {
	case <-s.ready:
	case <-s.done:
		return
	}
	if s.startErr == nil {
		_ = s.ctl.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			fn()
			return nil
		}))
	}
}

// since is the monotonic time since Start, for timeouts: a step of the wall
// clock changes timestamps, never how long a connection has waited.
func (s *Server) since() time.Duration { return time.Since(s.started) }

// DefaultMaxMemory is the default -max-memory: 75% of the memory limit of
// the process's cgroup, or of physical memory when there is none.
func DefaultMaxMemory() int64 {
	limit := int64(0)
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		limit = int64(si.Totalram) * int64(si.Unit)
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (limit == 0 || v < limit) {
			limit = v
		}
	}
	return limit / 4 * 3
}

// logLimit lets about ten rejection lines a second into the log, and
// counts the rest, so that a client reconnecting in a loop cannot flood it.
type logLimit struct {
	window     time.Duration // start of the current second (Server.since)
	n          int
	suppressed uint64
}

// allow reports whether a line may be logged now; when it may, suppressed
// is how many were not logged since the last one that was.
func (l *logLimit) allow(now time.Duration) (ok bool, suppressed uint64) {
	if now-l.window >= time.Second {
		l.window, l.n = now, 0
	}
	if l.n >= 10 {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
