package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The command-line tests build the binary once and run it as a user would.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds logatron once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "logatron-test-")
		if buildErr != nil {
			return
		}
		binPath = binDir + "/logatron"
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running logatron whose JSON log lines are collected.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs chan map[string]any
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, read after done
}

// loopbackArgs keep a test's process off the default ports.
var loopbackArgs = []string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-http", "", "-log-format", "json"}

// start runs the test binary with args and collects its JSON log lines.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p, _ := startCapture(t, binary(t), args...)
	return p
}

// waitLog returns the next log line whose message is msg, failing on a line
// that is not JSON or if the process exits first.
func (p *proc) waitLog(msg string) map[string]any {
	p.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-p.logs:
			if raw, ok := m["not_json"]; ok {
				p.t.Fatalf("log line is not JSON: %q", raw)
			}
			if m["message"] == msg {
				return m
			}
		case <-p.done:
			p.t.Fatalf("process exited (%v) before logging %q", p.err, msg)
		case <-timeout:
			p.t.Fatalf("no %q log line within 20 s", msg)
		}
	}
}

// exitCode waits at most timeout for the process to exit and returns its code.
func (p *proc) exitCode(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("still running after %s", timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("killed by %s instead of exiting", ws.Signal())
		}
		return ee.ExitCode()
	}
	p.t.Fatal(p.err)
	return -1
}

// listening waits for the "listening" line and returns the data and admin addresses.
func (p *proc) listening() (data, admin string) {
	p.t.Helper()
	m := p.waitLog("listening")
	data, _ = m["data"].(string)
	admin, _ = m["admin"].(string)
	if data == "" || admin == "" {
		p.t.Fatalf("listening line without data and admin addresses: %v", m)
	}
	if mc, ok := m["max_clients"].(float64); !ok || mc < 1 {
		p.t.Errorf("listening line without max_clients: %v", m)
	}
	return data, admin
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// ask sends one admin request and returns its text reply's data lines.
func ask(t *testing.T, c net.Conn, r *bufio.Reader, req string) []string {
	t.Helper()
	write(t, c, req+"\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(head, "\n"), "OK "))
	if !strings.HasPrefix(head, "OK ") || err != nil {
		t.Fatalf("%s: reply %q", req, head)
	}
	lines := make([]string, n)
	for i := range lines {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		lines[i] = strings.TrimSuffix(l, "\n")
	}
	return lines
}

func kv(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, " ")
		m[k] = v
	}
	return m
}

