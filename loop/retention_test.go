package loop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/web"
	"golang.org/x/sys/unix"
)

// Tests of SPEC §6 (clients that have gone: retention, close reasons,
// resume, expiry, FORGET, listings) and of the names and keys of §1.

// watchEvent is one WATCH event, in a form both formats share.
type watchEvent struct {
	TS     int64
	Kind   string // READY, LOG, CONT, SET or CLOSE
	Client string
	// Text is what follows the client: the message of LOG and CONT, "key
	// value" of SET, the reason of CLOSE; escaped in text, exact in JSON.
	Text string
	Raw  string // the line as received
}

// eventReader reads the WATCH stream of one admin connection.
type eventReader struct {
	a    *adminClient
	json bool
}

// openWatch opens an admin connection (in JSON when asked), sends "WATCH
// args" and reads the stream's first line. The server registers the
// watcher and queues that line in one step on the loop, so every event
// that happens after openWatch returns reaches this reader.
func openWatch(t testing.TB, srv *loop.Server, asJSON bool, args string) *eventReader {
	t.Helper()
	a := dialAdmin(t, srv)
	want := "OK stream"
	if asJSON {
		a.setJSON()
		want = `{"stream":true}`
	}
	a.write(strings.TrimSpace("WATCH "+args) + "\n")
	if got := a.line(); got != want {
		t.Fatalf("WATCH %s: first line %q, want %q", args, got, want)
	}
	return &eventReader{a: a, json: asJSON}
}

// textEventLine is a WATCH text line: time, kind, client, and the rest.
var textEventLine = regexp.MustCompile(`^(\S+) (READY|LOG|CONT|SET|CLOSE) (\S+)(?: (.*))?$`)

// next reads one event.
func (r *eventReader) next() watchEvent {
	r.a.t.Helper()
	line := r.a.line()
	if !r.json {
		m := textEventLine.FindStringSubmatch(line)
		if m == nil {
			r.a.t.Fatalf("not a WATCH text line: %q", line)
		}
		return watchEvent{TS: parseTextTime(r.a.t, m[1]), Kind: m[2], Client: m[3], Text: m[4], Raw: line}
	}
	var e struct {
		TS                          *int64
		Event, Client               string
		Message, Key, Value, Reason *string
	}
	decodeJSON(r.a.t, []byte(line), &e)
	if e.TS == nil || e.Client == "" {
		r.a.t.Fatalf("JSON event without ts or client: %s", line)
	}
	ev := watchEvent{TS: *e.TS, Kind: strings.ToUpper(e.Event), Client: e.Client, Raw: line}
	need := func(name string, p *string) string {
		if p == nil {
			r.a.t.Fatalf("JSON %s event without %q: %s", e.Event, name, line)
		}
		return *p
	}
	switch e.Event {
	case "ready":
	case "log", "cont":
		ev.Text = need("message", e.Message)
	case "set":
		ev.Text = need("key", e.Key) + " " + need("value", e.Value)
	case "close":
		ev.Text = need("reason", e.Reason)
	default:
		r.a.t.Fatalf("unknown JSON event %q: %s", e.Event, line)
	}
	return ev
}

// nextOf reads events until one of kind for client, skipping others.
func (r *eventReader) nextOf(kind, client string) watchEvent {
	r.a.t.Helper()
	for {
		if ev := r.next(); ev.Kind == kind && ev.Client == client {
			return ev
		}
	}
}

// reconnect resumes the closed client name on a new connection and waits
// until the server has identified it: its byte count goes on from the
// closed client's.
func reconnect(t testing.TB, srv *loop.Server, name string) *dataClient {
	t.Helper()
	ci, err := srv.ClientInfo(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	c := dialData(t, srv)
	c.name, c.sent = name, int(ci.Bytes)
	c.send("IAM " + name + "\n")
	c.sync()
	return c
}

// nextSub reads one event of a Go subscription.
func nextSub(t testing.TB, sub *loop.Subscription) loop.Event {
	t.Helper()
	select {
	case ev, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return ev
	case <-time.After(replyTimeout):
		t.Fatalf("no event within %s", replyTimeout)
	}
	return loop.Event{}
}

// subscribe starts a Go subscription that the test closes at its end.
func subscribe(t testing.TB, srv *loop.Server, buffer int, q loop.WatchQuery) *loop.Subscription {
	t.Helper()
	sub, err := srv.Subscribe(context.Background(), buffer, q)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// waitClosed polls until the server holds name as a closed client and
// returns it.
func waitClosed(t testing.TB, srv *loop.Server, name string) query.ClientInfo {
	t.Helper()
	var ci query.ClientInfo
	eventually(t, replyTimeout, name+" to be closed", func() (bool, string) {
		var err error
		ci, err = srv.ClientInfo(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		return ci.Closed, fmt.Sprintf("closed=%v", ci.Closed)
	})
	return ci
}

// waitGone polls until the server no longer holds name.
func waitGone(t testing.TB, srv *loop.Server, name string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, name+" to be gone", func() (bool, string) {
		ci, err := srv.ClientInfo(context.Background(), name)
		var nsc *loop.NoSuchClientError
		if errors.As(err, &nsc) {
			return true, ""
		}
		return false, fmt.Sprintf("err=%v closed=%v", err, ci.Closed)
	})
}

// dropAllInput makes the kernel discard every packet that reaches c's
// socket, without an ACK or a reset: a socket filter that accepts nothing
// runs before TCP handles a segment. To the server the peer has vanished
// as if its host lost power, which only keepalive can find out.
func dropAllInput(t testing.TB, c *net.TCPConn) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	filter := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Skipf("cannot attach a socket filter to make the peer vanish: %v", serr)
	}
}

