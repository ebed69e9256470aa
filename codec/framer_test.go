package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

type frame struct {
	line string
	long bool
}

func (f frame) String() string { return fmt.Sprintf("{%q long=%v}", f.line, f.long) }

// refSplit is the obviously-correct model of Framer: split the whole stream
// at '\n', drop one '\r' before each, truncate over-long lines. For the
// unterminated tail it also gives what the Framer must report: a long frame
// once the tail is known to exceed max, otherwise the bytes it must hold.
func refSplit(stream []byte, max int) (frames []frame, buffered int) {
	for {
		i := bytes.IndexByte(stream, '\n')
		if i < 0 {
			break
		}
		l := stream[:i]
		stream = stream[i+1:]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if len(l) > max {
			frames = append(frames, frame{string(l[:max]), true})
		} else {
			frames = append(frames, frame{string(l), false})
		}
	}
	switch t := stream; {
	case len(t) > max+1 || len(t) == max+1 && t[max] != '\r':
		frames = append(frames, frame{string(t[:max]), true})
	case len(t) == max+1: // max bytes then a '\r' that may yet precede '\n'
		buffered = max
	default:
		buffered = len(t)
	}
	return frames, buffered
}

// feed runs a Framer over reads, checking the Buffered bound and the Next
// contract after every call, and returns what it produced. If after is not
// nil it is called after each read with the frames so far.
func feed(t testing.TB, max int, reads [][]byte, after func(k int, frames []frame, buffered int)) (frames []frame, buffered int) {
	t.Helper()
	f := NewFramer(max)
	for k, r := range reads {
		buf := r
		for {
			before := len(buf)
			line, long, ok := f.Next(&buf)
			if got := f.Buffered(); got > max || got < 0 {
				t.Fatalf("Buffered() = %d, max %d", got, max)
			}
			if cap(f.pending) > max {
				t.Fatalf("pending cap %d > max %d", cap(f.pending), max)
			}
			if !ok {
				if len(buf) != 0 {
					t.Fatalf("ok=false with %d bytes left in buf", len(buf))
				}
				break
			}
			if len(buf) > before {
				t.Fatalf("buf grew")
			}
			if len(line) > max {
				t.Fatalf("line of %d bytes > max %d", len(line), max)
			}
			if long && len(line) != max {
				t.Fatalf("long line of %d bytes, want %d", len(line), max)
			}
			frames = append(frames, frame{string(line), long})
		}
		if after != nil {
			after(k, frames, f.Buffered())
		}
	}
	return frames, f.Buffered()
}

// checkFrames compares the Framer with refSplit after every read, not only at
// the end, so a Framer that sat on a long line or a complete line until more
// input came would fail.
func checkFrames(t testing.TB, max int, reads [][]byte) {
	t.Helper()
	var prefix []byte
	feed(t, max, reads, func(k int, got []frame, gotBuf int) {
		t.Helper()
		prefix = append(prefix, reads[k]...)
		want, wantBuf := refSplit(prefix, max)
		if !equalFrames(got, want) || gotBuf != wantBuf {
			t.Fatalf("max=%d reads=%q after read %d:\n got  %v buffered %d\n want %v buffered %d",
				max, reads, k, got, gotBuf, want, wantBuf)
		}
	})
}

