package loop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
)

// adminFixture is a server with a few clients whose data the admin tests know.
type adminFixture struct {
	srv     *loop.Server
	clients map[string]*dataClient
	names   []string // sorted by bytes
	lo, hi  int64    // every timestamp lies within [lo, hi]
	// What each client sent.
	logs   map[string][]string
	states map[string]map[string]string
	errs   map[string]int
	last   map[string]string
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	f := &adminFixture{
		srv:     startServer(t, nil),
		clients: map[string]*dataClient{},
		logs:    map[string][]string{},
		states:  map[string]map[string]string{},
		errs:    map[string]int{},
		last:    map[string]string{},
	}
	f.lo = nowMS()
	// Names chosen so that byte order differs from case-insensitive order.
	send := map[string][]string{
		"alice": {"LOG first message", "LOG second\tpart", "SET temp 21 C", "SET mode auto", "FOO", "LOG"},
		"bob":   {},
		"Zed":   {"LOG z"},
		"_u":    {"SET b 2", "SET a 1"},
		"a1":    {"BAR x"},
	}
	for name, lines := range send {
		c := connect(t, f.srv, name)
		f.clients[name] = c
		f.names = append(f.names, name)
		f.states[name] = map[string]string{}
		for _, l := range lines {
			c.send(l + "\n")
			word, rest, _ := strings.Cut(l, " ")
			switch word {
			case "LOG":
				f.logs[name] = append(f.logs[name], rest)
			case "SET":
				k, v, _ := strings.Cut(rest, " ")
				f.states[name][k] = v
			default:
				f.errs[name]++
				f.last[name] = fmt.Sprintf("unknown command %q", word)
			}
		}
		c.sync()
	}
	f.hi = nowMS()
	sort.Strings(f.names)
	return f
}

