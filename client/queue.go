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

// queue is a ring of items bounded by count and by bytes. It grows by
// doubling up to its count bound, so a client that logs little holds
// little. It is not safe for concurrent use: Client guards it with its mutex.
type queue struct {
	buf      []item
	head, n  int
	bytes    int
	max      int // most items held
	maxBytes int // most text bytes held
}

func newQueue(max, maxBytes int) queue {
	return queue{buf: make([]item, min(max, 64)), max: max, maxBytes: maxBytes}
}

// full reports whether an item of size bytes cannot be added before the
// oldest item goes.
func (q *queue) full(size int) bool {
	return q.n > 0 && (q.n >= q.max || q.bytes+size > q.maxBytes)
}

func (q *queue) grow() {
	if q.n < len(q.buf) {
		return
	}
	nb := make([]item, min(max(2*len(q.buf), 1), q.max))
	for i := range q.n {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

// pushBack adds it as the newest item; the caller has made room.
func (q *queue) pushBack(it item) {
	q.grow()
	q.buf[(q.head+q.n)%len(q.buf)] = it
	q.n++
	q.bytes += it.size()
}

// pushFront adds it as the oldest item; the caller has made room.
func (q *queue) pushFront(it item) {
	q.grow()
	q.head = (q.head + len(q.buf) - 1) % len(q.buf)
	q.buf[q.head] = it
	q.n++
	q.bytes += it.size()
}

// front is the oldest item; the queue must not be empty.
func (q *queue) front() *item { return &q.buf[q.head] }

// popFront removes and returns the oldest item; the queue must not be empty.
func (q *queue) popFront() item {
	it := q.buf[q.head]
	q.buf[q.head] = item{} // let the strings go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= it.size()
	return it
}
