// Package store holds Logatron's clients: each client's ring, state and
// counters, the registry of names, and the one path by which a data
// connection's bytes become entries. It knows nothing of sockets or of
// gnet: its caller (package loop) hands it each read of a connection and
// acts on the verdict. A Store is not safe for concurrent use; the server
// touches it only from its event loop, so it needs no locks.
package store

import (
	"strconv"
	"time"

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
	// Retain is how long a client whose connection ended is kept as a
	// closed client (0: removed at once); RetainMax caps how many are kept
	// (the oldest closed goes first).
	Retain    time.Duration
	RetainMax int
	// MaxMemory bounds what clients make the store hold (ring and state
	// bytes of every client, connected and closed); 0: no bound.
	MaxMemory int64
	// MaxStateBytes caps one client's keys and values; 0: no cap.
	MaxStateBytes int
	// Tokens, when not nil, are the rules an IAM's token must satisfy.
	Tokens Tokens
	Log    zerolog.Logger
}

// Totals are the server-wide counters of STATS, since start.
type Totals struct {
	Clients   uint64 // successful IAMs
	Rejected  uint64 // connections closed with a fatal ERR
	Lines     uint64
	Bytes     uint64
	Errors    uint64
	Truncated uint64
	Forgotten uint64 // closed clients removed: by time, count, FORGET or memory
	Evicted   uint64 // entries evicted for memory
	Sets      uint64 // SET lines stored
}

// CloseReasons are the kinds of close_reason, the label values of the
// closes-by-reason metric ("error" stands for every "error: <text>").
var CloseReasons = []string{"eof", "reset", "keepalive", "replaced", "shutdown", "error"}

// DurationBuckets are the upper bounds, in seconds, of the histogram of
// how long identified connections lasted.
var DurationBuckets = []float64{1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600}

// Closes counts ended connections of identified clients: by reason (in
// CloseReasons order) and by duration (a histogram over DurationBuckets;
// the last count is past the last bound).
type Closes struct {
	ByReason  [6]uint64
	Durations [9]uint64
	Seconds   float64 // the sum of the durations
}

// Store is every client the server holds and the counters over them.
type Store struct {
	cfg     Config
	log     zerolog.Logger
	clients map[string]*Client
	byName  []*Client // every client held, sorted by name (see Scan)
	msgMax  int       // longest message stored: min(max-line, buffer-bytes, ringbuf.MaxMessage)
	scratch []byte    // reused for UTF-8 repair, so storing never allocates when warm
	spans   []uint64
	cont    []byte // CONT's "\n"+text, and Extend's scratch
	extend  []byte
	tot     Totals

	// Closed clients, oldest closed first, linked through Client.prev and
	// next: expiry and the count cap take from the front, so a sweep costs
	// what expires, not what is held.
	oldest, newest *Client
	closed         int

	bytes  int64 // ring footprints and state bytes of every client held
	closes Closes

	// Watch is the event fan-out: admin WATCH, WebSocket and Go
	// subscriptions.
	Watch Hub

	// Replaced, when set, is told of a connection whose client a new
	// connection took over with the right token: the store has closed it
	// (reason "replaced"); the caller must close its socket.
	Replaced func(old *Conn)
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
	stateBytes  int   // keys and values, after UTF-8 repair
	conn        *Conn // while connected

	connected   bool
	reconnects  uint64
	closedAt    int64         // Unix ms; 0 while connected
	closedMono  time.Duration // the caller's monotonic clock at close, for expiry
	closeReason string
	prev, next  *Client // the closed list; nil while connected
}

// Name is the client's name. Immutable.
func (cl *Client) Name() string { return cl.name }

// Conn is the store's side of one data connection: its line framer and,
// once it said IAM, its client. The caller keeps one per connection and
// passes it to Ingest and Close.
type Conn struct {
	Owner  any // the caller's: whatever it needs to find its connection from a Conn
	fr     codec.Framer
	client *Client // nil until IAM
	early  uint64  // bytes received before IAM: added to the client's at IAM
	peer   Peer
	gone   bool // closed: later reads are ignored
}

