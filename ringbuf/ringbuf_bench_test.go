package ringbuf

import (
	"bytes"
	"testing"
)

// BenchmarkPushWarm measures Push on a full ring with the default caps,
// where every push evicts one entry; it must report 0 allocs/op.
func BenchmarkPushWarm(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{
		{"64B", 64},
		{"1KiB", 1024},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := New(defEntries, defBytes)
			msg := bytes.Repeat([]byte("x"), bc.size)
			for i := range 4 * defEntries {
				r.Push(int64(i), msg)
			}
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			var ts int64
			for b.Loop() {
				ts++
				r.Push(ts, msg)
			}
		})
	}
}

// BenchmarkLast128 measures reading all 128 entries of a full default ring
// into a reused buffer, as a LOG query does.
func BenchmarkLast128(b *testing.B) {
	r := New(defEntries, defBytes)
	msg := bytes.Repeat([]byte("x"), 64)
	for i := range 4 * defEntries {
		r.Push(int64(i), msg)
	}
	out := make([]byte, 0, 2*defEntries*(8+64))
	b.ReportAllocs()
	b.SetBytes(int64(r.Bytes()))
	for b.Loop() {
		out = out[:0]
		r.Last(128, func(ts int64, msg []byte) bool {
			out = append(out, byte(ts), byte(ts>>8), byte(ts>>16), byte(ts>>24),
				byte(ts>>32), byte(ts>>40), byte(ts>>48), byte(ts>>56))
			out = append(out, msg...)
			return true
		})
	}
	if len(out) != defEntries*(8+64) {
		b.Fatalf("copied %d bytes", len(out))
	}
}