func (f *adminFixture) info(t *testing.T, name string) (connectedAt int64, entries, keys, lines, bytes, errs int) {
	t.Helper()
	ci, err := f.srv.ClientInfo(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	inWindow(t, name+" connected_at", ci.ConnectedAt, f.lo, f.hi)
	return ci.ConnectedAt, len(f.logs[name]), len(f.states[name]), len(f.logs[name]), f.clients[name].sent, f.errs[name]
}

// wantLog returns the client's entries with the timestamps the Go API gives
// (checked to lie within the fixture's window).
func (f *adminFixture) wantLog(t *testing.T, name string) []loop.Entry {
	t.Helper()
	l, err := f.srv.ClientLog(context.Background(), name, loop.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range l {
		inWindow(t, name+" entry", e.Time.UnixMilli(), f.lo, f.hi)
		msgs = append(msgs, e.Message)
	}
	if !slices.Equal(msgs, f.logs[name]) {
		t.Fatalf("%s's log = %q, want %q", name, msgs, f.logs[name])
	}
	return l
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var helpWords = []string{"PING", "HELP", "AUTH", "NAMES", "CLIENTS", "CLIENT", "LOG", "GREP", "STATE", "STATS", "DUMP", "WATCH", "FORGET", "CLUSTER", "FORMAT", "QUIT"}

// statsKeys are the STATS fields the spec requires.
var statsKeys = []string{"version", "uptime_s", "clients", "clients_total", "rejected_total", "lines_total", "bytes_total",
	"errors_total", "truncated_total", "admin_connections", "watchers", "watchers_dropped_total", "heap_bytes", "gc_cpu_fraction"}

func TestAdminText(t *testing.T) {
	f := newAdminFixture(t)
	a := dialAdmin(t, f.srv)

	t.Run("PING", func(t *testing.T) {
		if got := a.text("PING"); !slices.Equal(got, []string{"PONG"}) {
			t.Errorf("got %q", got)
		}
	})
	t.Run("HELP", func(t *testing.T) {
		got := a.text("HELP")
		if len(got) != len(helpWords) {
			t.Fatalf("HELP has %d lines, want %d: %q", len(got), len(helpWords), got)
		}
		for i, w := range helpWords {
			if word, _, _ := strings.Cut(got[i], " "); word != w {
				t.Errorf("HELP line %d = %q, want it to describe %s", i, got[i], w)
			}
		}
	})
	t.Run("NAMES", func(t *testing.T) {
		if got := a.text("NAMES"); !slices.Equal(got, f.names) {
			t.Errorf("got %q, want %q", got, f.names)
		}
	})
	t.Run("CLIENTS", func(t *testing.T) {
		var want []string
		for _, n := range f.names {
			at, entries, keys, lines, bytes, errs := f.info(t, n)
			want = append(want, fmt.Sprintf("%s connected_at=%s addr=%s entries=%d keys=%d lines=%d bytes=%d errors=%d status=connected",
				n, fmtTime(at), f.clients[n].addr(), entries, keys, lines, bytes, errs))
		}
		got := a.text("CLIENTS")
		if !slices.Equal(got, want) {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, l := range got {
			_, rest, _ := strings.Cut(l, "connected_at=")
			ts, _, _ := strings.Cut(rest, " ")
			parseTextTime(t, ts)
		}
	})
	t.Run("CLIENT", func(t *testing.T) {
		for _, n := range f.names {
			at, entries, keys, lines, bytes, errs := f.info(t, n)
			last := f.last[n]
			if last == "" {
				last = "-"
			}
			want := []string{
				"name " + n, "connected_at " + fmtTime(at), "addr " + f.clients[n].addr(),
				"entries " + strconv.Itoa(entries), "keys " + strconv.Itoa(keys), "lines " + strconv.Itoa(lines),
				"bytes " + strconv.Itoa(bytes), "truncated 0", "errors " + strconv.Itoa(errs), "last_error " + last,
				"status connected", "closed_at -", "close_reason -", "reconnects 0",
			}
			if got := a.text("CLIENT " + n); !slices.Equal(got, want) {
				t.Errorf("CLIENT %s:\n got %q\nwant %q", n, got, want)
			}
		}
	})
	t.Run("LOG", func(t *testing.T) {
		for _, n := range f.names {
			l := f.wantLog(t, n)
			for _, count := range []int{-1, 0, 1, 2, 100} {
				req, sub := "LOG "+n, l
				if count >= 0 {
					req += " " + strconv.Itoa(count)
					sub = l[max(0, len(l)-count):]
				}
				var want []string
				for _, e := range sub {
					want = append(want, fmtTime(e.Time.UnixMilli())+" "+e.Message)
				}
				got := a.text(req)
				if !slices.Equal(got, want) {
					t.Errorf("%s:\n got %q\nwant %q", req, got, want)
				}
				for _, line := range got {
					ts, _, _ := strings.Cut(line, " ")
					parseTextTime(t, ts)
				}
			}
		}
	})
	t.Run("STATE", func(t *testing.T) {
		for _, n := range f.names {
			var want []string
			for _, k := range sortedKeys(f.states[n]) {
				want = append(want, k+" "+f.states[n][k])
			}
			if got := a.text("STATE " + n); !slices.Equal(got, want) {
				t.Errorf("STATE %s: got %q, want %q", n, got, want)
			}
		}
	})
	t.Run("STATS", func(t *testing.T) {
		st := a.stats()
		for _, k := range statsKeys {
			v, ok := st[k]
			if !ok {
				t.Errorf("STATS lacks %s", k)
				continue
			}
			switch k {
			case "version":
				if v != loop.Version {
					t.Errorf("version = %q, want %q", v, loop.Version)
				}
			case "gc_cpu_fraction":
				if x, err := strconv.ParseFloat(v, 64); err != nil || x < 0 || x > 1 {
					t.Errorf("gc_cpu_fraction = %q", v)
				}
			default:
				atoi(t, v)
			}
		}
		lines, bytes, errs := 0, 0, 0
		for _, n := range f.names {
			lines += len(f.logs[n])
			bytes += f.clients[n].sent
			errs += f.errs[n]
		}
		for k, v := range map[string]int{"clients": len(f.names), "clients_total": len(f.names), "rejected_total": 0,
			"lines_total": lines, "bytes_total": bytes, "errors_total": errs, "truncated_total": 0,
			"admin_connections": 1, "watchers": 0, "watchers_dropped_total": 0} {
			if st[k] != strconv.Itoa(v) {
				t.Errorf("STATS %s = %s, want %d", k, st[k], v)
			}
		}
		if atoi(t, st["heap_bytes"]) <= 0 {
			t.Errorf("heap_bytes = %s", st["heap_bytes"])
		}
	})
	t.Run("DUMP", func(t *testing.T) {
		got := a.text("DUMP")
		if len(got) != 1 {
			t.Fatalf("DUMP gave %d data lines, want 1", len(got))
		}
		f.checkDump(t, []byte(got[0]))
	})
	t.Run("FORMAT text", func(t *testing.T) {
		a.write("FORMAT text\n")
		if got := a.reply(); !slices.Equal(got, []string{"OK 0"}) {
			t.Errorf("got %q, want [OK 0]", got)
		}
	})
	t.Run("QUIT", func(t *testing.T) {
		q := dialAdmin(t, f.srv)
		q.write("QUIT\nPING\n")
		if got := readToClose(t, q.conn, replyTimeout); got != "OK 0\n" {
			t.Errorf("got %q, want OK 0 then close", got)
		}
	})
}

// checkDump compares a DUMP's JSON with the fixture.
func (f *adminFixture) checkDump(t *testing.T, raw []byte) {
	t.Helper()
	var got map[string]struct {
		ConnectedAt *int64            `json:"connectedAt"`
		Log         []json.RawMessage `json:"log"`
		State       map[string]string `json:"state"`
	}
	decodeJSON(t, raw, &got)
	if len(got) != len(f.names) {
		t.Errorf("DUMP has %d clients, want %d", len(got), len(f.names))
	}
	// Keys in name order, as the reply text has them.
	pos := -1
	for _, n := range f.names {
		i := strings.Index(string(raw), strconv.Quote(n)+`:{`)
		if i < pos {
			t.Errorf("DUMP: %s is out of name order", n)
		}
		pos = i
		d, ok := got[n]
		if !ok {
			t.Errorf("DUMP lacks %s", n)
			continue
		}
		at, _, _, _, _, _ := f.info(t, n)
		if d.ConnectedAt == nil || *d.ConnectedAt != at {
			t.Errorf("DUMP %s connectedAt = %v, want %d", n, d.ConnectedAt, at)
		}
		wantLog := f.wantLog(t, n)
		logRaw, _ := json.Marshal(d.Log)
		ts, msgs := jsonLog(t, logRaw)
		if len(msgs) != len(wantLog) {
			t.Errorf("DUMP %s log has %d entries, want %d", n, len(msgs), len(wantLog))
			continue
		}
		for i, e := range wantLog {
			if ts[i] != e.Time.UnixMilli() || msgs[i] != e.Message {
				t.Errorf("DUMP %s entry %d = [%d %q], want [%d %q]", n, i, ts[i], msgs[i], e.Time.UnixMilli(), e.Message)
			}
		}
		if d.State == nil || !reflect.DeepEqual(d.State, f.states[n]) {
			t.Errorf("DUMP %s state = %#v, want %q", n, d.State, f.states[n])
		}
	}
}

func TestAdminJSON(t *testing.T) {
	f := newAdminFixture(t)
	a := dialAdmin(t, f.srv)
	a.setJSON()

	clientObj := func(n string) map[string]any {
		at, entries, keys, lines, bytes, errs := f.info(t, n)
		return map[string]any{
			"name": n, "connectedAt": json.Number(strconv.FormatInt(at, 10)), "addr": f.clients[n].addr(),
			"entries": jsonNum(entries), "keys": jsonNum(keys), "lines": jsonNum(lines), "bytes": jsonNum(bytes),
			"truncated": jsonNum(0), "errors": jsonNum(errs), "lastError": f.last[n],
			"status": "connected", "closedAt": jsonNum(0), "closeReason": "", "reconnects": jsonNum(0),
		}
	}
	check := func(t *testing.T, req string, want any) {
		t.Helper()
		var got any
		a.json(req, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", req, got, want)
		}
	}
	t.Run("PING", func(t *testing.T) { check(t, "PING", "PONG") })
	t.Run("HELP", func(t *testing.T) {
		var got []string
		a.json("HELP", &got)
		if len(got) != len(helpWords) {
			t.Fatalf("HELP has %d entries: %q", len(got), got)
		}
		for i, w := range helpWords {
			if word, _, _ := strings.Cut(got[i], " "); word != w {
				t.Errorf("HELP[%d] = %q, want it to describe %s", i, got[i], w)
			}
		}
	})
	t.Run("NAMES", func(t *testing.T) {
		want := make([]any, len(f.names))
		for i, n := range f.names {
			want[i] = n
		}
		check(t, "NAMES", want)
	})
	t.Run("CLIENTS", func(t *testing.T) {
		var want []any
		for _, n := range f.names {
			want = append(want, clientObj(n))
		}
		check(t, "CLIENTS", want)
	})
	t.Run("CLIENT", func(t *testing.T) {
		for _, n := range f.names {
			check(t, "CLIENT "+n, clientObj(n))
		}
	})
	t.Run("LOG", func(t *testing.T) {
		for _, n := range f.names {
			l := f.wantLog(t, n)
			for _, count := range []int{-1, 0, 1, 2, 100} {
				req, sub := "LOG "+n, l
				if count >= 0 {
					req += " " + strconv.Itoa(count)
					sub = l[max(0, len(l)-count):]
				}
				want := []any{}
				for _, e := range sub {
					want = append(want, []any{json.Number(strconv.FormatInt(e.Time.UnixMilli(), 10)), e.Message})
				}
				check(t, req, want)
			}
		}
	})
	t.Run("STATE", func(t *testing.T) {
		for _, n := range f.names {
			want := map[string]any{}
			for k, v := range f.states[n] {
				want[k] = v
			}
			check(t, "STATE "+n, want)
		}
	})
	t.Run("STATS", func(t *testing.T) {
		var got map[string]any
		a.json("STATS", &got)
		text := dialAdmin(t, f.srv).stats()
		for _, k := range statsKeys {
			v, ok := got[k]
			if !ok {
				t.Errorf("STATS lacks %s", k)
				continue
			}
			if k == "version" {
				if v != loop.Version {
					t.Errorf("version = %#v", v)
				}
				continue
			}
			num, ok := v.(json.Number)
			if !ok {
				t.Errorf("STATS %s = %#v, want a number", k, v)
				continue
			}
			// Counters that cannot move between the two requests agree with text.
			switch k {
			case "clients", "clients_total", "lines_total", "bytes_total", "errors_total", "truncated_total", "rejected_total":
				if num.String() != text[k] {
					t.Errorf("STATS %s: JSON %s, text %s", k, num, text[k])
				}
			}
		}
		if len(got) != len(text) {
			t.Errorf("JSON STATS has %d fields, text %d", len(got), len(text))
		}
	})
	t.Run("DUMP", func(t *testing.T) {
		f.checkDump(t, a.jsonLine("DUMP"))
	})
	t.Run("FORMAT json again", func(t *testing.T) { check(t, "FORMAT json", map[string]any{"ok": true}) })
	t.Run("FORMAT text", func(t *testing.T) {
		a.write("FORMAT text\n")
		if got := a.reply(); !slices.Equal(got, []string{"OK 0"}) {
			t.Errorf("got %q, want [OK 0]", got)
		}
		if got := a.text("PING"); !slices.Equal(got, []string{"PONG"}) {
			t.Errorf("after FORMAT text, PING = %q", got)
		}
		a.setJSON()
	})
	t.Run("QUIT", func(t *testing.T) {
		q := dialAdmin(t, f.srv)
		q.write("FORMAT json\nQUIT\nPING\n")
		if got := readToClose(t, q.conn, replyTimeout); got != "{\"ok\":true}\n{\"ok\":true}\n" {
			t.Errorf("got %q, want {\"ok\":true} twice then close", got)
		}
	})
}

// Errors in both formats; the connection stays usable after each.
func TestAdminErrors(t *testing.T) {
	f := newAdminFixture(t)
	for _, tc := range []struct{ req, reason string }{
		{"CLIENT x", "no such client: x"},
		{"LOG x", "no such client: x"},
		{"LOG x 3", "no such client: x"},
		{"STATE x", "no such client: x"},
		{"CLIENT ALICE", "no such client: ALICE"},
		{"FOO", `unknown command "FOO"`},
		{"foo bar", `unknown command "foo"`},
		{"CLIENTSX", `unknown command "CLIENTSX"`},
		{"IAM bob", `unknown command "IAM"`},
		{"CLIENT", "usage: CLIENT <name>"},
		{"CLIENT alice bob", "usage: CLIENT <name>"},
		{"STATE", "usage: STATE <name>"},
		{"STATE a b", "usage: STATE <name>"},
		{"LOG", "usage: LOG <name> [<n>]"},
		{"LOG alice x", "usage: LOG <name> [<n>]"},
		{"LOG alice -1", "usage: LOG <name> [<n>]"},
		{"LOG alice +1", "usage: LOG <name> [<n>]"},
		{"LOG alice 1.5", "usage: LOG <name> [<n>]"},
		{"LOG alice 1 2", "usage: LOG <name> [<n>]"},
		{"LOG alice 99999999999999999999999", "usage: LOG <name> [<n>]"},
		{"FORMAT", "usage: FORMAT json|text"},
		{"FORMAT xml", "usage: FORMAT json|text"},
		{"FORMAT json text", "usage: FORMAT json|text"},
		{"PING now", "usage: PING"},
		{"HELP me", "usage: HELP"},
		{"NAMES x", "usage: NAMES"},
		{"CLIENTS x y", "usage: CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]"},
		{"CLIENTS closed=1 all=1", "usage: CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]"},
		{"STATS x", "usage: STATS"},
		{"DUMP x", "usage: DUMP"},
		{"QUIT now", "usage: QUIT"},
	} {
		t.Run(tc.req, func(t *testing.T) {
			a := dialAdmin(t, f.srv)
			if got := a.textErr(tc.req); got != tc.reason {
				t.Errorf("text: ERR %s, want ERR %s", got, tc.reason)
			}
			if got := a.text("PING"); !slices.Equal(got, []string{"PONG"}) {
				t.Errorf("after the error, PING = %q", got)
			}
			a.setJSON()
			var got map[string]any
			a.json(tc.req, &got)
			if want := map[string]any{"error": tc.reason}; !reflect.DeepEqual(got, want) {
				t.Errorf("JSON: %#v, want %#v", got, want)
			}
			var pong string
			if a.json("PING", &pong); pong != "PONG" {
				t.Errorf("after the error, PING = %q", pong)
			}
			a.conn.Close()
		})
	}
}

// Command words in any case; arguments keep theirs.
func TestAdminCaseInsensitive(t *testing.T) {
	f := newAdminFixture(t)
	a := dialAdmin(t, f.srv)
	for _, tc := range []struct{ req, same string }{
		{"ping", "PING"}, {"Ping", "PING"},
		{"names", "NAMES"}, {"nAmEs", "NAMES"},
		{"clients", "CLIENTS"},
		{"client alice", "CLIENT alice"},
		{"log alice 1", "LOG alice 1"},
		{"state alice", "STATE alice"},
		{"Help", "HELP"},
		{"  \tPING\t ", "PING"},
		{"LOG\talice\t\t2", "LOG alice 2"},
	} {
		got, want := a.text(tc.req), a.text(tc.same)
		if !slices.Equal(got, want) {
			t.Errorf("%q = %q, want as %q: %q", tc.req, got, tc.same, want)
		}
	}
	// FORMAT's argument is case-insensitive too.
	if got := string(a.jsonLine("format JSON")); got != `{"ok":true}` {
		t.Errorf("format JSON: %s", got)
	}
	a.write("Format Text\n")
	if got := a.reply(); !slices.Equal(got, []string{"OK 0"}) {
		t.Errorf("Format Text: %q", got)
	}
	// Blank request lines get no reply.
	a.write("\n   \n\t\nPING\n")
	if got := a.reply(); !slices.Equal(got, []string{"OK 1", "PONG"}) {
		t.Errorf("after blank lines: %q, want PING's reply alone", got)
	}
}

// A request line over 4096 bytes gets ERR line too long, after the replies
// already owed, and the connection closes; 4096 bytes is fine.
func TestAdminLineTooLong(t *testing.T) {
	srv := startServer(t, nil)
	a := dialAdmin(t, srv)
	exact := "PING" + strings.Repeat(" ", 4096-4)
	if got := a.text(exact); !slices.Equal(got, []string{"PONG"}) {
		t.Fatalf("a 4096-byte request: %q", got)
	}
	exactCRLF := exact + "\r"
	if got := a.text(exactCRLF); !slices.Equal(got, []string{"PONG"}) {
		t.Fatalf("a 4096-byte request + CRLF: %q", got)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			a := dialAdmin(t, srv)
			want := "OK 1\nPONG\nERR line too long\n"
			if format == "json" {
				a.setJSON()
				want = "\"PONG\"\n{\"error\":\"line too long\"}\n"
			}
			a.write("PING\n" + exact + " \nPING\n")
			a.conn.CloseWrite()
			a.conn.SetReadDeadline(time.Now().Add(replyTimeout))
			got, err := io.ReadAll(a.r)
			if err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("got %q, want %q then close", got, want)
			}
		})
	}
	t.Run("without newline", func(t *testing.T) {
		a := dialAdmin(t, srv)
		a.write(strings.Repeat("x", 10000))
		if got := readToClose(t, a.conn, replyTimeout); got != "ERR line too long\n" {
			t.Errorf("got %q", got)
		}
	})
}

// TestWatchSmoke: WATCH answers "OK stream", then one line per event.
func TestWatchSmoke(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			srv := startServer(t, nil)
			a := dialAdmin(t, srv)
			if format == "json" {
				a.setJSON()
			}
			a.write("WATCH bob\n")
			start := a.line()
			wantStart := map[string]string{"text": "OK stream", "json": `{"stream":true}`}[format]
			if start != wantStart {
				t.Fatalf("WATCH: %q, want %q", start, wantStart)
			}
			// The watcher is registered once the server counts it.
			eventually(t, replyTimeout, "the watcher", func() (bool, string) {
				st, err := srv.Stats(context.Background())
				return err == nil && st.Watchers == 1, fmt.Sprint(st.Watchers, err)
			})
			connect(t, srv, "other") // not watched
			bob := connect(t, srv, "bob")
			bob.send("LOG hello  there\nSET k v w\n")
			bob.sync()
			bob.conn.Close()
			wantText := []string{"READY bob", "LOG bob hello  there", "SET bob k v w", "CLOSE bob eof"}
			wantJSON := []map[string]any{
				{"event": "ready", "client": "bob"},
				{"event": "log", "client": "bob", "message": "hello  there"},
				{"event": "set", "client": "bob", "key": "k", "value": "v w"},
				{"event": "close", "client": "bob", "reason": "eof"},
			}
			for i := range wantText {
				l := a.line()
				if format == "text" {
					ts, rest, _ := strings.Cut(l, " ")
					parseTextTime(t, ts)
					if rest != wantText[i] {
						t.Errorf("event %d = %q, want %q", i, rest, wantText[i])
					}
					continue
				}
				var ev map[string]any
				decodeJSON(t, []byte(l), &ev)
				if _, ok := ev["ts"].(json.Number); !ok {
					t.Errorf("event %d has no numeric ts: %s", i, l)
				}
				delete(ev, "ts")
				for k, v := range ev { // absent and "" are the same for the optional fields
					if v == "" {
						delete(ev, k)
					}
				}
				if !reflect.DeepEqual(ev, wantJSON[i]) {
					t.Errorf("event %d = %s, want %v", i, l, wantJSON[i])
				}
			}
			a.conn.Close()
			eventually(t, replyTimeout, "the watcher to go", func() (bool, string) {
				st, err := srv.Stats(context.Background())
				return err == nil && st.Watchers == 0, fmt.Sprint(st.Watchers, err)
			})
		})
	}
}