// TestCloseReasons: each way a connection ends is recorded as the closed
// client's close_reason (CLIENT text and JSON, the Go API), with closed_at
// the time it ended, and carried by the CLOSE event (WATCH text, WATCH
// JSON, Go subscription).
func TestCloseReasons(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		keepAlive    time.Duration
		end          func(t *testing.T, c *net.TCPConn)
	}{
		{"peer closes", "eof", 0, func(t *testing.T, c *net.TCPConn) { c.Close() }},
		{"peer half-closes", "eof", 0, func(t *testing.T, c *net.TCPConn) { c.CloseWrite() }},
		{"peer resets", "reset", 0, func(t *testing.T, c *net.TCPConn) { c.SetLinger(0); c.Close() }},
		// Keepalive with a 1 s idle time finds the vanished peer after
		// about 4 s (idle, then 3 unanswered probes a second apart).
		{"peer vanishes", "keepalive", time.Second, func(t *testing.T, c *net.TCPConn) { dropAllInput(t, c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, func(c *loop.Config) {
				if tc.keepAlive > 0 {
					c.KeepAlive = tc.keepAlive
				}
			})
			text := openWatch(t, srv, false, "")
			js := openWatch(t, srv, true, "")
			sub := subscribe(t, srv, 64, loop.WatchQuery{})
			const name = "leaver"
			c := connect(t, srv, name)
			c.send("LOG last words\nSET k v\n")
			c.sync()
			lo := nowMS()
			tc.end(t, c.conn)
			ci := waitClosed(t, srv, name)
			hi := nowMS()
			if ci.CloseReason != tc.reason {
				t.Errorf("Go API close reason %q, want %q", ci.CloseReason, tc.reason)
			}
			inWindow(t, "closed_at", ci.ClosedAt, lo, hi)
			if ci.Entries != 1 || ci.Keys != 1 || ci.Lines != 1 {
				t.Errorf("closed client holds entries=%d keys=%d lines=%d, want 1 1 1", ci.Entries, ci.Keys, ci.Lines)
			}

			a := dialAdmin(t, srv)
			info := a.kv("CLIENT " + name)
			if info["status"] != "closed" || info["close_reason"] != tc.reason || info["closed_at"] != fmtTime(ci.ClosedAt) {
				t.Errorf("CLIENT text: status=%q close_reason=%q closed_at=%q, want closed %q %q",
					info["status"], info["close_reason"], info["closed_at"], tc.reason, fmtTime(ci.ClosedAt))
			}
			a.setJSON()
			var obj map[string]any
			a.json("CLIENT "+name, &obj)
			if obj["status"] != "closed" || obj["closeReason"] != tc.reason || obj["closedAt"] != json.Number(strconv.FormatInt(ci.ClosedAt, 10)) {
				t.Errorf("CLIENT JSON: status=%v closeReason=%v closedAt=%v, want closed %q %d",
					obj["status"], obj["closeReason"], obj["closedAt"], tc.reason, ci.ClosedAt)
			}

			for _, r := range []*eventReader{text, js} {
				ev := r.nextOf("CLOSE", name)
				if ev.Text != tc.reason {
					t.Errorf("CLOSE event %q: reason %q, want %q", ev.Raw, ev.Text, tc.reason)
				}
				if ev.TS != ci.ClosedAt {
					t.Errorf("CLOSE event at %d, closed_at %d", ev.TS, ci.ClosedAt)
				}
			}
			for {
				ev := nextSub(t, sub)
				if ev.Kind == query.EventClose {
					if ev.Client != name || ev.Reason != tc.reason {
						t.Errorf("subscription: CLOSE %q reason %q, want %q %q", ev.Client, ev.Reason, name, tc.reason)
					}
					break
				}
			}
		})
	}
}

