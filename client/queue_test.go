package client

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestQueueModel drives the block deque with random pushes at both ends and
// pops, growing to several blocks and draining to empty in turn, and checks
// it against a slice.
func TestQueueModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		r := rand.New(rand.NewPCG(seed, seed))
		q := newQueue(1<<30, 1<<30)
		var model []item
		bytes, most := 0, 0
		for step := range 40000 {
			pushes := 7 // of 10: grow for 2000 steps, then shrink
			if step/2000%2 == 1 {
				pushes = 3
			}
			switch op := r.IntN(10); {
			case op < pushes-2:
				it := item{text: strconv.Itoa(step)}
				q.pushBack(it)
				model = append(model, it)
				bytes += it.size()
			case op < pushes:
				it := item{text: strconv.Itoa(step), key: "k"}
				q.pushFront(it)
				model = append([]item{it}, model...)
				bytes += it.size()
			case len(model) > 0:
				if f := q.front(); *f != model[0] {
					t.Fatalf("seed %d step %d: front %v, want %v", seed, step, *f, model[0])
				}
				if got := q.popFront(); got != model[0] {
					t.Fatalf("seed %d step %d: popped %v, want %v", seed, step, got, model[0])
				}
				bytes -= model[0].size()
				model = model[1:]
			}
			most = max(most, len(model))
			if q.n != len(model) || q.bytes != bytes {
				t.Fatalf("seed %d step %d: n=%d bytes=%d, want %d and %d", seed, step, q.n, q.bytes, len(model), bytes)
			}
		}
		if most < 3*blockLen {
			t.Fatalf("seed %d: the queue held at most %d items: too few to cross blocks", seed, most)
		}
		for len(model) > 0 {
			if got := q.popFront(); got != model[0] {
				t.Fatalf("seed %d drain: popped %v, want %v", seed, got, model[0])
			}
			model = model[1:]
		}
	}
}

// TestQueueFull: the bounds by count and by bytes.
func TestQueueFull(t *testing.T) {
	for _, tc := range []struct {
		name          string
		max, maxBytes int
		held          []string
		size          int
		want          bool
	}{
		{"empty is never full", 1, 1, nil, 100, false},
		{"count reached", 2, 100, []string{"a", "b"}, 1, true},
		{"count not reached", 3, 100, []string{"a", "b"}, 1, false},
		{"bytes would pass", 10, 5, []string{"abc"}, 3, true},
		{"bytes would reach", 10, 6, []string{"abc"}, 3, false},
	} {
		q := newQueue(tc.max, tc.maxBytes)
		for _, s := range tc.held {
			q.pushBack(item{text: s})
		}
		if got := q.full(tc.size); got != tc.want {
			t.Errorf("%s: full(%d) = %v, want %v", tc.name, tc.size, got, tc.want)
		}
	}
}

// TestEncode: the protocol lines for each kind of item.
func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		it   item
		want string
	}{
		{item{kind: itemLog, text: "hi"}, "LOG hi\n"},
		{item{kind: itemLog, text: ""}, "LOG \n"},
		{item{kind: itemLog, text: "a\nb\r\nc\n"}, "LOG a\nCONT b\nCONT c\n"},
		{item{kind: itemLog, text: "a\n\n"}, "LOG a\nCONT \n"},
		{item{kind: itemLog, text: "cr\r"}, "LOG cr\r\r\n"},
		{item{kind: itemLog, text: "cr\r\r\nx"}, "LOG cr\r\r\nCONT x\n"},
		{item{kind: itemCont, text: "x\ny"}, "CONT x\nCONT y\n"},
		{item{kind: itemSet, key: "k", text: "v w"}, "SET k v w\n"},
		{item{kind: itemSet, key: "k", text: "v\r"}, "SET k v\r\r\n"},
		{item{kind: itemLog, text: "0123456789\n0123456789"}, "LOG 01234567\nCONT 0123456\n"}, // lines fit in 12 bytes
	} {
		if got := string(appendItem(nil, &tc.it, 12)); got != tc.want {
			t.Errorf("appendItem(%+v) = %q, want %q", tc.it, got, tc.want)
		}
	}
}

// TestCut: cuts land on UTF-8 boundaries when the text is UTF-8.
func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789", 4, "0123"},
		{"aé", 2, "a"},
		{"é€", 4, "é"},
		{"€€", 5, "€"},
		{"\xff\xff\xff\xff\xff\xff", 3, "\xff\xff\xff"},
		{"a\x80\x80\x80\x80\x80", 4, "a\x80\x80\x80"},
	} {
		if got := cut(tc.s, tc.n); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
