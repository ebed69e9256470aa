package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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
