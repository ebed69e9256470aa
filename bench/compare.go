package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A load of the comparison. Loads a–d are issue 4's; e and f add the
// connect-storm target and a third point (10,000 connections) to the chart.
type loadDef struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Conns    int           `json:"connections"`
	Lines    int           `json:"lines_per_connection"`
	Size     int           `json:"message_bytes"`
	Pipeline int           `json:"pipeline"`
	Rate     float64       `json:"rate_limit,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Hold     bool          `json:"hold,omitempty"`
	Probe    time.Duration `json:"hold_probe_ns,omitempty"` // admin probes after the memory is read
	Chart    bool          `json:"chart,omitempty"`         // a lines/s point of the chart
	Repeat   bool          `json:"repeat,omitempty"`        // run -repeat times, report medians
}

// loadsFor returns the loads named in ids, scaled: scale multiplies the
// lines per connection (a, b, f), the connections (c, d, e, f) and the
// duration (c), each kept at a small minimum.
func loadsFor(ids []string, scale float64) ([]loadDef, error) {
	sc := func(n int, least int) int { return max(least, int(math.Round(float64(n)*scale))) }
	hold := 3 * time.Second
	if scale < 0.5 {
		hold = 300 * time.Millisecond
	}
	var out []loadDef
	for _, id := range ids {
		switch id {
		case "a":
			out = append(out, loadDef{ID: "a", Title: "100 connections, 100,000 lines each, 64 B, P=64",
				Conns: 100, Lines: sc(100000, 10), Size: 64, Pipeline: 64, Chart: true, Repeat: true})
		case "b":
			out = append(out, loadDef{ID: "b", Title: "1,000 connections, 10,000 lines each, 64 B, P=64",
				Conns: 1000, Lines: sc(10000, 10), Size: 64, Pipeline: 64, Chart: true, Repeat: true})
		case "c":
			c := sc(10000, 10)
			out = append(out, loadDef{ID: "c", Title: "10,000 connections, 10 lines/s each for 30 s, 64 B",
				Conns: c, Size: 64, Pipeline: 1, Rate: 10 * float64(c),
				Duration: max(time.Second, time.Duration(float64(30*time.Second)*scale))})
		case "d":
			c := sc(10000, 10)
			out = append(out,
				loadDef{ID: "d", Title: "hold: 10,000 idle clients after 128 LOG lines of 64 B each",
					Conns: c, Lines: 128, Size: 64, Pipeline: 128, Hold: true, Duration: hold, Probe: hold},
				loadDef{ID: "d0", Title: "hold: 10,000 idle clients that logged nothing",
					Conns: c, Size: 64, Pipeline: 1, Hold: true, Duration: hold, Probe: hold})
		case "e":
			out = append(out, loadDef{ID: "e", Title: "connect storm: 19,000 clients connect and identify",
				Conns: sc(19000, 10), Size: 64, Pipeline: 1, Hold: true, Duration: 200 * time.Millisecond, Repeat: true})
		case "f":
			out = append(out, loadDef{ID: "f", Title: "10,000 connections, 1,000 lines each, 64 B, P=64",
				Conns: sc(10000, 10), Lines: sc(1000, 10), Size: 64, Pipeline: 64, Chart: true, Repeat: true})
		default:
			return nil, fmt.Errorf("%w: unknown load %q (a, b, c, d, e, f)", ErrUsage, id)
		}
	}
	return out, nil
}

// Run is one load against one fresh server process.
type Run struct {
	Load           string      `json:"load"`
	Server         string      `json:"server"`
	Rep            int         `json:"rep"`
	IdleRSS        int64       `json:"idle_rss_bytes"`
	CPUSeconds     float64     `json:"cpu_s"`       // server CPU from first write to confirmation
	WallSeconds    float64     `json:"wall_s"`      // the same window's length
	CPUPercent     float64     `json:"cpu_percent"` // CPUSeconds / WallSeconds, in % of one core
	LinesPerCPU    float64     `json:"lines_per_cpu_s"`
	PerClientBytes float64     `json:"rss_per_client_bytes,omitempty"` // hold loads: (RSS - idle RSS) / clients
	Result         *LoadResult `json:"result"`
	Err            string      `json:"error,omitempty"`
}

// Summary is the median of one server's runs of one load.
type Summary struct {
	Load           string  `json:"load"`
	Server         string  `json:"server"`
	Runs           int     `json:"runs"`
	Conns          int     `json:"connections"`
	Stored         int64   `json:"lines_stored"`
	LinesPerSec    float64 `json:"lines_per_s"`
	SentPerSec     float64 `json:"sent_per_s"` // the generator's pace: lines sent / sending time
	MBPerSec       float64 `json:"mb_per_s"`
	CPUSeconds     float64 `json:"cpu_s"`
	CPUPercent     float64 `json:"cpu_percent"`
	LinesPerCPU    float64 `json:"lines_per_cpu_s"`
	ConnectS       float64 `json:"connect_identify_s"`
	IdleRSS        int64   `json:"idle_rss_bytes"`
	RSS            int64   `json:"rss_bytes"`
	PerClientBytes float64 `json:"rss_per_client_bytes,omitempty"`
	HeapBytes      int64   `json:"heap_bytes,omitempty"`
	GCCPUFraction  float64 `json:"gc_cpu_fraction,omitempty"`
	PingCount      int64   `json:"ping_count"`
	ClientsCount   int64   `json:"clients_count"`
	PingP50        float64 `json:"ping_p50_ms"`
	PingP99        float64 `json:"ping_p99_ms"`
	PingMax        float64 `json:"ping_max_ms"`
	ClientsP50     float64 `json:"clients_p50_ms"`
	ClientsP99     float64 `json:"clients_p99_ms"`
	ClientsMax     float64 `json:"clients_max_ms"`
	ClientsNote    string  `json:"clients_note,omitempty"`
	Errors         int64   `json:"errors,omitempty"`
	Err            string  `json:"error,omitempty"`
}

// Report is results.json.
type Report struct {
	Command  string            `json:"command"`
	Started  time.Time         `json:"started"`
	Machine  map[string]string `json:"machine"`
	Scale    float64           `json:"scale"`
	Repeat   int               `json:"repeat"`
	Servers  []string          `json:"servers"`
	Skipped  map[string]string `json:"skipped,omitempty"`
	Loads    []loadDef         `json:"loads"`
	Runs     []Run             `json:"runs"`
	Summary  []Summary         `json:"summary"`
	Duration float64           `json:"duration_s"`
}

// server is one kind of server the harness starts fresh for each run.
type server struct {
	name  string
	proto string
	argv  func(data, admin string) []string // the command that serves on data (and admin)
}

// child is a running server process.
type child struct {
	cmd         *exec.Cmd
	data, admin string
	proto       string
	exited      chan struct{}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs a fresh process of s, its output appended to logw, and waits
// until it answers PING.
func (s server) start(ctx context.Context, logw io.Writer) (*child, error) {
	data, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if s.proto == protoRedis {
		admin = data
	}
	argv := s.argv(data, admin)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	c := &child{cmd: cmd, data: data, admin: admin, proto: s.proto, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		a, err := dialAdmin(admin, s.proto == protoRedis, time.Second)
		if err == nil {
			_, err = a.do("PING", 2*time.Second, nil)
			_ = a.Close()
			if err == nil {
				return c, nil
			}
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("%s exited at start (%s); see its log", s.name, cmd.ProcessState)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s did not answer PING on %s within 15 s: %v", s.name, admin, err)
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

type compareOpts struct {
	loads    []string
	scale    float64
	out      string
	logatron string
	self     string
	redis    string
	repeat   int
	servers  []string
}

func mainCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o compareOpts
	fs := flag.NewFlagSet("logatron bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: logatron bench compare [flags]

Runs each load against each server in turn, a fresh server process each
time, all on this machine: logatron; a goroutine-per-connection server
(standard library only); a ceiling (one gnet loop that only counts lines);
and redis-server with XADD log:<client> MAXLEN 128 if it is installed.
Prints a table with ratios to logatron; writes results.json and chart.svg
to -out.

loads:
  a  100 connections x 100,000 lines, 64 B, 64 lines per write
  b  1,000 connections x 10,000 lines, 64 B, P=64
  c  10,000 connections, 10 lines/s each for 30 s (server CPU, admin latency)
  d  hold: 10,000 idle clients after 128 LOG lines of 64 B (RSS per client),
     and 10,000 idle clients that logged nothing
  e  19,000 clients connect and identify
  f  10,000 connections x 1,000 lines, P=64 (the chart's third point)

flags:
`)
		fs.PrintDefaults()
	}
	loads := fs.String("loads", "a,b,c,d,e,f", "loads to run, comma-separated")
	servers := fs.String("servers", "logatron,goroutine,ceiling,redis", "servers to run, comma-separated")
	fs.Float64Var(&o.scale, "scale", 1, "scale the loads' lines, connections and duration (0.01 for a smoke run)")
	fs.StringVar(&o.out, "out", "bench-results", "directory for results.json, chart.svg and the servers' logs")
	fs.StringVar(&o.logatron, "logatron", "", "the logatron binary (default: this executable)")
	fs.StringVar(&o.redis, "redis", "auto", `redis-server: "auto" (from PATH if installed), "off", or its path`)
	fs.IntVar(&o.repeat, "repeat", 3, "runs of loads a, b, e and f per server (medians are reported); c and d run once")
	render := fs.String("render", "", "run nothing: print the tables of this results.json and write its chart.svg to -out")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *render != "" {
		b, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", *render, err)
		}
		rep.Summary = summarize(&rep)
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, "chart.svg"), chartSVG(&rep), 0o644); err != nil {
			return err
		}
		printTables(stdout, &rep)
		return nil
	}
	if o.scale <= 0 || o.repeat < 1 {
		return fmt.Errorf("%w: -scale must be positive and -repeat at least 1", ErrUsage)
	}
	o.loads = splitList(*loads)
	o.servers = splitList(*servers)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.self = self
	if o.logatron == "" {
		o.logatron = self
	}
	rep, err := Compare(ctx, o, stdout, stderr)
	if rep != nil {
		if werr := writeReport(o.out, rep); werr != nil && err == nil {
			err = werr
		}
		printTables(stdout, rep)
		fmt.Fprintf(stdout, "\nresults: %s, chart: %s\n", filepath.Join(o.out, "results.json"), filepath.Join(o.out, "chart.svg"))
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Compare runs the comparison and returns its report; progress goes to stderr.
func Compare(ctx context.Context, o compareOpts, stdout, stderr io.Writer) (*Report, error) {
	defs, err := loadsFor(o.loads, o.scale)
	if err != nil {
		return nil, err
	}
	raiseOpenFiles()
	if err := os.MkdirAll(filepath.Join(o.out, "logs"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{
		Command: strings.Join(os.Args, " "), Started: time.Now(), Machine: machine(),
		Scale: o.scale, Repeat: o.repeat, Loads: defs, Skipped: map[string]string{},
	}
	all := map[string]server{
		"logatron": {name: "logatron", proto: protoLogatron, argv: func(data, admin string) []string {
			return []string{o.logatron, "-listen", data, "-admin", admin, "-http", "", "-log-level", "warn", "-log-format", "json"}
		}},
		"goroutine": {name: "goroutine", proto: protoLogatron, argv: func(data, admin string) []string {
			return []string{o.self, "bench", "serve", "-kind", "goroutine", "-listen", data, "-admin", admin}
		}},
		"ceiling": {name: "ceiling", proto: protoLogatron, argv: func(data, admin string) []string {
			return []string{o.self, "bench", "serve", "-kind", "ceiling", "-listen", data, "-admin", admin}
		}},
	}
	if slices.Contains(o.servers, "redis") {
		path := o.redis
		if path == "auto" {
			path, err = exec.LookPath("redis-server")
			if err != nil {
				path = ""
				msg := "redis-server is not installed; to add the Redis row install it (Debian: apt-get install redis-server) and run again"
				rep.Skipped["redis"] = msg
				fmt.Fprintln(stderr, "compare:", msg)
			}
		} else if path == "off" {
			path = ""
			rep.Skipped["redis"] = "-redis off"
		}
		if path != "" {
			dir, err := os.MkdirTemp("", "logatron-bench-redis")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			all["redis"] = server{name: "redis", proto: protoRedis, argv: func(data, _ string) []string {
				_, port, _ := net.SplitHostPort(data)
				return []string{path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
					"--maxclients", "20000", "--protected-mode", "no", "--dir", dir, "--loglevel", "warning", "--daemonize", "no"}
			}}
		}
	}
	var servers []server
	for _, name := range o.servers {
		s, ok := all[name]
		switch {
		case ok:
			servers = append(servers, s)
			rep.Servers = append(rep.Servers, name)
		case name == "redis":
		default:
			return nil, fmt.Errorf("%w: unknown server %q (logatron, goroutine, ceiling, redis)", ErrUsage, name)
		}
	}
	logs := map[string]*os.File{}
	for _, s := range servers {
		f, err := os.OpenFile(filepath.Join(o.out, "logs", s.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logs[s.name] = f
	}

	var firstErr error
	for _, ld := range defs {
		reps := 1
		if ld.Repeat {
			reps = o.repeat
		}
		fmt.Fprintf(stderr, "load %s: %s\n", ld.ID, ld.Title)
		for r := 1; r <= reps; r++ {
			for _, s := range servers {
				if ctx.Err() != nil {
					rep.Summary = summarize(rep)
					return rep, ctx.Err()
				}
				fmt.Fprintf(logs[s.name], "=== load %s rep %d\n", ld.ID, r)
				run := runOne(ctx, s, ld, r, logs[s.name])
				rep.Runs = append(rep.Runs, run)
				fmt.Fprintf(stderr, "  %s [%d/%d] %-9s %s\n", ld.ID, r, reps, s.name, runLine(&run))
				if run.Err != "" && firstErr == nil {
					firstErr = fmt.Errorf("load %s on %s: %s", ld.ID, s.name, run.Err)
				}
				runtime.GC()
			}
		}
	}
	rep.Summary = summarize(rep)
	rep.Duration = time.Since(rep.Started).Seconds()
	return rep, firstErr
}

func runOne(ctx context.Context, s server, ld loadDef, r int, logw io.Writer) Run {
	run := Run{Load: ld.ID, Server: s.name, Rep: r}
	c, err := s.start(ctx, logw)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	defer c.stop()
	time.Sleep(300 * time.Millisecond) // let the new process settle before its idle RSS is read
	run.IdleRSS, _ = procRSS(c.pid())
	var cpuA, cpuB float64
	var tA, tB time.Time
	cfg := LoadConfig{
		Data: c.data, Admin: c.admin, Proto: s.proto, Conns: ld.Conns, Lines: ld.Lines, Duration: ld.Duration,
		Size: ld.Size, Pipeline: ld.Pipeline, Rate: ld.Rate, Hold: ld.Hold, HoldProbe: ld.Probe, Pid: c.pid(),
		Prefix:       fmt.Sprintf("%s%d_", ld.ID, r),
		OnIdentified: func() { cpuA, _ = procCPU(c.pid()); tA = time.Now() },
		OnStored:     func() { cpuB, _ = procCPU(c.pid()); tB = time.Now() },
	}
	res, err := RunLoad(ctx, cfg)
	run.Result = res
	if err != nil {
		run.Err = err.Error()
	}
	if res == nil {
		return run
	}
	select {
	case <-c.exited:
		run.Err = fmt.Sprintf("server exited during the load (%s)", c.cmd.ProcessState)
	default:
	}
	run.CPUSeconds = cpuB - cpuA
	run.WallSeconds = tB.Sub(tA).Seconds()
	if run.WallSeconds > 0 {
		run.CPUPercent = 100 * run.CPUSeconds / run.WallSeconds
	}
	if run.CPUSeconds > 0 {
		run.LinesPerCPU = float64(res.Stored) / run.CPUSeconds
	}
	if ld.Hold && res.Identified > 0 && res.RSSBytes > 0 {
		run.PerClientBytes = float64(res.RSSBytes-run.IdleRSS) / float64(res.Identified)
	}
	switch {
	case run.Err != "":
	case res.Identified < ld.Conns:
		run.Err = fmt.Sprintf("only %d of %d clients identified (%s)", res.Identified, ld.Conns, res.FirstError)
	case !res.Confirmed:
		run.Err = fmt.Sprintf("server confirmed %d of %d lines (%s)", res.Stored, res.LogSent, res.FirstError)
	}
	return run
}

func runLine(r *Run) string {
	if r.Result == nil {
		return "FAILED: " + r.Err
	}
	res := r.Result
	s := fmt.Sprintf("connect %.3fs  stored %d  %s lines/s  cpu %.2fs (%.0f%%)  rss %.1f MiB",
		res.ConnectS, res.Stored, human(res.LinesPerSec), r.CPUSeconds, r.CPUPercent, float64(res.RSSBytes)/(1<<20))
	if r.PerClientBytes != 0 {
		s += fmt.Sprintf("  %.2f KiB/client", r.PerClientBytes/1024)
	}
	s += fmt.Sprintf("  ping p99 %s", fmtMs(res.Ping.P99))
	if res.Clients.Count > 0 {
		s += fmt.Sprintf("  clients p99 %s", fmtMs(res.Clients.P99))
	}
	if res.Rate > 0 && res.SendS > 0 {
		pace := float64(res.LinesSent) / res.SendS
		s += fmt.Sprintf("  sent %s/s", human(pace))
		if pace < 0.95*res.Rate {
			s += " (the generator fell behind its rate)"
		}
	}
	if r.Err != "" {
		s += "  ERROR: " + r.Err
	}
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize takes the medians of each load × server's runs.
func summarize(rep *Report) []Summary {
	var out []Summary
	for _, ld := range rep.Loads {
		for _, name := range rep.Servers {
			var runs []Run
			for _, r := range rep.Runs {
				if r.Load == ld.ID && r.Server == name {
					runs = append(runs, r)
				}
			}
			if len(runs) == 0 {
				continue
			}
			m := func(f func(r *Run) float64) float64 {
				var v []float64
				for i := range runs {
					if runs[i].Result != nil {
						v = append(v, f(&runs[i]))
					}
				}
				return median(v)
			}
			s := Summary{Load: ld.ID, Server: name, Runs: len(runs), Conns: ld.Conns}
			s.Stored = int64(m(func(r *Run) float64 { return float64(r.Result.Stored) }))
			s.LinesPerSec = m(func(r *Run) float64 { return r.Result.LinesPerSec })
			s.MBPerSec = m(func(r *Run) float64 { return r.Result.MBPerSec })
			s.SentPerSec = m(func(r *Run) float64 {
				if r.Result.SendS <= 0 {
					return 0
				}
				return float64(r.Result.LinesSent) / r.Result.SendS
			})
			s.CPUSeconds = m(func(r *Run) float64 { return r.CPUSeconds })
			s.CPUPercent = m(func(r *Run) float64 { return r.CPUPercent })
			s.LinesPerCPU = m(func(r *Run) float64 { return r.LinesPerCPU })
			s.ConnectS = m(func(r *Run) float64 { return r.Result.ConnectS })
			s.IdleRSS = int64(m(func(r *Run) float64 { return float64(r.IdleRSS) }))
			s.RSS = int64(m(func(r *Run) float64 { return float64(r.Result.RSSBytes) }))
			s.PerClientBytes = m(func(r *Run) float64 { return r.PerClientBytes })
			s.HeapBytes = int64(m(func(r *Run) float64 { return float64(r.Result.HeapBytes) }))
			s.GCCPUFraction = m(func(r *Run) float64 { return r.Result.GCCPUFraction })
			s.PingP50 = m(func(r *Run) float64 { return r.Result.Ping.P50 })
			s.PingP99 = m(func(r *Run) float64 { return r.Result.Ping.P99 })
			s.PingMax = m(func(r *Run) float64 { return r.Result.Ping.Max })
			s.ClientsP50 = m(func(r *Run) float64 { return r.Result.Clients.P50 })
			s.ClientsP99 = m(func(r *Run) float64 { return r.Result.Clients.P99 })
			s.ClientsMax = m(func(r *Run) float64 { return r.Result.Clients.Max })
			for _, r := range runs {
				if r.Result != nil {
					s.PingCount += r.Result.Ping.Count
					s.ClientsCount += r.Result.Clients.Count
					s.Errors += r.Result.Errors
					if r.Result.Clients.Count == 0 && r.Result.Clients.Note != "" {
						s.ClientsNote = r.Result.Clients.Note
					}
				}
				if r.Err != "" && s.Err == "" {
					s.Err = r.Err
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// machine describes where the comparison ran.
func machine() map[string]string {
	m := map[string]string{
		"cpus":       fmt.Sprint(runtime.NumCPU()),
		"go":         runtime.Version(),
		"os":         runtime.GOOS + "/" + runtime.GOARCH,
		"gomaxprocs": fmt.Sprint(runtime.GOMAXPROCS(0)),
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m["memory"] = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return m
}

func writeReport(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chart.svg"), chartSVG(rep), 0o644)
}

// find returns the summary of load × server, or nil.
func find(rep *Report, load, server string) *Summary {
	for i := range rep.Summary {
		if rep.Summary[i].Load == load && rep.Summary[i].Server == server {
			return &rep.Summary[i]
		}
	}
	return nil
}
