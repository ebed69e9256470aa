// Package ringbuf implements the per-client log ring: a bounded circular
// store of timestamped messages that keeps the most recent entries and
// evicts the oldest first.
//
// A Ring is bounded both by entry count and by total message bytes. Its
// backing arrays start empty and grow fourfold on demand up to the caps, so
// memory follows what is stored, not what is allowed: a Ring that never saw
// a Push holds no memory at all.
//
// The stored data contains no Go pointers per entry (one byte array and one
// integer array), which keeps the garbage collector's work independent of
// how many entries the server holds. Each entry costs its message bytes and
// eight bytes: the timestamp and the length share one uint64.
//
// A Ring is not safe for concurrent use. The server owns each Ring from a
// single event-loop goroutine, so it carries no locks.
package ringbuf

import (
	"math/bits"
)

const (
	// minDataCap is the first size of the byte store: small enough not to
	// matter for a quiet client, large enough to skip the tiniest steps.
	minDataCap = 512
	// minEntryCap is the first number of entry slots.
	minEntryCap = 16

	// growth is the factor between array sizes. Every step leaves the
	// old array as garbage, and the GC cannot return a page that still
	// holds a live object of the same size class (another client's), so
	// fewer, larger steps leave less memory stranded: with 10,000 clients
	// filling 128 x 64 B rings, doubling from 256 B cost 0.35 KiB more
	// RSS per client than growing fourfold from 512 B.
	growth = 4

	lenBits = 22 // an entry's length takes the low bits of its meta word
	lenMask = 1<<lenBits - 1
	tsBits  = 64 - lenBits

	// MaxMessage is the longest message a Ring stores; longer ones are cut.
	MaxMessage = lenMask // 4 MiB - 1
	// MaxTime is the latest timestamp a Ring stores (Unix ms, year 2109).
	MaxTime = 1<<tsBits - 1
)

// Ring is a bounded circular log of timestamped messages. The zero Ring is
// not usable; use New.
//
// Layout: message bytes live in data, each message contiguous (never split
// across the end of data). A message that does not fit between the write
// position and the end of data is written at offset 0 and the tail becomes
// a gap. Because that rule is deterministic, an entry's offset is derived
// from the oldest entry's offset and the lengths before it, so no offset is
// stored per entry.
type Ring struct {
	data []byte   // circular byte store; len(data) == cap(data)
	meta []uint64 // circular, one per entry, oldest at head: ts<<lenBits | len

	head  int // index in meta of the oldest entry
	n     int // entries stored
	used  int // message bytes stored (sum of live lens)
	start int // offset in data of the oldest message
	end   int // offset in data just past the newest message

	maxEntries int
	maxBytes   int
}

// New returns an empty Ring holding at most maxEntries entries and at most
// maxBytes message bytes. It allocates nothing; storage grows with Push.
//
// New panics if maxEntries or maxBytes is less than 1.
func New(maxEntries, maxBytes int) Ring {
	if maxEntries < 1 || maxBytes < 1 {
		panic("ringbuf: New with a cap below 1")
	}
	return Ring{maxEntries: maxEntries, maxBytes: maxBytes}
}

func (r *Ring) size(i int) int { return int(r.meta[i] & lenMask) }

// Len reports the number of entries stored.
func (r *Ring) Len() int { return r.n }

// Bytes reports the number of message bytes stored (the sum of the stored
// messages' lengths, excluding timestamps and unused space).
func (r *Ring) Bytes() int { return r.used }

// Cap reports the configured caps given to New.
func (r *Ring) Cap() (entries, bytes int) { return r.maxEntries, r.maxBytes }

// Footprint reports the bytes of backing arrays the Ring holds, for memory
// accounting. It counts capacity, not content, and excludes the Ring value
// itself.
func (r *Ring) Footprint() int {
	return cap(r.data) + 8*cap(r.meta)
}

// Reset drops all entries and releases the backing arrays, so the memory of
// a closed client can be collected. The Ring keeps its caps and may be used
// again; it then grows from nothing as after New.
func (r *Ring) Reset() {
	*r = Ring{maxEntries: r.maxEntries, maxBytes: r.maxBytes}
}

// Clear drops all entries but keeps the backing arrays, for a caller that
// knows the entries it is about to push would evict every one of them.
func (r *Ring) Clear() { r.head, r.n, r.used, r.start, r.end = 0, 0, 0, 0, 0 }

