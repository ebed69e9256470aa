package ringbuf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

const (
	defEntries = 128
	defBytes   = 1 << 20
)

type entry struct {
	ts  int64
	msg string
}

// all returns the ring's entries, oldest first, copied out of its storage.
func all(r *Ring) []entry {
	var out []entry
	r.Range(0, func(ts int64, msg []byte) bool {
		out = append(out, entry{ts, string(msg)})
		return true
	})
	return out
}

func last(r *Ring, n int) []entry {
	var out []entry
	r.Last(n, func(ts int64, msg []byte) bool {
		out = append(out, entry{ts, string(msg)})
		return true
	})
	return out
}

// arena backs payload: a pattern that does not repeat within 251 bytes.
var arena = func() []byte {
	b := make([]byte, 251+4096)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

// payload returns a message of size bytes whose content depends on seq, so
// that a test can tell pushes apart even when sizes repeat. Small payloads
// are slices of arena to keep the fuzz target cheap; the ring copies them.
func payload(seq int64, size int) []byte {
	if off := int(seq % 251); off+size <= len(arena) {
		return arena[off : off+size : off+size]
	}
	b := make([]byte, size)
	for j := range b {
		b[j] = byte((seq + int64(j)) % 251)
	}
	return b
}

// checker pushes numbered messages and verifies the ring's invariants after
// each push against the full history.
type checker struct {
	t       testing.TB
	r       Ring
	pushed  [][]byte // as stored (after truncation to maxBytes)
	maxSize int      // largest stored message length so far
	scratch []byte   // Extend's
}

func newChecker(t testing.TB, maxEntries, maxBytes int) *checker {
	return &checker{t: t, r: New(maxEntries, maxBytes)}
}

func (c *checker) push(size int) {
	c.t.Helper()
	seq := int64(len(c.pushed))
	msg := payload(seq, size)
	c.r.Push(seq, msg)
	_, maxBytes := c.r.Cap()
	if len(msg) > maxBytes {
		msg = msg[:maxBytes]
	}
	c.pushed = append(c.pushed, msg)
	c.maxSize = max(c.maxSize, len(msg))
	c.check()
}

// extend continues the newest message with size bytes, as Ring.Extend.
func (c *checker) extend(size int) {
	c.t.Helper()
	if len(c.pushed) == 0 || c.r.Len() == 0 {
		c.push(size)
		return
	}
	seq := int64(len(c.pushed) - 1)
	add := payload(seq*7+1, size)
	c.scratch = c.r.Extend(seq, add, c.scratch)
	msg := append(append([]byte(nil), c.pushed[seq]...), add...)
	_, maxBytes := c.r.Cap()
	if len(msg) > maxBytes {
		msg = msg[:maxBytes]
	}
	c.pushed[seq] = msg
	c.maxSize = max(c.maxSize, len(msg))
	c.check()
}

func (c *checker) check() {
	c.t.Helper()
	r := &c.r
	maxEntries, maxBytes := r.Cap()
	// The entries must be the newest Len() pushes, in order. Compare in
	// place: check runs after every push, so it must stay cheap.
	first := len(c.pushed) - r.Len()
	k, sum := 0, 0
	r.Range(0, func(ts int64, msg []byte) bool {
		want := first + k
		if want < 0 || want >= len(c.pushed) || ts != int64(want) || !bytes.Equal(msg, c.pushed[want]) {
			c.t.Fatalf("entry %d = (ts %d, %d bytes), want push %d: not a suffix of the history",
				k, ts, len(msg), want)
		}
		k++
		sum += len(msg)
		return true
	})
	if k != r.Len() {
		c.t.Fatalf("Range yielded %d entries, Len() = %d", k, r.Len())
	}
	if len(c.pushed) > 0 && k == 0 {
		c.t.Fatalf("ring empty after %d pushes; newest must be present", len(c.pushed))
	}
	if r.Len() > maxEntries {
		c.t.Fatalf("Len() = %d > maxEntries %d", r.Len(), maxEntries)
	}
	if sum != r.Bytes() {
		c.t.Fatalf("Bytes() = %d, sum of messages = %d", r.Bytes(), sum)
	}
	if sum > maxBytes {
		c.t.Fatalf("Bytes() = %d > maxBytes %d", sum, maxBytes)
	}
	// Not over-eager: if an entry was dropped while under the count cap, it
	// was for bytes, and gaps cost less than two messages.
	if first > 0 && r.Len() < maxEntries && sum < maxBytes-2*c.maxSize {
		c.t.Fatalf("kept %d entries / %d bytes (caps %d/%d, largest msg %d): evicted too eagerly",
			r.Len(), sum, maxEntries, maxBytes, c.maxSize)
	}
	if cap(r.data) > maxBytes || cap(r.meta) > maxEntries {
		c.t.Fatalf("caps data=%d meta=%d exceed limits %d/%d",
			cap(r.data), cap(r.meta), maxBytes, maxEntries)
	}
	if r.Footprint() != cap(r.data)+8*cap(r.meta) {
		c.t.Fatalf("Footprint() = %d disagrees with capacities", r.Footprint())
	}
}

func TestNewAllocatesNothing(t *testing.T) {
	var r Ring
	allocs := testing.AllocsPerRun(100, func() { r = New(defEntries, defBytes) })
	if allocs != 0 {
		t.Errorf("New allocated %v times", allocs)
	}
	if r.Footprint() != 0 || r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("new ring: Footprint %d Len %d Bytes %d, want 0", r.Footprint(), r.Len(), r.Bytes())
	}
	if e, b := r.Cap(); e != defEntries || b != defBytes {
		t.Errorf("Cap() = %d, %d", e, b)
	}
	if got := all(&r); len(got) != 0 {
		t.Errorf("new ring yields %v", got)
	}
}