// TestServe runs the binary with size flags, talks to both ports, checks
// its log, then stops it with a signal.
func TestServe(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, append(loopbackArgs, "-buffer-bytes", "64KiB", "-max-line", "1KiB", "-max-keys", "2")...)
			dataAddr, adminAddr := p.listening()

			// A rejected connection is logged with its reason.
			bad := dial(t, dataAddr)
			write(t, bad, "HELLO\n")
			bad.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, _ := io.ReadAll(bad); string(b) != "ERR expected IAM <name>\n" {
				t.Errorf("bad client got %q", b)
			}
			if m := p.waitLog("rejected connection"); m["reason"] != "expected IAM <name>" {
				t.Errorf("rejection logged as %v", m)
			}

			const n, size = 70, 1000
			c := dial(t, dataAddr)
			var b strings.Builder
			b.WriteString("IAM bob\n")
			for i := range n {
				fmt.Fprintf(&b, "LOG %0*d\n", size, i)
			}
			b.WriteString("LOG " + strings.Repeat("x", 2000) + "\n")
			b.WriteString("SET a 1\nSET b 2\nSET c 3\n")
			write(t, c, b.String())

			a := dial(t, adminAddr)
			r := bufio.NewReader(a)
			if got := ask(t, a, r, "PING"); len(got) != 1 || got[0] != "PONG" {
				t.Fatalf("PING: %q", got)
			}
			deadline := time.Now().Add(10 * time.Second)
			var info map[string]string
			for {
				if names := ask(t, a, r, "NAMES"); len(names) == 1 {
					if info = kv(ask(t, a, r, "CLIENT bob")); info["bytes"] == strconv.Itoa(b.Len()) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("bob's lines never all arrived: %v", info)
				}
				time.Sleep(5 * time.Millisecond) // polling
			}
			// -max-line 1KiB: the 2000-byte message is cut to 1024-4 bytes.
			last := ask(t, a, r, "LOG bob 1")
			if _, msg, _ := strings.Cut(last[0], " "); msg != strings.Repeat("x", 1024-4) {
				t.Errorf("last entry has %d bytes, want %d", len(msg), 1024-4)
			}
			if info["truncated"] != "1" {
				t.Errorf("truncated = %s, want 1", info["truncated"])
			}
			// -buffer-bytes 64KiB: 71 entries of about 1000 bytes do not fit.
			entries, _ := strconv.Atoi(info["entries"])
			held := 0
			for _, l := range ask(t, a, r, "LOG bob") {
				_, msg, _ := strings.Cut(l, " ")
				held += len(msg)
			}
			if entries >= n || held > 64<<10 || held < 64<<10-2*1020 {
				t.Errorf("entries=%d holding %d bytes, want about 64 KiB of the %d sent", entries, held, n+1)
			}
			// -max-keys 2.
			if info["keys"] != "2" || info["errors"] != "1" {
				t.Errorf("keys=%s errors=%s, want 2 and 1", info["keys"], info["errors"])
			}

			sent := time.Now()
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.exitCode(5 * time.Second); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if took := time.Since(sent); took > time.Second {
				t.Errorf("took %s to exit, want under 1 s", took)
			}
			// Both connections were closed.
			for _, conn := range []net.Conn{c, a} {
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("connection not closed: %v", err)
				}
			}
		})
	}
}

// A signal as soon as the server says it listens must still end it cleanly.
func TestSignalRightAfterStart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			for range 5 {
				p := start(t, loopbackArgs...)
				p.listening()
				sent := time.Now()
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if code := p.exitCode(5 * time.Second); code != 0 {
					t.Fatalf("exit code %d, want 0", code)
				}
				if took := time.Since(sent); took > time.Second {
					t.Errorf("took %s to exit, want under 1 s", took)
				}
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"-buffer", "x"},
		{"-buffer", "0"},
		{"-buffer-bytes", "12XB"},
		{"-buffer-bytes", "1.5MiB"},
		{"-buffer-bytes", "-1"},
		{"-buffer-bytes", "0"},
		{"-max-line", ""},
		{"-max-keys", "0"},
		{"-max-clients", "-1"},
		{"-ident-timeout", "5"},
		{"-ident-timeout", "0s"},
		{"-watch-buffer", "lots"},
		{"-log-level", "loud"},
		{"-log-format", "xml"},
		{"-listen", ""},
		{"extra-argument"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			p := start(t, append(loopbackArgs, args...)...)
			if code := p.exitCode(10 * time.Second); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"65536", 65536, true},
		{"64KiB", 64 << 10, true},
		{"64kib", 64 << 10, true},
		{"64 KiB", 64 << 10, true},
		{" 1MiB ", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"64K", 64 << 10, true},
		{"4M", 4 << 20, true},
		{"1G", 1 << 30, true},
		{"1KB", 1000, true},
		{"4MB", 4000000, true},
		{"1GB", 1000000000, true},
		{"10B", 10, true},
		{"1024GiB", 1 << 40, true},
		{"", 0, false},
		{"KiB", 0, false},
		{"B", 0, false},
		{"x", 0, false},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"-1KiB", 0, false},
		{"64iB", 0, false},
		{"64XB", 0, false},
		{"1TiB", 0, false},
		{"1025GiB", 0, false},
		{"99999999999999999999", 0, false},
		{"0x10", 0, false},
	} {
		got, err := parseSize(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
		}
	}
}

var trimSink [][]byte