// Push appends an entry with timestamp ts and a copy of msg, evicting the
// oldest entries as needed to respect both caps. The new entry is always
// stored.
//
// A msg longer than the byte cap (or MaxMessage) is stored truncated to its
// first bytes that fit; a ts outside [0, MaxTime] is clamped; callers are expected to truncate earlier (on a UTF-8 boundary), so
// this is only a safety net. Empty messages are valid entries.
//
// Because messages are never split across the end of the byte store, the
// unused tail after the last message before the wrap is lost space: once the
// store has reached maxBytes, the Ring keeps at most maxBytes message bytes
// and may evict somewhat earlier than the byte count alone would require.
// The loss is bounded: while under the entry cap, the bytes kept stay within
// twice the largest stored message of maxBytes.
//
// Once the backing arrays have reached their final size, Push does not
// allocate. Push panics on a zero Ring.
func (r *Ring) Push(ts int64, msg []byte) {
	if r.maxEntries == 0 {
		panic("ringbuf: Push on a zero Ring; use New")
	}
	if len(msg) > min(r.maxBytes, MaxMessage) {
		msg = msg[:min(r.maxBytes, MaxMessage)]
	}
	size := len(msg)
	ts = min(max(ts, 0), MaxTime)

	if r.n == r.maxEntries {
		r.evict()
	}
	if r.n == len(r.meta) {
		r.growEntries()
	}

	off, ok := r.fit(size)
	if !ok && len(r.data) < r.maxBytes {
		// Growing is preferred to evicting while the byte cap allows it:
		// the caller asked to keep up to maxBytes.
		r.growData(size)
		off, ok = r.fit(size)
	}
	for !ok {
		r.evict()
		off, ok = r.fit(size)
	}

	if r.n == 0 {
		r.start = off
	}
	copy(r.data[off:], msg)
	r.end = off + size
	i := r.head + r.n
	if i >= len(r.meta) {
		i -= len(r.meta)
	}
	r.meta[i] = uint64(ts)<<lenBits | uint64(size)
	r.n++
	r.used += size
}

// Keep prepares the Ring for a batch of messages that arrived together and
// are about to be pushed in order, oldest first, so that the Ring owns its
// trimming: the low 32 bits of spans[i] are message i's length (the high
// bits are the caller's, e.g. an offset). Keep returns the index of the
// first message the Ring would still hold once all were pushed: the newest
// that fit both caps. When some are not kept, every entry stored now is
// dropped too, since pushing the skipped ones would have evicted them, and
// keeping them would leave a gap in the log. Pushing spans[first:] then
// leaves the Ring as pushing every message would, and a message that newer
// ones of the batch would evict is never copied.
func (r *Ring) Keep(spans []uint64) (first int) {
	first, bytes := len(spans), 0
	for first > 0 && len(spans)-first < r.maxEntries {
		// Push cuts a message to the byte cap and always stores the newest.
		size := min(int(uint32(spans[first-1])), r.maxBytes)
		if bytes+size > r.maxBytes {
			break
		}
		bytes += size
		first--
	}
	if first > 0 {
		r.Clear()
	}
	return first
}

// Shrink evicts the oldest entries until the newest ones that remain fit
// in half of target bytes, then moves them into arrays sized for them, so
// that Footprint drops to about target or less (never below the smallest
// arrays): the memory budget's way of taking memory back from a client. It
// returns how many entries it evicted. It allocates the smaller arrays.
func (r *Ring) Shrink(target int) (evicted int) {
	for r.n > 0 && r.used > target/2 {
		r.evict()
		evicted++
	}
	data := make([]byte, max(nextPow2(r.used), minDataCap))
	if r.wrapped() {
		k := copy(data, r.data[r.start:r.start+r.used-r.end])
		copy(data[k:], r.data[:r.end])
	} else {
		copy(data, r.data[r.start:r.end])
	}
	meta := make([]uint64, min(max(nextPow2(r.n), minEntryCap), r.maxEntries))
	k := copy(meta, r.meta[r.head:min(r.head+r.n, len(r.meta))])
	copy(meta[k:], r.meta[:r.n-k])
	if r.n == 0 {
		data, meta = nil, nil
	}
	r.data, r.meta, r.head, r.start, r.end = data, meta, 0, 0, r.used
	return evicted
}

// Newest is the length of the newest entry's message, -1 when the Ring is empty.
func (r *Ring) Newest() int {
	if r.n == 0 {
		return -1
	}
	i := r.head + r.n - 1
	if i >= len(r.meta) {
		i -= len(r.meta)
	}
	return r.size(i)
}

// Extend appends b to the newest entry, which keeps its timestamp: a
// message continued by a later line (a stack trace sent line by line) stays
// one entry. When the bytes after the newest message are free and the byte
// cap allows, b is copied there and nothing else moves; otherwise the
// newest entry is taken out and pushed again whole, built in scratch (the
// caller's reusable buffer, returned for the next call), and Push evicts as
// usual. The entry is cut as Push cuts a message longer than the byte cap.
// Extend on an empty Ring is a Push of b with timestamp ts.
func (r *Ring) Extend(ts int64, b, scratch []byte) []byte {
	if r.n == 0 {
		r.Push(ts, b)
		return scratch
	}
	i := r.head + r.n - 1
	if i >= len(r.meta) {
		i -= len(r.meta)
	}
	size := r.size(i)
	room := len(r.data) - r.end
	if r.wrapped() {
		room = r.start - r.end
	}
	if len(b) <= room && r.used+len(b) <= r.maxBytes && size+len(b) <= MaxMessage {
		copy(r.data[r.end:], b)
		r.end += len(b)
		r.used += len(b)
		r.meta[i] += uint64(len(b))
		return scratch
	}
	off := r.end - size
	scratch = append(append(scratch[:0], r.data[off:r.end]...), b...)
	r.dropNewest()
	r.Push(int64(r.meta[i]>>lenBits), scratch)
	return scratch
}