// TestCloseReasonShutdown: Stop ends every connection with the reason
// "shutdown". After Stop no query answers (ErrNotRunning), so the reason
// can only be seen on a Go subscription, which outlives the server: it
// must get the CLOSE event.
func TestCloseReasonShutdown(t *testing.T) {
	srv := startServer(t, nil)
	sub := subscribe(t, srv, 64, loop.WatchQuery{})
	c := connect(t, srv, "stayer")
	c.send("LOG still here\n")
	c.sync()
	for _, want := range []query.EventKind{query.EventReady, query.EventLog} {
		if ev := nextSub(t, sub); ev.Kind != want {
			t.Fatalf("event %v, want %v", ev.Kind, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClientInfo(context.Background(), "stayer"); !errors.Is(err, loop.ErrNotRunning) {
		t.Errorf("ClientInfo after Stop: %v, want ErrNotRunning", err)
	}
	select {
	case ev, ok := <-sub.C:
		switch {
		case !ok:
			t.Errorf("subscription ended without a CLOSE event (err %v): the shutdown reason is never observable", sub.Err())
		case ev.Kind != query.EventClose || ev.Client != "stayer" || ev.Reason != "shutdown":
			t.Errorf("after Stop: event %+v, want CLOSE stayer shutdown", ev)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("no CLOSE event within 2 s of Stop: the shutdown reason is never observable (Store.Close is quiet while stopping, and every query fails after Stop)")
	}
}

// TestNoFatalErrorAfterIdentify: the close reason "error: <text>" is for a
// fatal ERR, and every fatal ERR of the data port comes before IAM, when
// there is no client to keep; after IAM every bad line is counted, never
// fatal. So a rejected connection leaves no closed client, and a client
// that sends every kind of bad line stays connected.
func TestNoFatalErrorAfterIdentify(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.MaxLine, c.MaxKeys = 64, 1 })
	a := dialAdmin(t, srv)
	for _, send := range []string{
		"IAM " + strings.Repeat("x", 100) + "\n", // line too long
		"HELLO\n",                                // expected IAM <name>
		"IAM bad/name\n",                         // invalid name
	} {
		c := dialData(t, srv)
		c.send(send)
		if got := readToClose(t, c.conn, replyTimeout); !strings.HasPrefix(got, "ERR ") {
			t.Errorf("%q: got %q, want a fatal ERR", send, got)
		}
	}
	if got := a.text("CLIENTS all=1"); len(got) != 0 {
		t.Errorf("CLIENTS all=1 after rejections: %q, want none", got)
	}
	if st := a.stats(); st["closed_clients"] != "0" || st["rejected_total"] != "3" {
		t.Errorf("closed_clients=%s rejected_total=%s, want 0 and 3", st["closed_clients"], st["rejected_total"])
	}

	c := connect(t, srv, "tough")
	c.send(strings.Join([]string{
		"LOG " + strings.Repeat("L", 100),   // over max-line: truncated
		"SET k " + strings.Repeat("v", 100), // over max-line: rejected
		"SET k1 v", "SET k2 v",              // over max-keys
		"IAM again", "FOO", "CONT " + strings.Repeat("c", 100),
		strings.Repeat("z", 1000), // over max-line, no command
	}, "\n") + "\nLOG still here\n")
	c.sync()
	ci, err := srv.ClientInfo(context.Background(), "tough")
	if err != nil {
		t.Fatal(err)
	}
	if ci.Closed {
		t.Fatalf("closed after bad lines: reason %q", ci.CloseReason)
	}
	if ci.Errors != 5 || ci.Truncated != 2 {
		t.Errorf("errors=%d truncated=%d, want 5 and 2", ci.Errors, ci.Truncated)
	}
	if msgs := logMessages(t, srv, "tough"); len(msgs) == 0 || msgs[len(msgs)-1] != "still here" {
		t.Errorf("log after bad lines: %q, want it to end with \"still here\"", msgs)
	}
}

// TestResume: an IAM with a closed client's name resumes it: same ring and
// state, counters going on, connected_at and addr of the new connection,
// reconnects counting up, READY as usual; a closed client still answers
// CLIENT, LOG and STATE.
func TestResume(t *testing.T) {
	srv := startServer(t, nil)
	w := openWatch(t, srv, false, "")
	a := dialAdmin(t, srv)
	const name = "worker-2"

	first := connect(t, srv, name)
	first.send("LOG one\nLOG two\nSET http.status 200\nFOO\n")
	first.sync()
	firstInfo, err := srv.ClientInfo(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	first.conn.Close()
	closed := waitClosed(t, srv, name)
	w.nextOf("CLOSE", name)

	// A closed client answers as before, with its status.
	if got := a.text("LOG " + name); len(got) != 2 || !strings.HasSuffix(got[0], " one") || !strings.HasSuffix(got[1], " two") {
		t.Errorf("LOG of the closed client: %q", got)
	}
	if got := a.text("STATE " + name); !slices.Equal(got, []string{"http.status 200"}) {
		t.Errorf("STATE of the closed client: %q", got)
	}
	if got := a.text("NAMES"); len(got) != 0 {
		t.Errorf("NAMES lists a closed client: %q", got)
	}

	sent := first.sent
	for round := 1; round <= 2; round++ {
		lo := nowMS()
		c := dialData(t, srv)
		c.name, c.sent = name, sent // bytes go on from the earlier connections
		c.send("IAM " + name + "\nLOG again " + strconv.Itoa(round) + "\n")
		c.sync()
		hi := nowMS()
		if ev := w.nextOf("READY", name); ev.TS < lo || ev.TS > hi {
			t.Errorf("READY at %d, want within [%d, %d]", ev.TS, lo, hi)
		}
		info := a.kv("CLIENT " + name)
		want := map[string]string{
			"name": name, "addr": c.addr(), "status": "connected", "closed_at": "-", "close_reason": "-",
			"reconnects": strconv.Itoa(round), "entries": strconv.Itoa(2 + round), "keys": "1",
			"lines": strconv.Itoa(2 + round), "bytes": strconv.Itoa(c.sent), "truncated": "0",
			"errors": "1", "last_error": `unknown command "FOO"`,
		}
		for k, v := range want {
			if info[k] != v {
				t.Errorf("round %d: CLIENT %s = %q, want %q", round, k, info[k], v)
			}
		}
		if at := parseTextTime(t, info["connected_at"]); at < lo || at > hi || at <= firstInfo.ConnectedAt || at < closed.ClosedAt {
			t.Errorf("round %d: connected_at %s, want the new connection's (within [%s, %s])", round, info["connected_at"], fmtTime(lo), fmtTime(hi))
		}
		wantLog := []string{"one", "two"}
		for r := 1; r <= round; r++ {
			wantLog = append(wantLog, "again "+strconv.Itoa(r))
		}
		if got := logMessages(t, srv, name); !slices.Equal(got, wantLog) {
			t.Errorf("round %d: log %q, want %q", round, got, wantLog)
		}
		if st, _ := srv.ClientState(context.Background(), name); !maps.Equal(st, map[string]string{"http.status": "200"}) {
			t.Errorf("round %d: state %q", round, st)
		}
		if st := a.stats(); st["clients"] != "1" || st["closed_clients"] != "0" || st["clients_total"] != strconv.Itoa(1+round) {
			t.Errorf("round %d: clients=%s closed_clients=%s clients_total=%s, want 1 0 %d", round, st["clients"], st["closed_clients"], st["clients_total"], 1+round)
		}
		sent = c.sent
		c.conn.Close()
		waitClosed(t, srv, name)
		w.nextOf("CLOSE", name)
	}
	if st := a.stats(); st["lines_total"] != "4" || st["bytes_total"] != strconv.Itoa(sent) || st["errors_total"] != "1" {
		t.Errorf("lines_total=%s bytes_total=%s errors_total=%s, want 4 %d 1", st["lines_total"], st["bytes_total"], st["errors_total"], sent)
	}
}

// TestExpiryByTime: a closed client is kept for -retain, then forgotten
// (counted in forgotten_total); one that resumed in the meantime is not.
func TestExpiryByTime(t *testing.T) {
	const retain = 300 * time.Millisecond
	srv := startServer(t, func(c *loop.Config) { c.Retain = retain })
	a := dialAdmin(t, srv)
	gone := connect(t, srv, "gone")
	back := connect(t, srv, "back")
	gone.conn.Close()
	back.conn.Close()
	closedAt := waitClosed(t, srv, "gone").ClosedAt
	waitClosed(t, srv, "back")
	again := reconnect(t, srv, "back")

	waitGone(t, srv, "gone", replyTimeout)
	if held := nowMS() - closedAt; held < retain.Milliseconds()-5 {
		t.Errorf("forgotten %d ms after it closed, before -retain %s", held, retain)
	}
	if got := a.textErr("CLIENT gone"); got != "no such client: gone" {
		t.Errorf("CLIENT gone: ERR %s", got)
	}
	if st := a.stats(); st["forgotten_total"] != "1" || st["closed_clients"] != "0" {
		t.Errorf("forgotten_total=%s closed_clients=%s, want 1 and 0", st["forgotten_total"], st["closed_clients"])
	}
	// The resumed one is connected and stays, however long that is.
	again.send("LOG alive\n")
	again.sync()
	if info := a.kv("CLIENT back"); info["status"] != "connected" || info["reconnects"] != "1" {
		t.Errorf("resumed client: status=%s reconnects=%s", info["status"], info["reconnects"])
	}
	// A resumed client that closes again gets a new full -retain.
	again.conn.Close()
	closedAt = waitClosed(t, srv, "back").ClosedAt
	waitGone(t, srv, "back", replyTimeout)
	if held := nowMS() - closedAt; held < retain.Milliseconds()-5 {
		t.Errorf("resumed client forgotten %d ms after its second close, before -retain %s", held, retain)
	}
}

// TestExpiryByCount: at most -retain-max closed clients are kept; the
// oldest closed goes first, whatever the names' order.
func TestExpiryByCount(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.RetainMax = 3 })
	a := dialAdmin(t, srv)
	order := []string{"e", "a", "d", "b", "c"} // closing order
	conns := map[string]*dataClient{}
	for _, n := range order {
		conns[n] = connect(t, srv, n)
	}
	for _, n := range order {
		conns[n].conn.Close()
		waitClosed(t, srv, n) // one at a time, so the closing order is known
	}
	if got, want := a.text("NAMES"), []string(nil); !slices.Equal(got, want) {
		t.Errorf("NAMES = %q, want none", got)
	}
	var names []string
	for _, l := range a.text("CLIENTS closed=1") {
		names = append(names, strings.Fields(l)[0])
	}
	if want := []string{"b", "c", "d"}; !slices.Equal(names, want) {
		t.Errorf("CLIENTS closed=1 = %q, want %q (e and a closed first)", names, want)
	}
	for _, n := range []string{"e", "a"} {
		if got := a.textErr("LOG " + n); got != "no such client: "+n {
			t.Errorf("LOG %s: ERR %s", n, got)
		}
	}
	if st := a.stats(); st["closed_clients"] != "3" || st["forgotten_total"] != "2" {
		t.Errorf("closed_clients=%s forgotten_total=%s, want 3 and 2", st["closed_clients"], st["forgotten_total"])
	}
	// Resuming d takes it out of the closed set, so closing f keeps b, c
	// and f; closing d again then pushes out the oldest closed, b.
	d := reconnect(t, srv, "d")
	f := connect(t, srv, "f")
	f.conn.Close()
	waitClosed(t, srv, "f")
	if st := a.stats(); st["closed_clients"] != "3" || st["forgotten_total"] != "2" {
		t.Errorf("after a resume and a close: closed_clients=%s forgotten_total=%s, want 3 and 2", st["closed_clients"], st["forgotten_total"])
	}
	d.conn.Close()
	waitClosed(t, srv, "d")
	waitGone(t, srv, "b", replyTimeout)
	names = names[:0]
	for _, l := range a.text("CLIENTS closed=1") {
		names = append(names, strings.Fields(l)[0])
	}
	if want := []string{"c", "d", "f"}; !slices.Equal(names, want) {
		t.Errorf("CLIENTS closed=1 = %q, want %q", names, want)
	}
}

// TestForget: FORGET removes a closed client at once; a connected or
// unknown one gets an error; in text, JSON and the Go API.
func TestForget(t *testing.T) {
	srv := startServer(t, nil)
	connect(t, srv, "live")
	for _, n := range []string{"f-text", "f-json", "f-go"} {
		c := connect(t, srv, n)
		c.send("LOG x\n")
		c.sync()
		c.conn.Close()
		waitClosed(t, srv, n)
	}
	text := dialAdmin(t, srv)
	js := dialAdmin(t, srv)
	js.setJSON()
	for _, tc := range []struct {
		text, wantText string // request on the text connection, and its reply
		json, wantJSON string // the same on the JSON connection
	}{
		{"FORGET f-text", "OK 0", "FORGET f-json", `{"ok":true}`},
		{"FORGET live", "ERR client is connected: live", "FORGET live", `{"error":"client is connected: live"}`},
		{"FORGET nobody", "ERR no such client: nobody", "FORGET nobody", `{"error":"no such client: nobody"}`},
		{"forget f-text", "ERR no such client: f-text", "forget f-json", `{"error":"no such client: f-json"}`},
		{"FORGET", "ERR usage: FORGET <name>", "FORGET", `{"error":"usage: FORGET <name>"}`},
		{"FORGET a b", "ERR usage: FORGET <name>", "FORGET a b", `{"error":"usage: FORGET <name>"}`},
	} {
		text.write(tc.text + "\n")
		if got := text.reply(); !slices.Equal(got, []string{tc.wantText}) {
			t.Errorf("text %s: %q, want %q", tc.text, got, tc.wantText)
		}
		if got := string(js.jsonLine(tc.json)); got != tc.wantJSON {
			t.Errorf("JSON %s: %s, want %s", tc.json, got, tc.wantJSON)
		}
	}
	ctx := context.Background()
	if err := srv.Forget(ctx, "f-go"); err != nil {
		t.Errorf("Forget(f-go): %v", err)
	}
	var cce *loop.ClientConnectedError
	if err := srv.Forget(ctx, "live"); !errors.As(err, &cce) || cce.Name != "live" || err.Error() != "client is connected: live" {
		t.Errorf("Forget(live): %v, want a *ClientConnectedError", err)
	}
	var nsc *loop.NoSuchClientError
	if err := srv.Forget(ctx, "f-go"); !errors.As(err, &nsc) || nsc.Name != "f-go" {
		t.Errorf("Forget(f-go) twice: %v, want a *NoSuchClientError", err)
	}
	for _, n := range []string{"f-text", "f-json", "f-go"} {
		if got := text.textErr("CLIENT " + n); got != "no such client: "+n {
			t.Errorf("CLIENT %s after FORGET: ERR %s", n, got)
		}
	}
	if got := text.text("NAMES"); !slices.Equal(got, []string{"live"}) {
		t.Errorf("NAMES = %q, want [live]", got)
	}
	if st := text.stats(); st["forgotten_total"] != "3" || st["closed_clients"] != "0" || st["clients"] != "1" {
		t.Errorf("forgotten_total=%s closed_clients=%s clients=%s, want 3 0 1", st["forgotten_total"], st["closed_clients"], st["clients"])
	}
	// A forgotten name starts afresh.
	c := connect(t, srv, "f-text")
	if info := text.kv("CLIENT f-text"); info["entries"] != "0" || info["reconnects"] != "0" {
		t.Errorf("a forgotten client came back with entries=%s reconnects=%s", info["entries"], info["reconnects"])
	}
	c.conn.Close()
}

// TestRetainZero: with -retain 0 a client is removed the moment its
// connection ends (the version 1 behaviour); the CLOSE event still says why.
func TestRetainZero(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.Retain = 0 })
	w := openWatch(t, srv, false, "")
	a := dialAdmin(t, srv)
	c := connect(t, srv, "brief")
	c.send("LOG short life\n")
	c.sync()
	c.conn.Close()
	if ev := w.nextOf("CLOSE", "brief"); ev.Text != "eof" {
		t.Errorf("CLOSE reason %q, want eof", ev.Text)
	}
	// The event goes out after the removal: no polling needed.
	for _, req := range []string{"CLIENT brief", "LOG brief", "STATE brief", "FORGET brief"} {
		if got := a.textErr(req); got != "no such client: brief" {
			t.Errorf("%s: ERR %s", req, got)
		}
	}
	if got := a.text("CLIENTS all=1"); len(got) != 0 {
		t.Errorf("CLIENTS all=1 = %q, want none", got)
	}
	if got := a.text("GREP short"); len(got) != 0 {
		t.Errorf("GREP finds a removed client: %q", got)
	}
	if st := a.stats(); st["closed_clients"] != "0" || st["forgotten_total"] != "0" {
		t.Errorf("closed_clients=%s forgotten_total=%s, want 0 and 0", st["closed_clients"], st["forgotten_total"])
	}
}

