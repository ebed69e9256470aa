package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// batchBytes is how much the sender encodes before writing: it writes
// when the queue is empty or when this much is ready, as a bufio.Writer of
// this size would, but it keeps the items until the write returns, so that
// those the write did not take go to the next connection.
const batchBytes = 64 << 10

// stableAfter is how long a connection must last for the backoff to start
// again from its minimum: a server that accepts and at once refuses
// (name in use) is retried ever more slowly, not in a tight loop. It is
// also how long the entries written on a new connection are kept for a
// refusal: a server refuses only in answer to IAM (SPEC §1), so an ERR
// that came this soon means nothing written after IAM was stored, and
// those entries are sent again on the next connection.
const stableAfter = time.Second

// Bounds of what is kept for a refusal (see stableAfter), besides the
// queue's own bounds: a refusal comes in answer to IAM, so it is noticed
// long before more than the socket buffers (a few MiB) have been written.
const (
	replayMax      = 65536
	replayMaxBytes = 16 << 20
)

// errReplyLimit bounds what is kept of the server's `ERR` line.
const errReplyLimit = 512

// conn is one connection and the goroutine that reads it. The server sends
// nothing on the data port except `ERR <reason>` before closing, so the
// reader is how a closed or refused connection is noticed while idle.
type conn struct {
	nc    net.Conn
	dead  chan struct{} // closed when the reader has ended
	err   error         // why it ended (io.EOF, a read error, a *ServerError); read after dead
	stop  func() bool   // unhooks the abort that expires the deadlines
	since time.Time     // when it was made
	ended time.Time     // when the reader saw it end; read after dead
}

func newConn(ctx context.Context, nc net.Conn) *conn {
	cn := &conn{nc: nc, dead: make(chan struct{}), since: time.Now()}
	// Close giving up must end a write or read in progress at once.
	cn.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	go cn.read()
	return cn
}

func (cn *conn) read() {
	defer close(cn.dead)
	var reply []byte
	buf := make([]byte, errReplyLimit)
	for {
		n, err := cn.nc.Read(buf)
		if room := errReplyLimit - len(reply); room > 0 {
			reply = append(reply, buf[:min(n, room)]...)
		}
		if err != nil {
			cn.err, cn.ended = err, time.Now()
			if line, ok := strings.CutPrefix(string(reply), "ERR "); ok {
				line, _, _ = strings.Cut(line, "\n")
				cn.err = &ServerError{Reason: strings.TrimSuffix(line, "\r")}
			}
			return
		}
	}
}

// isDead reports whether the reader has seen the connection end.
func (cn *conn) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

func (cn *conn) write(b []byte, timeout time.Duration) (int, error) {
	_ = cn.nc.SetWriteDeadline(time.Now().Add(timeout))
	return cn.nc.Write(b)
}

// close closes the socket and waits for the reader, so cn.err is final.
func (cn *conn) close() {
	cn.stop()
	_ = cn.nc.Close()
	<-cn.dead
}

// sender is the client's one goroutine that talks to the server. Only it
// touches the connection.
type sender struct {
	c       *Client
	cn      *conn // nil while disconnected
	batch   []item
	ends    []int // ends[i]: the offset in buf where batch[i]'s lines end
	buf     []byte
	bo      backoff.ExponentialBackOff
	written int // entries written to cn so far
	onceUp  bool

	// replay holds what was written on cn in its first stableAfter, in
	// case the server refuses the client; retaining is false once that
	// time has passed or replay has reached the queue's bounds.
	replay      []item
	replayBytes int
	retaining   bool
}

func (c *Client) run() {
	s := &sender{c: c, bo: backoff.ExponentialBackOff{
		InitialInterval:     c.o.backoffMin,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.o.backoffMax,
	}}
	s.bo.Reset()
	c.result = s.loop()
	if s.cn != nil {
		s.cn.close()
	}
	c.setUp(false)
	close(c.done)
}

func (s *sender) loop() error {
	c := s.c
	for {
		if s.cn == nil {
			if c.ctx.Err() != nil {
				return errAborted
			}
			if s.drained() {
				return nil // closing, nothing left, no connection to end
			}
			if err := s.connect(); err != nil {
				if c.ctx.Err() != nil {
					return errAborted // the abort ended the attempt: not a failure to report
				}
				c.report(err)
				if !s.pause() {
					return errAborted
				}
				continue
			}
		}
		closing := s.take()
		if len(s.batch) == 0 {
			if closing {
				if err, done := s.finish(); done {
					return err
				}
				if !s.pause() {
					return errAborted
				}
				continue
			}
			select {
			case <-c.wake:
			case <-s.cn.dead:
				s.lost(nil)
				if !s.pause() {
					return errAborted
				}
			case <-c.ctx.Done():
				return errAborted
			}
			continue
		}
		if err := s.send(); err != nil {
			s.lost(err)
			if !s.pause() {
				return errAborted
			}
		}
	}
}

// drained reports whether Close was called and nothing is queued.
func (s *sender) drained() bool {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing && c.q.n == 0 && !c.stateDirty
}

// connect dials and sends `IAM` and the whole state.
func (s *sender) connect() error {
	c := s.c
	d := net.Dialer{Timeout: c.o.dialTimeout, KeepAlive: c.o.keepAlive}
	nc, err := d.DialContext(c.ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("logatron client: connect to %s: %w", c.addr, err)
	}
	s.buf = s.hello(s.buf[:0])
	cn := newConn(c.ctx, nc)
	if _, err := cn.write(s.buf, c.o.writeTimeout); err != nil {
		cn.close()
		return fmt.Errorf("logatron client: identify to %s: %w", c.addr, err)
	}
	s.cn, s.written = cn, 0
	s.replay, s.replayBytes, s.retaining = s.replay[:0], 0, true
	c.setUp(true)
	if !s.onceUp {
		s.onceUp = true
		close(c.connected)
	}
	return nil
}

