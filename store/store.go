// Package store holds Logatron's clients: each client's ring, state and
// counters, the registry of names, and the one path by which a data
// connection's bytes become entries. It knows nothing of sockets or of
// gnet: its caller (package loop) hands it each read of a connection and
// acts on the verdict. A Store is not safe for concurrent use; the server
// touches it only from its event loop, so it needs no locks.
package store

import (
	"strconv"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/ringbuf"
	"github.com/rs/zerolog"
)

// Config holds the limits a Store enforces; ../shared/SPEC.md §1 says what
// each means to a client.
type Config struct {
	Buffer      int // ring entries per client
	BufferBytes int // ring message bytes per client
	MaxLine     int // longest data-port line, terminator excluded
	MaxKeys     int // state keys per client
	WatchBuffer int // unsent bytes a watcher may owe before it is dropped
	Log         zerolog.Logger
}

// Totals are the server-wide counters of STATS, since start.
type Totals struct {
	Clients   uint64 // successful IAMs
	Rejected  uint64 // connections closed with a fatal ERR
	Lines     uint64
	Bytes     uint64
	Errors    uint64
	Truncated uint64
}

// Store is every client the server holds and the counters over them.
type Store struct {
	cfg     Config
	log     zerolog.Logger
	clients map[string]*Client
	msgMax  int    // longest message stored: min(max-line, buffer-bytes, ringbuf.MaxMessage)
	scratch []byte // reused for UTF-8 repair, so storing never allocates when warm
	spans   []uint64
	tot     Totals

	// Watch is the event fan-out: admin WATCH, WebSocket and Go
	// subscriptions.
	Watch Hub
}

// Client is one identified client: its ring, state and counters. It is
// owned by the Store; read it only on the store's goroutine.
type Client struct {
	name        string
	connectedAt int64 // Unix ms of the IAM
	ring        ringbuf.Ring
	keys        map[string]string
	lines       uint64
	bytes       uint64
	errors      uint64
	truncated   uint64
	lastError   string
	peer        Peer
}

// Name is the client's name. Immutable.
func (cl *Client) Name() string { return cl.name }

// Conn is the store's side of one data connection: its line framer and,
// once it said IAM, its client. The caller keeps one per connection and
// passes it to Ingest and Close.
type Conn struct {
	fr     codec.Framer
	client *Client // nil until IAM
	early  uint64  // bytes received before IAM: added to the client's at IAM
	peer   Peer
}

// NewConn returns the state of a new data connection from peer.
func (s *Store) NewConn(peer Peer) Conn {
	return Conn{fr: codec.NewFramer(s.cfg.MaxLine), peer: peer}
}

// Client is the connection's client, nil before IAM.
func (c *Conn) Client() *Client { return c.client }

// Peer is the connection's remote address.
func (c *Conn) Peer() Peer { return c.peer }

// New returns an empty Store.
func New(cfg Config) *Store {
	s := &Store{
		cfg:     cfg,
		log:     cfg.Log,
		clients: make(map[string]*Client),
		msgMax:  min(cfg.MaxLine, cfg.BufferBytes, ringbuf.MaxMessage),
		spans:   make([]uint64, 0, maxBatch),
	}
	s.Watch.log = cfg.Log
	s.Watch.limit = cfg.WatchBuffer
	return s
}

// Totals returns the server-wide counters.
func (s *Store) Totals() Totals { return s.tot }

// Len is the number of clients held.
func (s *Store) Len() int { return len(s.clients) }

// Lookup returns the named client, or nil.
func (s *Store) Lookup(name string) *Client { return s.clients[name] }

// CountRejected counts a connection closed with a fatal ERR.
func (s *Store) CountRejected() { s.tot.Rejected++ }

// maxBatch bounds a read's run of LOG messages held before storing: a full
// 256 KiB read of short lines stores a few batches, and the list costs
// 32 KiB once per store.
const maxBatch = 4096

