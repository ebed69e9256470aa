// Command logatron is an in-memory log server: clients stream LOG and SET
// lines over TCP, operators query the last entries and state over an admin
// port. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logatron/logatron/bench"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
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

// runBench runs the load generator and comparison harness (package bench).
func runBench(args []string) int {
	err := bench.Main(args, os.Stdout, os.Stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, bench.ErrUsage):
		return 2
	}
	fmt.Fprintln(os.Stderr, "logatron bench:", err)
	return 1
}

// run is main without the exit, so that every exit code is decided here.
func run(args []string, stderr io.Writer) int {
	cfg := loop.DefaultConfig()
	fs := flag.NewFlagSet("logatron", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "data address (clients: IAM, LOG, SET)")
	fs.StringVar(&cfg.Admin, "admin", cfg.Admin, `admin address (operators; "" disables)`)
	fs.IntVar(&cfg.Buffer, "buffer", cfg.Buffer, "log entries kept per client")
	fs.Var((*size)(&cfg.BufferBytes), "buffer-bytes", "message bytes kept per client (suffixes KiB, MiB, GiB, KB, MB, GB)")
	fs.Var((*size)(&cfg.MaxLine), "max-line", "longest data line in bytes; longer LOG lines are truncated")
	fs.IntVar(&cfg.MaxClients, "max-clients", 0, "data connections at once (0: the open-file limit less a reserve for admin, HTTP and the process)")
	fs.IntVar(&cfg.MaxKeys, "max-keys", cfg.MaxKeys, "state keys per client")
	fs.IntVar(&cfg.MaxAdmin, "max-admin", cfg.MaxAdmin, "admin connections at once")
	httpAddr := fs.String("http", "127.0.0.1:2214", `HTTP address: API, /metrics, WebSocket, status page ("" disables)`)
	maxHTTP := fs.Int("max-http", 64, "HTTP connections at once")
	fs.DurationVar(&cfg.IdentTimeout, "ident-timeout", cfg.IdentTimeout, "time a new connection has to send IAM")
	fs.Var((*size)(&cfg.WatchBuffer), "watch-buffer", "unsent bytes a watcher may owe before it is disconnected")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest an admin or watch client may leave a reply unread before it is disconnected")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "TCP keepalive idle time (0 disables)")
	trim := fs.Bool("trim-memory", true, "return freed heap to the OS once allocation goes quiet")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "", "json or console (default: console when stderr is a terminal)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "logatron: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "logatron:", err)
		return 2
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
	srv, err := loop.New(cfg)
	if err != nil {
		log.Error().Err(err).Msg("bad configuration")
		return 2
	}
	// Catch the signals before Start: from the "listening" log line on, a
	// SIGTERM or SIGINT must stop the server cleanly, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := srv.Start(); err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	var hs *http.Server
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			log.Error().Err(err).Msg("cannot listen for HTTP")
			_ = srv.Stop(context.Background())
			return 1
		}
		hs = &http.Server{Handler: web.Handler(srv, log), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(web.LimitListener(ln, *maxHTTP)) }()
		log.Info().Str("http", ln.Addr().String()).Msg("listening")
	}

	if *trim {
		go trimMemory(srv.Done(), 250*time.Millisecond, log)
	}
	select {
	case s := <-sig:
		log.Info().Str("signal", s.String()).Msg("stopping")
		ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
		defer cancel()
		if hs != nil {
			_ = hs.Close() // also ends WebSocket streams: they are hijacked connections closed by their handlers
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

func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("-log-level: %q is not debug, info, warn or error", level)
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
		return zerolog.Logger{}, fmt.Errorf("-log-format: %q is not json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
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

func (s *size) String() string { return strconv.Itoa(int(*s)) }

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
