package loop_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logatron/logatron/loop"
)

// logCases are data-port lines after IAM and the message each stores (nil:
// stores nothing); errs counts the non-fatal errors they cause.
var logCases = []struct {
	line string
	want *string
	errs int
}{
	{"LOG hello world", ptr("hello world"), 0},
	{"LOG    run of spaces   inside  kept   ", ptr("run of spaces   inside  kept"), 0},
	{"LOG\t\ttabs\tinside\t\t", ptr("tabs\tinside"), 0},
	{"LOG \t \t mixed run \t ", ptr("mixed run"), 0},
	{"LOG", ptr(""), 0},
	{"LOG   \t  ", ptr(""), 0},
	{"log lower case", ptr("lower case"), 0},
	{"Log Mixed Case", ptr("Mixed Case"), 0},
	{"lOg odd case", ptr("odd case"), 0},
	{"LOG crlf line\r", ptr("crlf line"), 0}, // sent as "...\r\n"
	{"LOG lone \r inside", ptr("lone \r inside"), 0},
	{"   \tLOG leading blanks", ptr("leading blanks"), 0},
	{"LOG IAM SET LOG are just words", ptr("IAM SET LOG are just words"), 0},
	{"LOG unicode: h\u00e9llo \u20ac \U0001F600", ptr("unicode: h\u00e9llo \u20ac \U0001F600"), 0},
	{"LOG \"quotes\" and \\backslash\\ and {json}", ptr("\"quotes\" and \\backslash\\ and {json}"), 0},
	{"", nil, 0},
	{"   ", nil, 0},
	{"\t \t", nil, 0},
	{"\r", nil, 0},
	{"LOGX glued word", nil, 1},
	{"LOG- not log", nil, 1},
	{"LOG last one", ptr("last one"), 0},
}

func ptr(s string) *string { return &s }

// TestLogMessages sends every line of logCases and checks what the ring
// holds, with the lines delivered in one write, one write per line, and one
// write per byte.
func TestLogMessages(t *testing.T) {
	var all strings.Builder
	var want []string
	errs := 0
	for _, c := range logCases {
		all.WriteString(c.line + "\n")
		if c.want != nil {
			want = append(want, *c.want)
		}
		errs += c.errs
	}
	srv := startServer(t, nil)
	for _, mode := range []struct {
		name  string
		split func(string) []string
	}{
		{"one write", func(s string) []string { return []string{s} }},
		{"one write per line", func(s string) []string { return strings.SplitAfter(s, "\n") }},
		{"one write per byte", func(s string) []string { return strings.Split(s, "") }},
		{"writes cutting CRLF", func(s string) []string { return strings.SplitAfter(s, "\r") }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			name := strings.ReplaceAll(mode.name, " ", "_")
			c := connect(t, srv, name)
			for _, part := range mode.split(all.String()) {
				c.send(part)
			}
			c.sync()
			got := logMessages(t, srv, name)
			if !slices.Equal(got, want) {
				t.Errorf("log:\n got %q\nwant %q", got, want)
			}
			info, err := srv.ClientInfo(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Lines != uint64(len(want)) || info.Errors != uint64(errs) || info.Truncated != 0 {
				t.Errorf("lines=%d errors=%d truncated=%d, want %d %d 0", info.Lines, info.Errors, info.Truncated, len(want), errs)
			}
			if info.Bytes != uint64(c.sent) {
				t.Errorf("bytes=%d, want %d", info.Bytes, c.sent)
			}
		})
	}
}