// NewConn returns the state of a new data connection from peer.
func (s *Store) NewConn(peer Peer) Conn {
	return Conn{fr: codec.NewFramer(s.cfg.MaxLine), peer: peer}
}

// Client is the connection's client, nil before IAM.
func (c *Conn) Client() *Client { return c.client }

// Peer is the connection's remote address.
func (c *Conn) Peer() Peer { return c.peer }

// SetPeer sets the connection's remote address, as a PROXY protocol header
// gives it, before IAM.
func (c *Conn) SetPeer(p Peer) { c.peer = p }

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

// Connected is the number of connected clients.
func (s *Store) Connected() int { return len(s.clients) - s.closed }

// Lookup returns the named client, connected or closed, or nil.
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
	if c.gone {
		return ""
	}
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
// The ring says which of them it keeps (ringbuf.Ring.Keep); only those are
// checked and copied. Events go out per kept message, which is every
// message when anybody watches: Ingest then passes one at a time.
func (s *Store) store(cl *Client, data []byte, spans []uint64, long bool, ts int64) {
	cl.lines += uint64(len(spans))
	s.tot.Lines += uint64(len(spans))
	fp := cl.ring.Footprint()
	for _, x := range spans[cl.ring.Keep(spans):] {
		off := int(x >> 32)
		msg := data[off : off+int(uint32(x))]
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
		cl.ring.Push(ts, msg)
		s.Watch.Emit(EventLog, ts, cl.name, msg, nil)
	}
	s.grew(cl, fp)
}

// storeOne stores a single message that was not held back.
func (s *Store) storeOne(cl *Client, msg []byte, long bool, ts int64) {
	one := [1]uint64{uint64(len(msg))}
	s.store(cl, msg, one[:], long, ts)
}

// continueLog appends a newline and text to the client's newest entry,
// which stays one entry (a stack trace sent line by line), capped at the
// longest message as a LOG line is. It is counted in lines; watchers get
// one CONT event with the appended text, never the whole entry again. With
// no entry yet, text becomes a new entry, as a LOG line would.
func (s *Store) continueLog(cl *Client, text []byte, long bool, now int64) {
	newest := cl.ring.Newest()
	if newest < 0 {
		s.storeOne(cl, text, long, now)
		return
	}
	cl.lines++
	s.tot.Lines++
	cut := long
	text = s.validUTF8(text)
	room := s.msgMax - newest - 1 // the newline takes one byte
	if len(text) > room {
		cut = true
		text = codec.TruncateUTF8(text, max(room, 0))
	}
	if cut {
		cl.truncated++
		s.tot.Truncated++
	}
	if room < 0 {
		return // the entry is already as long as a message may be
	}
	s.cont = append(append(s.cont[:0], '\n'), text...)
	fp := cl.ring.Footprint()
	s.extend = cl.ring.Extend(now, s.cont, s.extend)
	s.grew(cl, fp)
	s.Watch.Emit(EventCont, now, cl.name, text, nil)
}

