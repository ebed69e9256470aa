package client

import (
	"bytes"
	"sync"
)

// Writer is an io.Writer that logs each line written as one entry, for
// loggers that write lines: log.Logger, zerolog, zap (through
// zapcore.AddSync). A line ends with "\n" (one '\r' before it is dropped);
// a partial line waits for its newline or for Close. A line longer than the
// client's max line is cut to it and the rest of the line discarded. It is
// safe for concurrent use; each Write call's lines are queued together.
type Writer struct {
	c       *Client
	mu      sync.Mutex
	partial []byte // the start of a line that has not ended yet, at most max line + 1 bytes
}

// NewWriter returns a Writer that logs to c.
func NewWriter(c *Client) *Writer { return &Writer{c: c} }

// Write queues every complete line of p as an entry and keeps a final
// partial line for the next Write. It never blocks on the network; after
// the client is closed it returns ErrClosed.
func (w *Writer) Write(p []byte) (int, error) {
	if w.c.isClosing() {
		return 0, ErrClosed
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.hold(p)
			break
		}
		if len(w.partial) == 0 {
			w.c.Log(string(bytes.TrimSuffix(p[:i], []byte{'\r'})))
		} else {
			w.hold(p[:i])
			w.emit()
		}
		p = p[i+1:]
	}
	return n, nil
}

// hold keeps up to max line bytes of a line plus one, for a '\r' that may
// be the line break's; Log cuts the line to the max line, so the rest of a
// longer line is not needed.
func (w *Writer) hold(p []byte) {
	if room := w.c.o.maxLine + 1 - len(w.partial); room > 0 {
		w.partial = append(w.partial, p[:min(len(p), room)]...)
	}
}

func (w *Writer) emit() {
	w.c.Log(string(bytes.TrimSuffix(w.partial, []byte{'\r'})))
	w.partial = w.partial[:0]
	if cap(w.partial) > 4096 {
		w.partial = nil // a rare long line does not pin its buffer
	}
}

// Close logs a final partial line, if any. It does not close the Client.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit()
	}
	return nil
}

func (c *Client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}