// hello appends `IAM` and a `SET` for every key, so that a server that
// kept the client (or a new one) has its state.
func (s *sender) hello(b []byte) []byte {
	c := s.c
	b = append(b, "IAM "...)
	b = append(b, c.name...)
	if c.o.token != "" {
		b = append(b, ' ')
		b = append(b, c.o.token...)
	}
	b = append(b, '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stateDirty = false
	for _, k := range c.keys {
		b = appendItem(b, &item{kind: itemSet, key: k, text: c.state[k]}, c.o.maxLine)
	}
	return b
}

// take moves the next items into the batch: the whole state first if a
// queued SET was dropped, then queued items up to batchBytes. With
// nothing to send it marks the sender idle and reports whether Close was
// called.
func (s *sender) take() (closing bool) {
	c := s.c
	s.batch = s.batch[:0]
	size := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stateDirty {
		c.stateDirty = false
		for _, k := range c.keys {
			s.batch = append(s.batch, item{kind: itemSet, key: k, text: c.state[k]})
		}
	}
	for c.q.n > 0 && size < batchBytes {
		it := c.q.popFront()
		size += it.size()
		s.batch = append(s.batch, it)
	}
	if len(s.batch) == 0 {
		c.idle = true
	} else if c.waiters > 0 {
		c.room.Broadcast()
	}
	return c.closing
}

// send writes the batch. Items the write did not take in full go back to
// the front of the queue for the next connection.
func (s *sender) send() error {
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	for i := range s.batch {
		s.buf = appendItem(s.buf, &s.batch[i], s.c.o.maxLine)
		s.ends = append(s.ends, len(s.buf))
	}
	n := 0
	var err error
	if s.cn.isDead() {
		err = errors.New("closed") // replaced by the reader's reason in lost
	} else {
		n, err = s.cn.write(s.buf, s.c.o.writeTimeout)
	}
	k := 0
	for k < len(s.ends) && s.ends[k] <= n {
		k++
	}
	s.written += k
	s.retain(s.batch[:k])
	if err != nil {
		s.c.requeue(s.batch[k:])
	}
	clear(s.batch) // let the strings go
	return err
}

// retain keeps written items while the connection is new.
func (s *sender) retain(written []item) {
	if !s.retaining {
		return
	}
	if time.Since(s.cn.since) >= stableAfter {
		s.stopRetaining()
		return
	}
	for _, it := range written {
		s.replayBytes += it.size()
	}
	s.replay = append(s.replay, written...)
	o := &s.c.o
	if len(s.replay) > min(o.queueSize, replayMax) || s.replayBytes > min(o.queueBytes, replayMaxBytes) {
		s.stopRetaining()
	}
}

func (s *sender) stopRetaining() {
	clear(s.replay)
	s.replay, s.replayBytes, s.retaining = s.replay[:0], 0, false
}

// lost ends the connection after a failure and reports it. A nil err
// means the reader saw the connection end.
func (s *sender) lost(err error) {
	c, cn := s.c, s.cn
	s.cn = nil
	c.setUp(false)
	cn.close()
	var se *ServerError
	refused := errors.As(cn.err, &se)
	if err == nil || refused {
		err = cn.err // the server's own reason beats our write error
	}
	if refused && s.retaining && cn.ended.Sub(cn.since) < stableAfter {
		// Nothing after IAM was stored: send it all again.
		c.requeue(s.replay)
		s.written = 0
	}
	s.stopRetaining()
	if errors.Is(err, io.EOF) {
		err = errors.New("closed by the server")
	}
	if time.Since(cn.since) >= stableAfter {
		s.bo.Reset()
	}
	if c.ctx.Err() == nil {
		c.report(fmt.Errorf("logatron client: connection to %s lost (%d entries written on it; those still in socket buffers may be lost): %w", c.addr, s.written, err))
	}
}

// pause waits for the next backoff interval; false means the client was
// aborted meanwhile.
func (s *sender) pause() bool {
	t := time.NewTimer(min(s.bo.NextBackOff(), s.c.o.backoffMax))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.c.ctx.Done():
		return false
	}
}

// finish ends a drained connection cleanly: it half-closes it and waits
// for the server to close its side, which a Logatron server does after it
// has read everything before the end. Anything else (the connection was
// already gone, a reset, an ERR) means the last entries are unconfirmed,
// unless the server refused the client and they were queued again: then
// finish reports done=false and the sender goes on.
func (s *sender) finish() (err error, done bool) {
	c, cn := s.c, s.cn
	if !cn.isDead() {
		if tc, ok := cn.nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		select {
		case <-cn.dead:
			if errors.Is(cn.err, io.EOF) {
				return nil, true
			}
		case <-c.ctx.Done():
			return errAborted, true
		}
	}
	written, err := s.written, cn.err
	s.lost(nil)
	if !s.drained() {
		return nil, false
	}
	if errors.Is(err, io.EOF) {
		if written == 0 {
			return nil, true // nothing of ours was on it
		}
		err = errors.New("closed by the server before the end")
	}
	return fmt.Errorf("logatron client: close: the server did not confirm the last %d entries sent to %s: %w", written, c.addr, err), true
}