// parseClientsLine splits a CLIENTS text line into the name and its
// key=value fields (a value may be double-quoted, with \" inside).
func parseClientsLine(t testing.TB, line string) (string, map[string]string) {
	t.Helper()
	name, rest, _ := strings.Cut(line, " ")
	kv := map[string]string{}
	for rest != "" {
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("CLIENTS line %q: %q is not key=value", line, rest)
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := 1
			for end < len(after) && after[end] != '"' {
				if after[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(after) {
				t.Fatalf("CLIENTS line %q: unterminated quote", line)
			}
			v = strings.ReplaceAll(after[1:end], `\"`, `"`)
			rest = strings.TrimPrefix(after[end+1:], " ")
		} else {
			v, rest, _ = strings.Cut(after, " ")
		}
		if _, dup := kv[k]; dup {
			t.Fatalf("CLIENTS line %q: %s twice", line, k)
		}
		kv[k] = v
	}
	return name, kv
}

// listingFixture: a-live and c-live connected, b-gone (eof) and d-gone
// (reset) closed.
func listingFixture(t *testing.T) *loop.Server {
	t.Helper()
	srv := startServer(t, nil)
	for _, n := range []string{"a-live", "b-gone", "c-live", "d-gone"} {
		c := connect(t, srv, n)
		c.send("LOG from " + n + "\nSET who " + n + "\n")
		c.sync()
		switch n {
		case "b-gone":
			c.conn.Close()
		case "d-gone":
			c.conn.SetLinger(0)
			c.conn.Close()
		}
	}
	waitClosed(t, srv, "b-gone")
	waitClosed(t, srv, "d-gone")
	return srv
}

var wantReason = map[string]string{"b-gone": "eof", "d-gone": "reset"}

// TestListings: NAMES and CLIENTS list connected clients, closed=1 only
// closed ones, all=1 both; CLIENT shows the status fields; text, JSON, the
// Go API and HTTP agree.
func TestListings(t *testing.T) {
	srv := listingFixture(t)
	connected := []string{"a-live", "c-live"}
	closed := []string{"b-gone", "d-gone"}
	all := []string{"a-live", "b-gone", "c-live", "d-gone"}
	a := dialAdmin(t, srv)
	js := dialAdmin(t, srv)
	js.setJSON()

	if got := a.text("NAMES"); !slices.Equal(got, connected) {
		t.Errorf("NAMES = %q, want %q", got, connected)
	}
	var jnames []string
	js.json("NAMES", &jnames)
	if !slices.Equal(jnames, connected) {
		t.Errorf("NAMES (JSON) = %q, want %q", jnames, connected)
	}
	if got, _ := srv.ClientNames(context.Background()); !slices.Equal(got, connected) {
		t.Errorf("ClientNames = %q, want %q", got, connected)
	}

	checkText := func(req string, want []string) {
		t.Helper()
		var names []string
		for _, l := range a.text(req) {
			n, kv := parseClientsLine(t, l)
			names = append(names, n)
			if r, gone := wantReason[n]; gone {
				if kv["status"] != "closed" || kv["close_reason"] != r || !textTime.MatchString(kv["closed_at"]) {
					t.Errorf("%s: %q: want status=closed closed_at=<ts> close_reason=%s", req, l, r)
				}
			} else if kv["status"] != "connected" {
				t.Errorf("%s: %q: want status=connected", req, l)
			}
			if kv["entries"] != "1" || kv["keys"] != "1" || kv["lines"] != "1" {
				t.Errorf("%s: %q: want entries=1 keys=1 lines=1", req, l)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s lists %q, want %q", req, names, want)
		}
	}
	type clientJSON struct {
		Name, Status, CloseReason string
		ClosedAt, Reconnects      *int64
		Entries                   int
	}
	checkJSON := func(what string, raw []byte, want []string) {
		t.Helper()
		var cs []clientJSON
		decodeJSON(t, raw, &cs)
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
			if c.ClosedAt == nil || c.Reconnects == nil {
				t.Errorf("%s: %s lacks closedAt or reconnects", what, c.Name)
				continue
			}
			r, gone := wantReason[c.Name]
			switch {
			case gone && (c.Status != "closed" || c.CloseReason != r || *c.ClosedAt <= 0):
				t.Errorf("%s: %+v: want status closed, closeReason %s, closedAt > 0", what, c, r)
			case !gone && (c.Status != "connected" || c.CloseReason != "" || *c.ClosedAt != 0):
				t.Errorf("%s: %+v: want status connected, closeReason \"\", closedAt 0", what, c)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s lists %q, want %q", what, names, want)
		}
	}
	base := startHTTP(t, srv)
	for _, tc := range []struct {
		opts, http string
		which      loop.Which
		want       []string
	}{
		{"", "", loop.Connected, connected},
		{" closed=1", "?closed=1", loop.Closed, closed},
		{" all=1", "?all=1", loop.All, all},
		{" CLOSED=true", "", loop.Closed, closed},
		{" all=1 closed=0", "", loop.All, all},
	} {
		checkText("CLIENTS"+tc.opts, tc.want)
		checkJSON("CLIENTS"+tc.opts+" (JSON)", js.jsonLine("CLIENTS"+tc.opts), tc.want)
		if tc.http != "" || tc.opts == "" {
			checkJSON("/api/clients"+tc.http, httpGet(t, base+"/api/clients"+tc.http), tc.want)
		}
		cs, err := srv.ClientInfos(context.Background(), loop.Query{Which: tc.which})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
			if _, gone := wantReason[c.Name]; c.Closed != gone || c.CloseReason != wantReason[c.Name] {
				t.Errorf("ClientInfos: %s Closed=%v CloseReason=%q", c.Name, c.Closed, c.CloseReason)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("ClientInfos(%v) = %q, want %q", tc.which, names, tc.want)
		}
	}
	if got := a.textErr("CLIENTS closed=1 all=1"); !strings.HasPrefix(got, "usage: CLIENTS") {
		t.Errorf("CLIENTS closed=1 all=1: ERR %s, want usage", got)
	}

	// CLIENT shows the status fields, "-" while connected.
	for _, n := range all {
		info := a.kv("CLIENT " + n)
		r, gone := wantReason[n]
		if gone {
			if info["status"] != "closed" || info["close_reason"] != r || !textTime.MatchString(info["closed_at"]) || info["reconnects"] != "0" {
				t.Errorf("CLIENT %s: %v", n, info)
			}
		} else if info["status"] != "connected" || info["close_reason"] != "-" || info["closed_at"] != "-" || info["reconnects"] != "0" {
			t.Errorf("CLIENT %s: %v", n, info)
		}
		var obj map[string]any
		js.json("CLIENT "+n, &obj)
		wantObj := map[string]any{"status": "connected", "closeReason": "", "closedAt": json.Number("0"), "reconnects": json.Number("0")}
		if gone {
			wantObj["status"], wantObj["closeReason"], wantObj["closedAt"] = "closed", r, json.Number(strconv.FormatInt(parseTextTime(t, info["closed_at"]), 10))
		}
		for k, v := range wantObj {
			if obj[k] != v {
				t.Errorf("CLIENT %s (JSON): %s = %#v, want %#v", n, k, obj[k], v)
			}
		}
	}

	if st := a.stats(); st["clients"] != "2" || st["closed_clients"] != "2" || st["forgotten_total"] != "0" {
		t.Errorf("STATS clients=%s closed_clients=%s forgotten_total=%s, want 2 2 0", st["clients"], st["closed_clients"], st["forgotten_total"])
	}
	var stats map[string]any
	js.json("STATS", &stats)
	if stats["closed_clients"] != json.Number("2") || stats["forgotten_total"] != json.Number("0") {
		t.Errorf("STATS (JSON) closed_clients=%v forgotten_total=%v, want 2 and 0", stats["closed_clients"], stats["forgotten_total"])
	}
}

// startHTTP serves srv's HTTP API on a loopback port until the test ends
// and returns its base URL.
func startHTTP(t testing.TB, srv *loop.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, err := web.NewServer(srv, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("HTTP serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// httpGet fetches url, which must answer 200, and returns the body.
func httpGet(t testing.TB, url string) []byte {
	t.Helper()
	cl := http.Client{Timeout: replyTimeout}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	return body
}

// TestDumpAndClientsIncludeClosed: DUMP and the Go API's Clients hold
// closed clients whole, with their status.
func TestDumpAndClientsIncludeClosed(t *testing.T) {
	srv := listingFixture(t)
	a := dialAdmin(t, srv)
	raw := a.text("DUMP")
	if len(raw) != 1 {
		t.Fatalf("DUMP: %d data lines, want 1", len(raw))
	}
	var dump map[string]struct {
		ConnectedAt, ClosedAt, Reconnects *int64
		Status, CloseReason               *string
		Log                               [][]any
		State                             map[string]string
	}
	decodeJSON(t, []byte(raw[0]), &dump)
	if got := slices.Sorted(maps.Keys(dump)); !slices.Equal(got, []string{"a-live", "b-gone", "c-live", "d-gone"}) {
		t.Fatalf("DUMP holds %q, want every client, closed ones included", got)
	}
	clients, err := srv.Clients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for n, d := range dump {
		if d.ConnectedAt == nil || d.ClosedAt == nil || d.Reconnects == nil || d.Status == nil || d.CloseReason == nil {
			t.Errorf("DUMP %s lacks a status field: %+v", n, d)
			continue
		}
		r, gone := wantReason[n]
		wantStatus := map[bool]string{true: "closed", false: "connected"}[gone]
		if *d.Status != wantStatus || *d.CloseReason != r || (*d.ClosedAt > 0) != gone {
			t.Errorf("DUMP %s: status %q closeReason %q closedAt %d, want %q %q", n, *d.Status, *d.CloseReason, *d.ClosedAt, wantStatus, r)
		}
		if len(d.Log) != 1 || len(d.Log[0]) != 2 || d.Log[0][1] != "from "+n || d.State["who"] != n {
			t.Errorf("DUMP %s: log %v state %v", n, d.Log, d.State)
		}
		c, ok := clients[n]
		if !ok {
			t.Errorf("Clients lacks %s", n)
			continue
		}
		if c.Closed != gone || c.CloseReason != r || c.ClosedAt.IsZero() == gone || c.Reconnects != 0 {
			t.Errorf("Clients[%s]: Closed=%v CloseReason=%q ClosedAt=%v", n, c.Closed, c.CloseReason, c.ClosedAt)
		}
		if gone && c.ClosedAt.UnixMilli() != *d.ClosedAt {
			t.Errorf("Clients[%s].ClosedAt %d, DUMP closedAt %d", n, c.ClosedAt.UnixMilli(), *d.ClosedAt)
		}
		if len(c.Log) != 1 || c.Log[0].Message != "from "+n || c.State["who"] != n {
			t.Errorf("Clients[%s]: log %v state %v", n, c.Log, c.State)
		}
	}
	if len(clients) != 4 {
		t.Errorf("Clients holds %d clients, want 4", len(clients))
	}
}

// TestNamesAndKeysWithPunctuation: names and keys of [A-Za-z0-9_.:-] work
// through the whole life of a client, and names outside the rule get the
// exact error.
func TestNamesAndKeysWithPunctuation(t *testing.T) {
	srv := startServer(t, nil)
	a := dialAdmin(t, srv)
	names := []string{"worker-2", "web.1", "pod-7f9c6d-xk2p", "host:svc", "A.b:C-d_9"}
	for _, n := range names {
		c := connect(t, srv, n)
		c.send("SET http.status 200\nSET a:b-c_d.e v w\nSET -.: dots\nLOG hello from " + n + "\n")
		c.sync()
		c.conn.Close()
		waitClosed(t, srv, n)
		c2 := reconnect(t, srv, n)
		c2.send("LOG back\n")
		c2.sync()
		if got := a.text("STATE " + n); !slices.Equal(got, []string{"-.: dots", "a:b-c_d.e v w", "http.status 200"}) {
			t.Errorf("STATE %s = %q", n, got)
		}
		if info := a.kv("CLIENT " + n); info["name"] != n || info["errors"] != "0" || info["reconnects"] != "1" || info["entries"] != "2" {
			t.Errorf("CLIENT %s: %v", n, info)
		}
	}
	if got, want := a.text("NAMES"), []string{"A.b:C-d_9", "host:svc", "pod-7f9c6d-xk2p", "web.1", "worker-2"}; !slices.Equal(got, want) {
		t.Errorf("NAMES = %q, want %q", got, want)
	}
	var n []string
	for _, l := range a.text("CLIENTS w*") {
		n = append(n, strings.Fields(l)[0])
	}
	if !slices.Equal(n, []string{"web.1", "worker-2"}) {
		t.Errorf("CLIENTS w* = %q", n)
	}
	for _, bad := range []string{"bad/name", "nb\u00a0sp", "a*b", "q?", strings.Repeat("n", 65), "caf\u00e9", "@x"} {
		c := dialData(t, srv)
		c.send("IAM " + bad + "\n")
		if got := readToClose(t, c.conn, replyTimeout); got != "ERR invalid name: use 1-64 of A-Z a-z 0-9 _ . : -\n" {
			t.Errorf("IAM %q: got %q", bad, got)
		}
	}
	c := connect(t, srv, "keys")
	c.send("SET bad/key v\nSET ke y\nSET " + strings.Repeat("k", 65) + " v\nSET k@ v\n")
	c.sync()
	if info := a.kv("CLIENT keys"); info["errors"] != "3" || info["keys"] != "1" {
		t.Errorf("bad keys: errors=%s keys=%s, want 3 and 1 (\"ke\" = \"y\" is a valid SET)", info["errors"], info["keys"])
	}
}
