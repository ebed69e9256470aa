package codec

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFramer feeds data through a Framer split at pseudo-random points derived
// from seed (which also picks maxLine) and compares the result with refSplit.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("IAM bob\nLOG hi\r\nSET k v\n"), uint64(0))
	f.Add([]byte("abcd\r\nabcde\nabcd\r\r\n"), uint64(4))
	f.Add([]byte("abcd\rx\n\n\r\n\x00\xff\n"), uint64(4+19*7))
	f.Add([]byte("\r\r\r\n\n\r"), uint64(1))
	f.Add([]byte(strings.Repeat("long line ", 20)+"\nshort\n"), uint64(18))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		max := int(seed % 19)
		r := rand.New(rand.NewPCG(seed, seed>>32))
		checkFrames(t, max, splitRandom(r, data))
	})
}

// FuzzParseData checks ParseData's invariants on arbitrary lines.
func FuzzParseData(f *testing.F) {
	for _, s := range []string{
		"", " \t", "IAM bob", "IAM bob extra", "iam \t x ", "IAMbob",
		"LOG", "LOG   ", "LOG \t hi there  \t", "log a\tb", "LOGX foo",
		"SET k v w ", "SET k", "SET bad-key v", "set\tk\t\tv", "FOO bar", "\xffLOG",
		"LOG x", "lOg  x", "LOG\tx", "LOG x ", "LOG \xff", "LO\x00 x", "LOGGx",
		"IAM bob tok", "IAM bob tok extra", "IAM a-b.c:d", "CONT", "cont \t x y \t", "CONTX",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, a1, a2, ok := ParseData(line)
		// LOGMessage is a fast path: where it answers, ParseData agrees.
		if msg, fast := LOGMessage(line); fast && (cmd != CmdLOG || !bytes.Equal(msg, a1)) {
			t.Fatalf("%q: LOGMessage %q, ParseData %v %q", line, msg, cmd, a1)
		}
		blankEdges := func(b []byte) bool {
			return len(b) > 0 && (isBlank(b[0]) || isBlank(b[len(b)-1]))
		}
		if len(a1) > len(line) || len(a2) > len(line) {
			t.Fatalf("args longer than line")
		}
		if (cmd == CmdBlank) != (len(bytes.Trim(line, " \t")) == 0) {
			t.Fatalf("%q: cmd %v", line, cmd)
		}
		switch cmd {
		case CmdBlank:
			if !ok || a1 != nil || a2 != nil {
				t.Fatalf("%q: blank with args/ok=%v", line, ok)
			}
		case CmdLOG, CmdCONT:
			if !ok || blankEdges(a1) || a2 != nil {
				t.Fatalf("%q: %v %q ok=%v", line, cmd, a1, ok)
			}
			if !bytes.HasSuffix(bytes.TrimRight(line, " \t"), a1) {
				t.Fatalf("%q: message %q is not the line's tail", line, a1)
			}
			// The message survives a round trip through a fresh LOG line.
			if _, m, _, _ := ParseData(append([]byte("LOG \t"), a1...)); !bytes.Equal(m, a1) {
				t.Fatalf("%q: round trip %q -> %q", line, a1, m)
			}
		case CmdIAM:
			if bytes.ContainsAny(a1, " \t") || blankEdges(a2) || a2 != nil && len(a2) == 0 {
				t.Fatalf("%q: IAM %q %q", line, a1, a2)
			}
			if ok != (ValidName(a1) && !bytes.ContainsAny(a2, " \t")) {
				t.Fatalf("%q: IAM %q %q ok=%v", line, a1, a2, ok)
			}
			if len(a1) == 0 && a2 != nil {
				t.Fatalf("%q: token without name", line)
			}
		case CmdSET:
			if bytes.ContainsAny(a1, " \t") || blankEdges(a2) {
				t.Fatalf("%q: SET %q %q", line, a1, a2)
			}
			if ok != (ValidName(a1) && len(a2) > 0) {
				t.Fatalf("%q: SET %q %q ok=%v", line, a1, a2, ok)
			}
			if len(a1) == 0 && len(a2) != 0 {
				t.Fatalf("%q: value without key", line)
			}
		case CmdUnknown:
			if ok || len(a1) == 0 || bytes.ContainsAny(a1, " \t") {
				t.Fatalf("%q: unknown %q ok=%v", line, a1, ok)
			}
			for _, w := range []string{"log", "set", "iam", "cont"} {
				if strings.EqualFold(string(a1), w) && len(a1) == len(w) {
					t.Fatalf("%q: %q treated as unknown", line, a1)
				}
			}
		default:
			t.Fatalf("%q: cmd %d", line, cmd)
		}
	})
}