func TestNewPanics(t *testing.T) {
	for _, tc := range []struct{ entries, bytes int }{
		{0, 1}, {1, 0}, {-1, 10}, {10, -1},
	} {
		t.Run(fmt.Sprintf("%d,%d", tc.entries, tc.bytes), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(tc.entries, tc.bytes)
		})
	}
}

func TestZeroRingPushPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Push on zero Ring did not panic")
		}
	}()
	var r Ring
	r.Push(1, []byte("x"))
}

func TestPush(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxEntries int
		maxBytes   int
		sizes      []int
		wantLen    int // entries kept after all pushes
	}{
		{"order", 10, 1000, []int{1, 2, 3, 4}, 4},
		{"count", 3, 1000, []int{5, 5, 5, 5, 5, 5, 5}, 3},
		{"count one", 1, 1000, []int{5, 7, 9}, 1},
		{"bytes", 100, 100, []int{30, 30, 30, 30, 30, 30, 30}, 3},
		{"bytes exact", 100, 90, []int{30, 30, 30, 30, 30}, 3},
		{"bytes one", 100, 100, []int{60, 60, 60}, 1},
		{"zero length", 4, 10, []int{0, 0, 0, 0, 0, 0}, 4},
		{"zero length between", 5, 100, []int{40, 0, 40, 0, 40, 0, 40}, 4},
		{"too long", 10, 16, []int{100, 3, 100}, 1},
		{"too long first", 10, 16, []int{100}, 1},
		{"fill exactly", 10, 64, []int{16, 16, 16, 16}, 4},
		{"wrap gap", 10, 100, []int{40, 40, 30, 30}, 2},
		// Growth to maxBytes drops what the final store cannot hold
		// before copying.
		{"grow evicts", 10, 280, []int{100, 100, 100}, 2},
		// Count evictions let the store wrap before it is full size; a
		// later big message then grows it and must linearise both parts.
		{"grow while wrapped", 4, 4096, []int{100, 100, 100, 100, 100, 100, 300}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(t, tc.maxEntries, tc.maxBytes)
			for _, s := range tc.sizes {
				c.push(s)
			}
			if got := c.r.Len(); got != tc.wantLen {
				t.Errorf("Len() = %d, want %d", got, tc.wantLen)
			}
		})
	}
}