// Ingest handles one read of a data connection: every complete line in
// read, in order, and the start of an unfinished one, which the
// connection's Framer keeps (at most max-line bytes). read is not kept.
// A non-empty fatal is the reason for an `ERR <fatal>` line after which
// the connection must be closed; nothing after the offending line is
// handled. Ingest does not allocate once the client's ring is warm.
func (s *Store) Ingest(c *Conn, read []byte, now int64) (fatal string) {
	if cl := c.client; cl != nil {
		cl.bytes += uint64(len(read))
		s.tot.Bytes += uint64(len(read))
	} else {
		c.early += uint64(len(read))
	}
	data, buf := read, read
	// A plain LOG line sliced out of this read is held back as a span of
	// data (offset<<32|length), so that a read that brings more lines than
	// the ring keeps copies only those the ring keeps (see store). Only
	// done when nobody watches, since a watcher sees every line, and only
	// for messages of at most a third of msgMax: UTF-8 repair at most
	// triples a message, so such a message cannot come out truncated, and
	// whether it is kept does not change what is counted.
	batching := !s.Watch.Active()
	short := s.msgMax / 3
	for {
		line, long, ok := c.fr.Next(&buf)
		if !ok {
			break
		}
		cl := c.client
		if cl == nil {
			if fatal = s.identify(c, line, long, now); fatal != "" {
				return fatal
			}
			continue
		}
		if batching && !long && !c.fr.Copied() {
			if msg, ok := codec.LOGMessage(line); ok && len(msg) <= short {
				if len(s.spans) == cap(s.spans) {
					s.flush(cl, data, now)
				}
				s.spans = append(s.spans, uint64(cap(data)-cap(msg))<<32|uint64(len(msg)))
				continue
			}
		}
		s.flush(cl, data, now)
		s.command(cl, line, long, now)
	}
	if c.client != nil {
		s.flush(c.client, data, now)
	}
	return ""
}

// flush stores the held spans of data.
func (s *Store) flush(cl *Client, data []byte, now int64) {
	if len(s.spans) != 0 {
		s.store(cl, data, s.spans, false, now)
		s.spans = s.spans[:0]
	}
}

// store is the one place a LOG message is counted, checked for UTF-8,
// truncated and pushed: spans are messages (offset<<32|length into data),
// oldest first, and long says the Framer cut the one message at max-line.
// The ring copies only those it keeps (ringbuf.Ring.PushLast); each is
// checked as it is copied. Events go out per kept message, which is every
// message when anybody watches: Ingest then passes one at a time.
func (s *Store) store(cl *Client, data []byte, spans []uint64, long bool, ts int64) {
	cl.lines += uint64(len(spans))
	s.tot.Lines += uint64(len(spans))
	span := func(i int) []byte {
		off := int(spans[i] >> 32)
		return data[off : off+int(uint32(spans[i]))]
	}
	cl.ring.PushLast(ts, len(spans),
		func(i int) int { return int(uint32(spans[i])) },
		func(i int) []byte {
			msg := span(i)
			cut := long
			if long {
				// The Framer cut the line at max-line bytes, maybe inside a rune.
				msg = codec.TruncateUTF8(msg, s.msgMax)
			}
			msg = s.validUTF8(msg)
			if len(msg) > s.msgMax {
				msg = codec.TruncateUTF8(msg, s.msgMax)
				cut = true
			}
			if cut {
				cl.truncated++
				s.tot.Truncated++
			}
			s.Watch.Emit(EventLog, ts, cl.name, msg, nil)
			return msg
		})
}

// storeOne stores a single message that was not held back.
func (s *Store) storeOne(cl *Client, msg []byte, long bool, ts int64) {
	one := [1]uint64{uint64(len(msg))}
	s.store(cl, msg, one[:], long, ts)
}