// TestAdminConnections: STATS admin_connections follows admin connections
// as they open and close, and one over max-admin is refused.
func TestAdminConnections(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.MaxAdmin = 2 })
	adminCount := func(want int) {
		t.Helper()
		eventually(t, replyTimeout, fmt.Sprintf("%d admin connections", want), func() (bool, string) {
			st, err := srv.Stats(context.Background())
			return err == nil && st.AdminConnections == want, fmt.Sprint(st.AdminConnections, err)
		})
	}
	a := dialAdmin(t, srv)
	b := dialAdmin(t, srv)
	// A dial returns once the kernel has the connection; the server counts
	// it when it accepts it.
	eventually(t, replyTimeout, "admin_connections 2", func() (bool, string) {
		got := a.stats()["admin_connections"]
		return got == "2", got
	})
	c := dialAdmin(t, srv)
	if got := readToClose(t, c.conn, replyTimeout); got != "ERR too many admin connections\n" {
		t.Errorf("third admin connection: %q", got)
	}
	b.write("QUIT\n")
	readToClose(t, b.conn, replyTimeout)
	adminCount(1)
	d := dialAdmin(t, srv)
	if got := d.text("PING"); !slices.Equal(got, []string{"PONG"}) {
		t.Errorf("a new admin connection after one left: %q", got)
	}
	a.conn.Close()
	d.conn.Close()
	adminCount(0)
}