// FuzzParseAdmin checks that ParseAdmin never panics, that what it accepts
// is consistent, and that it only produces the documented error texts.
func FuzzParseAdmin(f *testing.F) {
	for _, s := range []string{
		"", "PING", "ping x", "HELP", "NAMES", "CLIENTS", "CLIENT bob", "CLIENT",
		"LOG bob", "LOG bob 5", "LOG bob -5", "LOG bob 99999999999999999999", "LOG a b c",
		"STATE x", "STATS", "DUMP", "WATCH a b", "FORMAT json", "FORMAT xml", "QUIT", "frob",
		"\xff\xfe", "STATſ",
		"AUTH tok==", `AUTH "a b"`, "FORGET bob", "CLIENTS web-* limit=5 after=web-1 closed=1",
		"CLIENTS closed=1 all=1", `LOG bob 5 since=10m until=2026-11-24T00:36:25.123Z match="a \"b\" \\d"`,
		"LOG bob since=x", "GREP (?i)err clients=a* since=1764000000000 limit=100000", "GREP ( limit=1",
		`GREP "user=bob"`, "GREP user=bob", "WATCH a* match=x backlog=3", "CLUSTER LOG bob 3",
		"CLUSTER DUMP", "CLUSTER", `CLIENT "unterminated`, `CLIENT a"b c"d`,
	} {
		f.Add([]byte(s))
	}
	shortLog := "usage: LOG <name> [<n>]"
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := ParseAdmin(line)
		if err == nil {
			checkRequest(t, line, req)
			return
		}
		msg := err.Error()
		// A framed line never holds '\n', so only such lines must give a
		// one-line error; the others are still run for panics.
		if !utf8.ValidString(msg) || strings.Contains(msg, "\n") && !bytes.Contains(line, []byte("\n")) {
			t.Fatalf("%q: error %q not one valid line", line, msg)
		}
		switch {
		case req.Cmd == AdminUnknown:
			if want := `unknown command "` + string(AppendValidUTF8(nil, []byte(req.Word))) + `"`; msg != want {
				t.Fatalf("%q: %q, want %q", line, msg, want)
			}
		case req.Cmd == AdminBlank:
			t.Fatalf("%q: blank with error %q", line, msg)
		case msg == usageErr[req.Cmd].Error() || msg == shortLog && req.Cmd == AdminLOG:
		case strings.HasPrefix(msg, "usage: bad regex: "):
			if req.Cmd != AdminLOG && req.Cmd != AdminGREP && req.Cmd != AdminWATCH {
				t.Fatalf("%q: %q for %v", line, msg, req.Cmd)
			}
		case strings.HasPrefix(msg, "usage: bad time "):
			if req.Cmd != AdminLOG && req.Cmd != AdminGREP {
				t.Fatalf("%q: %q for %v", line, msg, req.Cmd)
			}
		default:
			t.Fatalf("%q: undocumented error %q (cmd %v)", line, msg, req.Cmd)
		}
	})
}

// checkRequest checks the invariants of a request ParseAdmin accepted.
func checkRequest(t *testing.T, line []byte, req Request) {
	t.Helper()
	w := adminWord(req.Cmd)
	switch {
	case req.Cmd == AdminBlank:
		if len(bytes.Trim(line, " \t")) != 0 {
			t.Fatalf("%q: blank", line)
		}
		return
	case w == nil || req.Cmd == AdminCLUSTER:
		t.Fatalf("%q: %v without error", line, req.Cmd)
	case req.Cluster != (req.Inner != "") || req.Cluster && !w.cluster:
		t.Fatalf("%q: cluster %v inner %q for %v", line, req.Cluster, req.Inner, req.Cmd)
	case req.N < -1 || req.N >= 0 && req.Cmd != AdminLOG:
		t.Fatalf("%q: N=%d", line, req.N)
	case req.Names != nil && req.Cmd != AdminWATCH:
		t.Fatalf("%q: names on %v", line, req.Cmd)
	case req.Match != nil && req.Cmd != AdminLOG && req.Cmd != AdminGREP && req.Cmd != AdminWATCH:
		t.Fatalf("%q: match on %v", line, req.Cmd)
	case (req.Since.IsSet() || req.Until.IsSet()) && req.Cmd != AdminLOG && req.Cmd != AdminGREP:
		t.Fatalf("%q: time window on %v", line, req.Cmd)
	case req.Cmd == AdminGREP && (req.Limit < 0 || req.Limit > GrepMaxLimit):
		t.Fatalf("%q: GREP limit %d", line, req.Limit)
	case req.Cmd == AdminCLIENTS && (req.Limit < -1 || req.Closed && req.All):
		t.Fatalf("%q: CLIENTS limit %d closed %v all %v", line, req.Limit, req.Closed, req.All)
	case req.Cmd != AdminGREP && req.Cmd != AdminCLIENTS && req.Limit != 0:
		t.Fatalf("%q: limit on %v", line, req.Cmd)
	case req.Match != nil && len(req.Match.String()) > MaxRegexLen:
		t.Fatalf("%q: regex of %d bytes", line, len(req.Match.String()))
	}
	// The request text of a CLUSTER request parses to the same request.
	if req.Cluster {
		inner, err := ParseAdmin([]byte(req.Inner))
		if err != nil || inner.Cmd != req.Cmd || inner.Name != req.Name || inner.N != req.N || inner.Limit != req.Limit {
			t.Fatalf("%q: inner %q parses to %+v, %v", line, req.Inner, inner, err)
		}
	}
}