// identify handles a line of a connection that has not said IAM yet.
func (s *Store) identify(c *Conn, line []byte, long bool, now int64) (fatal string) {
	if long {
		return "line too long"
	}
	cmd, name, _, ok := codec.ParseData(line)
	switch {
	case cmd == codec.CmdBlank:
		return ""
	case cmd != codec.CmdIAM || !ok:
		return "expected IAM <name>"
	}
	if _, taken := s.clients[string(name)]; taken {
		return "name in use: " + string(name)
	}
	cl := &Client{
		name:        string(name),
		connectedAt: now,
		ring:        ringbuf.New(s.cfg.Buffer, s.cfg.BufferBytes),
		bytes:       c.early,
		peer:        c.peer,
	}
	s.tot.Bytes += c.early
	c.client = cl
	s.clients[cl.name] = cl
	s.tot.Clients++
	if ev := s.log.Debug(); ev.Enabled() { // the address is made only when it is logged
		ev.Str("client", cl.name).Str("addr", c.peer.String()).Msg("client identified")
	}
	s.Watch.Emit(EventReady, now, cl.name, nil, nil)
	return ""
}

// command handles one line of an identified client. Errors here are not
// fatal: they are counted and the last one kept, and the line is dropped.
func (s *Store) command(cl *Client, line []byte, long bool, now int64) {
	cmd, a, b, ok := codec.ParseData(line)
	switch cmd {
	case codec.CmdBlank:
	case codec.CmdLOG:
		s.storeOne(cl, a, long, now)
	case codec.CmdSET:
		switch {
		case long:
			s.fail(cl, "line too long: SET rejected")
		case !ok:
			s.fail(cl, "usage: SET <key> <value>")
		default:
			s.set(cl, a, b, now)
		}
	case codec.CmdIAM:
		s.fail(cl, "already identified as "+cl.name)
	default:
		s.fail(cl, "unknown command "+quoteWord(a))
	}
}

// quoteWord quotes a command word for an error text, bounded and valid UTF-8.
func quoteWord(w []byte) string {
	if len(w) > 64 {
		w = w[:64]
	}
	return strconv.Quote(string(w))
}

func (s *Store) fail(cl *Client, reason string) {
	cl.errors++
	s.tot.Errors++
	cl.lastError = reason
}

// validUTF8 returns b if it is valid UTF-8, else a copy with each run of
// invalid bytes replaced by U+FFFD, in the store's reused scratch buffer
// (valid until the next call).
func (s *Store) validUTF8(b []byte) []byte {
	if codec.ValidUTF8(b) {
		return b
	}
	s.scratch = codec.AppendValidUTF8(s.scratch[:0], b)
	return s.scratch
}

func (s *Store) set(cl *Client, key, val []byte, now int64) {
	if cl.keys == nil {
		cl.keys = make(map[string]string)
	}
	old, exists := cl.keys[string(key)]
	if !exists && len(cl.keys) >= s.cfg.MaxKeys {
		s.fail(cl, "too many keys: max-keys is "+strconv.Itoa(s.cfg.MaxKeys))
		return
	}
	val = s.validUTF8(val)
	if !exists || old != string(val) {
		cl.keys[string(key)] = string(val)
	}
	s.Watch.Emit(EventSet, now, cl.name, key, val)
}

// Close ends a data connection: its Framer's memory is released and its
// client, if it had one, removed. quiet suppresses the CLOSE event (the
// whole server is stopping and its watchers with it).
func (s *Store) Close(c *Conn, now int64, quiet bool) {
	c.fr.Release()
	cl := c.client
	if cl == nil {
		return
	}
	c.client = nil
	delete(s.clients, cl.name)
	cl.ring.Reset()
	cl.keys = nil
	s.log.Debug().Str("client", cl.name).Msg("client disconnected")
	if quiet {
		return
	}
	s.Watch.Emit(EventClose, now, cl.name, nil, nil)
	s.Watch.Flush()
}