// TestTrimMemory drops a burst of garbage and checks that trimMemory, once
// allocation has stopped, hands the freed heap back to the OS.
func TestTrimMemory(t *testing.T) {
	var calls atomic.Int32
	freeOSMemory = func() { calls.Add(1); debug.FreeOSMemory() }
	defer func() { freeOSMemory = debug.FreeOSMemory }()
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}

	trimSink = make([][]byte, 64) // a global, so the compiler cannot free it early
	for i := range trimSink {
		trimSink[i] = make([]byte, 1<<20)
	}
	base := released()
	trimSink = nil
	runtime.GC() // the 64 MiB is now free but still held

	done, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(done); <-stopped }() // before the deferred restore of freeOSMemory
	go func() { trimMemory(done, 20*time.Millisecond, zerolog.Nop()); close(stopped) }()
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 || released() < base+32<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d trims, %d MiB released", calls.Load(), (released()-base)>>20)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate is a log destination that blocks every write until opened, or
// fails every write with EPIPE (a pipe whose reader exited).
type gate struct {
	mu     sync.Mutex
	out    bytes.Buffer
	open   chan struct{}
	broken bool
}

func (g *gate) Write(p []byte) (int, error) {
	if g.broken {
		return 0, syscall.EPIPE
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

// TestLogOut: the server's log never blocks a writer, whatever stderr
// does; lines stderr could not take are counted, and reported once it
// takes lines again; the exit waits for the last lines only so long.
func TestLogOut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    int
		broken   bool // every write fails
		openAt   int  // 0: stderr takes lines from the start; >0: after all are logged; -1: never
		flushed  bool // close writes everything out
		dropsMin uint64
	}{
		{"stderr keeps up", 100, false, 0, true, 0},
		{"stderr stalls then drains", 5000, false, 5000, true, 5000 - logLines - 1},
		{"stderr closed", 200, true, 0, true, 200},
		{"stderr stalled at exit", 50, false, -1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gate{open: make(chan struct{}), broken: tc.broken}
			if tc.openAt == 0 {
				close(g.open)
			}
			log, out, err := newLogger(g, "info", "json")
			if err != nil {
				t.Fatal(err)
			}
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				for i := range tc.lines {
					log.Info().Int("i", i).Msg("line")
				}
			}()
			select {
			case <-wrote:
			case <-time.After(10 * time.Second):
				t.Fatal("logging blocked")
			}
			if tc.openAt > 0 {
				close(g.open)
			} else if tc.openAt < 0 {
				defer close(g.open) // lets the copier go at the end
			}
			wait := 10 * time.Second
			if tc.openAt < 0 {
				wait = 100 * time.Millisecond
			}
			began := time.Now()
			if got := out.close(wait); got != tc.flushed {
				t.Errorf("close = %v, want %v", got, tc.flushed)
			}
			if took := time.Since(began); took > wait+time.Second {
				t.Errorf("close took %v, want at most %v", took, wait)
			}
			if !tc.flushed {
				return
			}

			g.mu.Lock()
			text := g.out.String()
			g.mu.Unlock()
			var written, reported uint64
			for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
				if l == "" {
					continue
				}
				var m struct {
					Message string
					Dropped uint64
					Total   uint64 `json:"dropped_total"`
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				switch m.Message {
				case "line":
					written++
				case "log lines dropped":
					reported += m.Dropped
					if m.Total != reported {
						t.Errorf("dropped_total %d, want %d (the sum so far)", m.Total, reported)
					}
				}
			}
			dropped := out.Dropped()
			t.Logf("%d lines: %d written, %d dropped, %d reported", tc.lines, written, dropped, reported)
			if written+dropped != uint64(tc.lines) {
				t.Errorf("%d written + %d dropped != %d lines logged", written, dropped, tc.lines)
			}
			if dropped < tc.dropsMin {
				t.Errorf("dropped %d, want at least %d", dropped, tc.dropsMin)
			}
			switch {
			case tc.broken && reported != 0:
				t.Errorf("reported %d drops into a broken stderr", reported)
			case !tc.broken && reported != dropped:
				t.Errorf("reported %d drops, want %d", reported, dropped)
			}
		})
	}
}

