package loop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logatron/logatron/loop"
)

// Shared helpers for the integration tests: every test runs a real server on
// loopback ports chosen by the kernel and talks to it over TCP.

// replyTimeout bounds every read of a reply, so a broken server fails a test
// instead of hanging it.
const replyTimeout = 20 * time.Second

// startServer runs a server on 127.0.0.1 port 0 (data and admin), with cfg
// adjusted by tune, and stops it when the test ends.
func startServer(t testing.TB, tune func(*loop.Config)) *loop.Server {
	t.Helper()
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatalf("loop.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := srv.Err(); err != nil {
			t.Errorf("server ended with: %v", err)
		}
	})
	if srv.DataAddr().String() == srv.AdminAddr().String() {
		t.Fatalf("data and admin addresses are the same: %s", srv.DataAddr())
	}
	return srv
}

// eventually polls cond (every 2 ms) until it reports true, failing the test
// with cond's last explanation after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dataClient is a connection to the data port that counts what it sent, so
// that sync can wait until the server has consumed all of it.
type dataClient struct {
	t    testing.TB
	srv  *loop.Server
	conn *net.TCPConn
	name string // set by identify
	sent int
}

func dialData(t testing.TB, srv *loop.Server) *dataClient {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, srv.DataAddr())
	if err != nil {
		t.Fatalf("dial data: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &dataClient{t: t, srv: srv, conn: c}
}

// connect dials the data port, sends IAM name and waits until the server
// has identified the client.
func connect(t testing.TB, srv *loop.Server, name string) *dataClient {
	t.Helper()
	c := dialData(t, srv)
	c.name = name
	c.send("IAM " + name + "\n")
	c.sync()
	return c
}

// send writes s whole.
func (c *dataClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write to data port: %v", err)
	}
	c.sent += len(s)
}

// sync waits until the server counts, for this client, every byte sent: the
// server handles a read's lines in the same callback that counts its bytes,
// so then every line sent so far has been handled.
func (c *dataClient) sync() {
	c.t.Helper()
	eventually(c.t, 10*time.Second, "the server to consume "+c.name+"'s bytes", func() (bool, string) {
		info, err := c.srv.ClientInfo(context.Background(), c.name)
		if err != nil {
			return false, err.Error()
		}
		return info.Bytes == uint64(c.sent), fmt.Sprintf("bytes=%d, sent %d", info.Bytes, c.sent)
	})
}

// addr is the client's address as the server sees it.
func (c *dataClient) addr() string { return c.conn.LocalAddr().String() }

// readToClose reads until the server closes the connection and returns what
// it sent. A reset after the data counts as closed: the server may close
// with bytes of ours unread.
func readToClose(t testing.TB, conn net.Conn, timeout time.Duration) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := io.Copy(&buf, conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("waiting for the server to close the connection: %v (got %q)", err, buf.String())
	}
	return buf.String()
}

// adminClient is a connection to the admin port.
type adminClient struct {
	t    testing.TB
	conn *net.TCPConn
	r    *bufio.Reader
}

func dialAdmin(t testing.TB, srv *loop.Server) *adminClient {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, srv.AdminAddr())
	if err != nil {
		t.Fatalf("dial admin: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &adminClient{t: t, conn: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func (a *adminClient) write(s string) {
	a.t.Helper()
	if _, err := io.WriteString(a.conn, s); err != nil {
		a.t.Fatalf("write to admin port: %v", err)
	}
}

// line reads one reply line, without its "\n"; it must be valid UTF-8.
func (a *adminClient) line() string {
	a.t.Helper()
	if err := a.conn.SetReadDeadline(time.Now().Add(replyTimeout)); err != nil {
		a.t.Fatal(err)
	}
	s, err := a.r.ReadString('\n')
	if err != nil {
		a.t.Fatalf("reading an admin reply line: %v (got %q)", err, s)
	}
	if !utf8.ValidString(s) {
		a.t.Fatalf("admin reply line is not valid UTF-8: %q", s)
	}
	return strings.TrimSuffix(s, "\n")
}

// reply reads one text reply: for "OK <n>" that line and n data lines; for
// anything else (ERR, OK stream) the one line.
func (a *adminClient) reply() []string {
	a.t.Helper()
	first := a.line()
	out := []string{first}
	if n, ok := strings.CutPrefix(first, "OK "); ok && n != "stream" {
		count, err := strconv.Atoi(n)
		if err != nil || count < 0 {
			a.t.Fatalf("bad reply head %q", first)
		}
		for range count {
			out = append(out, a.line())
		}
	}
	return out
}

// text sends a request and returns the data lines of its text reply, which
// must be "OK <n>".
func (a *adminClient) text(req string) []string {
	a.t.Helper()
	a.write(req + "\n")
	r := a.reply()
	if !strings.HasPrefix(r[0], "OK ") {
		a.t.Fatalf("%s: got %q, want an OK reply", req, r)
	}
	return r[1:]
}

// textErr sends a request and returns the reason of its "ERR <reason>" reply.
func (a *adminClient) textErr(req string) string {
	a.t.Helper()
	a.write(req + "\n")
	r := a.reply()
	reason, ok := strings.CutPrefix(r[0], "ERR ")
	if !ok || len(r) != 1 {
		a.t.Fatalf("%s: got %q, want one ERR line", req, r)
	}
	return reason
}

// kv sends a request whose text reply is "key value" lines and returns them
// as a map, checking that no key repeats.
func (a *adminClient) kv(req string) map[string]string {
	a.t.Helper()
	m := map[string]string{}
	for _, l := range a.text(req) {
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			a.t.Fatalf("%s: line %q is not 'key value'", req, l)
		}
		if _, dup := m[k]; dup {
			a.t.Fatalf("%s: key %q twice", req, k)
		}
		m[k] = v
	}
	return m
}