// dropNewest removes the newest entry. Where the one before it ends is not
// stored (the newest may have been placed at 0 after a gap), so it is found
// by walking the entries, as Range does: O(entries), only on Extend's slow
// path.
func (r *Ring) dropNewest() {
	i := r.head + r.n - 1
	if i >= len(r.meta) {
		i -= len(r.meta)
	}
	r.used -= r.size(i)
	r.n--
	if r.n == 0 {
		r.head, r.start, r.end = 0, 0, 0
		return
	}
	off, j, c := r.start, r.head, len(r.data)
	for range r.n {
		size := r.size(j)
		if off+size > c {
			off = 0
		}
		off += size
		if j++; j == len(r.meta) {
			j = 0
		}
	}
	r.end = off
}

// wrapped reports whether the live bytes run past the end of data and
// continue at 0. Unwrapped messages are back to back, so their bytes total
// exactly end-start; a wrap always leaves newer bytes at the front and the
// old ones at or after start, which makes the totals differ.
func (r *Ring) wrapped() bool {
	return r.used != r.end-r.start
}

// fit returns where a message of size bytes would be written without
// evicting or growing, following the placement rule that offsets are
// derived from: at end if it fits before the end of data, else at 0.
func (r *Ring) fit(size int) (off int, ok bool) {
	c := len(r.data)
	if r.n == 0 {
		return 0, size <= c
	}
	if r.wrapped() {
		// Free space is [end, start); writing at 0 would hit newer entries.
		return r.end, r.end+size <= r.start
	}
	if r.end+size <= c {
		return r.end, true
	}
	return 0, size <= r.start
}

// evict drops the oldest entry. The ring must not be empty.
func (r *Ring) evict() {
	size := r.size(r.head)
	r.used -= size
	r.n--
	r.head++
	if r.head == len(r.meta) {
		r.head = 0
	}
	if r.n == 0 {
		// Restart at 0 so an emptied ring has no stale wrap state.
		r.head, r.start, r.end = 0, 0, 0
		return
	}
	next := r.start + size
	if next+r.size(r.head) > len(r.data) {
		next = 0
	}
	r.start = next
}

// growEntries enlarges meta, linearising the live entries to index 0.
func (r *Ring) growEntries() {
	c := max(growth*len(r.meta), minEntryCap)
	c = min(c, r.maxEntries)
	meta := make([]uint64, c)
	// Two copies handle the wrap: [head, len) then [0, rest).
	k := copy(meta, r.meta[r.head:min(r.head+r.n, len(r.meta))])
	copy(meta[k:], r.meta[:r.n-k])
	r.meta, r.head = meta, 0
}

// growData enlarges data to hold at least the live bytes plus size (up to
// maxBytes), linearising the live messages to offset 0. If even the grown
// store cannot hold them all, the oldest are evicted first so that nothing
// is copied only to be dropped.
func (r *Ring) growData(size int) {
	c := max(growth*len(r.data), nextPow2(r.used+size), minDataCap)
	c = min(c, r.maxBytes)
	for r.used+size > c {
		r.evict()
	}
	data := make([]byte, c)
	if r.wrapped() {
		// Older part runs from start to the end of the last message before
		// the wrap; the newer part is [0, end).
		k := copy(data, r.data[r.start:r.start+r.used-r.end])
		copy(data[k:], r.data[:r.end])
	} else {
		copy(data, r.data[r.start:r.end])
	}
	r.data, r.start, r.end = data, 0, r.used
}

// nextPow2 returns the smallest power of two >= x, for x >= 1.
func nextPow2(x int) int {
	if x <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(x-1))
}

// Range calls fn for each entry, oldest first, after skipping the skip
// oldest entries (a negative skip counts as 0). It stops early when fn
// returns false.
//
// msg aliases the Ring's storage: it is valid only during the call to fn
// and must not be modified or retained; copy it to keep it. fn must not
// call Push or Reset on the same Ring.
func (r *Ring) Range(skip int, fn func(ts int64, msg []byte) bool) {
	off, i := r.start, r.head
	c := len(r.data)
	for k := 0; k < r.n; k++ {
		m := r.meta[i]
		size := int(m & lenMask)
		// Same placement rule as Push; the oldest entry always passes since
		// it is stored at start.
		if off+size > c {
			off = 0
		}
		if k >= skip && !fn(int64(m>>lenBits), r.data[off:off+size:off+size]) {
			return
		}
		off += size
		if i++; i == len(r.meta) {
			i = 0
		}
	}
}

// Last calls fn for the newest n entries, oldest first; n < 0 or n > Len
// means all entries. It stops early when fn returns false. The aliasing
// rules of Range apply to msg.
func (r *Ring) Last(n int, fn func(ts int64, msg []byte) bool) {
	if n < 0 || n > r.n {
		n = r.n
	}
	r.Range(r.n-n, fn)
}