// identify handles a line of a connection that has not said IAM yet.
func (s *Store) identify(c *Conn, line []byte, long bool, now int64) (fatal string) {
	if long {
		return "line too long"
	}
	cmd, name, token, ok := codec.ParseData(line)
	switch {
	case cmd == codec.CmdBlank:
		return ""
	case cmd != codec.CmdIAM:
		return "expected IAM <name>"
	case !ok:
		return "invalid name: use 1-64 of A-Z a-z 0-9 _ . : -"
	case s.cfg.Tokens != nil && !s.cfg.Tokens.Allows(string(name), token):
		return "not authorized"
	}
	cl := s.clients[string(name)]
	if cl != nil && cl.connected && s.cfg.Tokens != nil {
		// The right token takes the name over: the old connection is
		// likely half-dead (its peer reconnected before we noticed).
		old := cl.conn
		s.Close(old, "replaced", now, 0)
		if s.Replaced != nil {
			s.Replaced(old)
		}
		cl = s.clients[string(name)] // gone if retention is off
	}
	switch {
	case cl == nil:
		cl = &Client{name: string(name), ring: ringbuf.New(s.cfg.Buffer, s.cfg.BufferBytes)}
		s.clients[cl.name] = cl
		s.index(cl)
	case cl.connected:
		return "name in use: " + string(name)
	default: // a closed client resumes: same ring and state, counters go on
		s.unlinkClosed(cl)
		cl.reconnects++
		cl.closedAt, cl.closedMono, cl.closeReason = 0, 0, ""
	}
	cl.connected = true
	cl.connectedAt = now
	cl.peer = c.peer
	cl.conn = c
	cl.bytes += c.early
	s.tot.Bytes += c.early
	c.client = cl
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
	case codec.CmdCONT:
		s.continueLog(cl, a, long, now)
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

// quoteWord quotes a command word for an error text, bounded and valid
// UTF-8. Control characters are left for the text renderers to escape.
func quoteWord(w []byte) string {
	if len(w) > 64 {
		w = codec.TruncateUTF8(w, 64)
	}
	return `"` + string(codec.AppendValidUTF8(nil, w)) + `"`
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
	grow := len(val) - len(old)
	if !exists {
		grow += len(key)
	}
	if s.cfg.MaxStateBytes > 0 && cl.stateBytes+grow > s.cfg.MaxStateBytes {
		s.fail(cl, "state too large: max-state-bytes is "+strconv.Itoa(s.cfg.MaxStateBytes))
		return
	}
	if grow > 0 && !s.makeRoom(int64(grow)) {
		// Nothing is left to evict but state: the SET would break the budget.
		s.fail(cl, "state too large: max-memory reached")
		return
	}
	s.tot.Sets++
	if !exists || old != string(val) {
		cl.keys[string(key)] = string(val)
		cl.stateBytes += grow
		s.bytes += int64(grow)
	}
	s.Watch.Emit(EventSet, now, cl.name, key, val)
}

// Close ends a data connection: its Framer's memory is released and its
// client, if it had one, is kept as a closed client for Retain (at most
// RetainMax of them), or removed when Retain is 0. reason is why (eof,
// reset, keepalive, replaced, shutdown, error: <text>); now is Unix ms and
// mono the caller's monotonic clock, which times the expiry. Watchers get a
// CLOSE event with the reason.
func (s *Store) Close(c *Conn, reason string, now int64, mono time.Duration) {
	c.gone = true
	c.fr.Release()
	cl := c.client
	if cl == nil {
		return
	}
	c.client = nil
	cl.connected = false
	cl.conn = nil
	s.countClose(reason, now-cl.connectedAt)
	s.log.Debug().Str("client", cl.name).Str("reason", reason).Msg("client disconnected")
	if s.cfg.Retain <= 0 {
		s.remove(cl)
	} else {
		cl.closedAt, cl.closedMono, cl.closeReason = now, mono, reason
		s.linkClosed(cl)
		for s.closed > s.cfg.RetainMax {
			s.forget(s.oldest)
		}
	}
	s.Watch.Emit(EventClose, now, cl.name, []byte(reason), nil)
	s.Watch.Flush()
}

// Sweep forgets the closed clients held longer than Retain at monotonic
// time mono. It looks only at those that expire, and the first that does
// not.
func (s *Store) Sweep(mono time.Duration) {
	for s.oldest != nil && mono-s.oldest.closedMono > s.cfg.Retain {
		s.forget(s.oldest)
	}
}

// Forget removes a closed client at once. It returns false, doing
// nothing, when the client is connected.
func (s *Store) Forget(cl *Client) bool {
	if cl.connected {
		return false
	}
	s.forget(cl)
	return true
}

// Closed is the number of closed clients held.
func (s *Store) Closed() int { return s.closed }

func (s *Store) forget(cl *Client) {
	s.unlinkClosed(cl)
	s.remove(cl)
	s.tot.Forgotten++
}

// remove drops a client that is not connected, releasing its memory.
func (s *Store) remove(cl *Client) {
	delete(s.clients, cl.name)
	s.unindex(cl)
	s.bytes -= int64(cl.ring.Footprint() + cl.stateBytes)
	cl.stateBytes = 0
	cl.ring.Reset()
	cl.keys = nil
}

func (s *Store) linkClosed(cl *Client) {
	cl.prev, cl.next = s.newest, nil
	if s.newest != nil {
		s.newest.next = cl
	} else {
		s.oldest = cl
	}
	s.newest = cl
	s.closed++
}

func (s *Store) unlinkClosed(cl *Client) {
	if cl.prev != nil {
		cl.prev.next = cl.next
	} else {
		s.oldest = cl.next
	}
	if cl.next != nil {
		cl.next.prev = cl.prev
	} else {
		s.newest = cl.prev
	}
	cl.prev, cl.next = nil, nil
	s.closed--
}

// grew accounts for a change of cl's ring, whose footprint was fp, and
// keeps the store within max-memory.
func (s *Store) grew(cl *Client, fp int) {
	if d := cl.ring.Footprint() - fp; d != 0 {
		s.bytes += int64(d)
		s.relieve()
	}
}

// Bytes is what clients make the store hold: their rings' arrays and their
// state's keys and values.
func (s *Store) Bytes() int64 { return s.bytes }

// relieve brings the store's bytes back under max-memory, in the order the
// contract gives: closed clients are forgotten, oldest closed first, then
// the clients holding the most bytes give up their oldest entries. It
// stops 1/32 below the bound, so that a store at its bound does not pay a
// scan for every line. It runs in the step that grew the store, so no
// query ever sees more than max-memory held.
func (s *Store) relieve() { s.makeRoom(0) }

// makeRoom evicts, as relieve does, until need more bytes fit within
// max-memory; it reports whether they do (false only when nothing but
// state is left to take).
func (s *Store) makeRoom(need int64) bool {
	max := s.cfg.MaxMemory
	if max <= 0 || s.bytes+need <= max {
		return true
	}
	goal := max - max/32 - need
	for s.bytes > goal && s.oldest != nil {
		s.forget(s.oldest)
	}
	for s.bytes > goal {
		freed := false
		for _, cl := range s.largest(8) {
			fp := cl.ring.Footprint()
			n := cl.ring.Shrink(fp / 2)
			s.tot.Evicted += uint64(n)
			s.bytes += int64(cl.ring.Footprint() - fp)
			freed = freed || cl.ring.Footprint() < fp
			if s.bytes <= goal {
				break
			}
		}
		if !freed {
			break // only state is left: each client's is capped by max-state-bytes
		}
	}
	return s.bytes+need <= max
}

// largest returns up to k clients with the largest rings, largest first.
// It costs one pass over the clients.
func (s *Store) largest(k int) []*Client {
	top := make([]*Client, 0, k+1)
	for _, cl := range s.byName {
		fp := cl.ring.Footprint()
		if fp == 0 || len(top) == k && fp <= top[k-1].ring.Footprint() {
			continue
		}
		i := len(top)
		for i > 0 && top[i-1].ring.Footprint() < fp {
			i--
		}
		top = append(top[:i], append([]*Client{cl}, top[i:]...)...)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// countClose counts a connection of an identified client that ended for
// reason after ms milliseconds.
func (s *Store) countClose(reason string, ms int64) {
	i := len(CloseReasons) - 1 // error: <text>
	for k, r := range CloseReasons[:len(CloseReasons)-1] {
		if r == reason {
			i = k
		}
	}
	s.closes.ByReason[i]++
	sec := float64(max(ms, 0)) / 1000
	b := 0
	for b < len(DurationBuckets) && sec > DurationBuckets[b] {
		b++
	}
	s.closes.Durations[b]++
	s.closes.Seconds += sec
}

// Closes returns the counts of ended connections.
func (s *Store) Closes() Closes { return s.closes }