// runCLI runs the binary with args (and extra environment) to its end and
// returns its exit code, standard output and standard error.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v: still running after 20 s", args)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	default:
		t.Fatalf("%v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// TestCommandLine: -h, -version and the subcommands' usage errors say
// what they should, where they should, with the right exit code.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		code    int
		stdout  []string // each must appear
		stderr  []string
		once    string // must appear exactly once in stderr
		version *regexp.Regexp
	}{
		{args: []string{"-h"}, code: 0, stderr: []string{
			"Logatron is an in-memory log server.",
			"\n  bench ", "\n  send ",
			"-buffer-bytes size", "(default 1MiB)", "-max-line size", "(default 64KiB)", "(default 4MiB)",
			"LOGATRON_MAX_LINE=16KiB", "-version", "-healthcheck",
		}},
		// A build from a clone has a pseudo-version and a revision; with
		// -buildvcs=false (or no .git) it has neither.
		{args: []string{"-version"}, code: 0, version: regexp.MustCompile(`^logatron version (\(devel\)|v\S+), revision (unknown|[0-9a-f]{40}(-modified)?), ` +
			regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")},
		{args: []string{"-nope"}, code: 2, stderr: []string{"flag provided but not defined: -nope", "usage: logatron"}},
		{args: []string{"-max-line", "lots"}, code: 2, stderr: []string{`invalid value "lots" for flag -max-line`}},
		{args: []string{"send-nothing"}, code: 2, stderr: []string{`unexpected argument "send-nothing"`}},
		{args: []string{"bench"}, code: 2, stderr: []string{"usage: logatron bench", "no command"}},
		{args: []string{"bench", "nope"}, code: 2, stderr: []string{`unknown command "nope"`}},
		{args: []string{"bench", "load", "-c", "0"}, code: 2, stderr: []string{"-c must be at least 1"}},
		{args: []string{"bench", "load", "-n", "-1"}, code: 2, stderr: []string{"must not be negative"}},
		{args: []string{"bench", "load", "-proto", "smtp"}, code: 2, stderr: []string{`unknown protocol "smtp"`}},
		{args: []string{"bench", "compare", "-scale", "0"}, code: 2, stderr: []string{"-scale must be positive"}},
		{args: []string{"bench", "serve", "-kind", "x"}, code: 2, stderr: []string{"-kind must be goroutine or ceiling"}},
		{args: []string{"bench", "load", "-x"}, code: 2, stderr: []string{"usage: logatron bench load"}, once: "flag provided but not defined: -x"},
		{args: []string{"bench", "load", "-h"}, code: 0, stderr: []string{"usage: logatron bench load"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if tc.version != nil && !tc.version.MatchString(stdout) {
				t.Errorf("stdout %q does not match %s", stdout, tc.version)
			}
			if tc.once != "" && strings.Count(stderr, tc.once) != 1 {
				t.Errorf("stderr has %q %d times, want once:\n%s", tc.once, strings.Count(stderr, tc.once), stderr)
			}
		})
	}
}

// TestVersionRevision: a build that cannot stamp its VCS revision (a
// container build, -buildvcs=false) takes one from -ldflags -X, as the
// Dockerfile does.
func TestVersionRevision(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "logatron")
	out, err := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.revision=0123abc", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(bin, "-version").Output()
	if want := "logatron version (devel), revision 0123abc, " + runtime.Version(); err != nil || !strings.HasPrefix(string(got), want) {
		t.Errorf("-version: %q (%v), want it to start %q", got, err, want)
	}
}