// TestLogTimestamps: each entry carries the server's receive time.
func TestLogTimestamps(t *testing.T) {
	srv := startServer(t, nil)
	c := connect(t, srv, "bob")
	lo := nowMS()
	c.send("LOG one\n")
	c.sync()
	mid := nowMS()
	c.send("LOG two\n")
	c.sync()
	hi := nowMS()
	l, err := srv.ClientLog(context.Background(), "bob", loop.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 {
		t.Fatalf("log has %d entries, want 2", len(l))
	}
	inWindow(t, "first entry", l[0].Time.UnixMilli(), lo, mid)
	inWindow(t, "second entry", l[1].Time.UnixMilli(), mid, hi)
}

func TestSet(t *testing.T) {
	srv := startServer(t, nil)
	c := connect(t, srv, "bob")
	key64 := strings.Repeat("k", 64)
	c.send(strings.Join([]string{
		"SET temp 21 C",
		"SET  spaced   a  b   c  \t ",
		"SET\ttabbed\tv\tw\t",
		"SET crlf value\r",
		"set lower x",
		"Set Mixed_Case_9 y",
		"SET " + key64 + " long key",
		"SET temp 22",              // overwrite
		"SET same v", "SET same v", // same value twice: not an error
		"SET uni h\u00e9llo \u20ac", // non-ASCII value
		"SET json \"q\" \\ {x}",     // characters JSON escapes
		"SET",                       // malformed: no key
		"SET novalue",               // malformed: no value
		"SET novalue2   \t ",        // malformed: blank value
		"SET bad/key v",             // invalid key
		"SET " + key64 + "x v",      // 65-byte key
		"SET k\u00e9y v",            // non-ASCII key
		"IAM bob",                   // second IAM
		"IAM other",                 // second IAM, another name
		"FOO bar",                   // unknown command
	}, "\n") + "\n")
	c.sync()
	want := map[string]string{
		"temp": "22", "spaced": "a  b   c", "tabbed": "v\tw", "crlf": "value",
		"lower": "x", "Mixed_Case_9": "y", key64: "long key", "same": "v",
		"uni": "h\u00e9llo \u20ac", "json": "\"q\" \\ {x}",
	}
	got, err := srv.ClientState(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("state:\n got %q\nwant %q", got, want)
	}
	a := dialAdmin(t, srv)
	a.setJSON()
	var state map[string]string
	a.json("STATE bob", &state)
	if !maps.Equal(state, want) {
		t.Errorf("STATE bob (JSON):\n got %q\nwant %q", state, want)
	}
	var info map[string]any
	a.json("CLIENT bob", &info)
	if info["errors"] != jsonNum(9) || info["keys"] != jsonNum(len(want)) || info["lastError"] != `unknown command "FOO"` {
		t.Errorf("CLIENT bob: errors=%v keys=%v lastError=%v, want 9, %d, unknown command \"FOO\"", info["errors"], info["keys"], info["lastError"], len(want))
	}
	if info["name"] != "bob" {
		t.Errorf("a second IAM renamed the client: %v", info["name"])
	}
	if info["lines"] != jsonNum(0) || info["entries"] != jsonNum(0) {
		t.Errorf("SET lines counted as LOG lines: %v", info)
	}
}

// Each non-fatal error is counted and becomes last_error; the connection stays.
func TestDataErrors(t *testing.T) {
	// Every case reconnects as "c": with retention off, each starts afresh.
	srv := startServer(t, func(c *loop.Config) { c.MaxKeys, c.MaxLine, c.Retain = 2, 64, 0 })
	a := dialAdmin(t, srv)
	for i, tc := range []struct {
		line, lastError string
	}{
		{"FOO", `unknown command "FOO"`},
		{"foo bar baz", `unknown command "foo"`},
		{"LOGX", `unknown command "LOGX"`},
		{"IAM again", "already identified as c"},
		{"SET", "usage: SET <key> <value>"},
		{"SET k", "usage: SET <key> <value>"},
		{"SET bad/key v", "usage: SET <key> <value>"},
		{"SET k3 v", "too many keys: max-keys is 2"},
		{"SET k4 " + strings.Repeat("v", 60), "line too long: SET rejected"},
	} {
		t.Run(tc.line[:min(len(tc.line), 12)], func(t *testing.T) {
			name := "c"
			c := connect(t, srv, name)
			// Fill max-keys so that a new key is over it; updating one is fine.
			c.send("SET k1 v\nSET k2 v\nSET k1 w\n" + tc.line + "\nLOG after\n")
			c.sync()
			info := a.kv("CLIENT c")
			if info["errors"] != "1" || info["last_error"] != tc.lastError {
				t.Errorf("errors=%s last_error=%q, want 1 and %q", info["errors"], info["last_error"], tc.lastError)
			}
			if got := logMessages(t, srv, name); !slices.Equal(got, []string{"after"}) {
				t.Errorf("the line after the error: log %q, want [after]", got)
			}
			if st, _ := srv.ClientState(context.Background(), name); !maps.Equal(st, map[string]string{"k1": "w", "k2": "v"}) {
				t.Errorf("state = %q", st)
			}
			if got := a.stats()["errors_total"]; got != strconv.Itoa(i+1) {
				t.Errorf("errors_total = %s, want %d", got, i+1)
			}
			c.conn.Close()
			eventually(t, replyTimeout, "c to go", func() (bool, string) {
				n := a.text("NAMES")
				return len(n) == 0, strings.Join(n, ",")
			})
		})
	}
}

// Text mode prints "-" for an empty last_error, JSON "".
func TestLastErrorEmpty(t *testing.T) {
	srv := startServer(t, nil)
	connect(t, srv, "bob")
	a := dialAdmin(t, srv)
	if got := a.kv("CLIENT bob")["last_error"]; got != "-" {
		t.Errorf("text last_error = %q, want -", got)
	}
	a.setJSON()
	var info map[string]any
	a.json("CLIENT bob", &info)
	if v, ok := info["lastError"]; !ok || v != "" {
		t.Errorf("JSON lastError = %#v, want \"\"", v)
	}
}

func TestRingEvictionByCount(t *testing.T) {
	const buffer = 4
	srv := startServer(t, func(c *loop.Config) { c.Buffer = buffer })
	c := connect(t, srv, "bob")
	var sent []string
	for i := range 10 {
		m := "m" + strconv.Itoa(i)
		sent = append(sent, m)
		c.send("LOG " + m + "\n")
	}
	c.sync()
	a := dialAdmin(t, srv)
	for _, tc := range []struct {
		req  string
		want []string
	}{
		{"LOG bob", sent[len(sent)-buffer:]},
		{"LOG bob 100", sent[len(sent)-buffer:]},
		{"LOG bob 4", sent[len(sent)-4:]},
		{"LOG bob 2", sent[len(sent)-2:]},
		{"LOG bob 1", sent[len(sent)-1:]},
		{"LOG bob 0", nil},
		{"LOG bob 000", nil},
		{"log bob 03", sent[len(sent)-3:]},
	} {
		lines := a.text(tc.req)
		var got []string
		for _, l := range lines {
			ts, msg, _ := strings.Cut(l, " ")
			parseTextTime(t, ts)
			got = append(got, msg)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.req, got, tc.want)
		}
	}
	if got := a.kv("CLIENT bob"); got["entries"] != strconv.Itoa(buffer) || got["lines"] != "10" {
		t.Errorf("entries=%s lines=%s, want %d and 10", got["entries"], got["lines"], buffer)
	}
}

