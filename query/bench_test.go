package query

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// msg64 is a typical 64-byte log line.
var msg64 = []byte("GET /api/v1/items?id=12345 200 3.2ms user=alice region=eu-west-1")

func BenchmarkAppendEscaped(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  []byte
	}{
		{"ascii64", msg64},
		{"utf8-64", []byte("résumé für Jürgen: 日本語のログ ✓ ok, naïve café, ÿ — “quoted”")},
		{"escapes64", []byte("\x1b[31mERROR\x1b[0m boom\n\tat main.go:12\r\nC:\\tmp \u009b done....")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]byte, 0, 512)
			b.SetBytes(int64(len(bc.msg)))
			b.ReportAllocs()
			for range b.N {
				dst = AppendEscaped(dst[:0], bc.msg)
			}
		})
	}
	b.Run("copy-ascii64", func(b *testing.B) { // the floor: append without looking
		dst := make([]byte, 0, 512)
		b.SetBytes(int64(len(msg64)))
		for range b.N {
			dst = append(dst[:0], msg64...)
		}
	})
	b.Run("json-ascii64", func(b *testing.B) {
		dst := make([]byte, 0, 512)
		b.SetBytes(int64(len(msg64)))
		b.ReportAllocs()
		for range b.N {
			dst = AppendJSONString(dst[:0], msg64)
		}
	})
}

// BenchmarkMatcher compares Matcher's fast paths with the regex engine on
// 64-byte messages that do not match (most of a GREP) and that do.
func BenchmarkMatcher(b *testing.B) {
	for _, bc := range []struct {
		name, pattern string
		msg           []byte
	}{
		{"literal-miss", "connection refused", msg64},
		{"literal-hit", "region=eu", msg64},
		{"fold-miss", "(?i)error", msg64},
		{"fold-hit", "(?i)ALICE", msg64},
		{"prefilter-miss", "error.*timeout", msg64},
		{"prefilter-hit", `id=\d+ 200`, msg64},
		{"regex-only", `[0-9]+\.[0-9]ms`, msg64},
	} {
		re := regexp.MustCompile(bc.pattern)
		m := NewMatcher(re)
		b.Run(bc.name+"/matcher", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				m.Match(bc.msg)
			}
		})
		b.Run(bc.name+"/regexp", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				re.Match(bc.msg)
			}
		})
	}
}

func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("web-%s-%05d", []string{"eu", "us", "ap"}[i%3], i)
	}
	return names
}

// BenchmarkGlob matches 10,000 names; one op is the whole scan.
func BenchmarkGlob(b *testing.B) {
	names := benchNames(10000)
	for _, p := range []string{"web-eu-00042", "web-eu-*", "*-00042", "web-??-*9", "*e*u*9*"} {
		g := NewGlob(p)
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				for _, n := range names {
					g.Match(n)
				}
			}
		})
	}
}

func benchClients(n int) []ClientInfo {
	cs := make([]ClientInfo, n)
	for i, name := range benchNames(n) {
		cs[i] = ClientInfo{Name: name, Addr: "127.0.0.1:40000", ConnectedAt: 1795484223217 + int64(i%7),
			Entries: 128, Keys: 4, Lines: 1000, Bytes: 64000, Errors: 1, LastError: `unknown command "FOO"`}
		if i%10 == 0 {
			cs[i].Closed, cs[i].ClosedAt, cs[i].CloseReason = true, 1795484224000, "error: line too long"
		}
	}
	return cs
}

// BenchmarkClients10k renders CLIENTS over 10,000 clients (a tenth closed).
func BenchmarkClients10k(b *testing.B) {
	cs := benchClients(10000)
	for _, f := range []Format{Text, JSON} {
		b.Run([]string{"text", "json"}[f], func(b *testing.B) {
			buf := AppendClients(nil, f, cs)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				buf = AppendClients(buf[:0], f, cs)
			}
		})
	}
}

// BenchmarkLog1000 renders LOG of 1,000 64-byte entries.
func BenchmarkLog1000(b *testing.B) {
	var l Log
	for i := range 1000 {
		l.Append(1795484223217+int64(i), msg64)
	}
	for _, f := range []Format{Text, JSON} {
		b.Run([]string{"text", "json"}[f], func(b *testing.B) {
			buf := AppendLog(nil, f, &l)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				buf = AppendLog(buf[:0], f, &l)
			}
		})
	}
}

// BenchmarkGrep10k renders 10,000 hits in pieces of 1,000, as a bounded
// writer would.
func BenchmarkGrep10k(b *testing.B) {
	names := benchNames(100)
	hits := make([]Hit, 10000)
	for i := range hits {
		hits[i] = Hit{TS: 1795484223217 + int64(i/3), Name: names[i%100], Msg: msg64}
	}
	for _, f := range []Format{Text, JSON} {
		b.Run([]string{"text", "json"}[f], func(b *testing.B) {
			fr := Frame{Format: f}
			buf := make([]byte, 0, 128<<10)
			b.ReportAllocs()
			for range b.N {
				var clock Clock
				buf = fr.Open(buf[:0], len(hits))
				for from := 0; from < len(hits); from += 1000 {
					buf = AppendHits(buf[:0], f, &clock, hits[from:from+1000], from)
				}
				buf = fr.Close(buf)
			}
		})
	}
}

func BenchmarkAppendTime(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.Run("query", func(b *testing.B) {
		for i := range b.N {
			dst = AppendTime(dst[:0], 1795484223217+int64(i))
		}
	})
	b.Run("time-package", func(b *testing.B) {
		for i := range b.N {
			dst = time.UnixMilli(1795484223217+int64(i)).UTC().AppendFormat(dst[:0], "2006-01-02T15:04:05.000Z07:00")
		}
	})
}
