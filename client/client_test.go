package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logatron/logatron/client"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
)

// TestOrder: every entry arrives, in order, whether logged by Log, Logf or
// the Writer, with state set in between.
func TestOrder(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	const n = 20000
	for _, tc := range []struct {
		name string
		log  func(c *client.Client, i int)
	}{
		{"Log", func(c *client.Client, i int) { c.Log(fmt.Sprintf("entry %d", i)) }},
		{"Logf", func(c *client.Client, i int) { c.Logf("entry %d", i) }},
		{"Writer", func(c *client.Client, i int) {
			w := client.NewWriter(c)
			fmt.Fprintf(w, "entry %d\n", i)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "order_" + tc.name
			c := dial(t, srv.DataAddr().String(), name, client.WithQueueSize(n+10))
			for i := range n {
				tc.log(c, i)
				if i%1000 == 0 {
					if err := c.Set("progress", fmt.Sprint(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			equal(t, "log", messages(t, srv, name, n), seq(0, n))
			waitState(t, srv, name, "progress", fmt.Sprint(n-1000))
			if d := c.Dropped(); d != 0 {
				t.Fatalf("Dropped() = %d, want 0", d)
			}
		})
	}
}

// TestConcurrentLoggers: entries from several goroutines all arrive, each
// goroutine's in its own order.
func TestConcurrentLoggers(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	const goroutines, each = 8, 2000
	c := dial(t, srv.DataAddr().String(), "many", client.WithQueueSize(goroutines*each))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				c.Logf("g%d %d", g, i)
			}
		})
	}
	wg.Wait()
	got := messages(t, srv, "many", goroutines*each)
	next := make([]int, goroutines)
	for _, m := range got {
		var g, i int
		if _, err := fmt.Sscanf(m, "g%d %d", &g, &i); err != nil {
			t.Fatalf("entry %q: %v", m, err)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: entry %d arrived where %d was due", g, i, next[g])
		}
		next[g]++
	}
}

// TestText: what the server stores for each message: line breaks become
// CONT lines, "\r\n" is a line break, a lone or final '\r' is kept, one
// final line break is not an empty line, control characters arrive as
// they are, no message can inject a command, and the server's own trimming
// and UTF-8 repair apply.
func TestText(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	for i, tc := range []struct {
		name, msg, want string
		lines           uint64 // LOG + CONT lines the server counts
	}{
		{"plain", "hello world", "hello world", 1},
		{"empty", "", "", 1},
		{"final newline", "done\n", "done", 1},
		{"final CRLF", "done\r\n", "done", 1},
		{"lone final CR kept", "progress 50%\r", "progress 50%\r", 1},
		{"CR kept before CRLF", "a\r\r\n", "a\r", 1},
		{"CR inside kept", "a\rb", "a\rb", 1},
		{"control characters", "bell\a esc\x1b[31m nul\x00", "bell\a esc\x1b[31m nul\x00", 1},
		{"invalid UTF-8 repaired", "bad \xff byte", "bad \uFFFD byte", 1},
		{"blanks trimmed by the server", " \t padded \t ", "padded", 1},
		{"two lines", "first\nsecond", "first\nsecond", 2},
		{"CRLF lines", "first\r\nsecond\r\n", "first\nsecond", 2},
		{"empty line inside", "a\n\nb", "a\n\nb", 3},
		{"only a newline", "\n", "", 1},
		{"two final newlines", "a\n\n", "a\n", 2},
		{"indentation trimmed by the server", "trace:\n\tmain.go:1\n    at x", "trace:\nmain.go:1\nat x", 3},
		{"no injection", "x\nIAM other\nSET k v\nLOG y", "x\nIAM other\nSET k v\nLOG y", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("text_%d", i)
			c := dial(t, srv.DataAddr().String(), name)
			c.Log(tc.msg)
			c.Log("end")
			got := messages(t, srv, name, 2)
			equal(t, "log", got, []string{tc.want, "end"})
			info, err := srv.ClientInfo(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Lines != tc.lines+1 || info.Errors != 0 || info.Keys != 0 {
				t.Fatalf("server counted lines=%d errors=%d keys=%d, want lines=%d errors=0 keys=0 (last error %q)",
					info.Lines, info.Errors, info.Keys, tc.lines+1, info.LastError)
			}
		})
	}
}