// FuzzUTF8 checks AppendValidUTF8 against bytes.ToValidUTF8, which has the
// same run-to-one-U+FFFD rule, and TruncateUTF8's prefix guarantees.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("héllo €𝄞"), 3)
	f.Add([]byte("a\xff\xfe\xe2\x82b"), 4)
	f.Add([]byte("a\xf0\x9f\x8c"), 10)
	f.Fuzz(func(t *testing.T, p []byte, n int) {
		want := bytes.IndexFunc(p, func(r rune) bool { return r >= utf8.RuneSelf })
		if want < 0 {
			want = len(p)
		}
		if asciiPrefix(p) != want {
			t.Fatalf("asciiPrefix(%q) = %d, first non-ASCII byte at %d", p, asciiPrefix(p), want)
		}
		if ValidUTF8(p) != utf8.Valid(p) {
			t.Fatalf("ValidUTF8(%q) = %v, utf8.Valid says %v", p, ValidUTF8(p), utf8.Valid(p))
		}
		got := AppendValidUTF8(nil, p)
		if want := bytes.ToValidUTF8(p, []byte("\uFFFD")); !bytes.Equal(got, want) {
			t.Fatalf("AppendValidUTF8(%q) = %q, want %q", p, got, want)
		}
		if len(got) > 2*len(p)+1 {
			t.Fatalf("AppendValidUTF8(%q) grew to %d", p, len(got))
		}
		tr := TruncateUTF8(p, n)
		if len(tr) > max(n, 0) || !bytes.HasPrefix(p, tr) {
			t.Fatalf("TruncateUTF8(%q, %d) = %q", p, n, tr)
		}
		if utf8.Valid(p) {
			if !utf8.Valid(tr) {
				t.Fatalf("TruncateUTF8(%q, %d) = %q splits a rune", p, n, tr)
			}
			if rest := p[len(tr):]; len(rest) > 0 {
				_, size := utf8.DecodeRune(rest)
				if len(tr)+size <= n {
					t.Fatalf("TruncateUTF8(%q, %d) = %q is not the longest", p, n, tr)
				}
			}
		}
	})
}

// FuzzProxy checks ParseProxy's guarantees on arbitrary input: it never
// panics, never consumes more than it was given or more than the limits
// allow, a complete header parses the same alone and whatever follows it,
// every proper prefix of a complete header asks for more, and it waits for
// more only within the limits.
func FuzzProxy(f *testing.F) {
	for _, s := range [][]byte{
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"),
		[]byte("PROXY TCP6 2001:db8::1 2001:db8::2 8080 2212\r\nIAM x\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
		[]byte("PROXY TCP4"),
		[]byte("IAM bob\n"),
		v2(0x21, 0x11, addr4),
		v2(0x21, 0x21, addr6, tlv(0x01, []byte("h2")), tlv(0x04, nil)),
		withCRC(v2(0x21, 0x11, addr4, tlv(0x03, []byte{0, 0, 0, 0}))),
		v2(0x20, 0x00),
		v2(0x21, 0x31, make([]byte, 216)),
		v2(0x21, 0x11, addr4)[:20],
		v2(0x21, 0x11, addr4, []byte{0x04, 0}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, n, more, err := ParseProxy(data)
		switch {
		case err != nil:
			if n != 0 || more || src.IsValid() || !strings.HasPrefix(err.Error(), "proxy protocol: ") {
				t.Fatalf("%q: error %v with n %d more %v src %v", data, err, n, more, src)
			}
			return
		case more:
			if n != 0 || src.IsValid() || len(data) >= MaxProxyHeaderLen || len(data) > 0 && data[0] == 'P' && len(data) >= MaxProxyV1Len {
				t.Fatalf("%q: more with n %d src %v", data, n, src)
			}
			return
		}
		if n <= 0 || n > len(data) || n > MaxProxyHeaderLen || data[0] == 'P' && n > MaxProxyV1Len {
			t.Fatalf("%q: consumed %d", data, n)
		}
		for _, in := range [][]byte{data[:n:n], append(data[:n:n], "IAM x\n"...)} {
			if s2, n2, m2, e2 := ParseProxy(in); s2 != src || n2 != n || m2 || e2 != nil {
				t.Fatalf("%q: %v %d, but %q gives %v %d %v %v", data, src, n, in, s2, n2, m2, e2)
			}
		}
		for k := 0; k < n; k += max(1, n/64) {
			if _, n2, m2, e2 := ParseProxy(data[:k]); !m2 || n2 != 0 || e2 != nil {
				t.Fatalf("%q: prefix %d gives %d %v %v, want more", data, k, n2, m2, e2)
			}
		}
	})
}
