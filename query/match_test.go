package query

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"bob", []string{"bob"}, []string{"bo", "bobb", "Bob", "", "xbob"}},
		{"", []string{""}, []string{"a"}},
		{"*", []string{"", "a", "anything-at:all.1"}, nil},
		{"**", []string{"", "ab"}, nil},
		{"web-*", []string{"web-", "web-1", "web-eu-12"}, []string{"web", "wb-1", "xweb-1", "WEB-1"}},
		{"*-db", []string{"-db", "eu-db", "a-b-db"}, []string{"db", "eu-dbx", "eu-d"}},
		{"?", []string{"a", "?", "*"}, []string{"", "ab"}},
		{"web-?", []string{"web-1", "web-x"}, []string{"web-", "web-12"}},
		{"w?b-*", []string{"web-1", "wob-", "w-b-x"}, []string{"wb-1", "weeb-1"}},
		{"*a*b*c*", []string{"abc", "xaxbxcx", "aabbcc"}, []string{"acb", "ab", "cba"}},
		{"a*a", []string{"aa", "aba", "aaa"}, []string{"a", "ab", "ba"}},
		{"ab*ab", []string{"abab", "ab-ab", "ababab"}, []string{"aba", "ab"}},
		{"*ab*ab", []string{"abab", "xabyab", "aabab"}, []string{"abba", "ab"}},
		{"a*?b", []string{"axb", "axxb"}, []string{"ab", "axbx"}},
		{"*?", []string{"a", "ab"}, []string{""}},
		{"??*??", []string{"abcd", "abcdef"}, []string{"abc"}},
		{"node:*.log", []string{"node:a.log", "node:.log"}, []string{"node:a.lo", "node.log"}},
		{"*é*", []string{"café", "é"}, []string{"cafe"}},
	} {
		g := NewGlob(tc.pattern)
		for _, name := range tc.yes {
			if !g.Match(name) {
				t.Errorf("%q should match %q", tc.pattern, name)
			}
		}
		for _, name := range tc.no {
			if g.Match(name) {
				t.Errorf("%q should not match %q", tc.pattern, name)
			}
		}
		if g.String() != tc.pattern {
			t.Errorf("String() = %q, want %q", g.String(), tc.pattern)
		}
	}
}