func TestBuildFrom(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		rev  string
		want string
	}{
		{"no build info", nil, "", "logatron version (devel), revision unknown, " + runtime.Version()},
		{"no build info, revision from ldflags", nil, "abc", "logatron version (devel), revision abc, " + runtime.Version()},
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.2.3"}}, "",
			"logatron version v1.2.3, revision unknown, go1.99.1"},
		{"checkout with changes", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "f00d"}, {Key: "vcs.modified", Value: "true"}}}, "",
			"logatron version (devel), revision f00d-modified, go1.99.1"},
		{"stamped revision wins over ldflags", &debug.BuildInfo{GoVersion: "go1.99.1",
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "f00d"}, {Key: "vcs.modified", Value: "false"}}}, "abc",
			"logatron version (devel), revision f00d, go1.99.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildFrom(tc.bi, tc.rev).String(); !strings.HasPrefix(got, tc.want+" ") {
				t.Errorf("got %q, want %q and the platform", got, tc.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0"}, {1, "1B"}, {1000, "1000B"}, {1536, "1536B"}, {1 << 10, "1KiB"}, {64 << 10, "64KiB"},
		{1 << 20, "1MiB"}, {1<<20 + 1<<10, "1025KiB"}, {4 << 20, "4MiB"}, {3 << 30, "3GiB"}, {1 << 40, "1024GiB"},
	} {
		s := size(tc.n)
		got := s.String()
		if got != tc.want {
			t.Errorf("size(%d) = %q, want %q", tc.n, got, tc.want)
		}
		if back, err := parseSize(got); err != nil || back != tc.n {
			t.Errorf("parseSize(%q) = %d, %v; want %d back", got, back, err, tc.n)
		}
	}
}

// TestSetFromEnv: every flag takes its LOGATRON_ variable unless the
// command line set it; bad values name the variable.
func TestSetFromEnv(t *testing.T) {
	type vals struct {
		listen  string
		keys    int
		line    size
		timeout time.Duration
		trim    bool
		version bool
	}
	def := vals{"0.0.0.0:2212", 1024, 64 << 10, 10 * time.Second, true, false}
	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		want    vals
		unknown []string
		err     string
	}{
		{"nothing set", nil, nil, def, nil, ""},
		{"every kind of flag", nil,
			[]string{"LOGATRON_LISTEN=127.0.0.1:9", "LOGATRON_MAX_KEYS=3", "LOGATRON_MAX_LINE=2KiB", "LOGATRON_IDENT_TIMEOUT=1m", "LOGATRON_TRIM_MEMORY=false"},
			vals{"127.0.0.1:9", 3, 2 << 10, time.Minute, false, false}, nil, ""},
		{"command line wins", []string{"-max-keys", "7", "-listen", ":1"},
			[]string{"LOGATRON_MAX_KEYS=3", "LOGATRON_LISTEN=127.0.0.1:9", "LOGATRON_MAX_LINE=1MiB"},
			vals{":1", 7, 1 << 20, def.timeout, true, false}, nil, ""},
		{"empty value is a value", nil, []string{"LOGATRON_LISTEN="}, vals{"", 1024, def.line, def.timeout, true, false}, nil, ""},
		{"bad value names the variable", nil, []string{"LOGATRON_MAX_LINE=lots"}, def, nil, `LOGATRON_MAX_LINE="lots": "lots" is not a byte count`},
		{"bad value under a flag on the command line is not used", []string{"-max-line", "1KiB"}, []string{"LOGATRON_MAX_LINE=lots"},
			vals{def.listen, 1024, 1 << 10, def.timeout, true, false}, nil, ""},
		{"other variables", nil, []string{"LOGATRON_MAX_KEYZ=3", "LOGATRON_VERSION=true", "PATH=/bin", "LOGATRON=1", "XLOGATRON_LISTEN=x"},
			def, []string{"LOGATRON_MAX_KEYZ", "LOGATRON_VERSION"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v vals
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.StringVar(&v.listen, "listen", def.listen, "")
			fs.IntVar(&v.keys, "max-keys", def.keys, "")
			v.line = def.line
			fs.Var(&v.line, "max-line", "")
			fs.DurationVar(&v.timeout, "ident-timeout", def.timeout, "")
			fs.BoolVar(&v.trim, "trim-memory", def.trim, "")
			fs.BoolVar(&v.version, "version", false, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			unknown, err := setFromEnv(fs, tc.env, "version")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != tc.want {
				t.Errorf("got %+v, want %+v", v, tc.want)
			}
			if !slices.Equal(unknown, tc.unknown) {
				t.Errorf("unknown variables %q, want %q", unknown, tc.unknown)
			}
		})
	}
}