// TestMaxLine: a message is cut so that its protocol line fits in the max
// line (the server's -max-line), on a UTF-8 boundary, by Log and by the
// Writer; a SET that would not fit is refused.
func TestMaxLine(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	c := dial(t, srv.DataAddr().String(), "cut", client.WithMaxLine(14), client.WithQueueBytes(100)) // "LOG " + 10 bytes
	w := client.NewWriter(c)
	c.Log("0123456789abcdef")
	c.Log("ééééé")   // 10 bytes: kept whole
	c.Log("aéééé")   // 9 bytes
	c.Log("abcéééé") // 11 bytes: the last é would be split
	fmt.Fprint(w, "0123456789")
	fmt.Fprint(w, "abcdef\r\n")
	equal(t, "log", untilEnd(t, c, srv, "cut"), []string{"0123456789", "ééééé", "aéééé", "abcééé", "0123456789"})
	if err := c.Set("k", "12345678"); err != nil { // "SET k 12345678" is 14 bytes
		t.Fatal(err)
	}
	if err := c.Set("k", "123456789"); !errors.Is(err, client.ErrInvalidValue) {
		t.Fatalf("Set of a 15-byte SET line = %v, want ErrInvalidValue", err)
	}
}

// TestPanic: a 40-line panic is one entry, sent as LOG and 39 CONT.
func TestPanic(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	c := dial(t, srv.DataAddr().String(), "panicky")
	trace := panicTrace(40)
	c.Log(trace)
	c.Log("after")
	got := messages(t, srv, "panicky", 2)
	want := serverForm(trace)
	equal(t, "log", got, []string{want, "after"})
	info, err := srv.ClientInfo(context.Background(), "panicky")
	if err != nil {
		t.Fatal(err)
	}
	if info.Lines != 41 {
		t.Fatalf("server counted %d lines, want 41 (LOG + 39 CONT, then LOG)", info.Lines)
	}
}

// panicTrace returns the first n lines of a real panic's report: the
// message and the goroutine's stack as recover and debug.Stack give it.
func panicTrace(n int) string {
	var trace string
	var deep func(int)
	deep = func(d int) {
		if d > 0 {
			deep(d - 1)
			return
		}
		defer func() {
			trace = fmt.Sprintf("panic: %v\n\n%s", recover(), debug.Stack())
		}()
		panic("boom")
	}
	deep(n)
	lines := strings.Split(trace, "\n")
	if len(lines) < n {
		panic(fmt.Sprintf("stack has %d lines, want %d", len(lines), n))
	}
	return strings.Join(lines[:n], "\n")
}

// serverForm is a multi-line message as the server stores it: each line
// with its leading and trailing spaces and tabs trimmed.
func serverForm(msg string) string {
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Trim(strings.TrimSuffix(l, "\r"), " \t")
	}
	return strings.Join(lines, "\n")
}

// TestRestart: the server stops and a new one starts on the same port.
// Guarantee tested: every entry queued after the client reported the lost
// connection (and that the queue could hold) reaches the new server, in
// order, and the state set before the restart is sent to it again.
func TestRestart(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	addr := srv.DataAddr().String()
	e := newErrs()
	c := dial(t, addr, "survivor", fastBackoff, client.WithErrorHandler(e.handler))
	if err := c.Set("version", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		c.Logf("entry %d", i)
	}
	equal(t, "first server", messages(t, srv, "survivor", 100), seq(0, 100))
	waitState(t, srv, "survivor", "version", "1.2.3")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.next(t); !strings.Contains(err.Error(), "lost") {
		t.Fatalf("first error %v, want the lost connection", err)
	}
	for i := 100; i < 200; i++ {
		c.Logf("entry %d", i)
	}
	if err := c.Set("phase", "two"); err != nil {
		t.Fatal(err)
	}

	srv2 := startServer(t, addr)
	equal(t, "second server", messages(t, srv2, "survivor", 100), seq(100, 200))
	st := waitState(t, srv2, "survivor", "phase", "two")
	if st["version"] != "1.2.3" || len(st) != 2 {
		t.Fatalf("state after restart %v, want version=1.2.3 phase=two", st)
	}
	if d := c.Dropped(); d != 0 {
		t.Fatalf("Dropped() = %d, want 0", d)
	}
}

