// Package bench is Logatron's load generator and the harness that compares
// it with other designs on the same load: `logatron bench load` drives a
// running server, `logatron bench compare` runs Logatron, a
// goroutine-per-connection server, a one-loop gnet "ceiling" that only
// counts lines, and Redis (when installed) one after the other and reports
// the figures side by side, with a chart.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
)

// ErrUsage marks an error in the command line: the caller should exit 2.
var ErrUsage = errors.New("usage error")

const usage = `usage: logatron bench <command> [flags]

commands:
  load      drive a running server: connect, identify, send lines, report
  compare   run Logatron and the comparison servers on the same loads, side by side

Run "logatron bench <command> -h" for a command's flags.
`

// Main runs `logatron bench <sub> [flags]`; it returns the process exit
// code's cause as an error (nil = success; errors.Is(err, ErrUsage) for a
// bad command line) and never calls os.Exit. It prints why it failed to
// stderr itself, so the caller only picks the exit code.
func Main(args []string, stdout, stderr io.Writer) error {
	err := dispatch(args, stdout, stderr)
	var shown flagError
	if err != nil && !errors.As(err, &shown) {
		fmt.Fprintln(stderr, "logatron bench:", err)
	}
	return err
}

// flagError is a command-line error the flag package has already printed,
// with the command's usage.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if exe, err := os.Executable(); err == nil && probeExec == nil {
		probeExec = []string{exe, "bench"}
	}
	switch args[0] {
	case "load":
		return mainLoad(ctx, args[1:], stdout, stderr)
	case "compare":
		return mainCompare(ctx, args[1:], stdout, stderr)
	case "serve": // hidden: the comparison servers, run by compare as child processes
		return mainServe(ctx, args[1:], stderr)
	case "probe": // hidden: the admin latency probe, run by load as a child process
		return mainProbe(ctx, args[1:], os.Stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

// parse parses flags, mapping -h to success and other failures to ErrUsage.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, flagError{fmt.Errorf("%w: %v", ErrUsage, err)}
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return false, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func mainLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg LoadConfig
	var asJSON bool
	fs := flag.NewFlagSet("logatron bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: logatron bench load [flags]

Opens -c connections to a running server, identifies each (IAM), sends
lines, and reports connect+identify time, lines sent, lines the server
confirms stored (admin STATS), the server-confirmed rate, and admin PING
and CLIENTS latency percentiles measured while the load runs.

Examples:
  logatron bench load -c 100 -n 100000 -d 64 -P 64
  logatron bench load -c 10000 -rate 100000 -duration 30s
  logatron bench load -c 19000 -hold -duration 10s -pid $(pidof logatron)

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Data, "data", "127.0.0.1:2212", "server data address")
	fs.StringVar(&cfg.Admin, "admin", "127.0.0.1:2213", "server admin address (STATS confirms clients and lines)")
	fs.StringVar(&cfg.Proto, "proto", protoLogatron, `"logatron", or "redis" to drive redis-server at -data with XADD log:<client> MAXLEN 128`)
	fs.IntVar(&cfg.Conns, "c", 100, "connections (clients)")
	fs.IntVar(&cfg.Lines, "n", 10000, "lines per connection (0: send until -duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "sending time when -n is 0; with -hold, how long to stay connected (0: until Ctrl-C)")
	fs.IntVar(&cfg.Size, "d", 64, "message size in bytes")
	fs.IntVar(&cfg.Pipeline, "P", 1, "lines per write (pipelining)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total lines per second over all connections (0: as fast as possible)")
	fs.Float64Var(&cfg.SetShare, "set", 0, "share of SET lines, 0..1 (the rest are LOG)")
	fs.IntVar(&cfg.Src, "src", 0, "spread connections over source addresses 127.0.0.1..127.0.0.<src> (0: one per 4,000 connections: the kernel's port search slows as one address's connections grow)")
	fs.BoolVar(&cfg.Hold, "hold", false, "after sending -n lines (may be 0), stay connected and idle for -duration or until Ctrl-C: for memory measurements")
	fs.DurationVar(&cfg.HoldProbe, "hold-probe", 0, "with -hold: read the server's memory at the end of -duration with no admin probe running, then measure admin latency for this long (0: probe during the hold)")
	fs.StringVar(&cfg.Prefix, "prefix", "", "client name prefix (default: a random one per run); names are <prefix><index>")
	fs.IntVar(&cfg.Pid, "pid", 0, "server process id, to report its RSS from /proc (0: not reported)")
	fs.DurationVar(&cfg.ConfirmTimeout, "timeout", 60*time.Second, "longest wait for the server to confirm every client and line")
	fs.IntVar(&cfg.DialConcurrency, "dial", 256, "connections being opened at once")
	fs.DurationVar(&cfg.PingEvery, "ping-every", 10*time.Millisecond, "admin PING interval during the load")
	fs.DurationVar(&cfg.ClientsEvery, "clients-every", 250*time.Millisecond, "admin CLIENTS interval during the load")
	fs.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if cfg.Hold && !flagSet(fs, "n") {
		cfg.Lines = 0
	}
	if !cfg.Hold && cfg.Duration > 0 && !flagSet(fs, "n") {
		cfg.Lines = 0
	}
	if !asJSON && isTerminal(stdout) {
		cfg.Progress = stdout
	}
	res, err := RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printLoad(stdout, res)
	}
	switch {
	case res.Identified < res.Conns:
		return fmt.Errorf("only %d of %d connections were identified", res.Identified, res.Conns)
	case !res.Confirmed:
		return fmt.Errorf("the server confirmed %d of %d lines within -timeout", res.Stored, res.LogSent)
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// printLoad writes a load's report for a person.
func printLoad(w io.Writer, r *LoadResult) {
	p := func(k, f string, a ...any) { fmt.Fprintf(w, "%-18s %s\n", k, fmt.Sprintf(f, a...)) }
	src := ""
	if r.Src > 0 {
		src = fmt.Sprintf(" from %d source addresses", r.Src)
	}
	p("connect+identify", "%d of %d connections identified in %.3f s%s", r.Identified, r.Conns, r.ConnectS, src)
	p("lines sent", "%d (%d LOG) in %.3f s, %.1f MB, %d bytes each, %d per write", r.LinesSent, r.LogSent, r.SendS, float64(r.BytesSent)/1e6, r.Size, r.Pipeline)
	conf := "confirmed"
	if !r.Confirmed {
		conf = "NOT all confirmed before the timeout"
	}
	by := "admin STATS lines_total"
	if r.Proto == protoRedis {
		by = "XADD replies"
	}
	p("lines stored", "%d (%s, by %s) %.3f s after the first write", r.Stored, conf, by, r.StoreS)
	p("rate", "%s lines/s, %.1f MB/s (server-confirmed)", human(r.LinesPerSec), r.MBPerSec)
	p("admin PING", "%s", r.Ping)
	p("admin CLIENTS", "%s%s", r.Clients, clientsListed(r.Clients))
	var srv []string
	if r.RSSBytes > 0 {
		srv = append(srv, fmt.Sprintf("RSS %.1f MiB", float64(r.RSSBytes)/(1<<20)))
	}
	if r.HeapBytes > 0 {
		srv = append(srv, fmt.Sprintf("heap %.1f MiB", float64(r.HeapBytes)/(1<<20)))
	}
	if r.Proto == protoLogatron {
		srv = append(srv, fmt.Sprintf("gc_cpu_fraction %.4f", r.GCCPUFraction))
	}
	srv = append(srv, fmt.Sprintf("%d of our clients still connected", r.ClientsAtEnd))
	p("server", "%s", strings.Join(srv, ", "))
	if r.Errors > 0 {
		p("errors", "%d, first: %s", r.Errors, r.FirstError)
	}
}

func clientsListed(l Latency) string {
	if l.Count == 0 {
		return ""
	}
	return fmt.Sprintf(", %d clients listed", l.Lines)
}

func mainServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("logatron bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "goroutine", "goroutine or ceiling")
	listen := fs.String("listen", "127.0.0.1:2212", "data address")
	admin := fs.String("admin", "127.0.0.1:2213", "admin address")
	maxClients := fs.Int("max-clients", 0, "data connections at once (0: the open-file limit less 256; goroutine server only)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	lim := raiseOpenFiles()
	if *maxClients == 0 {
		*maxClients = max(1, int(lim)-256)
	}
	switch *kind {
	case "goroutine":
		s := newGoServer(*maxClients)
		if err := s.listen(*listen, *admin); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench serve: goroutine server: data %s admin %s\n", s.data.Addr(), s.admin.Addr())
		<-ctx.Done()
		s.close()
	case "ceiling":
		h, err := startCeiling(*listen, *admin)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench serve: ceiling server: data %s admin %s\n", *listen, h.admin.Addr())
		select {
		case <-ctx.Done():
			h.stop()
		case err := <-h.done:
			return fmt.Errorf("ceiling: event loop ended: %v", err)
		}
	default:
		return fmt.Errorf("%w: -kind must be goroutine or ceiling, not %q", ErrUsage, *kind)
	}
	return nil
}