// TestEnvConfig runs the server configured from its environment: the
// values take effect, a flag on the command line wins, and a bad value
// stops it with exit 2 naming the variable.
func TestEnvConfig(t *testing.T) {
	base := []string{"LOGATRON_LISTEN=127.0.0.1:0", "LOGATRON_ADMIN=127.0.0.1:0", "LOGATRON_HTTP=", "LOGATRON_LOG_FORMAT=json"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		keys string // keys the client holds after SET a, b, c
	}{
		{"from the environment", []string{"LOGATRON_MAX_KEYS=1"}, nil, "1"},
		{"the flag wins", []string{"LOGATRON_MAX_KEYS=1"}, []string{"-max-keys", "3"}, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t), tc.args...)
			cmd.Env = append(append(os.Environ(), base...), tc.env...)
			p, _ := startCmd(t, cmd)
			dataAddr, adminAddr := p.listening()
			for _, addr := range []string{dataAddr, adminAddr} {
				if !strings.HasPrefix(addr, "127.0.0.1:") {
					t.Errorf("listening on %s, want 127.0.0.1 from the environment", addr)
				}
			}
			c := dial(t, dataAddr)
			write(t, c, "IAM envy\nSET a 1\nSET b 2\nSET c 3\nLOG done\n")
			a := dialAdmin(t, adminAddr)
			deadline := time.Now().Add(10 * time.Second)
			var info map[string]string
			for {
				if names := ask(t, a.c, a.r, "NAMES"); len(names) == 1 {
					if info = kv(ask(t, a.c, a.r, "CLIENT envy")); info["entries"] == "1" {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("envy's lines never all arrived: %v", info)
				}
				time.Sleep(5 * time.Millisecond) // polling
			}
			if info["keys"] != tc.keys {
				t.Errorf("keys = %s, want %s", info["keys"], tc.keys)
			}
			p.stopsInASecond()
		})
	}
	t.Run("bad value", func(t *testing.T) {
		code, _, stderr := runCLI(t, append(base, "LOGATRON_IDENT_TIMEOUT=soon"))
		if code != 2 || !strings.Contains(stderr, `LOGATRON_IDENT_TIMEOUT="soon"`) {
			t.Errorf("exit %d, stderr %q; want 2 and the variable named", code, stderr)
		}
	})
}

// TestHealthcheck runs -healthcheck against a real server, a closed port,
// a disabled admin port and one that never answers.
func TestHealthcheck(t *testing.T) {
	p := start(t, loopbackArgs...)
	_, adminAddr := p.listening()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()

	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"serving", nil, []string{"-admin", adminAddr}, 0, ""},
		{"address from the environment", []string{"LOGATRON_ADMIN=" + adminAddr}, nil, 0, ""},
		{"nothing listening", nil, []string{"-admin", closedAddr}, 1, "connection refused"},
		{"never answers", nil, []string{"-admin", silent.Addr().String()}, 1, "i/o timeout"},
		{"admin disabled", nil, []string{"-admin", ""}, 1, "admin port is disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, _, stderr := runCLI(t, tc.env, append(tc.args, "-healthcheck")...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %v, want the 2 s timeout at most (and start-up)", took)
			}
		})
	}
}

