package loop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
)

// wServer starts a server on loopback port 0 for the WATCH tests.
func wServer(t *testing.T, tune func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func wDial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wSend(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// wUntil polls cond until it holds, for at most ten seconds.
func wUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wStats(t *testing.T, s *Server) query.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wWatch opens an admin connection, sends the requests (the last one a
// WATCH) and returns a reader positioned after the stream's first line.
func wWatch(t *testing.T, s *Server, requests, wantFirst string) (net.Conn, *bufio.Reader) {
	t.Helper()
	before := wStats(t, s).Watchers
	c := wDial(t, s.AdminAddr())
	wSend(t, c, requests)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == wantFirst {
			break
		}
		if !strings.HasPrefix(line, "{\"ok\"") && line != "OK 0\n" {
			t.Fatalf("before the stream: %q", line)
		}
	}
	wUntil(t, "watcher registered", func() bool { return wStats(t, s).Watchers >= before+1 })
	return c, r
}

var textEvent = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)\n$`)

func TestWatchText(t *testing.T) {
	s := wServer(t, nil)
	_, all := wWatch(t, s, "watch\n", "OK stream\n")
	_, onlyBob := wWatch(t, s, "WATCH bob carol\n", "OK stream\n")

	alice := wDial(t, s.DataAddr())
	wSend(t, alice, "IAM alice\nLOG from alice\n")
	// Two connections are opened in the order the loop learns of them,
	// which need not be the order of their connects: wait for alice.
	wUntil(t, "alice's line", func() bool {
		log, err := s.ClientLog(context.Background(), "alice", Query{})
		return err == nil && len(log) == 1
	})
	bob := wDial(t, s.DataAddr())
	wSend(t, bob, "IAM bob\nLOG  hello   world \nSET temp 21 C\n")
	wUntil(t, "bob's state", func() bool {
		kv, err := s.ClientState(context.Background(), "bob")
		return err == nil && kv["temp"] != ""
	})
	alice.Close()
	wUntil(t, "alice gone", func() bool { n, _ := s.ClientNames(context.Background()); return len(n) == 1 })
	bob.Close()

	read := func(r *bufio.Reader) string {
		t.Helper()
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		m := textEvent.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not an event line: %q", line)
		}
		return m[1]
	}
	for _, want := range []string{"READY alice", "LOG alice from alice", "READY bob", "LOG bob hello   world", "SET bob temp 21 C", "CLOSE alice eof", "CLOSE bob eof"} {
		if got := read(all); got != want {
			t.Errorf("all: got %q, want %q", got, want)
		}
	}
	for _, want := range []string{"READY bob", "LOG bob hello   world", "SET bob temp 21 C", "CLOSE bob eof"} {
		if got := read(onlyBob); got != want {
			t.Errorf("bob only: got %q, want %q", got, want)
		}
	}
}

func TestWatchJSON(t *testing.T) {
	s := wServer(t, nil)
	_, r := wWatch(t, s, "FORMAT json\nWATCH\n", "{\"stream\":true}\n")
	c := wDial(t, s.DataAddr())
	start := time.Now().UnixMilli()
	wSend(t, c, "IAM bob\nLOG caf\xc3\xa9 \xff \"q\"\nSET k v w\n")
	wUntil(t, "bob's state", func() bool { kv, err := s.ClientState(context.Background(), "bob"); return err == nil && kv["k"] != "" })
	c.Close()
	want := []map[string]any{
		{"event": "ready", "client": "bob"},
		{"event": "log", "client": "bob", "message": "café \uFFFD \"q\""},
		{"event": "set", "client": "bob", "key": "k", "value": "v w"},
		{"event": "close", "client": "bob", "reason": "eof"},
	}
	for i, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("event %d: %v: %q", i, err, line)
		}
		if ts, ok := got["ts"].(float64); !ok || int64(ts) < start || int64(ts) > time.Now().UnixMilli() {
			t.Errorf("event %d: ts %v out of range", i, got["ts"])
		}
		delete(got, "ts")
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("event %d: got %v, want %v", i, got, w)
		}
	}
}

// A watcher that never reads is dropped when it owes watch-buffer, while
// 1,000 clients keep logging, nothing they send is lost, and another watcher
// keeps up and sees every line.
func TestWatchSlowConsumerDropped(t *testing.T) {
	const clients, lines = 1000, 100 // about 26 MB of events: far more than one socket and watch-buffer hold
	s := wServer(t, nil)

	slow := wDial(t, s.AdminAddr())
	wSend(t, slow, "WATCH\n")
	_, fast := wWatch(t, s, "WATCH\n", "OK stream\n")
	wUntil(t, "both watchers", func() bool { return wStats(t, s).Watchers == 2 })

	var seen int
	fastDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(fast)
		for seen < clients*lines && sc.Scan() {
			if bytes.Contains(sc.Bytes(), []byte(" LOG ")) {
				seen++
			}
		}
		fastDone <- sc.Err()
	}()

	msg := strings.Repeat("z", 200)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.DataAddr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := fmt.Fprintf(c, "IAM c%d\n", i); err != nil {
				errs <- err
				return
			}
			// Ten batches 50 ms apart: a steady stream the fast watcher can
			// follow even on a loaded machine, not one burst (pacing, not
			// synchronisation).
			for batch := range 10 {
				var b strings.Builder
				for j := range lines / 10 {
					fmt.Fprintf(&b, "LOG %d %s\n", batch*10+j, msg)
				}
				if _, err := io.WriteString(c, b.String()); err != nil {
					errs <- err
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Stay connected until every line is stored (the test goroutine
			// checks the count), so all 1,000 are live while the watcher drops.
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if st, err := s.Stats(context.Background()); err != nil || st.LinesTotal >= clients*lines {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := wStats(t, s)
	if st.LinesTotal != clients*lines {
		t.Errorf("lines_total %d, want %d", st.LinesTotal, clients*lines)
	}
	if st.WatchersDroppedTotal != 1 {
		t.Errorf("watchers_dropped_total %d, want 1", st.WatchersDroppedTotal)
	}
	select {
	case err := <-fastDone:
		if err != nil {
			t.Fatalf("fast watcher: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("fast watcher saw %d of %d lines", seen, clients*lines)
	}
	// The server reset the slow watcher's connection, discarding what it owed.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, slow); err == nil || !isReset(err) {
		t.Errorf("slow watcher: want connection reset, got %v", err)
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), syscall.ECONNRESET.Error()) }

func TestSubscribe(t *testing.T) {
	s := wServer(t, nil)
	sub, err := s.Subscribe(context.Background(), 16, WatchQuery{Clients: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	c := wDial(t, s.DataAddr())
	wSend(t, c, "IAM bob\nLOG one\nSET a b\n")
	for i, want := range []Event{{Kind: query.EventReady, Client: "bob"}, {Kind: query.EventLog, Client: "bob", Message: "one"}, {Kind: query.EventSet, Client: "bob", Key: "a", Value: "b"}} {
		select {
		case ev := <-sub.C:
			ev.TS = 0
			if ev != want {
				t.Errorf("event %d: %+v, want %+v", i, ev, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive", i)
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-sub.C; open {
		t.Error("C still open after Close")
	}

	// A subscriber that does not read is dropped, and says so.
	lazy, err := s.Subscribe(context.Background(), 4, WatchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wSend(t, c, strings.Repeat("LOG x\n", 10))
	wUntil(t, "drop", func() bool { return wStats(t, s).WatchersDroppedTotal == 1 })
	n := 0
	for range lazy.C {
		n++
	}
	if n != 4 || lazy.Err() != ErrDropped {
		t.Errorf("lazy subscriber got %d events, err %v", n, lazy.Err())
	}
}

// Data and admin on one port number, on two loopback addresses: each
// connection reaches the right protocol.
func TestSamePortTwoAddresses(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	s := wServer(t, func(c *Config) {
		c.Listen = fmt.Sprintf("127.0.0.3:%d", port)
		c.Admin = fmt.Sprintf("127.0.0.4:%d", port)
	})
	a := wDial(t, s.AdminAddr())
	wSend(t, a, "PING\n")
	if line, err := bufio.NewReader(a).ReadString('\n'); err != nil || line != "OK 1\n" {
		t.Fatalf("admin: %q %v", line, err)
	}
	d := wDial(t, s.DataAddr())
	wSend(t, d, "IAM same\n")
	wUntil(t, "identified on the data address", func() bool { _, err := s.ClientInfo(context.Background(), "same"); return err == nil })
}

func TestStopBeforeStart(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("stop before start: %v", err)
	}
}

// TestBacklogCappedAtMaxBacklog: WATCH backlog=1000 over 101 clients of
// 1,000 entries each (a watch-buffer large enough for all of them) sends
// the newest store.MaxBacklog (100,000) entries, then the live stream: the
// oldest client's entries, all older than the rest, are the ones left out.
func TestBacklogCappedAtMaxBacklog(t *testing.T) {
	const clients, lines = 101, 1000
	s := wServer(t, func(c *Config) { c.Buffer, c.WatchBuffer = lines, 64<<20 })
	for i := range clients {
		c := wDial(t, s.DataAddr())
		var b strings.Builder
		fmt.Fprintf(&b, "IAM c%03d\n", i)
		for k := range lines {
			fmt.Fprintf(&b, "LOG %d\n", k)
		}
		wSend(t, c, b.String())
		// One client at a time, so c000's entries are the oldest (or tie
		// on the millisecond and sort first by name).
		wUntil(t, "client stored", func() bool { return wStats(t, s).LinesTotal == uint64((i+1)*lines) })
	}
	w, r := wWatch(t, s, "WATCH backlog=1000\n", "OK stream\n")
	defer w.Close()
	live := wDial(t, s.DataAddr())
	wSend(t, live, "IAM zlive\nLOG after the backlog\n")
	n, fromOldest := 0, 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d backlog lines: %v", n, err)
		}
		if strings.HasSuffix(line, " after the backlog\n") {
			break
		}
		if strings.Contains(line, " LOG ") {
			n++
			if strings.Contains(line, " LOG c000 ") {
				fromOldest++
			}
		}
	}
	if n != store.MaxBacklog || fromOldest != 0 {
		t.Errorf("backlog of %d LOG lines, %d from the oldest client c000; want %d, none from c000", n, fromOldest, store.MaxBacklog)
	}
}
