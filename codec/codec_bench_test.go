package codec

import (
	"bytes"
	"testing"
	"time"
)

// logBuffer returns a 64 KiB read buffer of whole `LOG <64-byte message>\n`
// lines (the tail is padded with one shorter line so it ends on '\n') and the
// number of lines in it.
func logBuffer() ([]byte, int) {
	const size = 64 << 10
	line := []byte("LOG " + string(bytes.Repeat([]byte("m"), 64)) + "\n")
	buf := make([]byte, 0, size)
	n := 0
	for len(buf)+len(line) <= size {
		buf = append(buf, line...)
		n++
	}
	if rest := size - len(buf); rest > 0 {
		pad := append([]byte("LOG "), bytes.Repeat([]byte("p"), max(rest-5, 0))...)
		buf = append(buf, pad[:rest-1]...)
		buf = append(buf, '\n')
		n++
	}
	return buf, n
}

func frameParse(f *Framer, buf []byte) (n int) {
	for {
		line, _, ok := f.Next(&buf)
		if !ok {
			return n
		}
		if cmd, _, _, _ := ParseData(line); cmd == CmdLOG {
			n++
		}
	}
}

func reportPerLine(b *testing.B, start time.Time, lines int) {
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(lines), "ns/line")
}

// BenchmarkFrameParseLOG: one op is one whole 64 KiB read buffer framed and
// parsed; ns/line is reported alongside.
func BenchmarkFrameParseLOG(b *testing.B) {
	buf, lines := logBuffer()
	f := NewFramer(64 << 10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if n := frameParse(&f, buf); n != lines {
			b.Fatalf("parsed %d lines, want %d", n, lines)
		}
	}
	reportPerLine(b, start, b.N*lines)
}

// BenchmarkFrameSpanning: one op is the same 64 KiB stream delivered in
// 1,000-byte reads, so most reads end mid-line and that line is copied.
func BenchmarkFrameSpanning(b *testing.B) {
	buf, lines := logBuffer()
	var reads [][]byte
	for rest := buf; len(rest) > 0; {
		n := min(1000, len(rest))
		reads = append(reads, rest[:n])
		rest = rest[n:]
	}
	f := NewFramer(64 << 10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		n := 0
		for _, r := range reads {
			n += frameParse(&f, r)
		}
		if n != lines {
			b.Fatalf("parsed %d lines, want %d", n, lines)
		}
	}
	reportPerLine(b, start, b.N*lines)
}

// BenchmarkAppendValidUTF8: one op is one 64-byte-ish message.
func BenchmarkAppendValidUTF8(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{
		{"valid", []byte("temperature 21.5 °C — sensor ✓ ok, humidity 40% 🌡️ and more text")},
		{"invalid", []byte("temperature 21.5 \xb0C \xff\xfe sensor \xe2\x9c ok, humidity 40% \xf0\x9f and more")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]byte, 0, 2*len(bc.in)+1)
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendValidUTF8(dst[:0], bc.in)
			}
		})
	}
}