// TestHealthcheckAuth: with an admin token the check sends AUTH first. The
// admin port here is a script, since the token is another part's flag.
func TestHealthcheckAuth(t *testing.T) {
	type step struct{ req, reply string }
	for _, tc := range []struct {
		name   string
		token  string
		script []step // what the check must send, and the answer to each
		err    string
	}{
		{"no token", "", []step{{"PING", "OK 1\nPONG\n"}}, ""},
		{"token", "s3cret", []step{{"AUTH s3cret", "OK 0\n"}, {"PING", "OK 1\nPONG\n"}}, ""},
		{"wrong token", "nope", []step{{"AUTH nope", "ERR not authorized\n"}}, `AUTH: got "ERR not authorized", want "OK 0"`},
		{"not PONG", "", []step{{"PING", "OK 1\nPING\n"}}, `want "PONG"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan []string, 1)
			go func() {
				var reqs []string
				defer func() { got <- reqs }()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				r := bufio.NewReader(c)
				for _, s := range tc.script {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					reqs = append(reqs, strings.TrimSuffix(l, "\n"))
					io.WriteString(c, s.reply)
				}
			}()
			err = healthcheck(ln.Addr().String(), tc.token, 2*time.Second)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("healthcheck: %v, want %q", err, tc.err)
			}
			var want []string
			for _, s := range tc.script {
				want = append(want, s.req)
			}
			if reqs := <-got; !slices.Equal(reqs, want) {
				t.Errorf("requests %q, want %q", reqs, want)
			}
		})
	}
}

// TestSystemdUnit checks contrib/logatron.service with systemd-analyze:
// it must load with no warning, and its sandbox must score as exposed no
// more than 2.0 of 10 (systemd-analyze security).
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze here: the unit is not checked (Debian: apt-get install systemd)")
	}
	unit, err := os.ReadFile("contrib/logatron.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's binary to exist.
	text := strings.Replace(string(unit), "ExecStart=/usr/local/bin/logatron", "ExecStart="+binary(t), 1)
	path := filepath.Join(t.TempDir(), "logatron.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Skipf("systemd-analyze security --offline (systemd 250 or later) did not run: %v\n%s", err, tail(string(out), 3))
	}
	_, level, ok := strings.Cut(string(out), "Overall exposure level for logatron.service: ")
	exposure, perr := strconv.ParseFloat(strings.Fields(level + " x")[0], 64)
	if !ok || perr != nil {
		t.Fatalf("no exposure level in:\n%s", tail(string(out), 5))
	}
	t.Logf("systemd-analyze security: exposure %.1f", exposure)
	if exposure > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0:\n%s", exposure, out)
	}
}

// TestDockerImage builds the Dockerfile and runs the image: -version
// carries the revision given to the build, the server runs as a non-root
// user, answers its own health check, stores a client's lines, and stops
// with exit 0. It needs a Docker engine; without one it skips.
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a container image")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command here: the image is not built")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker info failed, so there is no engine to build with; the image is not built: %s", tail(strings.TrimSpace(string(out)), 1))
	}
	docker := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 30))
		}
		return strings.TrimSpace(string(out))
	}
	tag := fmt.Sprintf("logatron-test:%d", time.Now().UnixNano())
	docker("build", "--build-arg", "REVISION=test0rev", "-t", tag, ".")
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	if v := docker("run", "--rm", tag, "-version"); !strings.Contains(v, "revision test0rev") {
		t.Errorf("-version in the image: %q, want revision test0rev", v)
	}
	if u := docker("image", "inspect", "-f", "{{.Config.User}}", tag); u == "" || strings.HasPrefix(u, "root") || u == "0" {
		t.Errorf("image user %q, want a non-root user", u)
	}
	id := docker("run", "-d", "-e", "LOGATRON_ADMIN=0.0.0.0:2213", "-p", "127.0.0.1::2212", "-p", "127.0.0.1::2213", tag)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command("docker", "exec", id, "/logatron", "-healthcheck").Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no healthy check within 30 s; logs:\n%s", docker("logs", id))
		}
		time.Sleep(200 * time.Millisecond) // polling the container's start
	}
	dataAddr, adminAddr := docker("port", id, "2212/tcp"), docker("port", id, "2213/tcp")
	c := dial(t, strings.Fields(dataAddr)[0])
	write(t, c, "IAM boxed\nLOG hello from outside\n")
	a := dialAdmin(t, strings.Fields(adminAddr)[0])
	for {
		if l := ask(t, a.c, a.r, "LOG boxed"); len(l) == 1 && strings.HasSuffix(l[0], " hello from outside") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client's line never arrived")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	docker("stop", "-t", "5", id)
	if code := docker("inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		t.Errorf("exit code %s after docker stop, want 0; logs:\n%s", code, docker("logs", id))
	}
}