// jsonLine sends a request and returns its reply, which must be exactly one
// line of valid JSON.
func (a *adminClient) jsonLine(req string) []byte {
	a.t.Helper()
	a.write(req + "\n")
	l := a.line()
	if !json.Valid([]byte(l)) {
		a.t.Fatalf("%s: reply is not valid JSON: %.200q", req, l)
	}
	return []byte(l)
}

// json sends a request and decodes its one-line JSON reply into v (numbers
// as json.Number when v is an interface).
func (a *adminClient) json(req string, v any) {
	a.t.Helper()
	decodeJSON(a.t, a.jsonLine(req), v)
}

func decodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decoding %.200q: %v", b, err)
	}
	if d.More() {
		t.Fatalf("trailing data after JSON value in %.200q", b)
	}
}

// setJSON switches the connection to JSON replies.
func (a *adminClient) setJSON() {
	a.t.Helper()
	if got := string(a.jsonLine("FORMAT json")); got != `{"ok":true}` {
		a.t.Fatalf("FORMAT json: got %s", got)
	}
}

// stats returns STATS in text as numbers (version excepted).
func (a *adminClient) stats() map[string]string {
	a.t.Helper()
	return a.kv("STATS")
}

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}

// textTime is the text-mode timestamp: RFC 3339, UTC, milliseconds.
var textTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// parseTextTime checks a text timestamp's form and returns it in Unix ms.
func parseTextTime(t testing.TB, s string) int64 {
	t.Helper()
	if !textTime.MatchString(s) {
		t.Fatalf("timestamp %q is not like 2026-11-24T00:36:25.123Z", s)
	}
	tm, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return tm.UnixMilli()
}

// fmtTime renders Unix ms as the protocol's text timestamp.
func fmtTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// inWindow checks lo <= ms <= hi.
func inWindow(t testing.TB, what string, ms, lo, hi int64) {
	t.Helper()
	if ms < lo || ms > hi {
		t.Errorf("%s = %d (%s), want within [%s, %s]", what, ms, fmtTime(ms), fmtTime(lo), fmtTime(hi))
	}
}

// nowMS is the current time in Unix ms.
func nowMS() int64 { return time.Now().UnixMilli() }

// jsonLog decodes a JSON LOG reply ([[ts,"msg"],...]) into timestamps and messages.
func jsonLog(t testing.TB, raw []byte) (ts []int64, msgs []string) {
	t.Helper()
	var entries [][]json.RawMessage
	decodeJSON(t, raw, &entries)
	for i, e := range entries {
		if len(e) != 2 {
			t.Fatalf("LOG entry %d has %d elements, want [ts, message]", i, len(e))
		}
		var n int64
		var m string
		if err := json.Unmarshal(e[0], &n); err != nil {
			t.Fatalf("LOG entry %d timestamp %s: %v", i, e[0], err)
		}
		if err := json.Unmarshal(e[1], &m); err != nil {
			t.Fatalf("LOG entry %d message %s: %v", i, e[1], err)
		}
		ts, msgs = append(ts, n), append(msgs, m)
	}
	return ts, msgs
}

// logMessages returns a client's log messages as the admin port's JSON LOG
// reply gives them.
func logMessages(t testing.TB, srv *loop.Server, name string) []string {
	t.Helper()
	a := dialAdmin(t, srv)
	a.setJSON()
	_, msgs := jsonLog(t, a.jsonLine("LOG "+name))
	a.conn.Close()
	return msgs
}

// jsonNum is n as decodeJSON gives numbers inside an interface.
func jsonNum(n int) json.Number { return json.Number(strconv.Itoa(n)) }
