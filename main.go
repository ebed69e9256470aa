// Command logatron is an in-memory log server: clients stream LOG and SET
// lines over TCP, operators query the last entries and state over an admin
// port. See README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logatron/logatron/bench"
	"github.com/logatron/logatron/cluster"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
	"github.com/logatron/logatron/web"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/diode"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		os.Exit(runBench(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "send" {
		os.Exit(runSend(os.Args[2:], os.Stdin, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

// runBench runs the load generator and comparison harness (package bench),
// which prints why it failed itself.
func runBench(args []string) int {
	err := bench.Main(args, os.Stdout, os.Stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, bench.ErrUsage):
		return 2
	}
	return 1
}

// subcommands are what -h lists; main dispatches each before the server's
// flags are parsed.
var subcommands = []struct{ name, about string }{
	{"bench", "load generator and comparison harness, for any running server (logatron bench -h)"},
	{"send", "send standard input to a server as a client, one entry per line (logatron send -h)"},
}

// usage is -h: what the program is, its commands, then its flags.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Logatron is an in-memory log server. Programs connect to its data port
over TCP, name themselves with IAM and stream LOG and SET lines; for each
client it keeps the last entries in a ring and the latest value of each key,
in memory only. Operators list, search and follow them on the admin port
(a line protocol for netcat) and the HTTP port (JSON API, /metrics,
WebSocket, status page).

usage: logatron [flags]
       logatron <command> [flags]

commands:
`)
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.about)
	}
	fmt.Fprintf(w, `
flags (each is also read from the environment: -max-line 16KiB is
%s=16KiB; a flag on the command line wins):
`, envName("max-line"))
	fs.PrintDefaults()
}

// run is main without the exit, so that every exit code is decided here.
func run(args []string, stderr io.Writer) int {
	cfg := loop.DefaultConfig()
	fs := flag.NewFlagSet("logatron", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs) }
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "data address (clients: IAM, LOG, SET)")
	fs.StringVar(&cfg.Admin, "admin", cfg.Admin, `admin address (operators; "" disables)`)
	fs.IntVar(&cfg.Buffer, "buffer", cfg.Buffer, "log entries kept per client")
	fs.Var((*size)(&cfg.BufferBytes), "buffer-bytes", "message bytes kept per client (a `size`: 65536, 64KiB, 1MiB, 4MB)")
	fs.Var((*size)(&cfg.MaxLine), "max-line", "longest data line (a `size`); longer LOG lines are truncated")
	fs.IntVar(&cfg.MaxClients, "max-clients", 0, "data connections at once (0: the open-file limit less a reserve for admin, HTTP and the process)")
	fs.IntVar(&cfg.MaxKeys, "max-keys", cfg.MaxKeys, "state keys per client")
	fs.IntVar(&cfg.MaxAdmin, "max-admin", cfg.MaxAdmin, "admin connections at once")
	httpAddr := fs.String("http", "127.0.0.1:2214", `HTTP address: API, /metrics, WebSocket, status page ("" disables)`)
	maxHTTP := fs.Int("max-http", 64, "HTTP connections at once (WebSockets and event streams get at most three quarters)")
	httpIdle := fs.Duration("http-idle-timeout", 30*time.Second, "close an HTTP keep-alive connection idle this long")
	httpCert := fs.String("http-cert", "", "serve HTTPS with this PEM certificate (with -http-key)")
	httpKey := fs.String("http-key", "", "PEM key of -http-cert")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "token that admin connections (AUTH <token>) and HTTP requests (Authorization: Bearer) must give; set it as $LOGATRON_ADMIN_TOKEN to keep it out of the process list")
	fs.DurationVar(&cfg.Retain, "retain", cfg.Retain, "keep a client whose connection ended this long (0: remove it at once)")
	fs.IntVar(&cfg.RetainMax, "retain-max", cfg.RetainMax, "closed clients kept at most (the oldest closed goes first)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close an admin connection that sends nothing this long and does not watch (0: never)")
	allow := fs.String("allow", "", "data peers allowed, as `cidrs` (10.0.0.0/8,127.0.0.1/32); others get ERR not allowed (default: every address)")
	fs.IntVar(&cfg.MaxPerIP, "max-per-ip", 0, "open data connections from one address (0: no limit)")
	tokens := fs.String("tokens", "", "a `file` of lines \"<name-glob> <token>\": an IAM must carry the token of a rule matching its name")
	proxyProto := fs.Bool("proxy-protocol", false, "data connections from -proxy-from start with a PROXY protocol v1 or v2 header (a TLS terminator in front)")
	proxyFrom := fs.String("proxy-from", "", "`cidrs` of the proxies whose connections carry a PROXY header (with -proxy-protocol)")
	var maxMemory size
	fs.Var(&maxMemory, "max-memory", "ring and state bytes (a `size`) that clients can make the server hold; past it closed clients are forgotten, then the largest clients' oldest entries evicted (0: 75% of the cgroup's or the machine's memory)")
	fs.Var((*size)(&cfg.MaxStateBytes), "max-state-bytes", "one client's keys and values (a `size`); a SET past it is an error")
	fs.DurationVar(&cfg.IdentTimeout, "ident-timeout", cfg.IdentTimeout, "time a new connection has to send IAM")
	fs.Var((*size)(&cfg.WatchBuffer), "watch-buffer", "unsent bytes (a `size`) a watcher may owe before it is disconnected")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest an admin or watch client may leave a reply unread before it is disconnected")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "TCP keepalive idle time (0 disables)")
	trim := fs.Bool("trim-memory", true, "return freed heap to the OS once allocation goes quiet")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "", "json or console (default: console when stderr is a terminal)")
	showVersion := fs.Bool("version", false, "print the version, VCS revision and Go version, and exit")
	natsURL := fs.String("nats", "", "join a cluster of Logatron nodes over the NATS server at this URL (nats://host:4222; several, comma separated)")
	nodeName := fs.String("node", "", "this node's name in the cluster (default: the host name)")
	clusterTimeout := fs.Duration("cluster-timeout", 2*time.Second, "how long a CLUSTER request waits for the other nodes")
	health := fs.Bool("healthcheck", false, "ask the server at -admin for PING (after AUTH when an admin token is set) and exit 0 if it answers within 2s, else 1")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "logatron: unexpected argument %q (run logatron -h)\n", fs.Arg(0))
		return 2
	}
	build := readBuild()
	if *showVersion {
		fmt.Println(build)
		return 0
	}
	unknownEnv, err := setFromEnv(fs, os.Environ(), "version", "healthcheck")
	if err != nil {
		fmt.Fprintln(stderr, "logatron:", err)
		return 2
	}
	if *health {
		if err := healthcheck(cfg.Admin, adminToken(fs), 2*time.Second); err != nil {
			fmt.Fprintln(stderr, "logatron: healthcheck:", err)
			return 1
		}
		return 0
	}
	// A write to a closed stderr (its reader exited) must fail with EPIPE
	// instead of killing the process: the Go runtime kills on SIGPIPE from
	// fds 1 and 2 unless SIGPIPE is being received (os/signal, "SIGPIPE").
	// Nobody reads the channel; signals to a full channel are dropped.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	log, logs, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "logatron:", err)
		return 2
	}
	// The last lines (the error that ends the process, "stopping") are
	// written out before the exit, but a stalled stderr may hold the exit
	// up by logFlush at most.
	flushWait := logFlush
	defer func() { logs.close(flushWait) }()
	// Go's own log (net/http's errors) goes the same non-blocking way.
	stdlog.SetFlags(0)
	stdlog.SetOutput(log)
	log.Info().Str("version", build.version).Str("revision", build.rev()).Str("go", build.goVersion).Msg("starting")
	if len(unknownEnv) > 0 {
		log.Warn().Strs("variables", unknownEnv).Msg("environment variables that set no flag are ignored")
	}
	if n, err := raiseOpenFiles(); err != nil {
		log.Warn().Err(err).Msg("cannot raise the open-file limit")
	} else {
		log.Debug().Uint64("open_files", n).Msg("open-file limit")
	}
	cfg.Log = log
	// Descriptors kept back from the default max-clients: two per admin
	// connection (gnet's and the responder's), one per HTTP connection, and
	// the process's own (listeners, epoll, log, runtime).
	cfg.Reserve = 2*cfg.MaxAdmin + *maxHTTP + 64
	if maxMemory > 0 {
		cfg.MaxMemory = int64(maxMemory)
	}
	if cfg.Allow, err = parsePrefixes(*allow); err != nil {
		fmt.Fprintln(stderr, "logatron: -allow:", err)
		return 2
	}
	if *proxyProto {
		if cfg.ProxyFrom, err = parsePrefixes(*proxyFrom); err != nil || len(cfg.ProxyFrom) == 0 {
			fmt.Fprintln(stderr, "logatron: -proxy-protocol needs -proxy-from <cidr>[,<cidr>...] naming the proxies", err)
			return 2
		}
	}
	if *tokens != "" {
		f, err := os.Open(*tokens)
		if err == nil {
			cfg.Tokens, err = store.ParseTokens(f)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, "logatron: -tokens:", err)
			return 2
		}
	}
	// The Go runtime's soft limit follows the budget, with room for what
	// the store does not count (connections, buffers, replies in flight).
	if cfg.MaxMemory > 0 {
		debug.SetMemoryLimit(cfg.MaxMemory + cfg.MaxMemory/4 + 64<<20)
	}
	cfg.StatsHook = func(st *query.Stats) { st.LogDroppedTotal = logs.Dropped() }
	var node *cluster.Node
	if *natsURL != "" {
		node, err = cluster.New(cluster.Config{URL: *natsURL, Node: *nodeName, Timeout: *clusterTimeout, WatchBuffer: cfg.WatchBuffer, Log: log})
		if err != nil {
			log.Error().Err(err).Msg("bad cluster configuration")
			return 2
		}
		cfg.Cluster = node.Admin
		cfg.StatsHook = func(st *query.Stats) { st.LogDroppedTotal = logs.Dropped(); node.FillStats(st) }
	}
	srv, err := loop.New(cfg)
	if err != nil {
		log.Error().Err(err).Msg("bad configuration")
		return 2
	}
	var hs *web.Server
	if *httpAddr != "" {
		opts := web.Options{Log: log, AdminToken: cfg.AdminToken, CertFile: *httpCert, KeyFile: *httpKey,
			MaxConns: *maxHTTP, IdleTimeout: *httpIdle}
		if node != nil {
			opts.Cluster = node.Handler()
		}
		hs, err = web.NewServer(srv, opts)
		if err != nil {
			log.Error().Err(err).Msg("bad HTTP configuration")
			return 2
		}
	}
	// Catch the signals before Start: from the "listening" log line on, a
	// SIGTERM or SIGINT must stop the server cleanly, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := srv.Start(); err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	if node != nil {
		if err := node.Start(srv); err != nil {
			log.Error().Err(err).Msg("cannot join the cluster")
			_ = srv.Stop(context.Background())
			return 1
		}
		log.Info().Str("nats", *natsURL).Str("node", node.Name()).Msg("cluster node")
	}
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			log.Error().Err(err).Msg("cannot listen for HTTP")
			_ = srv.Stop(context.Background())
			return 1
		}
		go func() {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("HTTP server ended")
			}
		}()
		log.Info().Str("http", ln.Addr().String()).Bool("tls", *httpCert != "").Msg("listening")
	}

	if *trim {
		go trimMemory(srv.Done(), 250*time.Millisecond, log)
	}
	select {
	case s := <-sig:
		received := time.Now()
		log.Info().Str("signal", s.String()).Msg("stopping")
		ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
		defer cancel()
		// The log's flush gets what is left of the second, at most logFlush.
		defer func() { flushWait = min(logFlush, max(0, time.Until(received.Add(950*time.Millisecond)))) }()
		if hs != nil {
			_ = hs.Close() // also ends WebSocket and event streams
		}
		if node != nil {
			nctx, ncancel := context.WithTimeout(ctx, 300*time.Millisecond)
			_ = node.Stop(nctx) // says goodbye to the other nodes
			ncancel()
		}
		if err := srv.Stop(ctx); err != nil {
			// Exiting closes every socket: the contract (exit 0 within a
			// second) holds, only the goodbye was not orderly.
			log.Warn().Err(err).Msg("stop did not finish in time; exiting, which closes the remaining connections")
		}
		return 0
	case <-srv.Done():
		log.Error().Err(srv.Err()).Msg("event loop ended")
		return 1
	}
}

// newLogger makes the server's log: zerolog at level, in format, written
// through a logOut to w.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, *logOut, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, nil, fmt.Errorf("-log-level: %q is not debug, info, warn or error", level)
	}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	default:
		return zerolog.Logger{}, nil, fmt.Errorf("-log-format: %q is not json or console", format)
	}
	out := newLogOut(w)
	out.log = zerolog.New(out).Level(lvl).With().Timestamp().Logger()
	return out.log, out, nil
}

// The server's log holds at most logLines lines that stderr has not taken
// (a stalled stderr loses the oldest beyond them), and the exit waits at
// most logFlush for the last lines.
const (
	logLines = 1024
	logFlush = 500 * time.Millisecond
)

// logNudge is how often the copier is checked on. The diode wakes it on
// every line, but signals without the lock the copier sleeps under, so a
// line written just as the copier goes to sleep would wait for the next
// line; when lines wait and the copier is not busy writing, it is woken
// with an empty entry. (The diode's polling mode has no such gap but wakes
// the process every interval, idle or not.)
const logNudge = time.Second

// logOut is where the server's log goes. zerolog writes each line into a
// diode (zerolog/diode: a lock-free ring whose Write never blocks, so the
// event loop never waits on stderr) and one goroutine copies the lines to
// stderr. Lines are lost, and counted, when stderr stalls long enough for
// the ring to wrap (the oldest go) or when a write fails (a closed pipe:
// with SIGPIPE caught the write fails with EPIPE). Once stderr takes a line
// again, one "log lines dropped" line says how many were lost since the
// last such line.
type logOut struct {
	dw      diode.Writer
	to      io.Writer      // stderr, or a console formatter in front of it
	log     zerolog.Logger // the report's logger; set before the first line
	dropped atomic.Uint64
	told    uint64 // dropped when last reported; the copying goroutine's own
	stop    chan struct{}

	// For the nudge: lines handed to the ring, lines taken from it (written,
	// failed or lost), and whether the copier is in a write to stderr.
	handed, taken atomic.Uint64
	writing       atomic.Bool
}

func newLogOut(to io.Writer) *logOut {
	o := &logOut{to: to, stop: make(chan struct{})}
	o.dw = diode.NewWriter(logSink{o}, logLines, 0, func(missed int) {
		o.dropped.Add(uint64(missed))
		o.taken.Add(uint64(missed))
	})
	go func() {
		t := time.NewTicker(logNudge)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				if o.taken.Load() < o.handed.Load() && !o.writing.Load() {
					_, _ = o.dw.Write(nil) // an empty entry; logSink skips it
				}
			}
		}
	}()
	return o
}

// Write hands one log line to the ring; it never blocks.
func (o *logOut) Write(p []byte) (int, error) {
	o.handed.Add(1)
	return o.dw.Write(p)
}

// Dropped is how many log lines were lost so far.
func (o *logOut) Dropped() uint64 { return o.dropped.Load() }

// close writes out the lines still in the ring, waiting at most wait, and
// reports whether all were written: a stalled stderr must not hold up the
// exit.
func (o *logOut) close(wait time.Duration) bool {
	close(o.stop)
	done := make(chan struct{})
	go func() { _ = o.dw.Close(); close(done) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// logSink is the copying goroutine's end of the ring.
type logSink struct{ o *logOut }

func (s logSink) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // a nudge
	}
	o := s.o
	o.writing.Store(true)
	n, err := o.to.Write(p)
	o.writing.Store(false)
	o.taken.Add(1)
	if err != nil {
		o.dropped.Add(1)
		return n, err
	}
	if d := o.dropped.Load(); d > o.told {
		o.log.Warn().Uint64("dropped", d-o.told).Uint64("dropped_total", d).Msg("log lines dropped")
		o.told = d
	}
	return n, nil
}

// envPrefix starts the environment variable of each flag: -max-line is
// LOGATRON_MAX_LINE.
const envPrefix = "LOGATRON_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// setFromEnv gives every flag of fs that was not on the command line (fs
// is parsed) the value of its variable in env ("NAME=value" entries), if
// set; a variable set to "" sets "" (LOGATRON_HTTP= disables HTTP). Flags
// named in skip take no variable. It returns the LOGATRON_ variables that
// set no flag (typos, or a skipped flag's), and an error naming the
// variable whose value the flag refuses.
func setFromEnv(fs *flag.FlagSet, env []string, skip ...string) (unknown []string, err error) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, envPrefix) {
			vars[k] = v
		}
	}
	onLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onLine[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v, ok := vars[name]
		if slices.Contains(skip, f.Name) {
			return
		}
		delete(vars, name)
		if !ok || onLine[f.Name] || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %v", name, v, e)
		}
	})
	for k := range vars {
		unknown = append(unknown, k)
	}
	slices.Sort(unknown)
	return unknown, err
}

// revision is the VCS revision for builds that cannot stamp one (a
// container build has no .git): go build -ldflags "-X main.revision=<rev>".
// A stamped revision wins.
var revision string

// buildInfo is what -version prints.
type buildInfo struct {
	version   string // module version: v1.2.3 from go install, "(devel)" from a checkout
	revision  string // VCS revision, "" when unknown
	modified  bool   // built from a work tree with changes
	goVersion string
}

func readBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(bi, revision)
}

// buildFrom reads bi (nil when the binary has none), falling back on rev
// for the revision.
func buildFrom(bi *debug.BuildInfo, rev string) buildInfo {
	b := buildInfo{version: "(devel)", revision: rev, goVersion: runtime.Version()}
	if bi == nil {
		return b
	}
	if bi.Main.Version != "" {
		b.version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.goVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// rev is the revision as printed: "unknown" when there is none, with
// "-modified" when the work tree had changes.
func (b buildInfo) rev() string {
	r := b.revision
	if r == "" {
		r = "unknown"
	}
	if b.modified {
		r += "-modified"
	}
	return r
}

func (b buildInfo) String() string {
	return fmt.Sprintf("logatron version %s, revision %s, %s %s/%s", b.version, b.rev(), b.goVersion, runtime.GOOS, runtime.GOARCH)
}

// adminToken is the admin token a healthcheck must send, "" when none is
// set. It is read by flag name so that it follows the server's own
// -admin-token flag (and so LOGATRON_ADMIN_TOKEN) wherever that is defined.
func adminToken(fs *flag.FlagSet) string {
	if f := fs.Lookup("admin-token"); f != nil {
		return f.Value.String()
	}
	return ""
}

// healthcheck asks the admin port at addr for PING, after AUTH when token
// is set, and returns nil if it answered PONG within timeout: the event
// loop answers admin requests, so this shows the loop is serving.
func healthcheck(addr, token string, timeout time.Duration) error {
	if addr == "" {
		return errors.New("the admin port is disabled (-admin \"\")")
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	expect := func(req string, want ...string) error {
		if _, err := io.WriteString(c, req+"\n"); err != nil {
			return err
		}
		for _, w := range want {
			l, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("%s: %w", strings.Fields(req)[0], err)
			}
			if l = strings.TrimSuffix(l, "\n"); l != w {
				return fmt.Errorf("%s: got %q, want %q", strings.Fields(req)[0], l, w)
			}
		}
		return nil
	}
	if token != "" {
		if err := expect("AUTH "+token, "OK 0"); err != nil {
			return err
		}
	}
	return expect("PING", "OK 1", "PONG")
}

// raiseOpenFiles lifts the soft open-file limit to the hard one: every
// client is a file descriptor.
func raiseOpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// size is a byte count flag that takes suffixes: 65536, 64KiB, 1MiB, 4MB.
type size int

// String shows the size with the largest binary unit that divides it
// (1MiB, 64KiB, 1000B), in a form Set takes back.
func (s *size) String() string {
	n := int64(*s)
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

func (s *size) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

func parseSize(v string) (int, error) {
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) && (len(u.suffix) > 1 || !strings.HasSuffix(strings.ToUpper(num), "IB")) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a byte count (like 65536, 64KiB or 1MiB)", v)
	}
	return int(n * mult), nil
}

// freeOSMemory is debug.FreeOSMemory; a test counts its calls.
var freeOSMemory = debug.FreeOSMemory

// trimMemory returns freed heap to the OS after bursts of allocation. The
// server's steady state allocates nothing (ingest is allocation-free), so
// the headroom the GC keeps after a burst (a heap goal of twice the live
// heap) would stay resident for good: with 10,000 clients holding full
// rings that is as much RSS again as the data. Every `every` (250 ms) it
// reads runtime/metrics; when less than 1 MiB a second was allocated since
// the last look and what a trim can give back (free pages, and objects
// beyond the last GC's live heap) exceeds live/16 + 2 MiB, it runs
// debug.FreeOSMemory (one forced GC, concurrent with the loop). Space
// inside pages that still hold live objects cannot be given back, so it
// does not count: otherwise a fragmented heap would be trimmed every
// 250 ms for nothing. A looser bound (1/4 of live + 16 MiB over the whole
// heap) let some runs of load (d) keep 12.2 KiB per client instead of 10.1.
func trimMemory(done <-chan struct{}, every time.Duration, log zerolog.Logger) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastAllocs uint64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		metrics.Read(samples)
		allocs, live := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		objects, free := samples[2].Value.Uint64(), samples[3].Value.Uint64()
		reclaimable := free + objects - min(objects, live)
		quiet := float64(allocs-lastAllocs) < float64(1<<20)*every.Seconds()
		lastAllocs = allocs
		if quiet && reclaimable > live/16+2<<20 {
			start := time.Now()
			freeOSMemory()
			log.Debug().Uint64("reclaimable", reclaimable).Uint64("live", live).Dur("took", time.Since(start)).Msg("returned free heap to the OS")
		}
	}
}

// parsePrefixes reads a comma-separated list of CIDRs; a plain address is
// the prefix of that one address.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