func TestRingEvictionByBytes(t *testing.T) {
	t.Run("equal sizes", func(t *testing.T) {
		// 10-byte messages and a 100-byte cap: exactly the last 10 stay.
		srv := startServer(t, func(c *loop.Config) { c.BufferBytes = 100; c.Buffer = 1000 })
		c := connect(t, srv, "bob")
		var sent []string
		for i := range 25 {
			m := fmt.Sprintf("message%03d", i)
			sent = append(sent, m)
			c.send("LOG " + m + "\n")
		}
		c.sync()
		if got := logMessages(t, srv, "bob"); !slices.Equal(got, sent[15:]) {
			t.Errorf("log = %q, want %q", got, sent[15:])
		}
	})
	t.Run("mixed sizes", func(t *testing.T) {
		const byteCap = 300
		srv := startServer(t, func(c *loop.Config) { c.BufferBytes = byteCap; c.Buffer = 1000 })
		c := connect(t, srv, "bob")
		var sent []string
		largest := 0
		for i := range 60 {
			m := fmt.Sprintf("%02d:", i) + strings.Repeat("x", (i*37)%50)
			largest = max(largest, len(m))
			sent = append(sent, m)
			c.send("LOG " + m + "\n")
		}
		c.sync()
		got := logMessages(t, srv, "bob")
		if len(got) == 0 || !slices.Equal(got, sent[len(sent)-len(got):]) {
			t.Fatalf("log is not the newest entries, oldest first: %q", got)
		}
		total := 0
		for _, m := range got {
			total += len(m)
		}
		// The ring stores messages contiguously, so it may drop an entry a
		// little early (README), but never holds more than the cap.
		if total > byteCap || total < byteCap-2*largest {
			t.Errorf("ring holds %d message bytes, want within (%d-2*%d, %d]", total, byteCap, largest, byteCap)
		}
	})
}