// Random patterns agree with a plain recursive matcher, the definition.
func TestGlobRandom(t *testing.T) {
	var ref func(p, s string) bool
	ref = func(p, s string) bool {
		switch {
		case p == "":
			return s == ""
		case p[0] == '*':
			return ref(p[1:], s) || (s != "" && ref(p, s[1:]))
		case s == "":
			return false
		default:
			return (p[0] == '?' || p[0] == s[0]) && ref(p[1:], s[1:])
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	word := func(alphabet string, n int) string {
		b := make([]byte, rng.IntN(n))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		p, s := word("ab*?", 8), word("ab", 8)
		g := NewGlob(p)
		if got, want := g.Match(s), ref(p, s); got != want {
			t.Fatalf("NewGlob(%q).Match(%q) = %v, want %v", p, s, got, want)
		}
	}
}

func TestGlobLiteralPrefix(t *testing.T) {
	for _, tc := range []struct {
		pattern, prefix string
		literal         bool
	}{
		{"bob", "bob", true},
		{"", "", true},
		{"web-*", "web-", false},
		{"we?-*", "we", false},
		{"*x", "", false},
	} {
		g := NewGlob(tc.pattern)
		if g.Prefix() != tc.prefix || g.Literal() != tc.literal {
			t.Errorf("%q: Prefix %q Literal %v, want %q %v", tc.pattern, g.Prefix(), g.Literal(), tc.prefix, tc.literal)
		}
	}
}

func TestGlobNoAlloc(t *testing.T) {
	g := NewGlob("web-*-?b*")
	if n := testing.AllocsPerRun(100, func() { g.Match("web-eu-db-12") }); n != 0 {
		t.Errorf("%v allocations per match", n)
	}
}

// matcherCases are checked against regexp itself, with the path they must
// take: "lit" (substring search only), "fold" (ASCII case-folding search
// only), "pre" (literal prefilter, then the regex), "re" (the regex).
var matcherCases = []struct {
	pattern, path string
	yes, no       []string
}{
	{"refused", "lit", []string{"connection refused", "refused"}, []string{"Refused", "refuse"}},
	{"connection refused", "lit", []string{"tcp: connection refused by peer"}, []string{"connection  refused"}},
	{`\Qa.b\E`, "lit", []string{"xa.by"}, []string{"axb"}},
	{"(refused)", "lit", []string{"refused"}, []string{"REFUSED"}},
	{"a{3}", "lit", []string{"baaab"}, []string{"aa"}},
	{"", "lit", []string{"", "anything"}, nil},
	{"日本", "lit", []string{"in 日本 now"}, []string{"日"}},
	{"(?i)error", "fold", []string{"ERROR: x", "an Error", "error"}, []string{"err", "erro r"}},
	{"(?i)timeout 42", "fold", []string{"TimeOut 42s"}, []string{"timeout 43"}},
	{"(?i)disk", "fold", []string{"DISK", "dis\u212a full"}, []string{"dis"}}, // k folds to KELVIN SIGN
	{"(?i)Fail", "fold", []string{"FAIL", "fail"}, []string{"fai"}},
	{"(?i)sync", "fold", []string{"SYNC", "\u017fync"}, []string{"snc"}}, // s folds to LONG S
	{"^abc$", "pre", []string{"abc"}, []string{"xabc", "abcx", "xabcx"}},
	{"^abc", "pre", []string{"abcdef"}, []string{"xabc"}},
	{"abc$", "pre", []string{"xxabc"}, []string{"abcx"}},
	{"error.*timeout", "pre", []string{"error: read timeout", "errortimeout"}, []string{"timeout error", "error"}},
	{`\bfoo\b`, "pre", []string{"a foo b", "foo"}, []string{"afoo", "foob"}},
	{"(?i)error.*x", "pre", []string{"ERROR x"}, []string{"ERROR"}},
	{"a.c", "pre", []string{"abc", "a-c"}, []string{"ac"}},
	{"x|y", "re", []string{"x", "ay"}, []string{"z"}},
	{`\d{3} ms`, "pre", []string{"took 120 ms"}, []string{"took 12 ms"}},
	{`\d+`, "re", []string{"a1"}, []string{"ab"}},
	{"(?m)^b", "pre", []string{"a\nb"}, []string{"ab"}},
}

func TestMatcher(t *testing.T) {
	for _, tc := range matcherCases {
		re := regexp.MustCompile(tc.pattern)
		m := NewMatcher(re)
		path := "re"
		switch {
		case m.literal && m.fold:
			path = "fold"
		case m.literal:
			path = "lit"
		case len(m.lit) > 0:
			path = "pre"
		}
		if path != tc.path {
			t.Errorf("%q takes path %s, want %s", tc.pattern, path, tc.path)
		}
		for _, s := range tc.yes {
			if !m.Match([]byte(s)) || !re.MatchString(s) {
				t.Errorf("%q should match %q (regexp: %v)", tc.pattern, s, re.MatchString(s))
			}
		}
		for _, s := range tc.no {
			if m.Match([]byte(s)) || re.MatchString(s) {
				t.Errorf("%q should not match %q (regexp: %v)", tc.pattern, s, re.MatchString(s))
			}
		}
		if m.Regexp() != re {
			t.Errorf("%q: Regexp() is not the regex given", tc.pattern)
		}
	}
	var all Matcher
	none := NewMatcher(nil)
	if !all.Match([]byte("x")) || !none.Match(nil) || all.Regexp() != nil {
		t.Error("the zero Matcher must match everything")
	}
}

// Random messages give the same answer as the regex for every case.
func TestMatcherRandom(t *testing.T) {
	pieces := []string{"a", "b", "c", "x", "A", "B", "ERROR", "error", "Error", "timeout", "refused", "connection ",
		" ", "\n", "é", "日本", "\u212a", "\u017f", "disk", "DISK", "sync", "foo", "42", "120 ms", ".", "-"}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range matcherCases {
		re := regexp.MustCompile(tc.pattern)
		m := NewMatcher(re)
		for range 2000 {
			var b strings.Builder
			for range rng.IntN(8) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			s := b.String()
			if got, want := m.Match([]byte(s)), re.MatchString(s); got != want {
				t.Fatalf("%q on %q: Matcher %v, regexp %v", tc.pattern, s, got, want)
			}
		}
	}
}

func TestMatcherNoAlloc(t *testing.T) {
	msg := []byte("2025-11-24 GET /api/v1/items?id=12345 200 3.2ms user=alice region=eu")
	for _, p := range []string{"refused", "(?i)error", "error.*timeout", `id=\d+`} {
		m := NewMatcher(regexp.MustCompile(p))
		if n := testing.AllocsPerRun(100, func() { m.Match(msg) }); n != 0 {
			t.Errorf("%q: %v allocations per match", p, n)
		}
	}
}

// indexFold finds the first place, as strings.Index does on lower-cased
// ASCII text.
func TestIndexFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		s, lit := word("aAbB-", rng.IntN(20)), strings.ToLower(word("aAbB-", 1+rng.IntN(3)))
		if got, want := indexFold([]byte(s), []byte(lit)), strings.Index(strings.ToLower(s), lit); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", s, lit, got, want)
		}
	}
}
