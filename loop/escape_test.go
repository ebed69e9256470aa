package loop_test

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logatron/logatron/loop"
)

// Tests of the text escaping of SPEC §2 and of CONT (§1, §6).

// escapedForm reports whether got is raw as a text reply must print it:
// newline as \n, carriage return as \r, every other C0 control but tab
// and DEL as \xHH, a C1 control as \xHH, \xc2\xHH or \u00HH (hex in
// either case), and everything else as it is. raw must hold no backslash
// (how one prints is not fixed by the spec).
func escapedForm(raw, got string) bool {
	for _, r := range raw {
		var forms []string
		switch {
		case r == '\n':
			forms = []string{`\n`}
		case r == '\r':
			forms = []string{`\r`}
		case r < 0x20 && r != '\t' || r == 0x7f:
			forms = []string{fmt.Sprintf(`\x%02x`, r)}
		case r >= 0x80 && r <= 0x9f:
			forms = []string{fmt.Sprintf(`\x%02x`, r), fmt.Sprintf(`\xc2\x%02x`, r), fmt.Sprintf(`\u%04x`, r)}
		default:
			forms = []string{string(r)}
		}
		n := 0
		for _, f := range forms {
			if hasEscape(got, f) {
				n = len(f)
				break
			}
		}
		if n == 0 {
			return false
		}
		got = got[n:]
	}
	return got == ""
}

