package codec

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// arg is one admin request token after the command word, quotes removed.
// A token of the form key=value, whose key is one or more ASCII letters
// written unquoted before the first '=', also unquoted, may be an option: eq
// is then the index of that '=' in text, else -1. Quoting the '='
// ("user=bob") therefore makes a token positional.
type arg struct {
	text string
	eq   int
}

func (a arg) isOpt() bool { return a.eq > 0 }

// keyValue splits an option into its lower-cased key and its value.
func (a arg) keyValue() (key, val string) {
	return strings.ToLower(a.text[:a.eq]), a.text[a.eq+1:]
}

var errQuote = errors.New("unterminated quote")

// splitArgs splits the text after an admin command word into tokens
// separated by runs of spaces and tabs. Any part of a token may be
// double-quoted; inside quotes blanks are token bytes and `\"` and `\\` are
// the only escapes (a backslash before any other byte is kept as is, so a
// quoted regex keeps its `\d`). An unterminated quote is an error.
func splitArgs(b []byte) ([]arg, error) {
	var out []arg
	var sb strings.Builder
	for i := skipBlanks(b, 0); i < len(b); i = skipBlanks(b, i) {
		sb.Reset()
		keyLen := 0             // letters at the token's start, unquoted, before any '='
		eq, quoted := -1, false // eq: length of the text before the option's '='
		for i < len(b) && !isBlank(b[i]) {
			c := b[i]
			if c != '"' {
				if c == '=' && eq < 0 && !quoted && keyLen == sb.Len() && keyLen > 0 {
					eq = keyLen
				} else if !quoted && eq < 0 && keyLen == sb.Len() && isLetter(c) {
					keyLen++
				}
				sb.WriteByte(c)
				i++
				continue
			}
			quoted = true
			for i++; ; i++ {
				if i == len(b) {
					return out, errQuote
				}
				c = b[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') {
					i++
					c = b[i]
				}
				sb.WriteByte(c)
			}
		}
		out = append(out, arg{text: sb.String(), eq: eq})
	}
	return out, nil
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// Time is a bound given to a time-window option (since=, until=): unset, an
// absolute instant, or an age resolved against the clock when the query
// runs. The zero value is unset, which means unbounded.
type Time struct {
	kind uint8 // timeUnset, timeAt or timeAgo
	v    int64 // Unix ms (timeAt) or age in ms (timeAgo)
}

const (
	timeUnset uint8 = iota
	timeAt
	timeAgo
)

// TimeAt is the instant ms, Unix epoch milliseconds.
func TimeAt(ms int64) Time { return Time{kind: timeAt, v: ms} }

// TimeAgo is the instant d before the moment the query is resolved.
func TimeAgo(d time.Duration) Time { return Time{kind: timeAgo, v: d.Milliseconds()} }

// IsSet reports whether t bounds anything.
func (t Time) IsSet() bool { return t.kind != timeUnset }

// Resolve returns t as Unix epoch milliseconds given the current time nowMs,
// and false when t is unset.
func (t Time) Resolve(nowMs int64) (int64, bool) {
	switch t.kind {
	case timeAt:
		return t.v, true
	case timeAgo:
		return nowMs - t.v, true
	}
	return 0, false
}

// Window resolves a since/until pair against nowMs into the inclusive range
// lo <= ts <= hi; an unset bound is math.MinInt64 or math.MaxInt64. lo > hi
// is possible and selects nothing.
func Window(since, until Time, nowMs int64) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if ms, ok := since.Resolve(nowMs); ok {
		lo = ms
	}
	if ms, ok := until.Resolve(nowMs); ok {
		hi = ms
	}
	return lo, hi
}

// maxQuoted bounds the bytes of user input echoed in an error text.
const maxQuoted = 64

// quoteInput quotes user input for an error text: at most maxQuoted bytes,
// control characters and invalid UTF-8 escaped, so the text stays one
// valid line.
func quoteInput(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(string(TruncateUTF8([]byte(s), maxQuoted))) + "..."
	}
	return strconv.Quote(s)
}

// ParseTime parses a time bound <t>: an RFC 3339 timestamp with or without
// fractional seconds ("2026-11-24T00:36:25.123Z"), Unix epoch milliseconds
// (all digits, "1764000000000"), or a non-negative Go duration meaning that
// long before the query runs ("90s", "10m", "2h"). The error text is
// `bad time "<s>": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)`.
func ParseTime(s string) (Time, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return TimeAt(ms), nil
		}
	} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return TimeAt(t.UnixMilli()), nil
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return TimeAgo(d), nil
	}
	return Time{}, errors.New("bad time " + quoteInput(s) + ": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)")
}

// MaxRegexLen is the longest regex source CompileRegex accepts, in bytes.
// Go's RE2 engine matches in time linear in the text whatever the pattern;
// the cap bounds the compile work and the program's size per request.
const MaxRegexLen = 1024

// CompileRegex compiles a <regex> (Go RE2 syntax, "(?i)" for case-insensitive)
// of at most MaxRegexLen bytes. The error text starts "bad regex: ". The
// result is safe for concurrent use, so one compiled request can be run on
// several goroutines.
func CompileRegex(s string) (*regexp.Regexp, error) {
	if len(s) > MaxRegexLen {
		return nil, errors.New("bad regex: longer than " + strconv.Itoa(MaxRegexLen) + " bytes")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		return nil, errors.New("bad regex: " + string(AppendValidUTF8(nil, []byte(msg))))
	}
	return re, nil
}
