package query

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Glob is a compiled name pattern (SPEC "Version 2 additions"): '*' matches
// any run of bytes (empty included), '?' exactly one byte, every other byte
// itself, so a plain name matches only itself. There are no escapes and no
// classes: client names cannot contain '*', '?' or '['. The zero Glob
// matches only the empty name.
//
// Matching never allocates, and costs at most about len(name) times the
// pattern's literal length: a pattern whose literal bytes outnumber the
// name's is rejected at once, so a long pattern cannot make a scan over
// 10,000 names slow.
type Glob struct {
	pattern string
	segs    []string // the pieces between runs of '*'; '?' stays in them
	star    bool     // pattern has a '*'
	head    bool     // pattern starts with '*'
	tail    bool     // pattern ends with '*'
	min     int      // bytes a name needs at least: the sum of len(segs)
}

// NewGlob compiles pattern. Every pattern is valid.
func NewGlob(pattern string) Glob {
	g := Glob{pattern: pattern, star: strings.IndexByte(pattern, '*') >= 0}
	if !g.star {
		g.min = len(pattern)
		return g
	}
	g.head = pattern[0] == '*'
	g.tail = pattern[len(pattern)-1] == '*'
	for seg := range strings.SplitSeq(pattern, "*") {
		if seg != "" {
			g.segs = append(g.segs, seg)
			g.min += len(seg)
		}
	}
	return g
}

// String is the pattern as given.
func (g *Glob) String() string { return g.pattern }

// Literal reports whether the pattern has no wildcard, so that it matches
// exactly the name equal to it (a map lookup can replace a scan).
func (g *Glob) Literal() bool {
	return !g.star && strings.IndexByte(g.pattern, '?') < 0
}

// Prefix is the literal text every matching name starts with (up to the
// first wildcard), so that a scan over sorted names can start at it and stop
// past it.
func (g *Glob) Prefix() string {
	if i := strings.IndexAny(g.pattern, "*?"); i >= 0 {
		return g.pattern[:i]
	}
	return g.pattern
}

// Match reports whether name matches the pattern.
func (g *Glob) Match(name string) bool {
	if len(name) < g.min {
		return false
	}
	if !g.star {
		return len(name) == len(g.pattern) && segAt(g.pattern, name, 0)
	}
	segs, lo, hi := g.segs, 0, len(name)
	if !g.head { // the first piece is anchored at the start
		if !segAt(segs[0], name, 0) {
			return false
		}
		lo, segs = len(segs[0]), segs[1:]
	}
	if !g.tail && len(segs) > 0 { // the last piece is anchored at the end
		last := segs[len(segs)-1]
		if hi-lo < len(last) || !segAt(last, name, hi-len(last)) {
			return false
		}
		hi, segs = hi-len(last), segs[:len(segs)-1]
	}
	// Each middle piece at its leftmost place: leaving the most room to
	// the pieces after it is never worse, so there is no backtracking.
	for _, seg := range segs {
		i := segIndex(seg, name[lo:hi])
		if i < 0 {
			return false
		}
		lo += i + len(seg)
	}
	return true
}

// segAt reports whether seg ('?' matching any byte) matches s at offset at.
// The caller ensures s has len(seg) bytes there.
func segAt(seg, s string, at int) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] != '?' && seg[i] != s[at+i] {
			return false
		}
	}
	return true
}

// segIndex is the first offset in s where seg matches, or -1.
func segIndex(seg, s string) int {
	if strings.IndexByte(seg, '?') < 0 {
		return strings.Index(s, seg)
	}
	for i := 0; i+len(seg) <= len(s); i++ {
		if segAt(seg, s, i) {
			return i
		}
	}
	return -1
}

// Matcher tests messages against a regular expression, with a fast path for
// what operators mostly type: a word or phrase. NewMatcher reads the
// regex's syntax tree:
//
//   - a plain literal ("connection refused", `\Qa.b\E`) is matched by a
//     substring search, never by the regex engine;
//   - a case-insensitive ASCII literal ("(?i)error") is matched by an ASCII
//     case-folding search; k and s also fold to U+212A (Kelvin sign) and
//     U+017F (long s), so for a literal with k or s a message that holds
//     one of those and no ASCII match goes to the regex;
//   - otherwise, the longest literal the regex requires in every match (a
//     literal piece of its top-level concatenation, as "timeout" in
//     "error.*timeout") is searched first, and the regex runs only on
//     messages that contain it.
//
// regexp.LiteralPrefix alone cannot serve: it reports "^abc$" as the
// complete literal "abc". The results equal re.Match on valid UTF-8 (the
// store repairs every message). The zero Matcher (no regex) matches every
// message. A Matcher is read-only after NewMatcher and safe for concurrent
// use.
type Matcher struct {
	re      *regexp.Regexp
	lit     []byte   // a literal every match contains; lower-case ASCII when fold
	fold    bool     // lit is matched ignoring ASCII case
	literal bool     // a message matches exactly when it contains lit
	exotic  [][]byte // fold: U+212A if lit has k, U+017F if it has s
}

