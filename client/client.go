package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/logatron/logatron/codec"
)

// Errors returned by Dial and Set.
var (
	ErrInvalidName  = errors.New("logatron client: invalid name: use 1-64 of A-Z a-z 0-9 _ . : -")
	ErrInvalidKey   = errors.New("logatron client: invalid key: use 1-64 of A-Z a-z 0-9 _ . : -")
	ErrInvalidValue = errors.New("logatron client: invalid value: it must be non-blank, have no line break and fit in the max line")
	ErrInvalidToken = errors.New("logatron client: invalid token: it must have no spaces or control characters")
	ErrTooManyKeys  = errors.New("logatron client: too many keys")
	ErrClosed       = errors.New("logatron client: closed")
)

// ServerError is the reason the server gave (its `ERR <reason>` line)
// before it closed the connection, e.g. "name in use: worker_1" or "not
// authorized". The client reconnects after it like after any other loss.
type ServerError struct{ Reason string }

func (e *ServerError) Error() string { return "logatron client: server refused: ERR " + e.Reason }

// Client sends one named client's log entries and state to a Logatron
// server's data port. Its methods are safe for concurrent use; Log, Logf,
// Cont and Set never block on the network.
type Client struct {
	addr, name string
	o          options

	// ctx ends when Close gives up (its context ended) or Dial gives up:
	// the sender then stops at once, dialing and writing included.
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	q          queue
	closing    bool              // Close was called: new entries are dropped, the sender drains and ends
	idle       bool              // the sender found the queue empty and waits on wake
	up         bool              // the sender has a connection
	room       sync.Cond         // with WithBackpressure: signalled when the queue has room or the connection is lost
	waiters    int               // callers waiting on room
	stateDirty bool              // a queued SET was dropped: the sender sends the whole state again
	state      map[string]string // every key's latest value, sent again on each connection
	keys       []string          // state keys in the order first set
	lastErr    error

	dropped   atomic.Uint64
	wake      chan struct{} // capacity 1: there is something for an idle sender
	connected chan struct{} // closed at the first connection
	done      chan struct{} // closed when the sender has ended
	result    error         // the sender's verdict, read after done
}

