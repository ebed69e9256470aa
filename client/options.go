package client

import (
	"fmt"
	"time"
)

// Defaults of the options.
const (
	DefaultQueueSize    = 10000            // entries waiting to be sent
	DefaultQueueBytes   = 16 << 20         // message bytes waiting to be sent
	DefaultMaxLine      = 64 << 10         // the server's default -max-line
	DefaultMaxKeys      = 1024             // the server's default -max-keys
	DefaultDialTimeout  = 5 * time.Second  // one connection attempt
	DefaultWriteTimeout = 10 * time.Second // one write the server does not take
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 10 * time.Second
	DefaultKeepAlive    = 15 * time.Second // TCP keepalive: a dead server is noticed while idle
)

type options struct {
	token        string
	queueSize    int
	queueBytes   int
	maxLine      int
	maxKeys      int
	dialTimeout  time.Duration
	writeTimeout time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	keepAlive    time.Duration
	onError      func(error)
	noWait       bool
	backpressure bool
}

func defaultOptions() options {
	return options{
		queueSize:    DefaultQueueSize,
		queueBytes:   DefaultQueueBytes,
		maxLine:      DefaultMaxLine,
		maxKeys:      DefaultMaxKeys,
		dialTimeout:  DefaultDialTimeout,
		writeTimeout: DefaultWriteTimeout,
		backoffMin:   DefaultBackoffMin,
		backoffMax:   DefaultBackoffMax,
		keepAlive:    DefaultKeepAlive,
	}
}

func (o *options) check() error {
	switch {
	case o.queueSize < 1:
		return fmt.Errorf("logatron client: queue size must be at least 1, got %d", o.queueSize)
	case o.maxLine < 1:
		return fmt.Errorf("logatron client: max line must be at least 1, got %d", o.maxLine)
	case o.queueBytes < o.maxLine:
		return fmt.Errorf("logatron client: queue bytes (%d) must be at least the max line (%d)", o.queueBytes, o.maxLine)
	case o.maxKeys < 1:
		return fmt.Errorf("logatron client: max keys must be at least 1, got %d", o.maxKeys)
	case o.dialTimeout <= 0 || o.writeTimeout <= 0:
		return fmt.Errorf("logatron client: dial and write timeouts must be positive, got %s and %s", o.dialTimeout, o.writeTimeout)
	case o.backoffMin <= 0 || o.backoffMax < o.backoffMin:
		return fmt.Errorf("logatron client: backoff must have 0 < min <= max, got %s and %s", o.backoffMin, o.backoffMax)
	case !validToken(o.token):
		return ErrInvalidToken
	}
	return nil
}

// validToken: a token is one protocol token, so it has no spaces, tabs,
// line breaks or other control characters. Empty means no token.
func validToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] == 0x7f {
			return false
		}
	}
	return true
}

// Option configures Dial.
type Option func(*options)

// WithToken sends token after the name (`IAM <name> <token>`), for servers
// started with -tokens. It must contain no spaces or control characters.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithQueueSize bounds the entries (LOG, continuation and SET items) that
// wait to be sent; default DefaultQueueSize. When it is full the oldest
// entry is dropped and counted in Dropped.
func WithQueueSize(entries int) Option { return func(o *options) { o.queueSize = entries } }

// WithQueueBytes bounds the message bytes that wait to be sent; default
// DefaultQueueBytes. It must be at least the max line.
func WithQueueBytes(n int) Option { return func(o *options) { o.queueBytes = n } }

// WithMaxLine is the server's -max-line, in bytes; default
// DefaultMaxLine, the server's default. A longer message is cut to it, and
// each of its lines so that the protocol line (`LOG ` or `CONT ` and the
// line) fits in it, on a UTF-8 boundary: the server would truncate them
// anyway. Set refuses a value whose `SET` line would not fit. Give the
// server's value when it runs with another -max-line.
func WithMaxLine(n int) Option { return func(o *options) { o.maxLine = n } }

// WithMaxKeys bounds the distinct keys Set accepts; default DefaultMaxKeys,
// the server's default -max-keys. The client keeps every key's latest value
// to send it again after a reconnect.
func WithMaxKeys(n int) Option { return func(o *options) { o.maxKeys = n } }

// WithDialTimeout bounds one connection attempt; default DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithWriteTimeout bounds one write: a server that takes none of it for
// this long is treated as gone, and the client reconnects. Default
// DefaultWriteTimeout.
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithBackoff sets the wait between connection attempts: it starts near
// min, doubles with each failure up to max, and is jittered (each wait is
// drawn from ±50% of the current interval, never more than max). A
// connection that lasted a second resets it to min. Default
// DefaultBackoffMin, DefaultBackoffMax.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithErrorHandler has f called with each failure: a failed connection
// attempt, a lost connection (with a *ServerError when the server said why).
// f runs on the client's sender goroutine and delays sending while it
// runs, so it should return quickly. It must not call Close.
func WithErrorHandler(f func(error)) Option { return func(o *options) { o.onError = f } }

// WithoutWait makes Dial return at once and connect in the background;
// entries wait in the queue meanwhile. By default Dial returns once the
// first connection is made, so a wrong address is seen at once.
func WithoutWait() Option { return func(o *options) { o.noWait = true } }

// WithBackpressure makes Log, Logf, Cont, Set and the Writer wait for room
// while the queue is full and the client is connected: the caller goes at
// the speed the server takes entries, and nothing is dropped. While the
// client is not connected they still never wait: the oldest entries are
// dropped. A wait lasts at most the write timeout (a server that takes
// nothing for that long is treated as gone). It is for batch senders such as
// `logatron send`, whose input can wait; a program logging about itself
// should not use it, so that a slow server never slows the program.
func WithBackpressure() Option { return func(o *options) { o.backpressure = true } }