func TestTooLongTruncated(t *testing.T) {
	r := New(4, 8)
	r.Push(7, []byte("0123456789abcdef"))
	want := []entry{{7, "01234567"}}
	if got := all(&r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPushCopies(t *testing.T) {
	r := New(4, 64)
	msg := []byte("hello")
	r.Push(1, msg)
	copy(msg, "XXXXX")
	if got := all(&r); got[0].msg != "hello" {
		t.Errorf("ring aliases caller's msg: %q", got[0].msg)
	}
}

func TestRangeMsgCapped(t *testing.T) {
	// An append by fn must not overwrite the next entry.
	r := New(4, 64)
	r.Push(1, []byte("aa"))
	r.Push(2, []byte("bb"))
	r.Range(0, func(_ int64, msg []byte) bool {
		_ = append(msg, 'Z')
		return true
	})
	if got := all(&r); got[1].msg != "bb" {
		t.Errorf("append through msg clobbered the next entry: %q", got[1].msg)
	}
}

func fill(r *Ring, n int) {
	for i := range n {
		r.Push(int64(i), []byte(fmt.Sprint("m", i)))
	}
}

func TestLast(t *testing.T) {
	r := New(5, 1000)
	fill(&r, 8) // keeps m3..m7
	for _, tc := range []struct {
		n    int
		want []int64
	}{
		{0, nil},
		{1, []int64{7}},
		{3, []int64{5, 6, 7}},
		{5, []int64{3, 4, 5, 6, 7}},
		{6, []int64{3, 4, 5, 6, 7}},
		{1 << 30, []int64{3, 4, 5, 6, 7}},
		{-1, []int64{3, 4, 5, 6, 7}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			var got []int64
			for _, e := range last(&r, tc.n) {
				if e.msg != fmt.Sprint("m", e.ts) {
					t.Errorf("ts %d carries %q", e.ts, e.msg)
				}
				got = append(got, e.ts)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Last(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestRangeSkipAndStop(t *testing.T) {
	r := New(5, 1000)
	fill(&r, 8) // keeps m3..m7
	for _, tc := range []struct {
		name  string
		skip  int
		limit int // fn returns false after this many calls
		want  []int64
	}{
		{"all", 0, 100, []int64{3, 4, 5, 6, 7}},
		{"negative skip", -3, 100, []int64{3, 4, 5, 6, 7}},
		{"skip 2", 2, 100, []int64{5, 6, 7}},
		{"skip all", 5, 100, nil},
		{"skip beyond", 9, 100, nil},
		{"stop after 1", 0, 1, []int64{3}},
		{"skip 1 stop after 2", 1, 2, []int64{4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			r.Range(tc.skip, func(ts int64, _ []byte) bool {
				got = append(got, ts)
				return len(got) < tc.limit
			})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	r := New(10, 100)
	fill(&r, 20)
	if r.Footprint() == 0 {
		t.Fatal("Footprint() = 0 after pushes")
	}
	r.Reset()
	if r.Footprint() != 0 || r.Len() != 0 || r.Bytes() != 0 || r.data != nil || r.meta != nil {
		t.Fatalf("after Reset: Footprint %d Len %d Bytes %d", r.Footprint(), r.Len(), r.Bytes())
	}
	if e, b := r.Cap(); e != 10 || b != 100 {
		t.Errorf("Reset changed caps to %d, %d", e, b)
	}
	r.Push(42, []byte("again"))
	if got := all(&r); fmt.Sprint(got) != fmt.Sprint([]entry{{42, "again"}}) {
		t.Errorf("after Reset and Push: %v", got)
	}
}

// TestCapacities pins the memory target: 128 entries of 64 bytes cost
// 8192 + 128*8 bytes, and steady state does not grow further.
func TestCapacities(t *testing.T) {
	for _, pushes := range []int{128, 10_000} {
		t.Run(fmt.Sprint(pushes), func(t *testing.T) {
			r := New(defEntries, defBytes)
			msg := bytes.Repeat([]byte("x"), 64)
			for i := range pushes {
				r.Push(int64(i), msg)
			}
			if cap(r.data) != 8192 || cap(r.meta) != 128 {
				t.Errorf("caps data=%d meta=%d, want 8192/128",
					cap(r.data), cap(r.meta))
			}
			if got, want := r.Footprint(), 8192+128*8; got != want {
				t.Errorf("Footprint() = %d, want %d", got, want)
			}
			if r.Len() != 128 || r.Bytes() != 128*64 {
				t.Errorf("Len %d Bytes %d", r.Len(), r.Bytes())
			}
		})
	}
}

func TestGrowthIsGradual(t *testing.T) {
	r := New(defEntries, defBytes)
	r.Push(1, []byte("hi"))
	if cap(r.data) != minDataCap || cap(r.meta) != minEntryCap {
		t.Errorf("after one push: data=%d meta=%d, want %d/%d", cap(r.data), cap(r.meta), minDataCap, minEntryCap)
	}
	big := New(defEntries, 1000)
	big.Push(1, make([]byte, 600))
	if cap(big.data) != 1000 {
		t.Errorf("growth past maxBytes: data=%d, want 1000", cap(big.data))
	}
}

func TestPushNoAllocWhenWarm(t *testing.T) {
	for _, tc := range []struct {
		name              string
		maxEntries, bytes int
		size              int
	}{
		{"64B", defEntries, defBytes, 64},
		{"1KiB", defEntries, defBytes, 1024},
		{"bytes bound", defEntries, 4096, 100},
		{"mixed", 1000, 1 << 16, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.maxEntries, tc.bytes)
			rng := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, 1024)
			size := func() int {
				if tc.size >= 0 {
					return tc.size
				}
				return rng.IntN(len(buf))
			}
			for i := range 20_000 {
				r.Push(int64(i), buf[:size()])
			}
			allocs := testing.AllocsPerRun(1000, func() { r.Push(1, buf[:size()]) })
			if allocs != 0 {
				t.Errorf("Push allocates %v times per call when warm", allocs)
			}
		})
	}
}

func TestLastNoAlloc(t *testing.T) {
	r := New(defEntries, defBytes)
	fill(&r, 200)
	out := make([]byte, 0, 1<<14)
	allocs := testing.AllocsPerRun(100, func() {
		out = out[:0]
		r.Last(-1, func(_ int64, msg []byte) bool {
			out = append(out, msg...)
			return true
		})
	})
	if allocs != 0 {
		t.Errorf("Last allocates %v times", allocs)
	}
}

func TestRandomized(t *testing.T) {
	for _, tc := range []struct {
		maxEntries, maxBytes int
		maxSize              int
	}{
		{5, 1000, 300},
		{128, 4096, 300},
		{1000, 1 << 20, 300},
		{1000, 300, 300},
		{50, 1000, 999},
		{3, 17, 40},
	} {
		t.Run(fmt.Sprintf("%d,%d", tc.maxEntries, tc.maxBytes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(tc.maxEntries)))
			c := newChecker(t, tc.maxEntries, tc.maxBytes)
			for range 3000 {
				if rng.IntN(4) == 0 {
					c.extend(rng.IntN(tc.maxSize/4 + 1))
				} else {
					c.push(rng.IntN(tc.maxSize + 1))
				}
			}
		})
	}
}

const maxFuzzPushes = 256

// FuzzRing decodes the caps and a sequence of message sizes from the input
// and checks the invariants after every push.
func FuzzRing(f *testing.F) {
	f.Add([]byte{5, 10, 30, 30, 30, 30, 30, 30})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{127, 255, 64, 64, 64, 64, 200, 1, 0, 0, 250, 13})
	f.Add([]byte{2, 3, 90, 10, 0, 90, 10, 45, 45, 45})
	f.Add([]byte{50, 40, 255, 255, 0, 128, 7, 7, 7, 200, 0, 199})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		// Small caps make wraps, gaps and both evictions frequent.
		maxEntries := int(in[0]) + 1
		maxBytes := int(in[1])*4 + 1
		// Bound the work per input: the fuzzer minimizes every interesting
		// input by rerunning it many times, and long ones would stall it.
		sizes := in[2:min(len(in), 2+maxFuzzPushes)]
		c := newChecker(t, maxEntries, maxBytes)
		for i, b := range sizes {
			size := int(b) * 2
			if i%7 == 6 {
				size = 0
			}
			if i%5 == 4 {
				c.extend(size / 4)
			} else {
				c.push(size)
			}
			if i%97 == 96 {
				c.r.Reset()
				c.pushed = c.pushed[:0]
				c.maxSize = 0
				c.check()
			}
		}
	})
}

func ExampleRing() {
	r := New(3, 1<<10)
	for i, m := range []string{"boot", "ready", "tick", "tock"} {
		r.Push(int64(1000+i), []byte(m))
	}
	r.Last(2, func(ts int64, msg []byte) bool {
		fmt.Println(ts, string(msg))
		return true
	})
	// Output:
	// 1002 tick
	// 1003 tock
}

// Timestamp and length share a word: both come back exactly at their
// extremes, and what does not fit is clamped or cut.
func TestMetaPacking(t *testing.T) {
	r := New(8, 8<<20)
	big := bytes.Repeat([]byte("b"), MaxMessage+10)
	for _, tc := range []struct {
		ts      int64
		msg     []byte
		wantTS  int64
		wantLen int
	}{
		{1795484223217, []byte("now"), 1795484223217, 3},
		{0, nil, 0, 0},
		{MaxTime, []byte("x"), MaxTime, 1},
		{MaxTime + 1, []byte("y"), MaxTime, 1},
		{-5, []byte("z"), 0, 1},
		{7, big, 7, MaxMessage},
	} {
		r.Push(tc.ts, tc.msg)
		var gotTS int64
		var gotLen int
		r.Last(1, func(ts int64, msg []byte) bool { gotTS, gotLen = ts, len(msg); return true })
		if gotTS != tc.wantTS || gotLen != tc.wantLen {
			t.Errorf("Push(%d, %d bytes): got %d, %d bytes; want %d, %d", tc.ts, len(tc.msg), gotTS, gotLen, tc.wantTS, tc.wantLen)
		}
	}
}

func TestClear(t *testing.T) {
	r := New(10, 100)
	fill(&r, 25) // wrapped
	foot := r.Footprint()
	r.Clear()
	if r.Len() != 0 || r.Bytes() != 0 || r.Footprint() != foot {
		t.Fatalf("after Clear: Len %d Bytes %d Footprint %d (was %d)", r.Len(), r.Bytes(), r.Footprint(), foot)
	}
	r.Range(0, func(int64, []byte) bool { t.Fatal("an entry after Clear"); return false })
	r.Push(7, []byte("x"))
	r.Push(8, []byte("yz"))
	var got []string
	r.Range(0, func(ts int64, msg []byte) bool { got = append(got, fmt.Sprint(ts, string(msg))); return true })
	if fmt.Sprint(got) != "[7x 8yz]" || r.Footprint() != foot {
		t.Fatalf("after Clear and two pushes: %v, Footprint %d", got, r.Footprint())
	}
}

// TestExtend: a continued entry keeps its timestamp and grows in place
// while the bytes after it are free, and is pushed again whole when they are
// not, evicting the oldest as a Push would.
func TestExtend(t *testing.T) {
	r := New(4, 64)
	var scratch []byte
	scratch = r.Extend(1, []byte("first"), scratch) // empty ring: a push
	r.Push(2, []byte("panic: boom"))
	scratch = r.Extend(3, []byte("\ngoroutine 1"), scratch)
	scratch = r.Extend(3, []byte("\nmain.go:12"), scratch)
	want := []entry{{1, "first"}, {2, "panic: boom\ngoroutine 1\nmain.go:12"}}
	if got := all(&r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Past the byte cap: the oldest goes, the continued entry stays whole.
	scratch = r.Extend(4, bytes.Repeat([]byte("x"), 26), scratch)
	got := all(&r)
	if len(got) != 1 || got[0].ts != 2 || len(got[0].msg) != 34+26 || r.Bytes() != 60 {
		t.Fatalf("after growing past the cap: %v (%d bytes)", got, r.Bytes())
	}
	_ = scratch
}

func TestExtendNoAllocWhenWarm(t *testing.T) {
	r := New(128, 1<<20)
	scratch := make([]byte, 0, 4096)
	for i := range 1000 {
		r.Push(int64(i), payload(int64(i), 40))
		scratch = r.Extend(int64(i), []byte("\n\tat main.go:12"), scratch)
	}
	n := testing.AllocsPerRun(1000, func() {
		r.Push(1, payload(1, 40))
		scratch = r.Extend(1, []byte("\n\tat main.go:12"), scratch)
	})
	if n != 0 {
		t.Errorf("Push+Extend on a warm ring allocates %v times", n)
	}
}

// TestKeep: a batch push (Keep, then Push of the kept ones) leaves the newest messages of the whole
// history with no gap, asks only for the messages it keeps, and, where the
// byte cap does not bind, ends exactly as pushing each in turn.
func TestKeep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for _, tc := range []struct{ entries, bytes, maxSize int }{
		{5, 1 << 20, 50}, {128, 1 << 20, 100}, {1000, 300, 40}, {3, 17, 9}, {4, 30, 100},
	} {
		batched, single := New(tc.entries, tc.bytes), New(tc.entries, tc.bytes)
		var history []string
		for round := range 300 {
			n := rng.IntN(2 * tc.entries)
			msgs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = payload(int64(len(history)+i), rng.IntN(tc.maxSize+1))
				single.Push(int64(round), msgs[i])
			}
			spans := make([]uint64, n)
			for i, m := range msgs {
				spans[i] = uint64(i)<<32 | uint64(len(m))
			}
			for _, x := range spans[batched.Keep(spans):] {
				batched.Push(int64(round), msgs[x>>32])
			}
			for _, m := range msgs {
				history = append(history, string(m[:min(len(m), tc.bytes)])) // as Push stores it
			}
			got := all(&batched)
			if n > 0 && len(got) == 0 {
				t.Fatalf("round %d: the newest message of the batch was not kept", round)
			}
			for k, e := range got {
				if e.msg != history[len(history)-len(got)+k] {
					t.Fatalf("round %d: entry %d is not the newest history without a gap", round, k)
				}
			}
			if batched.Bytes() > tc.bytes || batched.Len() > tc.entries {
				t.Fatalf("round %d: over the caps: %d entries, %d bytes", round, batched.Len(), batched.Bytes())
			}
			if tc.bytes == 1<<20 && fmt.Sprint(got) != fmt.Sprint(all(&single)) {
				t.Fatalf("round %d: batch and single pushes differ", round)
			}
		}
	}
}

// TestShrink: the newest entries stay, in order, within half the target;
// the arrays shrink; the ring goes on working.
func TestShrink(t *testing.T) {
	for _, target := range []int{0, 100, 1000, 4096, 1 << 16} {
		c := newChecker(t, 1000, 1<<16)
		for i := range 3000 {
			c.push(10 + i%90)
		}
		before := c.r.Len()
		evicted := c.r.Shrink(target)
		if c.r.Len() != before-evicted || c.r.Bytes() > max(target/2, 0) {
			t.Fatalf("target %d: %d entries, %d bytes after evicting %d of %d", target, c.r.Len(), c.r.Bytes(), evicted, before)
		}
		if target >= 4096 && c.r.Footprint() > target {
			t.Fatalf("target %d: footprint %d", target, c.r.Footprint())
		}
		for k, e := range all(&c.r) { // still the newest pushes, in order
			if want := len(c.pushed) - c.r.Len() + k; e.ts != int64(want) || e.msg != string(c.pushed[want]) {
				t.Fatalf("target %d: entry %d is not push %d", target, k, want)
			}
		}
		c.pushed, c.maxSize = c.pushed[:0], 0 // the checker's history starts again
		c.r.Clear()
		for range 500 {
			c.push(50)
		}
	}
}