// TestTruncation: a LOG line over max-line is stored cut at max-line bytes
// on a UTF-8 boundary, counted, and the rest of the line is discarded.
func TestTruncation(t *testing.T) {
	const maxLine = 32
	// Every case reconnects as "c": with retention off, each starts afresh.
	srv := startServer(t, func(c *loop.Config) { c.MaxLine, c.Retain = maxLine, 0 })
	longLines := 0
	type tcase struct {
		desc, msg string
		long      bool
		chunk     int // bytes per write
	}
	var cases []tcase
	for _, tc := range []tcase{
		{desc: "ascii", msg: strings.Repeat("a", 40), long: true},
		{desc: "exactly max-line", msg: strings.Repeat("b", maxLine-4)},
		{desc: "exactly max-line, CRLF", msg: strings.Repeat("b", maxLine-4) + "\r"},
		{desc: "one over", msg: strings.Repeat("c", maxLine-3), long: true},
		{desc: "CR one over", msg: strings.Repeat("c", maxLine-4) + "\rX", long: true},
		{desc: "2-byte runes, cut inside", msg: "a" + strings.Repeat("\u00e9", 20), long: true},
		{desc: "2-byte runes, cut between", msg: strings.Repeat("\u00e9", 20), long: true},
		{desc: "3-byte runes, cut after 1", msg: "a" + strings.Repeat("\u20ac", 12), long: true},
		{desc: "3-byte runes, cut after 2", msg: "ab" + strings.Repeat("\u20ac", 12), long: true},
		{desc: "4-byte runes, cut after 1", msg: "a" + strings.Repeat("\U0001F600", 8), long: true},
		{desc: "4-byte runes, cut after 2", msg: "ab" + strings.Repeat("\U0001F600", 8), long: true},
		{desc: "4-byte runes, cut after 3", msg: "abc" + strings.Repeat("\U0001F600", 8), long: true},
		{desc: "very long tail", msg: "d" + strings.Repeat("\u20ac", 30000), long: true},
	} {
		// Each line in 1000-byte writes, and the short ones also in
		// 3-byte writes, so the cut falls in a line spanning reads.
		for _, chunk := range []int{1000, 3} {
			if chunk < 1000 && len(tc.msg) > 200 {
				continue
			}
			tc.chunk = chunk
			cases = append(cases, tc)
		}
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d-byte writes", tc.desc, tc.chunk), func(t *testing.T) {
			c := connect(t, srv, "c")
			defer c.conn.Close()
			line := "LOG " + tc.msg
			want := strings.TrimSuffix(tc.msg, "\r")
			if tc.long {
				longLines++
				// The longest prefix of the line within max-line that is
				// whole UTF-8, less "LOG ".
				cut := line[:maxLine]
				for !utf8.ValidString(cut) {
					cut = cut[:len(cut)-1]
				}
				want = cut[4:]
			}
			// The long line goes in pieces, then a normal line: the rest of
			// the long line must be discarded and the next one processed.
			for i := 0; i < len(line); i += tc.chunk {
				c.send(line[i:min(i+tc.chunk, len(line))])
			}
			c.send("\nLOG next\nSET k " + strings.Repeat("v", maxLine) + "\nSET k2 ok\n")
			c.sync()
			got := logMessages(t, srv, "c")
			if !slices.Equal(got, []string{want, "next"}) {
				t.Errorf("log = %q, want [%q next]", got, want)
			}
			if len(got) > 0 && (len(got[0]) > maxLine || !utf8.ValidString(got[0])) {
				t.Errorf("stored %d bytes (valid UTF-8: %v), want <= %d, valid", len(got[0]), utf8.ValidString(got[0]), maxLine)
			}
			info, err := srv.ClientInfo(context.Background(), "c")
			if err != nil {
				t.Fatal(err)
			}
			wantTrunc := uint64(0)
			if tc.long {
				wantTrunc = 1
			}
			// The over-long SET is an error; the SET after it works.
			if info.Truncated != wantTrunc || info.Lines != 2 || info.Errors != 1 || info.LastError != "line too long: SET rejected" {
				t.Errorf("truncated=%d lines=%d errors=%d last_error=%q, want %d 2 1 %q",
					info.Truncated, info.Lines, info.Errors, info.LastError, wantTrunc, "line too long: SET rejected")
			}
			if st, _ := srv.ClientState(context.Background(), "c"); !maps.Equal(st, map[string]string{"k2": "ok"}) {
				t.Errorf("state = %q, want only k2", st)
			}
			c.conn.Close()
			eventually(t, replyTimeout, "c to go", func() (bool, string) {
				n, _ := srv.ClientNames(context.Background())
				return len(n) == 0, strings.Join(n, ",")
			})
		})
	}
	a := dialAdmin(t, srv)
	if got := a.stats()["truncated_total"]; got != strconv.Itoa(longLines) {
		t.Errorf("truncated_total = %s, want %d", got, longLines)
	}
}

