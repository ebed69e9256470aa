package query

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// escapeCases cover each class of SPEC §2's rule for text replies.
var escapeCases = []struct {
	name, in, want string
}{
	{"empty", "", ""},
	{"plain ASCII", "GET /api 200 3.2ms", "GET /api 200 3.2ms"},
	{"tab passes", "a\tb", "a\tb"},
	{"LF", "line1\nline2", `line1\nline2`},
	{"CR", "a\rb", `a\rb`},
	{"CRLF", "a\r\n", `a\r\n`},
	{"NUL", "a\x00b", `a\x00b`},
	{"C0 0x01", "\x01", `\x01`},
	{"C0 0x1f", "\x1f", `\x1f`},
	{"ESC colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
	{"OSC title BEL", "\x1b]0;title\x07", `\x1b]0;title\x07`},
	{"BS and VT", "\b\v\f", `\x08\x0b\x0c`},
	{"DEL", "a\x7fb", `a\x7fb`},
	{"C1 NEL U+0085", "a\u0085b", `a\u0085b`},
	{"C1 CSI U+009B", "\u009b31m", `\u009b31m`},
	{"C1 first U+0080", "\u0080", `\u0080`},
	{"C1 last U+009F", "\u009f", `\u009f`},
	{"NBSP U+00A0 passes", "a\u00a0b", "a\u00a0b"},
	{"backslash", `C:\temp`, `C:\\temp`},
	{"backslash n text", `a\nb`, `a\\nb`},
	{"backslash at end", `a\`, `a\\`},
	{"multibyte passes", "héllo ✓ 日本語 🎉 ſK", "héllo ✓ 日本語 🎉 ſK"},
	{"U+FFFD passes", "a\uFFFDb", "a\uFFFDb"},
	{"U+2028 passes", "a\u2028b", "a\u2028b"},
	{"invalid byte", "a\xffb", `a\xffb`},
	{"raw 8-bit CSI byte", "\x9b31m", `\x9b31m`},
	{"truncated sequence", "日\xe6\x97", `日\xe6\x97`},
	{"C1 as two raw bytes only when valid", "\xc2", `\xc2`},
	{"lead byte then ASCII", "\xc2A", `\xc2A`},
	{"overlong NUL", "\xc0\x80", `\xc0\x80`},
	{"two-byte at end", "ab\xd0", `ab\xd0`},
	{"Cyrillic and Greek", "Ошибка: λ", "Ошибка: λ"},
	{"mixed", "x\x1b\\\u0085\n\xff✓", `x\x1b\\\u0085\n\xff✓`},
}

func TestAppendEscaped(t *testing.T) {
	for _, tc := range escapeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendEscaped(nil, tc.in)); got != tc.want {
				t.Errorf("string: AppendEscaped(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := string(AppendEscaped([]byte("pre:"), []byte(tc.in))); got != "pre:"+tc.want {
				t.Errorf("bytes: AppendEscaped(%q) = %q, want %q", tc.in, got, "pre:"+tc.want)
			}
			checkTerminalSafe(t, AppendEscaped(nil, tc.in))
			if utf8.ValidString(tc.in) {
				if back := unescapeText(t, tc.want); back != tc.in {
					t.Errorf("unescape(%q) = %q, want %q", tc.want, back, tc.in)
				}
			}
		})
	}
}

// checkTerminalSafe fails when out holds a byte or code point a terminal
// would act on: a C0 control but tab, DEL, a C1 control, or invalid UTF-8.
func checkTerminalSafe(t *testing.T, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("output %q is not valid UTF-8", out)
	}
	for _, r := range string(out) {
		if (r < 0x20 && r != '\t') || (r >= 0x7f && r <= 0x9f) {
			t.Fatalf("output %q holds control %U", out, r)
		}
	}
}

// unescapeText inverts AppendEscaped: the escapes are unambiguous, so every
// valid UTF-8 text comes back whole.
func unescapeText(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			t.Fatalf("%q ends in a lone backslash", s)
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case 'x':
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad \\x escape in %q", s)
			}
			b.WriteByte(byte(v))
			i += 2
		case 'u':
			v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				t.Fatalf("bad \\u escape in %q", s)
			}
			b.WriteRune(rune(v))
			i += 4
		default:
			t.Fatalf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String()
}

// Random text over the interesting bytes always comes out safe and, when
// valid UTF-8, unescapes to itself.
func TestAppendEscapedRandom(t *testing.T) {
	alphabet := []string{"a", " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\\", "x", "u", "\u0085", "\u009b", "é", "日", "🎉", "\xff", "\xc2", "\x9b"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var b strings.Builder
		for range rng.IntN(20) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		out := AppendEscaped(nil, in)
		checkTerminalSafe(t, out)
		if utf8.ValidString(in) {
			if back := unescapeText(t, string(out)); back != in {
				t.Fatalf("round trip of %q gave %q via %q", in, back, out)
			}
		}
	}
}

func TestAppendEscapedNoAlloc(t *testing.T) {
	msg := []byte(strings.Repeat("GET /x 200 ", 6))
	esc := []byte("a\x1b[31mb\n\u0085")
	dst := make([]byte, 0, 256)
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"clean", msg}, {"escapes", esc}} {
		if n := testing.AllocsPerRun(100, func() { dst = AppendEscaped(dst[:0], tc.in) }); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { dst = AppendJSONString(dst[:0], tc.in) }); n != 0 {
			t.Errorf("%s JSON: %v allocations per call, want 0", tc.name, n)
		}
	}
}

func TestAppendToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"eof", "eof"},
		{"", `""`},
		{"error: line too long", `"error: line too long"`},
		{"a\tb", "\"a\tb\""},
		{`say "hi"`, `"say \"hi\""`},
		{`a"b`, `"a\"b"`},
		{`back\slash`, `back\\slash`},
		{"error: bad\x1b[31m", `"error: bad\x1b[31m"`},
		{"nl\nx", `nl\nx`},
	} {
		if got := string(AppendToken(nil, tc.in)); got != tc.want {
			t.Errorf("AppendToken(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if strings.ContainsAny(tc.in, " \t\"") || tc.in == "" {
			continue
		}
		if got := string(AppendToken(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("AppendToken([]byte %q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// JSON strings decode to exactly the text stored (valid UTF-8), or with
// U+FFFD for invalid bytes, and never carry a raw control, DEL or C1.
func TestAppendJSONString(t *testing.T) {
	for _, tc := range []struct {
		in, want, decoded string
	}{
		{"plain", `"plain"`, "plain"},
		{"", `""`, ""},
		{`q"b\`, `"q\"b\\"`, `q"b\`},
		{"\n\r\t", `"\n\r\t"`, "\n\r\t"},
		{"\x00\x1b[31m", `"\u0000\u001b[31m"`, "\x00\x1b[31m"},
		{"\x7f", `"\u007f"`, "\x7f"},
		{"\u0085\u009b", `"\u0085\u009b"`, "\u0085\u009b"},
		{"héllo ✓ 日本 🎉", `"héllo ✓ 日本 🎉"`, "héllo ✓ 日本 🎉"},
		{"a\xffb", `"a\ufffdb"`, "a\uFFFDb"},
		{"<&>\u2028", "\"<&>\u2028\"", "<&>\u2028"},
	} {
		out := AppendJSONString(nil, tc.in)
		if string(out) != tc.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tc.in, out, tc.want)
		}
		checkTerminalSafe(t, out)
		var s string
		if err := json.Unmarshal(out, &s); err != nil || s != tc.decoded {
			t.Errorf("decoding %s: %q, %v; want %q", out, s, err, tc.decoded)
		}
	}
	for _, tc := range escapeCases { // every text case is exact in JSON
		var s string
		if err := json.Unmarshal(AppendJSONString(nil, []byte(tc.in)), &s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := strings.ToValidUTF8(tc.in, "\uFFFD"); s != want && utf8.ValidString(tc.in) {
			t.Errorf("%s: decoded %q, want %q", tc.name, s, want)
		}
	}
}

func ExampleAppendEscaped() {
	fmt.Printf("%s\n", AppendEscaped(nil, "boom\x1b[31m\nC:\\tmp \u009b"))
	// Output: boom\x1b[31m\nC:\\tmp \u009b
}
