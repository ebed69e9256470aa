package client

// itemKind is what a queued item becomes on the wire.
type itemKind uint8

const (
	itemLog  itemKind = iota // a new entry: LOG, then CONT for each further line
	itemCont                 // continuation lines of the newest entry: CONT each
	itemSet                  // SET key text
)

// item is one queued thing to send. Strings are kept as the caller gave
// them: queueing copies two string headers, never the bytes.
type item struct {
	kind itemKind
	key  string // itemSet only
	text string
}

func (it *item) size() int { return len(it.key) + len(it.text) }

// blockLen is the items per queue block.
const blockLen = 256

// maxSpare is how many emptied blocks are kept for reuse: enough for the
// sender taking a whole batch at once while callers refill the queue.
const maxSpare = 8

type block struct {
	items [blockLen]item
	next  *block
}

// queue is a deque of items bounded by count and by bytes, kept in a list
// of fixed blocks: it holds memory in proportion to what it holds, and
// neither growing nor draining ever copies items (a ring that doubles
// copied millions of pointer-holding items, which the garbage collector's
// write barriers made slow). It is not safe for concurrent use: Client
// guards it with its mutex.
type queue struct {
	head, tail *block
	hi, ti     int    // head.items[hi] is the oldest item; tail.items[ti] is the next free slot
	spare      *block // emptied blocks kept for reuse, at most maxSpare, linked by next
	spares     int
	n          int
	bytes      int
	max        int // most items held
	maxBytes   int // most text bytes held
}

func newQueue(max, maxBytes int) queue {
	b := new(block)
	return queue{head: b, tail: b, max: max, maxBytes: maxBytes}
}

// full reports whether an item of size bytes cannot be added before the
// oldest item goes.
func (q *queue) full(size int) bool {
	return q.n > 0 && (q.n >= q.max || q.bytes+size > q.maxBytes)
}

func (q *queue) newBlock() *block {
	if b := q.spare; b != nil {
		q.spare, b.next = b.next, nil
		q.spares--
		return b
	}
	return new(block)
}

// free keeps an emptied block (its items already zeroed) for reuse.
func (q *queue) free(b *block) {
	if q.spares < maxSpare {
		b.next, q.spare = q.spare, b
		q.spares++
	}
}

// pushBack adds it as the newest item; the caller has made room.
func (q *queue) pushBack(it item) {
	if q.ti == blockLen {
		b := q.newBlock()
		q.tail.next, q.tail, q.ti = b, b, 0
	}
	q.tail.items[q.ti] = it
	q.ti++
	q.n++
	q.bytes += it.size()
}

// pushFront adds it as the oldest item; the caller has made room.
func (q *queue) pushFront(it item) {
	if q.n == 0 {
		q.pushBack(it)
		return
	}
	if q.hi == 0 {
		b := q.newBlock()
		b.next, q.head, q.hi = q.head, b, blockLen
	}
	q.hi--
	q.head.items[q.hi] = it
	q.n++
	q.bytes += it.size()
}

// front is the oldest item; the queue must not be empty.
func (q *queue) front() *item { return &q.head.items[q.hi] }

// popFront removes and returns the oldest item; the queue must not be empty.
func (q *queue) popFront() item {
	it := q.head.items[q.hi]
	q.head.items[q.hi] = item{} // let the strings go
	q.hi++
	q.n--
	q.bytes -= it.size()
	switch {
	case q.n == 0:
		q.hi, q.ti = 0, 0
		if q.head != q.tail {
			q.free(q.head)
			q.head = q.tail
		}
	case q.hi == blockLen:
		b := q.head
		q.head, q.hi = b.next, 0
		q.free(b)
	}
	return it
}