// hasEscape reports whether s starts with the escape f, whose hex digits
// may be in either case (its other bytes, \ x u n r, are not hex digits).
func hasEscape(s, f string) bool {
	if len(s) < len(f) {
		return false
	}
	for i := 0; i < len(f); i++ {
		if f[i] != s[i] && !(isHexDigit(f[i]) && strings.EqualFold(f[i:i+1], s[i:i+1])) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// checkNoControls fails when a text reply line carries a control
// character (tab excepted): C0, DEL or C1.
func checkNoControls(t testing.TB, where, line string) {
	t.Helper()
	for i, r := range line {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == utf8.RuneError {
			t.Errorf("%s: control character %U at byte %d of %q", where, r, i, line)
			return
		}
	}
}

// controlMessages are messages with each class of control character, as a
// client sends them after "LOG " and as the server stores them.
var controlMessages = []struct {
	desc, sent, stored string
}{
	{"CSI colour", "red \x1b[31mALERT\x1b[0m plain", ""},
	{"OSC title with BEL", "\x1b]0;pwned\x07 title set", ""},
	{"lone CR and a forged line", "ok\r2026-11-24T00:36:25.123Z forged line", ""},
	{"CR at the end, before CRLF", "trailing\r\r", "trailing\r"},
	{"DEL", "rub\x7fout", ""},
	{"C1 CSI (U+009B)", "c1 \u009b31m red", ""},
	{"C1 NEL (U+0085)", "next\u0085line", ""},
	{"NUL, BS, VT, FF", "a\x00b\x08c\x0bd\x0ce", ""},
	{"tab passes", "col1\tcol2", ""},
	{"all in one", "\x1b[2J\x1b]2;t\x07\r\x7f\u009b\x01", ""},
}

func storedForm(sent, stored string) string {
	if stored != "" {
		return stored
	}
	return sent
}

// TestEscapeControlCharacters: every control character a client sends
// prints escaped in every text reply (LOG, GREP, STATE, CLIENT's
// last_error, WATCH LOG and SET lines, an admin error), one entry one
// line; JSON carries the exact text.
func TestEscapeControlCharacters(t *testing.T) {
	srv := startServer(t, nil)
	text := openWatch(t, srv, false, "")
	js := openWatch(t, srv, true, "")
	a := dialAdmin(t, srv)
	aj := dialAdmin(t, srv)
	aj.setJSON()

	for i, tc := range controlMessages {
		t.Run(tc.desc, func(t *testing.T) {
			name := "esc-" + strconv.Itoa(i)
			want := storedForm(tc.sent, tc.stored)
			c := connect(t, srv, name)
			word := "BAD" + strings.NewReplacer("\n", "", " ", "", "\t", "").Replace(want)
			c.send("LOG " + tc.sent + "\nSET v " + tc.sent + "\n" + word + " arg\n")
			c.sync()

			// LOG: one line per entry.
			lines := a.text("LOG " + name)
			if len(lines) != 1 {
				t.Fatalf("LOG %s: %d lines, want 1: %q", name, len(lines), lines)
			}
			_, msg, _ := strings.Cut(lines[0], " ")
			checkNoControls(t, "LOG", lines[0])
			if !escapedForm(want, msg) {
				t.Errorf("LOG text %q, want %q escaped", msg, want)
			}
			if _, msgs := jsonLog(t, aj.jsonLine("LOG "+name)); !slices.Equal(msgs, []string{want}) {
				t.Errorf("LOG JSON %q, want %q", msgs, want)
			}

			// GREP: "<ts> <name> <message>".
			hits := a.text("GREP . clients=" + name)
			if len(hits) != 1 {
				t.Fatalf("GREP: %q, want one line", hits)
			}
			checkNoControls(t, "GREP", hits[0])
			if _, rest, _ := strings.Cut(hits[0], " "); !strings.HasPrefix(rest, name+" ") || !escapedForm(want, rest[len(name)+1:]) {
				t.Errorf("GREP text %q, want %s and %q escaped", rest, name, want)
			}
			var jhits [][]any
			aj.json("GREP . clients="+name, &jhits)
			if len(jhits) != 1 || len(jhits[0]) != 3 || jhits[0][2] != want {
				t.Errorf("GREP JSON %q, want the message %q", jhits, want)
			}

			// STATE: "<key> <value>"; the value is trimmed like a LOG message.
			val := strings.TrimRight(want, " \t")
			st := a.text("STATE " + name)
			if len(st) != 1 || !strings.HasPrefix(st[0], "v ") || !escapedForm(val, st[0][2:]) {
				t.Errorf("STATE text %q, want v and %q escaped", st, val)
			}
			if len(st) == 1 {
				checkNoControls(t, "STATE", st[0])
			}
			var state map[string]string
			aj.json("STATE "+name, &state)
			if state["v"] != val {
				t.Errorf("STATE JSON v = %q, want %q", state["v"], val)
			}

			// CLIENT: last_error echoes the unknown word.
			wantErr := `unknown command "` + word + `"`
			info := a.kv("CLIENT " + name)
			checkNoControls(t, "CLIENT last_error", info["last_error"])
			if !escapedForm(wantErr, info["last_error"]) {
				t.Errorf("CLIENT last_error %q, want %q escaped", info["last_error"], wantErr)
			}
			var obj map[string]any
			aj.json("CLIENT "+name, &obj)
			if obj["lastError"] != wantErr {
				t.Errorf("CLIENT JSON lastError %q, want %q", obj["lastError"], wantErr)
			}

			// WATCH: the LOG and SET lines.
			for _, r := range []*eventReader{text, js} {
				lg := r.nextOf("LOG", name)
				set := r.nextOf("SET", name)
				if r.json {
					if lg.Text != want || set.Text != "v "+val {
						t.Errorf("WATCH JSON: LOG %q SET %q, want %q and v %q", lg.Text, set.Text, want, val)
					}
					continue
				}
				checkNoControls(t, "WATCH LOG", lg.Raw)
				checkNoControls(t, "WATCH SET", set.Raw)
				if !escapedForm(want, lg.Text) || !escapedForm("v "+val, set.Text) {
					t.Errorf("WATCH text: LOG %q SET %q, want %q and v %q escaped", lg.Text, set.Text, want, val)
				}
			}

			// The admin port's own error echoes the word it did not know.
			aword := strings.NewReplacer("\n", "", "\r", "", " ", "", "\t", "").Replace("X" + want)
			reason := a.textErr(aword)
			checkNoControls(t, "admin ERR", reason)
			if w := `unknown command "` + aword + `"`; !escapedForm(w, reason) {
				t.Errorf("admin ERR %q, want %q escaped", reason, w)
			}
		})
	}
}

// TestEscapedFormChecker: the checker the escaping tests rely on accepts
// the escapes the spec allows and nothing raw.
func TestEscapedFormChecker(t *testing.T) {
	for _, tc := range []struct {
		raw, got string
		ok       bool
	}{
		{"a\x1bb", `a\x1bb`, true},
		{"a\x1bb", `a\x1Bb`, true},
		{"a\x1bb", "a\x1bb", false},
		{"a\rb", `a\rb`, true},
		{"a\rb", `a\x0db`, false},
		{"a\nb", `a\nb`, true},
		{"\u009b", `\x9b`, true},
		{"\u009b", `\xc2\x9b`, true},
		{"\u009b", `\u009b`, true},
		{"\u009b", `\u009B`, true},
		{"\u009b", "\u009b", false},
		{"x\ty", "x\ty", true},
		{"x\x7f", `x\x7f`, true},
		{"x\x7f", `x`, false},
		{"x", `x\x00`, false},
	} {
		if got := escapedForm(tc.raw, tc.got); got != tc.ok {
			t.Errorf("escapedForm(%q, %q) = %v, want %v", tc.raw, tc.got, got, tc.ok)
		}
	}
}

// goPanic is a Go panic as a program prints it: 40 lines. The first goes
// as LOG, the rest as CONT. (A leading tab would be trimmed like LOG's
// leading blanks, so the file lines here have none.)
func goPanic() []string {
	lines := []string{"panic: runtime error: index out of range [5] with length 3", "", "goroutine 1 [running]:"}
	for i := 0; len(lines) < 39; i++ {
		lines = append(lines, fmt.Sprintf("main.level%d(0xc000012345, 0x%x)", i, i*16), fmt.Sprintf("/src/app/level.go:%d +0x%x", 100+i, 0x1d+i))
	}
	return append(lines[:39], "exit status 2")
}

// TestCont: CONT continues the newest entry with "\n" and its text (or
// starts one), is counted in lines, is capped as LOG is, and is one CONT
// event carrying only the appended text. Each case runs with and without
// a watcher, since the server stores plain LOG lines differently when
// nobody watches.
func TestCont(t *testing.T) {
	trace := goPanic()
	if len(trace) != 40 {
		t.Fatalf("the trace has %d lines", len(trace))
	}
	x50, x60 := strings.Repeat("x", 50), strings.Repeat("x", 60)
	for _, tc := range []struct {
		desc      string
		maxLine   int      // 0: 64
		lines     []string // after IAM
		want      []string // the entries
		truncated int
		events    []string // the events after READY: "LOG <text>" or "CONT <text>", JSON form
	}{
		{"first line, no entry", 0, []string{"CONT orphan"}, []string{"orphan"}, 0, []string{"LOG orphan"}},
		{"after LOG", 0, []string{"LOG head", "CONT tail one", "cont \t tail two \t "},
			[]string{"head\ntail one\ntail two"}, 0, []string{"LOG head", "CONT tail one", "CONT tail two"}},
		{"empty CONT", 0, []string{"LOG head", "CONT", "CONT  \t"}, []string{"head\n\n"}, 0, []string{"LOG head", "CONT ", "CONT "}},
		{"leading blanks trimmed", 0, []string{"LOG a", "CONT \t\tindented"}, []string{"a\nindented"}, 0, []string{"LOG a", "CONT indented"}},
		{"the newest entry", 0, []string{"LOG a", "CONT b", "LOG c", "CONT d", "CONT e"},
			[]string{"a\nb", "c\nd\ne"}, 0, []string{"LOG a", "CONT b", "LOG c", "CONT d", "CONT e"}},
		{"past the cap", 0, []string{"LOG " + x50, "CONT " + strings.Repeat("y", 30), "CONT z"},
			[]string{x50 + "\n" + strings.Repeat("y", 13)}, 2, []string{"LOG " + x50, "CONT " + strings.Repeat("y", 13)}},
		{"cap on a rune boundary", 0, []string{"LOG " + x60, "CONT \u00e9\u00e9\u00e9"},
			[]string{x60 + "\n\u00e9"}, 1, []string{"LOG " + x60, "CONT \u00e9"}},
		{"CONT line over max-line", 0, []string{"LOG a", "CONT " + strings.Repeat("c", 100), "LOG next"},
			[]string{"a\n" + strings.Repeat("c", 59), "next"}, 1, []string{"LOG a", "CONT " + strings.Repeat("c", 59), "LOG next"}},
		{"a 40-line Go panic", 4096, append([]string{"LOG " + trace[0]}, prefixAll("CONT ", trace[1:])...),
			[]string{strings.Join(trace, "\n")}, 0, append([]string{"LOG " + trace[0]}, prefixAll("CONT ", trace[1:])...)},
	} {
		for _, watched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/watched=%v", tc.desc, watched), func(t *testing.T) {
				srv := startServer(t, func(c *loop.Config) { c.MaxLine = cmp.Or(tc.maxLine, 64) })
				var text, js *eventReader
				if watched {
					text = openWatch(t, srv, false, "")
					js = openWatch(t, srv, true, "")
				}
				c := connect(t, srv, "tracer")
				c.send(strings.Join(tc.lines, "\n") + "\n")
				c.sync()
				if got := logMessages(t, srv, "tracer"); !slices.Equal(got, tc.want) {
					t.Errorf("entries %q, want %q", got, tc.want)
				}
				ci, err := srv.ClientInfo(context.Background(), "tracer")
				if err != nil {
					t.Fatal(err)
				}
				if ci.Lines != uint64(len(tc.lines)) || ci.Entries != len(tc.want) || ci.Truncated != uint64(tc.truncated) || ci.Errors != 0 {
					t.Errorf("lines=%d entries=%d truncated=%d errors=%d, want %d %d %d 0",
						ci.Lines, ci.Entries, ci.Truncated, ci.Errors, len(tc.lines), len(tc.want), tc.truncated)
				}
				// LOG's text output: one line per entry, newlines as \n.
				a := dialAdmin(t, srv)
				lines := a.text("LOG tracer")
				if len(lines) != len(tc.want) {
					t.Fatalf("LOG text: %d lines for %d entries: %q", len(lines), len(tc.want), lines)
				}
				for i, l := range lines {
					_, msg, _ := strings.Cut(l, " ")
					if want := strings.ReplaceAll(tc.want[i], "\n", `\n`); msg != want {
						t.Errorf("LOG text line %d: %q, want %q", i, msg, want)
					}
				}
				if !watched {
					return
				}
				for _, r := range []*eventReader{js, text} {
					r.nextOf("READY", "tracer")
					for i, want := range tc.events {
						ev := r.next()
						kind, msg, _ := strings.Cut(want, " ")
						if !r.json {
							msg = strings.ReplaceAll(msg, "\n", `\n`)
						}
						if ev.Kind != kind || ev.Client != "tracer" || ev.Text != msg {
							t.Fatalf("event %d (JSON %v): %q, want %s tracer %q", i, r.json, ev.Raw, kind, msg)
						}
					}
				}
				if tc.desc == "a 40-line Go panic" {
					// GREP finds the entry by any of its lines, whole.
					hits, err := srv.Grep(context.Background(), loop.Query{Match: mustRegexp(t, `level\.go:117`)})
					if err != nil {
						t.Fatal(err)
					}
					if len(hits) != 1 || string(hits[0].Msg) != tc.want[0] {
						t.Errorf("GREP for a middle line: %d hits, want the whole trace", len(hits))
					}
				}
			})
		}
	}
}

func mustRegexp(t testing.TB, re string) *regexp.Regexp {
	t.Helper()
	r, err := regexp.Compile(re)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// TestContAfterResume: CONT continues the newest entry of a resumed
// client, which it kept while closed.
func TestContAfterResume(t *testing.T) {
	srv := startServer(t, nil)
	sub := subscribe(t, srv, 16, loop.WatchQuery{Clients: []string{"again"}})
	c := connect(t, srv, "again")
	c.send("LOG before the crash\n")
	c.sync()
	c.conn.Close()
	waitClosed(t, srv, "again")
	c = reconnect(t, srv, "again")
	c.send("CONT after the restart\n")
	c.sync()
	if got := logMessages(t, srv, "again"); !slices.Equal(got, []string{"before the crash\nafter the restart"}) {
		t.Errorf("entries %q", got)
	}
	var kinds []string
	for range 5 {
		ev := nextSub(t, sub)
		kinds = append(kinds, ev.Kind.String()+" "+ev.Message+ev.Reason)
	}
	if want := []string{"ready ", "log before the crash", "close eof", "ready ", "cont after the restart"}; !slices.Equal(kinds, want) {
		t.Errorf("events %q, want %q", kinds, want)
	}
}