// NewMatcher wraps re; nil means "match everything".
func NewMatcher(re *regexp.Regexp) Matcher {
	if re == nil {
		return Matcher{}
	}
	m := Matcher{re: re}
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil { // not Perl syntax (CompilePOSIX): no fast path
		return m
	}
	tree = uncapture(tree.Simplify())
	subs := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpConcat {
		subs = tree.Sub
	}
	if tree.Op == syntax.OpEmptyMatch {
		m.literal = true // "" matches every message
		return m
	}
	// Runs of adjacent literal pieces with the same case rule; the longest
	// run that can be searched for is required in every match.
	var run []rune
	runFold, whole := false, true
	best, bestFold := []byte(nil), false
	end := func() {
		if lit, ok := searchable(run, runFold); ok && len(lit) > len(best) {
			best, bestFold = lit, runFold
		}
		run = run[:0]
	}
	for _, sub := range subs {
		sub = uncapture(sub)
		if sub.Op != syntax.OpLiteral {
			whole = false
			end()
			continue
		}
		fold := sub.Flags&syntax.FoldCase != 0
		if len(run) > 0 && fold != runFold {
			whole = false
			end()
		}
		run, runFold = append(run, sub.Rune...), fold
	}
	end()
	if best == nil {
		return m
	}
	m.lit, m.fold = best, bestFold
	if bestFold {
		if bytes.IndexByte(best, 'k') >= 0 {
			m.exotic = append(m.exotic, []byte("\u212a"))
		}
		if bytes.IndexByte(best, 's') >= 0 {
			m.exotic = append(m.exotic, []byte("\u017f"))
		}
	}
	m.literal = whole && len(subs) > 0
	return m
}

// uncapture strips the capturing groups around a regex.
func uncapture(r *syntax.Regexp) *syntax.Regexp {
	for r.Op == syntax.OpCapture {
		r = r.Sub[0]
	}
	return r
}

// searchable returns the literal runes as bytes to search for: as they are,
// or lower-cased when fold, if they are all ASCII.
func searchable(runes []rune, fold bool) ([]byte, bool) {
	if len(runes) == 0 {
		return nil, false
	}
	if !fold {
		return []byte(string(runes)), true
	}
	b := make([]byte, len(runes))
	for i, r := range runes {
		if r >= utf8.RuneSelf {
			return nil, false
		}
		b[i] = lower(byte(r))
	}
	return b, true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// indexFold is the first offset of lit (lower-case ASCII) in s ignoring
// ASCII case, or -1. Candidates are found with bytes.IndexByte, once per
// case of lit's first byte, each scan resumed where it left off.
func indexFold(s, lit []byte) int {
	last := len(s) - len(lit) // the last offset lit can start at
	if last < 0 {
		return -1
	}
	first, other := lit[0], lit[0]
	if 'a' <= first && first <= 'z' {
		other = first - 'a' + 'A'
	}
	// next[k] is the next offset >= i where the k-th case of the first byte
	// is, -1 when there is none up to last; -2 when not looked for yet.
	next := [2]int{-2, -2}
	cases := [2]byte{first, other}
	for i := 0; i <= last; {
		for k := range next {
			if next[k] == -2 || (next[k] >= 0 && next[k] < i) {
				next[k] = -1
				if j := bytes.IndexByte(s[i:last+1], cases[k]); j >= 0 {
					next[k] = i + j
				}
			}
		}
		switch {
		case next[0] < 0 && next[1] < 0:
			return -1
		case next[1] < 0 || (next[0] >= 0 && next[0] < next[1]):
			i = next[0]
		default:
			i = next[1]
		}
		j := 1
		for j < len(lit) && lower(s[i+j]) == lit[j] {
			j++
		}
		if j == len(lit) {
			return i
		}
		i++
	}
	return -1
}

// hasExotic reports whether msg holds a non-ASCII rune that folds to a
// letter of a case-insensitive literal.
func (m *Matcher) hasExotic(msg []byte) bool {
	for _, e := range m.exotic {
		if bytes.Contains(msg, e) {
			return true
		}
	}
	return false
}

// Regexp is the regex matched, nil for the zero Matcher.
func (m *Matcher) Regexp() *regexp.Regexp { return m.re }

// Match reports whether msg matches.
func (m *Matcher) Match(msg []byte) bool {
	if m.re == nil || (m.literal && len(m.lit) == 0) {
		return true
	}
	if len(m.lit) > 0 {
		var found bool
		if m.fold {
			found = indexFold(msg, m.lit) >= 0
		} else {
			found = bytes.Contains(msg, m.lit)
		}
		if !found && !m.hasExotic(msg) {
			return false
		}
		if found && m.literal {
			return true
		}
	}
	return m.re.Match(msg)
}