// TestRestartWhileLogging: a goroutine logs without pause while the server
// restarts. What the two servers got together is in order with no entry
// twice, every entry logged after the loss was reported reached the new
// server, and the only entries missing are from before that report (those
// written into the dying connection).
func TestRestartWhileLogging(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	addr := srv.DataAddr().String()
	firstLog := collect(t, srv, "busy")
	var next atomic.Int64     // the next entry number to log
	var reported atomic.Int64 // next at the first report
	reported.Store(-1)
	handler := func(error) { reported.CompareAndSwap(-1, next.Load()) }
	const most = 400000
	c := dial(t, addr, "busy", fastBackoff, client.WithErrorHandler(handler), client.WithQueueSize(most))

	stopLogging := make(chan struct{})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for i := range most {
			select {
			case <-stopLogging:
				return
			default:
			}
			c.Logf("entry %d", i)
			next.Store(int64(i + 1))
		}
	}()
	waitFor(t, "the first server to get 10000 entries", func() bool {
		info, err := srv.ClientInfo(context.Background(), "busy")
		return err == nil && info.Lines >= 10000
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	first := numbers(t, firstLog())
	waitFor(t, "the loss to be reported and 10000 more entries logged", func() bool {
		r := reported.Load()
		return r >= 0 && next.Load() >= r+10000
	})
	srv2 := startServer(t, addr)
	waitFor(t, "the second server to get 10000 entries", func() bool {
		info, err := srv2.ClientInfo(context.Background(), "busy")
		return err == nil && info.Lines >= 10000
	})
	close(stopLogging)
	<-logged
	last := fmt.Sprintf("entry %d", next.Load()-1)
	var second []int
	waitFor(t, "the second server to get the last entry", func() bool {
		ms := messages(t, srv2, "busy", 1)
		if ms[len(ms)-1] != last {
			return false
		}
		second = numbers(t, ms)
		return true
	})
	from := reported.Load()
	all := append(first, second...)
	for k := 1; k < len(all); k++ {
		if all[k] <= all[k-1] {
			t.Fatalf("entry %d arrived after %d: out of order or twice", all[k], all[k-1])
		}
	}
	present := make(map[int]bool, len(all))
	for _, i := range all {
		present[i] = true
	}
	missing := 0
	for i := range int(next.Load()) {
		if !present[i] {
			// Entry from itself may have been queued just before the
			// report; every later one was queued after it.
			if int64(i) > from {
				t.Fatalf("entry %d, logged after the loss was reported (at %d), never arrived", i, from)
			}
			missing++
		}
	}
	if d := c.Dropped(); d != 0 {
		t.Fatalf("Dropped() = %d, want 0", d)
	}
	t.Logf("first server %d entries, second %d, lost in the dying connection %d, loss reported at entry %d",
		len(first), len(second), missing, from)
}

// collect gathers name's LOG events from srv until srv has stopped (which
// ends the subscription); call the result then. It is how to read a server
// that can no longer be asked.
func collect(t *testing.T, srv *loop.Server, name string) func() []string {
	sub, err := srv.Subscribe(context.Background(), 1<<16, loop.WatchQuery{Clients: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range sub.C {
			if ev.Kind == query.EventLog {
				got = append(got, ev.Message)
			}
		}
	}()
	return func() []string {
		<-done
		if err := sub.Err(); !errors.Is(err, loop.ErrEnded) {
			t.Fatalf("subscription ended with %v, want loop.ErrEnded (the server stopped)", err)
		}
		return got
	}
}

// numbers parses "entry <n>" messages.
func numbers(t *testing.T, ms []string) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		if _, err := fmt.Sscanf(m, "entry %d", &out[i]); err != nil {
			t.Fatalf("entry %q: %v", m, err)
		}
	}
	return out
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestServerRefuses: the server's ERR reason reaches the error handler as a
// *ServerError, and the client keeps trying until the name is free; what it
// wrote on the refused connection is sent again.
func TestServerRefuses(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	addr := srv.DataAddr().String()
	holder, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(holder, "IAM taken\nLOG held\n")
	messages(t, srv, "taken", 1)

	e := newErrs()
	c := dial(t, addr, "taken", fastBackoff, client.WithErrorHandler(e.handler))
	c.Log("mine")
	var se *client.ServerError
	if err := e.next(t); !errors.As(err, &se) || se.Reason != "name in use: taken" {
		t.Fatalf("error %v, want a *ServerError with reason %q", err, "name in use: taken")
	}
	holder.Close()
	// The server kept the client when the holder went; this one resumes it.
	equal(t, "log", messages(t, srv, "taken", 2), []string{"held", "mine"})
}

// silentServer accepts connections and reads nothing, or reads everything
// and never closes: two ways a server never answers.
func silentServer(t *testing.T, read bool) (addr string, firstLine chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	firstLine = make(chan string, 16)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			if read {
				go func() {
					r := bufio.NewReader(nc)
					l, _ := r.ReadString('\n')
					firstLine <- l
					_, _ = io.Copy(io.Discard, r)
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, nc := range conns {
			nc.Close()
		}
	})
	return ln.Addr().String(), firstLine
}

// TestNeverBlocks: Log returns at once whatever the server does; with a
// full queue the oldest entries are dropped and counted.
func TestNeverBlocks(t *testing.T) {
	const queue = 100
	line := strings.Repeat("x", 4096)
	t.Run("server reads nothing", func(t *testing.T) {
		addr, _ := silentServer(t, false)
		// A write timeout of a minute: a Log that waited for the network
		// would take that long.
		c := dial(t, addr, "stuck", client.WithQueueSize(queue), client.WithWriteTimeout(time.Minute))
		// 80 MiB: far more than loopback socket buffers hold (a few MiB).
		const n = 20000
		var slowest time.Duration
		for range n {
			start := time.Now()
			c.Log(line)
			slowest = max(slowest, time.Since(start))
		}
		if slowest > time.Second {
			t.Fatalf("slowest Log took %s", slowest)
		}
		if d := c.Dropped(); d < n/2 || d > n-queue {
			t.Fatalf("Dropped() = %d, want between %d and %d", d, n/2, n-queue)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the context's error", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("Close took %s with a 200ms context", el)
		}
	})
	t.Run("nobody listens", func(t *testing.T) {
		addr := freePort(t)
		e := newErrs()
		c := dial(t, addr, "alone", client.WithQueueSize(queue), client.WithoutWait(), fastBackoff, client.WithErrorHandler(e.handler))
		const n = 1000
		for i := range n {
			c.Logf("entry %d", i)
		}
		if d := c.Dropped(); d != n-queue {
			t.Fatalf("Dropped() = %d, want %d", d, n-queue)
		}
		if err := e.next(t); !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("reported %v, want connection refused", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := c.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fmt.Sprintf("%d entries not sent", queue)) {
			t.Fatalf("Close = %v, want the context's error and %d entries not sent", err, queue)
		}
		if d := c.Dropped(); d != n-queue {
			t.Fatalf("Dropped() after Close = %d, want %d", d, n-queue)
		}
		c.Log("after close")
		if d := c.Dropped(); d != n-queue+1 {
			t.Fatalf("Dropped() after a Log after Close = %d, want %d", d, n-queue+1)
		}
	})
	t.Run("Dial waits for the context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := client.Dial(ctx, freePort(t), "alone", fastBackoff)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Dial = %v, want the context's error and connection refused", err)
		}
	})
}