// TestInvalidUTF8: invalid bytes in messages and values are stored as
// U+FFFD, and every reply stays valid UTF-8 and valid JSON.
func TestInvalidUTF8(t *testing.T) {
	srv := startServer(t, nil)
	c := connect(t, srv, "bob")
	raws := []string{
		"a\xffb",
		"\xff\xfe\xfd",
		"trailing \xc3",
		"surrogate \xed\xa0\x80 half",
		"cut \xe2\x82 three",
		"overlong \xc0\xaf",
		"\xf4\x90\x80\x80 above U+10FFFF",
		"valid \u00e9 then \x80",
	}
	for _, r := range raws {
		c.send("LOG " + r + "\n")
	}
	c.send("SET k v\xffw\nSET k2 \xe2\x82\n")
	c.sync()

	got := logMessages(t, srv, "bob")
	if len(got) != len(raws) {
		t.Fatalf("log has %d entries, want %d", len(got), len(raws))
	}
	for i, r := range raws {
		if !repaired(got[i], r) {
			t.Errorf("LOG %q stored as %q, want invalid bytes as U+FFFD", r, got[i])
		}
	}
	st, _ := srv.ClientState(context.Background(), "bob")
	if !repaired(st["k"], "v\xffw") || !repaired(st["k2"], "\xe2\x82") {
		t.Errorf("state = %q", st)
	}

	a := dialAdmin(t, srv)
	for _, req := range []string{"LOG bob", "STATE bob", "DUMP", "CLIENTS", "CLIENT bob"} {
		a.text(req) // a.line checks each line is valid UTF-8
	}
	a.setJSON()
	for _, req := range []string{"LOG bob", "STATE bob", "DUMP", "CLIENTS", "CLIENT bob"} {
		a.jsonLine(req) // checks valid UTF-8 and valid JSON
	}
}

// repaired reports whether got is raw with its invalid bytes replaced by
// U+FFFD, one per run of invalid bytes or one per byte (the spec allows both).
func repaired(got, raw string) bool {
	perRun := strings.ToValidUTF8(raw, "\uFFFD")
	var perByte strings.Builder
	for _, r := range raw { // range yields U+FFFD per invalid byte
		perByte.WriteRune(r)
	}
	return got == perRun || got == perByte.String()
}

// TestCounters checks each client counter and the server totals, closed
// clients included.
func TestCounters(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.MaxLine = 32 })
	a := dialAdmin(t, srv)

	alice := dialData(t, srv)
	alice.name = "alice"
	// The IAM line, blank lines, errors and the discarded tail of a long
	// line all count in bytes.
	alice.send("\r\nIAM alice\r\nLOG one\n\n  \nSET k v\nFOO\nLOG " + strings.Repeat("x", 100) + "\nIAM alice\nSET bad\nLOG\n")
	alice.sync()
	bob := connect(t, srv, "bob")
	bob.send("LOG b1\nLOG b2\nLOG b3\n")
	bob.sync()

	want := map[string]string{"lines": "3", "bytes": strconv.Itoa(alice.sent), "errors": "3", "truncated": "1", "entries": "3", "keys": "1"}
	got := a.kv("CLIENT alice")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("CLIENT alice: %s = %s, want %s", k, got[k], v)
		}
	}

	// Two rejected connections.
	for _, line := range []string{"HELLO\n", "IAM bob\n"} {
		r := dialData(t, srv)
		r.send(line)
		readToClose(t, r.conn, replyTimeout)
	}
	// alice leaves; her counts stay in the totals.
	alice.conn.Close()
	eventually(t, replyTimeout, "alice to go", func() (bool, string) {
		n := a.text("NAMES")
		return slices.Equal(n, []string{"bob"}), strings.Join(n, ",")
	})
	st := a.stats()
	for k, v := range map[string]int{
		"clients":         1,
		"clients_total":   2,
		"rejected_total":  2,
		"lines_total":     3 + 3,
		"bytes_total":     alice.sent + bob.sent,
		"errors_total":    3,
		"truncated_total": 1,
	} {
		if st[k] != strconv.Itoa(v) {
			t.Errorf("STATS %s = %s, want %d", k, st[k], v)
		}
	}
}
