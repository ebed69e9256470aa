package codec

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []arg
		err  bool
	}{
		{"", nil, false},
		{" \t ", nil, false},
		{"a  b\tc", []arg{{"a", -1}, {"b", -1}, {"c", -1}}, false},
		{`"a b" c`, []arg{{"a b", -1}, {"c", -1}}, false},
		{`a"b c"d`, []arg{{"ab cd", -1}}, false},
		{`""`, []arg{{"", -1}}, false},
		{`"" ""`, []arg{{"", -1}, {"", -1}}, false},
		{`"\"\\"`, []arg{{`"\`, -1}}, false},
		{`"\d\n\"`, nil, true}, // the last \" is an escape: no closing quote
		{`"\d\n"`, []arg{{`\d\n`, -1}}, false},
		{`a\"b`, []arg{{`a\`, -1}}, true}, // unquoted backslash is a byte; the quote opens
		{`x\y`, []arg{{`x\y`, -1}}, false},
		{`"abc`, nil, true},
		{`ok "abc`, []arg{{"ok", -1}}, true},
		{"match=x", []arg{{"match=x", 5}}, false},
		{"MaTcH=x=y", []arg{{"MaTcH=x=y", 5}}, false},
		{`match="a b"`, []arg{{"match=a b", 5}}, false},
		{`match=""`, []arg{{"match=", 5}}, false},
		{"match=", []arg{{"match=", 5}}, false},
		{`"match=a b"`, []arg{{"match=a b", -1}}, false}, // quoted '=': positional
		{`"match"=x`, []arg{{"match=x", -1}}, false},
		{`ma"tch"=x`, []arg{{"match=x", -1}}, false},
		{`match"="x`, []arg{{"match=x", -1}}, false},
		{"=x", []arg{{"=x", -1}}, false},
		{"a1=x", []arg{{"a1=x", -1}}, false},
		{"a_b=x", []arg{{"a_b=x", -1}}, false},
		{`a\d=5`, []arg{{`a\d=5`, -1}}, false},
		{"é=x", []arg{{"é=x", -1}}, false},
		{"since=1 until=2", []arg{{"since=1", 5}, {"until=2", 5}}, false},
	} {
		got, err := splitArgs([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("splitArgs(%q) error %v, want error %v", tc.in, err, tc.err)
		}
		if tc.err {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitArgs(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	const tail = ": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)"
	for _, tc := range []struct {
		in   string
		want Time
		err  string
	}{
		{"2026-11-24T00:36:25.123Z", TimeAt(1795480585123), ""},
		{"2026-11-24T00:36:25Z", TimeAt(1795480585000), ""},
		{"2026-11-24T01:36:25.5+01:00", TimeAt(1795480585500), ""},
		{"2026-11-24T00:36:25.123456789Z", TimeAt(1795480585123), ""},
		{"1970-01-01T00:00:00Z", TimeAt(0), ""},
		{"1764000000000", TimeAt(1764000000000), ""},
		{"0", TimeAt(0), ""}, // digits are epoch ms, not the duration "0"
		{"007", TimeAt(7), ""},
		{"9223372036854775807", TimeAt(math.MaxInt64), ""},
		{"90s", TimeAgo(90 * time.Second), ""},
		{"10m", TimeAgo(10 * time.Minute), ""},
		{"2h", TimeAgo(2 * time.Hour), ""},
		{"1h30m", TimeAgo(90 * time.Minute), ""},
		{"1.5s", TimeAgo(1500 * time.Millisecond), ""},
		{"0s", TimeAgo(0), ""},
		{"", Time{}, `bad time ""` + tail},
		{"-5m", Time{}, `bad time "-5m"` + tail},
		{"+5", Time{}, `bad time "+5"` + tail},
		{"-1", Time{}, `bad time "-1"` + tail},
		{"9223372036854775808", Time{}, `bad time "9223372036854775808"` + tail},
		{"yesterday", Time{}, `bad time "yesterday"` + tail},
		{"5d", Time{}, `bad time "5d"` + tail},
		{"2026-11-24", Time{}, `bad time "2026-11-24"` + tail},
		{"2026-11-24 00:36:25Z", Time{}, `bad time "2026-11-24 00:36:25Z"` + tail},
		{"a\x00\xff", Time{}, `bad time "a\x00\xff"` + tail},
		{strings.Repeat("x", 100), Time{}, `bad time "` + strings.Repeat("x", 64) + `"...` + tail},
	} {
		got, err := ParseTime(tc.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseTime(%q) = %+v, %q; want %+v, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
		if !utf8.ValidString(gotErr) {
			t.Errorf("ParseTime(%q): error not valid UTF-8", tc.in)
		}
	}
}

func TestTimeResolve(t *testing.T) {
	const now = 1_800_000_000_000
	for _, tc := range []struct {
		t    Time
		want int64
		set  bool
	}{
		{Time{}, 0, false},
		{TimeAt(5), 5, true},
		{TimeAt(-5), -5, true},
		{TimeAgo(0), now, true},
		{TimeAgo(90 * time.Second), now - 90_000, true},
		{TimeAgo(1500 * time.Microsecond), now - 1, true},
	} {
		got, set := tc.t.Resolve(now)
		if got != tc.want || set != tc.set || tc.t.IsSet() != tc.set {
			t.Errorf("%+v.Resolve(now) = %d, %v; want %d, %v", tc.t, got, set, tc.want, tc.set)
		}
	}
	for _, tc := range []struct {
		since, until Time
		lo, hi       int64
	}{
		{Time{}, Time{}, math.MinInt64, math.MaxInt64},
		{TimeAgo(time.Minute), Time{}, now - 60_000, math.MaxInt64},
		{Time{}, TimeAt(7), math.MinInt64, 7},
		{TimeAt(10), TimeAgo(time.Second), 10, now - 1000},
	} {
		if lo, hi := Window(tc.since, tc.until, now); lo != tc.lo || hi != tc.hi {
			t.Errorf("Window(%+v, %+v) = %d, %d; want %d, %d", tc.since, tc.until, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestCompileRegex(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"error", ""},
		{"(?i)conn(ection)? refused", ""},
		{strings.Repeat("a", MaxRegexLen), ""},
		{strings.Repeat("a", MaxRegexLen+1), "bad regex: longer than 1024 bytes"},
		{"(", "bad regex: missing closing ): `(`"},
		{"a{1001}", "bad regex: invalid repeat count: `{1001}`"},
		{"(?<", "bad regex: invalid or unsupported Perl syntax: `(?<`"},
		{"\xff(", "bad regex: invalid UTF-8: `\uFFFD(`"},
		{`\8`, "bad regex: invalid escape sequence: `\\8`"},
	} {
		re, err := CompileRegex(tc.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tc.err || (re == nil) != (tc.err != "") {
			t.Errorf("CompileRegex(%q) = %v, %q; want error %q", tc.in, re, gotErr, tc.err)
		}
	}
}
