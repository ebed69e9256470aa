package codec

import "bytes"

// keepCap is the largest pending-buffer capacity worth keeping between
// spanning lines: a connection that once sent a 64 KiB line should not pin
// 64 KiB for the rest of its life, but one that routinely splits short lines
// across reads should not reallocate for each of them.
const keepCap = 4096

// minPendingCap is the first allocation for a spanning line; most lines are
// short, so starting small keeps idle connections cheap.
const minPendingCap = 256

// Framer splits a byte stream into lines terminated by "\n", dropping one
// "\r" just before the "\n". A lone "\r" anywhere else is an ordinary byte.
//
// Lines are sliced straight out of the caller's read buffer; only a line that
// spans two or more reads is copied, into a pending buffer owned by the
// Framer. That buffer never holds more than maxLine bytes, and once a
// spanning line completes it is kept only if its capacity is at most 4096
// bytes, so a connection's steady-state cost is bounded whatever it sends.
//
// A line longer than maxLine bytes (terminator excluded) is reported once,
// truncated to its first maxLine bytes, and the rest of it is discarded as it
// arrives without being buffered: a client streaming gigabytes without a
// newline costs CPU linear in its bytes and no memory beyond maxLine.
//
// The zero Framer treats every non-empty line as too long; use NewFramer.
// A Framer is not safe for concurrent use.
type Framer struct {
	max int
	// pending holds the start of a line that has not ended yet (never
	// longer than max), or, when held is set, the line last returned.
	pending []byte
	// cr: pending is max bytes long and a '\r' came after it. Whether the
	// line is too long depends on whether '\n' follows, which the next
	// read will tell; remembering the '\r' as a flag keeps pending <= max.
	cr bool
	// skip: the tail of an over-long line is being discarded up to its '\n'.
	skip bool
	// held: pending is the line last returned; it must stay intact until the
	// next call, which is when it can be reset.
	held bool
}

// NewFramer returns a Framer whose lines may be up to maxLine bytes long,
// terminator excluded. It allocates nothing until a line spans two reads.
// maxLine must not be negative; 0 makes every non-empty line too long.
func NewFramer(maxLine int) Framer {
	if maxLine < 0 {
		panic("codec: NewFramer: negative maxLine")
	}
	return Framer{max: maxLine}
}

// Next returns the next line from *buf, advancing *buf past what it consumed.
//
// ok=false means *buf is used up and no complete line is available yet; any
// partial line was saved inside the Framer and continues with the next buffer
// passed in. Callers loop until ok is false.
//
// The line excludes its terminator: "\n", and one "\r" just before it, even
// when the "\r" and "\n" arrive in different reads.
//
// long=true means the line is longer than maxLine bytes (terminator
// excluded): line is then its first maxLine bytes, returned as soon as
// maxLine+1 bytes of it have been seen, without waiting for its end. The
// single exception is when byte maxLine+1 is '\r': a line of exactly maxLine
// bytes ending in "\r\n" is not long, so Next needs one more byte to decide.
// The rest of a long line, up to and including its '\n', is discarded as it
// arrives; an over-long line yields exactly one long=true result however many
// reads it spans. A line of exactly maxLine bytes is not long.
//
// The returned line aliases either *buf or the Framer's internal buffer: it is
// valid only until the next call to Next or Release, and must be copied to be
// kept. Next does not allocate when lines do not span reads, nor in steady
// state when spanning lines stay under 4 KiB. Its cost is linear in the bytes
// consumed; each byte is examined at most a constant number of times.
func (f *Framer) Next(buf *[]byte) (line []byte, long bool, ok bool) {
	if f.held {
		f.held = false
		f.resetPending()
	}
	b := *buf
	if f.skip {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			*buf = b[len(b):]
			return nil, false, false
		}
		b = b[i+1:]
		f.skip = false
	}
	if len(b) == 0 {
		*buf = b
		return nil, false, false
	}
	if f.cr {
		f.cr = false
		f.held = true
		if b[0] == '\n' {
			*buf = b[1:]
			return f.pending, false, true
		}
		// b[0] is not '\n', so leaving it in *buf lets the skip path find
		// the end of the line.
		f.skip = true
		*buf = b
		return f.pending, true, true
	}

	p := len(f.pending)
	// w is how many bytes of b can belong to the current line before it has
	// max+1 bytes, the point at which it is known to be too long (or, if
	// that byte is '\r', might still be exactly max).
	w := f.max + 1 - p
	window := b
	if len(window) > w {
		window = b[:w]
	}
	if i := bytes.IndexByte(window, '\n'); i >= 0 {
		*buf = b[i+1:]
		if p == 0 {
			return trimCR(b[:i]), false, true
		}
		f.appendPending(b[:i])
		f.held = true
		return trimCR(f.pending), false, true
	}
	if len(b) < w {
		f.appendPending(b)
		*buf = b[len(b):]
		return nil, false, false
	}

	// The line has reached max+1 bytes without a '\n'.
	if b[w-1] == '\r' {
		if len(b) == w {
			f.appendPending(b[:w-1])
			f.cr = true
			*buf = b[len(b):]
			return nil, false, false
		}
		if b[w] == '\n' {
			*buf = b[w+1:]
			if p == 0 {
				return b[:w-1], false, true
			}
			f.appendPending(b[:w-1])
			f.held = true
			return f.pending, false, true
		}
	}
	f.skip = true
	*buf = b[w:]
	if p == 0 {
		return b[:w-1], true, true
	}
	f.appendPending(b[:w-1])
	f.held = true
	return f.pending, true, true
}

// Buffered reports how many bytes of an unfinished line the Framer holds. It
// never exceeds maxLine. Bytes being discarded from an over-long line are not
// held and not counted.
func (f *Framer) Buffered() int {
	if f.held {
		return 0
	}
	return len(f.pending)
}

// AtLineStart reports whether the Framer holds no part of an unfinished
// line, so that the next byte given to Next starts a new line. A caller may
// then take whole lines out of its buffer itself (finding each '\n' and
// dropping one '\r' before it, as Next would) and hand Next only the rest.
// Like a call to Next, it invalidates a line Next returned from the
// Framer's internal buffer.
func (f *Framer) AtLineStart() bool {
	if f.held {
		f.held = false
		f.resetPending()
	}
	return len(f.pending) == 0 && !f.skip && !f.cr
}

// Copied reports whether the line Next returned last came from the
// Framer's internal buffer (it spanned reads) rather than from the caller's
// buffer: such a line is valid only until the next call, while one sliced
// from the caller's buffer lives as long as that buffer.
func (f *Framer) Copied() bool { return f.held }

// Release drops the Framer's internal buffer and any partial line, leaving it
// as NewFramer made it; call it when the connection closes so an idle Framer
// pins no memory. Lines previously returned from the internal buffer become
// invalid.
func (f *Framer) Release() {
	*f = Framer{max: f.max}
}

// appendPending copies p onto the pending line. Callers guarantee the result
// is at most f.max bytes, and growth is capped at f.max so the capacity never
// exceeds it either.
func (f *Framer) appendPending(p []byte) {
	n := len(f.pending) + len(p)
	if n > cap(f.pending) {
		c := 2 * cap(f.pending)
		if c < minPendingCap {
			c = minPendingCap
		}
		if c < n {
			c = n
		}
		if c > f.max {
			c = f.max
		}
		nb := make([]byte, len(f.pending), c)
		copy(nb, f.pending)
		f.pending = nb
	}
	f.pending = append(f.pending, p...)
}

func (f *Framer) resetPending() {
	if cap(f.pending) > keepCap {
		f.pending = nil
	} else {
		f.pending = f.pending[:0]
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