// TestClose: Close returns nil only once the server has read every entry;
// when the server never confirms, it returns the context's error.
func TestClose(t *testing.T) {
	t.Run("flushes", func(t *testing.T) {
		srv := startServer(t, "127.0.0.1:0")
		const n = 50000
		c := dial(t, srv.DataAddr().String(), "closer", client.WithQueueSize(n))
		for i := range n {
			c.Logf("entry %d", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// No wait: Close returned, so the server has counted every line.
		st, err := srv.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.LinesTotal != n {
			t.Fatalf("server counted %d lines when Close returned, want %d", st.LinesTotal, n)
		}
		es, err := srv.ClientLog(context.Background(), "closer", loop.Query{Last: 1})
		if err != nil || len(es) != 1 || es[0].Message != fmt.Sprintf("entry %d", n-1) {
			t.Fatalf("the closed client's last entry: %v, %v; want entry %d", es, err, n-1)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("second Close = %v, want the first's nil", err)
		}
		if err := c.Set("k", "v"); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Set after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("server reads but never closes", func(t *testing.T) {
		addr, first := silentServer(t, true)
		c := dial(t, addr, "unconfirmed", client.WithToken("s3cret"))
		c.Log("hello")
		if l := <-first; l != "IAM unconfirmed s3cret\n" {
			t.Fatalf("first line %q", l)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the context's error", err)
		}
	})
}

// TestQueueDrops: with the client disconnected, a full queue drops its
// oldest entries (with their continuation lines) and keeps the newest, and
// a dropped SET is not lost: the state is sent whole.
func TestQueueDrops(t *testing.T) {
	addr := freePort(t)
	c := dial(t, addr, "dropper", client.WithQueueSize(5), client.WithoutWait(), fastBackoff)
	if err := c.Set("first", "1"); err != nil {
		t.Fatal(err)
	}
	c.Log("old")
	c.Cont("old continued")
	for i := range 5 {
		c.Logf("entry %d", i)
	}
	c.Cont("4 continued")
	if err := c.Set("second", "2"); err != nil {
		t.Fatal(err)
	}
	// The SET of first went to make room for entry 2 (the state is kept
	// and sent whole), "old" with its CONT for entry 3, entry 0 for
	// "4 continued" and entry 1 for the SET of second.
	if d := c.Dropped(); d != 3 {
		t.Fatalf("Dropped() = %d, want 3", d)
	}
	srv := startServer(t, addr)
	waitFor(t, "4 lines (LOG, LOG, LOG and CONT)", func() bool {
		info, err := srv.ClientInfo(context.Background(), "dropper")
		return err == nil && info.Lines >= 4
	})
	equal(t, "log", messages(t, srv, "dropper", 3), []string{"entry 2", "entry 3", "entry 4\n4 continued"})
	st := waitState(t, srv, "dropper", "second", "2")
	if st["first"] != "1" {
		t.Fatalf("state %v: the dropped SET first=1 is missing", st)
	}
}

// TestValidation: bad names, keys, values, tokens and options are refused
// with errors that say why.
func TestValidation(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	addr := srv.DataAddr().String()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []client.Option
		want error
	}{
		{"", nil, client.ErrInvalidName},
		{"has space", nil, client.ErrInvalidName},
		{"new\nline", nil, client.ErrInvalidName},
		{strings.Repeat("n", 65), nil, client.ErrInvalidName},
		{"ok", []client.Option{client.WithToken("two words")}, client.ErrInvalidToken},
		{"ok", []client.Option{client.WithToken("x\n")}, client.ErrInvalidToken},
	} {
		if _, err := client.Dial(ctx, addr, tc.name, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("Dial(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, o := range []client.Option{
		client.WithQueueSize(0),
		client.WithMaxLine(0),
		client.WithQueueBytes(10),
		client.WithMaxKeys(0),
		client.WithDialTimeout(0),
		client.WithWriteTimeout(-1),
		client.WithBackoff(0, time.Second),
		client.WithBackoff(time.Second, time.Millisecond),
	} {
		if _, err := client.Dial(ctx, addr, "ok", o); err == nil {
			t.Error("Dial accepted a bad option")
		}
	}

	c := dial(t, addr, "validator", client.WithMaxKeys(2))
	for _, tc := range []struct {
		key, value string
		want       error
	}{
		{"", "v", client.ErrInvalidKey},
		{"a b", "v", client.ErrInvalidKey},
		{strings.Repeat("k", 65), "v", client.ErrInvalidKey},
		{"k", "", client.ErrInvalidValue},
		{"k", " \t ", client.ErrInvalidValue},
		{"k", "two\nlines", client.ErrInvalidValue},
		{"k1", "fine", nil},
		{"k1", "again", nil},
		{strings.Repeat("k", 64), "fine", nil},
		{"k3", "one too many", client.ErrTooManyKeys},
	} {
		if err := c.Set(tc.key, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Set(%q, %q) = %v, want %v", tc.key, tc.value, err, tc.want)
		}
	}
	st := waitState(t, srv, "validator", strings.Repeat("k", 64), "fine")
	if st["k1"] != "again" || len(st) != 2 {
		t.Fatalf("state %v", st)
	}
}

// TestNameCharacters: names and keys may use '.', ':' and '-' (SPEC §1).
func TestNameCharacters(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	const name = "web-1.eu:8080"
	c := dial(t, srv.DataAddr().String(), name)
	if err := c.Set("http.status-code:last", "200"); err != nil {
		t.Fatal(err)
	}
	c.Log("up")
	equal(t, "log", messages(t, srv, name, 1), []string{"up"})
	waitState(t, srv, name, "http.status-code:last", "200")
}

// TestNoSuchClientIsAnError keeps the helper honest: messages fails for a
// client that never sent, rather than passing vacuously.
func TestNoSuchClientIsAnError(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	if _, err := srv.ClientLog(context.Background(), "nobody", loop.Query{}); err == nil {
		t.Fatal("ClientLog of an unknown client succeeded")
	}
	var nsc *loop.NoSuchClientError
	if _, err := srv.ClientLog(context.Background(), "nobody", loop.Query{}); !errors.As(err, &nsc) {
		t.Fatalf("ClientLog error %v, want *loop.NoSuchClientError", err)
	}
}

// TestBackpressure: with WithBackpressure a small queue loses nothing while
// connected (the caller waits for the server), and still never blocks while
// disconnected.
func TestBackpressure(t *testing.T) {
	t.Run("connected: waits, drops nothing", func(t *testing.T) {
		srv := startServer(t, "127.0.0.1:0")
		const n = 20000
		c := dial(t, srv.DataAddr().String(), "patient", client.WithQueueSize(10), client.WithBackpressure())
		for i := range n {
			c.Logf("entry %d", i)
		}
		equal(t, "log", messages(t, srv, "patient", n), seq(0, n))
		if d := c.Dropped(); d != 0 {
			t.Fatalf("Dropped() = %d, want 0", d)
		}
	})
	t.Run("disconnected: drops, never waits", func(t *testing.T) {
		c := dial(t, freePort(t), "impatient", client.WithQueueSize(10), client.WithBackpressure(), client.WithoutWait(), fastBackoff)
		for i := range 1000 {
			c.Logf("entry %d", i)
		}
		if d := c.Dropped(); d != 990 {
			t.Fatalf("Dropped() = %d, want 990", d)
		}
	})
}

// TestToken: against a server with -tokens, the right token gets in, a
// wrong or missing one is refused with the server's reason, and the client
// keeps its entries for when it is let in.
func TestToken(t *testing.T) {
	tokens, err := store.ParseTokens(strings.NewReader("worker_* s3cret\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverConfig("127.0.0.1:0")
	cfg.Tokens = tokens
	srv := startConfig(t, cfg)
	addr := srv.DataAddr().String()
	for _, tc := range []struct {
		name string
		opts []client.Option
		ok   bool
	}{
		{"worker_1", []client.Option{client.WithToken("s3cret")}, true},
		{"worker_2", []client.Option{client.WithToken("wrong")}, false},
		{"worker_3", nil, false},
		{"other", []client.Option{client.WithToken("s3cret")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newErrs()
			c := dial(t, addr, tc.name, append(tc.opts, fastBackoff, client.WithErrorHandler(e.handler))...)
			c.Log("hello")
			if tc.ok {
				equal(t, "log", messages(t, srv, tc.name, 1), []string{"hello"})
				return
			}
			var se *client.ServerError
			if err := e.next(t); !errors.As(err, &se) || se.Reason != "not authorized" {
				t.Fatalf("reported %v, want a *ServerError with reason \"not authorized\"", err)
			}
			if _, err := srv.ClientLog(context.Background(), tc.name, loop.Query{}); err == nil {
				t.Fatal("the server holds a refused client")
			}
		})
	}
	t.Run("replaces a half-dead connection", func(t *testing.T) {
		holder, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		fmt.Fprintf(holder, "IAM worker_9 s3cret\nLOG held\n")
		messages(t, srv, "worker_9", 1)
		c := dial(t, addr, "worker_9", client.WithToken("s3cret"))
		c.Log("mine")
		equal(t, "log", messages(t, srv, "worker_9", 2), []string{"held", "mine"})
	})
}
