package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
)

// `logatron send` against a real server started in this process: runSend is
// called with a pipe for standard input, and the binary is run in a
// pipeline with a program that panics.

const sendWait = 20 * time.Second

// goPanics is the -multiline pattern the usage text suggests for Go panics.
const goPanics = `^($|goroutine |\S+\(.*\)$|created by )`

func sendServer(t *testing.T, listen string) *loop.Server {
	t.Helper()
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = listen, ""
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}

// sendRun is runSend going in the background with a pipe as its input.
type sendRun struct {
	in     *io.PipeWriter
	stderr rawLog // a mutex-guarded buffer (main_limits_test.go): the sender goroutine writes too
	code   chan int
}

func startSend(args ...string) *sendRun {
	pr, pw := io.Pipe()
	r := &sendRun{in: pw, code: make(chan int, 1)}
	go func() {
		code := runSend(args, pr, &r.stderr)
		pr.CloseWithError(fmt.Errorf("logatron send exited %d", code)) // fails the writes that follow
		r.code <- code
	}()
	return r
}

func (r *sendRun) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(r.in, s); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, r.stderr.String())
	}
}

// end closes the input and returns the exit code.
func (r *sendRun) end(t *testing.T) int {
	t.Helper()
	r.in.Close()
	select {
	case code := <-r.code:
		return code
	case <-time.After(sendWait):
		t.Fatalf("logatron send did not exit after its input ended; stderr:\n%s", r.stderr.String())
		return -1
	}
}

// storedLog polls srv until it has counted lines protocol lines (LOG and
// CONT) from name, so that its entries are whole, and returns them (at
// once, with lines 0).
func storedLog(t *testing.T, srv *loop.Server, name string, lines int) []string {
	t.Helper()
	deadline := time.Now().Add(sendWait)
	for {
		info, err := srv.ClientInfo(context.Background(), name)
		if err == nil && info.Lines >= uint64(lines) {
			es, err := srv.ClientLog(context.Background(), name, loop.Query{})
			if err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(es))
			for i, e := range es {
				out[i] = e.Message
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s: %d lines counted after %s, want %d", name, info.Lines, sendWait, lines)
		}
		time.Sleep(time.Millisecond)
	}
}

// freeAddr is a loopback address nobody listens on (it was free a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func sameLog(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("stored entries\n%q\nwant\n%q", got, want)
	}
}

func TestSendUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-name is required"},
		{[]string{"-name", "bad name"}, "invalid name"},
		{[]string{"-name", "ok", "extra"}, `unexpected argument "extra"`},
		{[]string{"-name", "ok", "-set", "novalue"}, "want key=value"},
		{[]string{"-name", "ok", "-set", "bad key=v"}, "invalid key"},
		{[]string{"-name", "ok", "-set", "k="}, "invalid value"},
		{[]string{"-name", "ok", "-multiline", "("}, "bad -multiline"},
		{[]string{"-name", "ok", "-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"-name", "ok", "-queue", "0"}, "-queue must be at least 1"},
		{[]string{"-name", "ok", "-token", "two words"}, "invalid token"},
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		code := runSend(tc.args, strings.NewReader(""), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "usage: logatron send") {
			t.Errorf("send %q: exit %d, stderr:\n%s\nwant exit 2, %q and the usage text", tc.args, code, stderr.String(), tc.want)
		}
	}
	var stderr bytes.Buffer
	if code := runSend([]string{"-h"}, strings.NewReader(""), &stderr); code != 0 || !strings.Contains(stderr.String(), "usage: logatron send") {
		t.Errorf("send -h: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestSend: lines become entries; indented lines and -multiline matches
// continue the entry before them; -set keys are set.
func TestSend(t *testing.T) {
	srv := sendServer(t, "127.0.0.1:0")
	addr := srv.DataAddr().String()
	for i, tc := range []struct {
		name  string
		flags []string
		input string
		want  []string
		lines int // protocol lines the server counts
	}{
		{"lines", nil, "a\nb\nc\n", []string{"a", "b", "c"}, 3},
		{"CRLF", nil, "a\r\nb\r\n", []string{"a", "b"}, 2},
		{"empty line", nil, "a\n\nb\n", []string{"a", "", "b"}, 3},
		{"indented lines continue", nil,
			"Exception in thread \"main\"\n\tat Main.f(Main.java:3)\n    at Main.main(Main.java:7)\nnext\n",
			[]string{"Exception in thread \"main\"\nat Main.f(Main.java:3)\nat Main.main(Main.java:7)", "next"}, 4},
		{"-multiline", []string{"-multiline", `^\.\.\.`}, "start\n... more\n...and more\nend\n",
			[]string{"start\n... more\n...and more", "end"}, 4},
		{"long line cut to fit the server's max line", nil, "a" + strings.Repeat("é", 40000) + "\nshort\n",
			[]string{"a" + strings.Repeat("é", 32765), "short"}, 2}, // "LOG " + 65531 bytes <= 64 KiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("send_%d", i)
			r := startSend(append([]string{"-addr", addr, "-name", name, "-set", "k=v w", "-set", "app_version=1"}, tc.flags...)...)
			r.write(t, tc.input)
			sameLog(t, storedLog(t, srv, name, tc.lines), tc.want)
			info, err := srv.ClientInfo(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			st, err := srv.ClientState(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Lines != uint64(tc.lines) || info.Errors != 0 || st["k"] != "v w" || st["app_version"] != "1" {
				t.Fatalf("server: lines=%d errors=%d (%s) state=%v; want lines=%d errors=0 state k=v w, app_version=1",
					info.Lines, info.Errors, info.LastError, st, tc.lines)
			}
			if code := r.end(t); code != 0 || r.stderr.String() != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, r.stderr.String())
			}
		})
	}
}

// TestSendFinalLine: a last line without a newline is sent when the input
// ends, and send exits 0 only once the server has read everything: the
// (retained) client's log is complete at once.
func TestSendFinalLine(t *testing.T) {
	srv := sendServer(t, "127.0.0.1:0")
	var stderr rawLog
	if code := runSend([]string{"-addr", srv.DataAddr().String(), "-name", "final"}, strings.NewReader("a\r\n\tb\nlast"), &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	sameLog(t, storedLog(t, srv, "final", 0), []string{"a\nb", "last"})
}

// TestSendReconnect: send starts before the server, and goes on across a
// server restart; the -set keys reach both servers.
func TestSendReconnect(t *testing.T) {
	addr := freeAddr(t)
	r := startSend("-addr", addr, "-name", "phoenix", "-set", "role=worker")
	r.write(t, "before the server\n")
	srv := sendServer(t, addr)
	r.write(t, "with the server\n")
	checkPhoenix(t, srv, "before the server", "with the server")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(sendWait)
	for !strings.Contains(r.stderr.String(), "lost") {
		if time.Now().After(deadline) {
			t.Fatalf("the lost connection was not reported; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	r.write(t, "while down\n")
	srv2 := sendServer(t, addr)
	r.write(t, "after the restart\n")
	checkPhoenix(t, srv2, "while down", "after the restart")
	if code := r.end(t); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, r.stderr.String())
	}
}

// checkPhoenix: srv has exactly want from client phoenix, and its -set key.
func checkPhoenix(t *testing.T, srv *loop.Server, want ...string) {
	t.Helper()
	sameLog(t, storedLog(t, srv, "phoenix", len(want)), want)
	if st, _ := srv.ClientState(context.Background(), "phoenix"); st["role"] != "worker" {
		t.Fatalf("state %v, want role=worker", st)
	}
}

// TestSendCannotDeliver: with no server, send gives up -timeout after its
// input ends, exits 1 and says what was not delivered or dropped.
func TestSendCannotDeliver(t *testing.T) {
	addr := freeAddr(t)
	for _, tc := range []struct {
		name  string
		flags []string
		input string
		want  []string
	}{
		{"not delivered", nil, "a\nb\n", []string{"could not deliver everything to " + addr + " within 200ms", "2 entries not sent", "connection refused"}},
		{"dropped", []string{"-queue", "2"}, "1\n2\n3\n4\n5\n", []string{"2 entries not sent", "3 entries dropped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr rawLog
			start := time.Now()
			code := runSend(append([]string{"-addr", addr, "-name", "nowhere", "-timeout", "200ms"}, tc.flags...), strings.NewReader(tc.input), &stderr)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Fatalf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %s with -timeout 200ms", el)
			}
		})
	}
}

// TestSendPanicPipe: a Go program's panic, piped into the logatron binary's
// send with the Go-panic -multiline pattern, is one entry.
func TestSendPanicPipe(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "panicker")
	src := "package main\n\nfunc main() { f(3) }\n\nfunc f(n int) {\n\tif n == 0 {\n\t\tpanic(\"boom\")\n\t}\n\tf(n - 1)\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module panicker\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-gcflags=all=-l", "-o", prog, ".") // no inlining: a deeper trace
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The pipeline a user would write, with tee keeping a copy of the
	// panic for the comparison.
	srv := sendServer(t, "127.0.0.1:0")
	tee := filepath.Join(dir, "stderr.txt")
	sh := exec.Command("sh", "-c", `"$0" 2>&1 | tee "$1" | "$2" send -addr "$3" -name gopanic -multiline "$4"`,
		prog, tee, bin, srv.DataAddr().String(), goPanics)
	if out, err := sh.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("pipeline: %v, output:\n%s", err, out)
	}
	trace, err := os.ReadFile(tee)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(trace), "panic: boom\n\ngoroutine 1") || strings.Count(string(trace), "\n") < 10 {
		t.Fatalf("the program's output is not a Go panic:\n%s", trace)
	}
	lines := strings.Split(strings.TrimSuffix(string(trace), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Trim(l, " \t")
	}
	// send exited 0, so the server has read it all (and keeps the client
	// after its connection ended).
	sameLog(t, storedLog(t, srv, "gopanic", len(lines)), []string{strings.Join(lines, "\n")})
}