// Dial starts a client named name for the server's data port at addr
// (host:port) and, unless WithoutWait is given, waits until it has
// connected and sent `IAM`, or until ctx ends. A name is 1-64 of
// [A-Za-z0-9_.:-]. After Dial the client reconnects by itself whenever the
// connection is lost (see WithBackoff), each time sending `IAM` and every
// key set so far, so that the server resumes the same client.
//
// The server says nothing when it accepts `IAM`; when it refuses it
// (name in use, not authorized) the error handler gets a *ServerError and
// the client tries again later.
func Dial(ctx context.Context, addr, name string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if !codec.ValidName([]byte(name)) {
		return nil, fmt.Errorf("%w (got %q)", ErrInvalidName, name)
	}
	c := &Client{
		addr:      addr,
		name:      name,
		o:         o,
		q:         newQueue(o.queueSize, o.queueBytes),
		state:     make(map[string]string),
		wake:      make(chan struct{}, 1),
		connected: make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.room.L = &c.mu
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	if o.noWait {
		return c, nil
	}
	select {
	case <-c.connected:
		return c, nil
	case <-ctx.Done():
		c.cancel()
		<-c.done
		return nil, fmt.Errorf("logatron client: dial %s: %w (last error: %v)", addr, ctx.Err(), c.lastError())
	}
}

// Log queues msg as one entry. It never blocks (unless WithBackpressure):
// when the queue is full the oldest entry is dropped (see Dropped). A multi-line msg is one entry, sent
// as `LOG` and its first line, then `CONT` and each further line; "\r\n"
// breaks a line as "\n" does, and one final line break is not an empty last
// line. The server trims each line's leading and trailing spaces and tabs
// (so indentation is not kept), escapes control characters on output, and
// truncates entries longer than its -max-line. Here a msg is cut to the
// max line (WithMaxLine), and each of its lines so that its protocol line
// fits in the max line: what the server would keep.
func (c *Client) Log(msg string) { c.push(item{kind: itemLog, text: msg}) }

// Logf is Log with fmt.Sprintf(format, args...).
func (c *Client) Logf(format string, args ...any) { c.Log(fmt.Sprintf(format, args...)) }

// Cont queues text as continuation lines of the newest entry (`CONT`): the
// server appends a line break and text to it, or stores text as a new entry
// when the client has none yet. It is for callers that get a message line
// by line (logatron send); Log with a multi-line message is simpler. When
// the queue drops an entry, the continuation lines queued right behind it go
// with it, so they never attach to another entry; after a server restart the
// server has no entry to continue and stores them as a new one.
func (c *Client) Cont(text string) { c.push(item{kind: itemCont, text: text}) }

// Set queues `SET key value` and remembers the value, which is sent again
// after every reconnect. key is 1-64 of [A-Za-z0-9_.:-]; value must not be
// blank or contain a line break, and the line `SET key value` must fit in
// the max line (WithMaxLine), or the server would reject it. The server trims the value's leading and
// trailing spaces and tabs. A set is never lost to a full queue: if the
// queue drops it, the whole state is sent again instead. Set fails with
// ErrInvalidKey, ErrInvalidValue, ErrTooManyKeys (beyond WithMaxKeys
// distinct keys) or ErrClosed.
func (c *Client) Set(key, value string) error {
	if !codec.ValidName([]byte(key)) {
		return fmt.Errorf("%w (got %q)", ErrInvalidKey, key)
	}
	if strings.IndexByte(value, '\n') >= 0 || strings.Trim(value, " \t") == "" {
		return fmt.Errorf("%w (key %q)", ErrInvalidValue, key)
	}
	if n := len("SET  ") + len(key) + len(value); n > c.o.maxLine {
		return fmt.Errorf("%w: the SET line would be %d bytes, more than the max line %d (key %q)", ErrInvalidValue, n, c.o.maxLine, key)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if _, ok := c.state[key]; !ok {
		if len(c.state) >= c.o.maxKeys {
			c.mu.Unlock()
			return fmt.Errorf("%w: %d keys already set, %q would be one more", ErrTooManyKeys, len(c.state), key)
		}
		c.keys = append(c.keys, key)
	}
	c.state[key] = value
	c.pushLocked(item{kind: itemSet, key: key, text: value})
	return nil
}

// Dropped is how many entries were dropped: to make room in a full queue,
// or because they were logged after Close. An entry dropped with its queued
// continuation lines counts once; a continuation line dropped alone counts
// once.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close sends what is queued and ends the connection cleanly, waiting for
// the server to close its side: Close returns nil only when the server has
// read everything up to the end (or nothing was left to send while
// disconnected). If ctx ends first, Close stops the client at once and
// returns an error that wraps ctx.Err() and says how many entries were not
// sent. Entries logged after Close began are dropped. Calling Close again
// returns the same result.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	c.room.Broadcast()
	c.mu.Unlock()
	c.signal()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.cancel()
		<-c.done
	}
	if !errors.Is(c.result, errAborted) {
		return c.result
	}
	c.mu.Lock()
	n := c.q.n
	c.mu.Unlock()
	cause := ctx.Err()
	if cause == nil {
		cause = context.Canceled // an earlier Close gave up
	}
	return fmt.Errorf("logatron client: close: %d entries not sent to %s, or not confirmed by it (last error: %v): %w", n, c.addr, c.lastError(), cause)
}

// errAborted is the sender's result when c.ctx ended.
var errAborted = errors.New("aborted")

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Client) push(it item) {
	it.text = cut(it.text, c.o.maxLine)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.pushLocked(it)
}

// pushLocked queues it, making room by dropping the oldest, and unlocks.
// With WithBackpressure it first waits for room while connected.
func (c *Client) pushLocked(it item) {
	for c.o.backpressure && c.up && !c.closing && c.q.full(it.size()) {
		c.waiters++
		c.room.Wait()
		c.waiters--
	}
	for c.q.full(it.size()) {
		c.dropOldest()
	}
	c.q.pushBack(it)
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		c.signal()
	}
}

// setUp records whether the sender has a connection; losing it releases
// the callers waiting for room, who then drop instead.
func (c *Client) setUp(up bool) {
	c.mu.Lock()
	c.up = up
	if !up {
		c.room.Broadcast()
	}
	c.mu.Unlock()
}

// dropOldest drops the oldest item with the continuation lines behind it.
func (c *Client) dropOldest() { c.discard(c.q.popFront()) }

// discard counts it as dropped; the caller has removed it from the queue.
// An entry's continuation lines at the queue's front go with it.
func (c *Client) discard(it item) {
	if it.kind == itemSet {
		c.stateDirty = true
		return
	}
	c.dropped.Add(1)
	if it.kind == itemLog {
		for c.q.n > 0 && c.q.front().kind == itemCont {
			c.q.popFront()
		}
	}
}

// requeue puts items that were not written back at the front of the
// queue, oldest first, dropping those that no longer fit: they are the
// oldest.
func (c *Client) requeue(items []item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(items) - 1; i >= 0; i-- {
		if c.q.full(items[i].size()) {
			c.discard(items[i])
			continue
		}
		c.q.pushFront(items[i])
	}
}

func (c *Client) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *Client) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *Client) report(err error) {
	c.setLastErr(err)
	if c.o.onError != nil {
		c.o.onError(err)
	}
}