func equalFrames(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestFramer(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name     string
		max      int
		reads    [][]byte
		want     []frame
		buffered int
	}{
		{"one line", 8, bs("abc\n"), []frame{{"abc", false}}, 0},
		{"several lines one read", 8, bs("a\nbb\nccc\n"), []frame{{"a", false}, {"bb", false}, {"ccc", false}}, 0},
		{"crlf", 8, bs("abc\r\n"), []frame{{"abc", false}}, 0},
		{"only one cr dropped", 8, bs("abc\r\r\n"), []frame{{"abc\r", false}}, 0},
		{"lone cr is a byte", 8, bs("a\rb\n"), []frame{{"a\rb", false}}, 0},
		{"empty lines", 8, bs("\n\r\n\n"), []frame{{"", false}, {"", false}, {"", false}}, 0},
		{"partial held", 8, bs("abc"), nil, 3},
		{"partial then rest", 8, bs("ab", "c\nd"), []frame{{"abc", false}}, 1},
		{"crlf split", 8, bs("abc\r", "\n"), []frame{{"abc", false}}, 0},
		{"crlf split after held", 8, bs("a", "bc\r", "\n"), []frame{{"abc", false}}, 0},
		{"exactly max", 4, bs("abcd\n"), []frame{{"abcd", false}}, 0},
		{"exactly max crlf", 4, bs("abcd\r\n"), []frame{{"abcd", false}}, 0},
		{"exactly max crlf split at cr", 4, bs("abcd\r", "\n"), []frame{{"abcd", false}}, 0},
		{"exactly max spanning, crlf split", 4, bs("ab", "cd\r", "\nz\n"), []frame{{"abcd", false}, {"z", false}}, 0},
		{"max+1", 4, bs("abcde\nz\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"max+1 is cr then byte", 4, bs("abcd\rx\nz\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"max+1 is cr then cr lf", 4, bs("abcd\r\r\nz\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"max+1 cr held then byte", 4, bs("abcd\r", "x\nz\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"long reported before newline", 4, bs("abcde"), []frame{{"abcd", true}}, 0},
		{"long cr undecided", 4, bs("abcd\r"), nil, 4},
		{"long over many reads", 4, bs("ab", "cd", "ef", "gh", "ij", "\nz\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"long one byte reads", 3, bs("a", "b", "c", "d", "e", "\r", "\n", "k", "\n"), []frame{{"abc", true}, {"k", false}}, 0},
		{"long then partial", 4, bs(x(100) + "\nab"), []frame{{"xxxx", true}}, 2},
		{"long ends exactly at read", 4, bs("abcdefg", "\n", "z\n"), []frame{{"abcd", true}, {"z", false}}, 0},
		{"max zero", 0, bs("\n\r\na\nb\r\n"), []frame{{"", false}, {"", false}, {"", true}, {"", true}}, 0},
		{"max zero cr split", 0, bs("\r", "\n"), []frame{{"", false}}, 0},
		{"nul and invalid utf8", 8, bs("\x00\xff\xfe\n"), []frame{{"\x00\xff\xfe", false}}, 0},
		{"empty reads", 8, bs("", "a", "", "\n", ""), []frame{{"a", false}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, buffered := feed(t, tt.max, tt.reads, nil)
			if !equalFrames(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
			if buffered != tt.buffered {
				t.Errorf("Buffered() = %d, want %d", buffered, tt.buffered)
			}
			checkFrames(t, tt.max, tt.reads) // and the model agrees
		})
	}
}

// TestFramerAliasing checks where lines live: in the read buffer when they do
// not span reads, which is what lets Next avoid copying.
func TestFramerAliasing(t *testing.T) {
	f := NewFramer(16)
	buf := []byte("hello\nwor")
	orig := buf
	line, _, ok := f.Next(&buf)
	if !ok || &line[0] != &orig[0] {
		t.Fatalf("first line not sliced from the read buffer")
	}
	if _, _, ok := f.Next(&buf); ok {
		t.Fatal("partial line returned")
	}
	if f.Buffered() != 3 {
		t.Fatalf("Buffered() = %d, want 3", f.Buffered())
	}
	buf2 := []byte("ld\n")
	line, _, ok = f.Next(&buf2)
	if !ok || string(line) != "world" {
		t.Fatalf("got %q %v", line, ok)
	}
	if f.Buffered() != 0 {
		t.Fatalf("Buffered() after completed line = %d", f.Buffered())
	}
}

func TestFramerMemory(t *testing.T) {
	t.Run("new framer holds nothing", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { _ = NewFramer(65536) }); n != 0 {
			t.Fatalf("NewFramer allocates %v", n)
		}
	})
	t.Run("big pending dropped after line", func(t *testing.T) {
		f := NewFramer(65536)
		big := bytes.Repeat([]byte("y"), 10000)
		b := big
		f.Next(&b)
		if f.Buffered() != 10000 {
			t.Fatalf("Buffered() = %d", f.Buffered())
		}
		b = []byte("\n")
		if l, _, ok := f.Next(&b); !ok || len(l) != 10000 {
			t.Fatal("line not returned")
		}
		f.Next(&b) // the next call may reuse or drop the buffer
		if f.pending != nil {
			t.Fatalf("kept a %d-byte buffer", cap(f.pending))
		}
	})
	t.Run("big pending dropped after long line", func(t *testing.T) {
		f := NewFramer(8192)
		for _, r := range bs(strings.Repeat("y", 5000), strings.Repeat("y", 5000), "\n") {
			for f.Next(&r); len(r) > 0; f.Next(&r) {
			}
		}
		if f.pending != nil || f.skip {
			t.Fatalf("pending cap %d skip %v", cap(f.pending), f.skip)
		}
	})
	t.Run("small pending kept", func(t *testing.T) {
		f := NewFramer(65536)
		b := []byte("abc")
		f.Next(&b)
		b = []byte("\n")
		f.Next(&b)
		f.Next(&b)
		if f.pending == nil || len(f.pending) != 0 {
			t.Fatalf("pending = %v (cap %d)", f.pending, cap(f.pending))
		}
	})
	t.Run("release", func(t *testing.T) {
		f := NewFramer(100)
		b := []byte("abcdef")
		f.Next(&b)
		f.Release()
		if f.pending != nil || f.Buffered() != 0 || f.max != 100 {
			t.Fatalf("after Release: %+v", f)
		}
		b = []byte("x\n")
		if l, _, ok := f.Next(&b); !ok || string(l) != "x" {
			t.Fatalf("after Release got %q", l)
		}
	})
	t.Run("spanning steady state does not allocate", func(t *testing.T) {
		f := NewFramer(65536)
		reads := bs("LOG first half of a ", "line\nLOG another li", "ne\r", "\n")
		run := func() {
			for _, r := range reads {
				for {
					if _, _, ok := f.Next(&r); !ok {
						break
					}
				}
			}
		}
		run() // first spanning line sizes the buffer
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Fatalf("allocs = %v", n)
		}
	})
}

func TestFramerNoAllocs(t *testing.T) {
	read := bytes.Repeat([]byte("LOG the quick brown fox jumps over the lazy dog\n"), 200)
	f := NewFramer(65536)
	n := testing.AllocsPerRun(100, func() {
		buf := read
		for {
			line, _, ok := f.Next(&buf)
			if !ok {
				break
			}
			ParseData(line)
		}
	})
	if n != 0 {
		t.Fatalf("allocs per read = %v", n)
	}
}

func TestNewFramerNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewFramer(-1)
}

// randomStream builds lines designed to hit the Framer's edges: lengths
// around max, '\r' at every interesting place, NULs and invalid UTF-8.
func randomStream(r *rand.Rand, max int) []byte {
	alphabet := []byte("ab \t\r\x00\xff\xc3\xa9")
	var out []byte
	for n := r.IntN(12); n > 0; n-- {
		var l int
		switch r.IntN(6) {
		case 0:
			l = 0
		case 1:
			l = max
		case 2:
			l = max + 1
		case 3:
			l = max + 2 + r.IntN(3*max+2)
		default:
			l = r.IntN(max + 1)
		}
		for i := 0; i < l; i++ {
			out = append(out, alphabet[r.IntN(len(alphabet))])
		}
		switch r.IntN(4) {
		case 0:
			out = append(out, '\r', '\n')
		case 1:
			if n > 1 || r.IntN(2) == 0 {
				out = append(out, '\n') // else leave an unterminated tail
			}
		default:
			out = append(out, '\n')
		}
	}
	return out
}

// splitRandom cuts stream into reads: often single bytes, sometimes empty,
// sometimes large.
func splitRandom(r *rand.Rand, stream []byte) [][]byte {
	var reads [][]byte
	for len(stream) > 0 {
		var n int
		switch r.IntN(4) {
		case 0:
			n = 1
		case 1:
			n = 0
		default:
			n = r.IntN(len(stream) + 1)
		}
		reads = append(reads, stream[:n])
		stream = stream[n:]
	}
	return reads
}

func TestFramerProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for i := 0; i < iters; i++ {
		max := r.IntN(12)
		if i%10 == 0 {
			max = r.IntN(300)
		}
		stream := randomStream(r, max)
		checkFrames(t, max, splitRandom(r, stream))
		checkFrames(t, max, [][]byte{stream})
	}
}

func TestFramerAtLineStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int
		reads []string
		want  bool
	}{
		{"fresh", 8, nil, true},
		{"whole lines", 8, []string{"ab\ncd\n"}, true},
		{"unfinished line", 8, []string{"ab\ncd"}, false},
		{"line finished in a later read", 8, []string{"ab", "cd\n"}, true},
		{"'\\r' of a line of max bytes, '\\n' not yet seen", 3, []string{"abc\r"}, false},
		{"tail of a long line being skipped", 4, []string{"abcdefg"}, false},
		{"long line ended", 4, []string{"abcdefg", "h\n"}, true},
		{"long line ended, next begun", 4, []string{"abcdefg", "h\nx"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFramer(tc.max)
			for _, r := range tc.reads {
				buf := []byte(r)
				for {
					if _, _, ok := f.Next(&buf); !ok {
						break
					}
				}
			}
			if got := f.AtLineStart(); got != tc.want {
				t.Fatalf("AtLineStart = %v, want %v", got, tc.want)
			}
			// Bytes given next start a line exactly when AtLineStart said so.
			buf := []byte("z\n")
			line, _, ok := f.Next(&buf)
			if got := ok && string(line) == "z"; got != tc.want {
				t.Fatalf("next line %q ok=%v, AtLineStart said %v", line, ok, tc.want)
			}
		})
	}
}
