package loop

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/ringbuf"
	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
)

// store is everything the loop owns. Only the loop goroutine touches it.
type store struct {
	cfg     *Config
	log     zerolog.Logger
	clients map[string]*dataConn // identified clients by name
	conns   int                  // open data connections, identified or not
	admins  int                  // open admin connections
	msgMax  int                  // longest message stored: min(max-line, buffer-bytes, 4 MiB - 1)
	scratch []byte               // reused for UTF-8 repair, so storing never allocates when warm
	pend    pending              // the current read's LOG messages not stored yet
	apoll   adminPoll            // admin sockets, checked between data reads

	// Connections waiting for IAM, in the order they opened, so the sweep
	// looks only at the front.
	unidentified []*dataConn
	unidentHead  int

	watch watchers

	// stopping is set by Stop from another goroutine. gnet runs its shutdown
	// task only after the connections already ready in this poll, so from
	// then on their reads are not ingested: they are closed, unread.
	stopping atomic.Bool

	clientsTotal, rejectedTotal                  uint64
	linesTotal, bytesTotal, errorsTotal, truncTo uint64
}

// dataConn is one data connection and, once it said IAM, its client: the
// two live and die together, so they are one allocation.
type dataConn struct {
	c         gnet.Conn
	fr        codec.Framer
	name      string // "" until IAM
	at        int64  // Unix ms: when it connected, then (after IAM) when it identified
	ring      ringbuf.Ring
	keys      map[string]string
	lines     uint64
	bytes     uint64
	errors    uint64
	truncated uint64
	lastError string
	closed    bool
	// v4 is the peer's address as ip<<16|port when it is IPv4 (else 0),
	// read once at open: a CLIENTS over 10,000 clients then reads no gnet
	// conn or net.TCPAddr per client, each of which was a cache miss.
	v4 uint64
}

// addr is the peer's address text, made on demand for log lines.
func (d *dataConn) addr() string { return string(appendPeer(nil, d.peer())) }

func (st *store) init(cfg *Config) {
	st.cfg = cfg
	st.log = cfg.Log
	st.clients = make(map[string]*dataConn)
	st.msgMax = min(cfg.MaxLine, cfg.BufferBytes, ringbuf.MaxMessage)
	st.watch.log = cfg.Log
	st.watch.limit = cfg.WatchBuffer
	st.pend.spans = make([]uint64, 0, maxPending)
	st.apoll.ep = -1
}

func (st *store) openData(c gnet.Conn) gnet.Action {
	if st.conns >= st.cfg.MaxClients {
		return st.refuse(c, "too many clients")
	}
	st.conns++
	d := &dataConn{c: c, fr: codec.NewFramer(st.cfg.MaxLine), at: time.Now().UnixMilli(), v4: packV4(c.RemoteAddr())}
	c.SetContext(d)
	st.unidentified = append(st.unidentified, d)
	return gnet.None
}

// refuse sends a fatal ERR line to a connection that has no state yet.
func (st *store) refuse(c gnet.Conn, reason string) gnet.Action {
	_, _ = c.Write([]byte("ERR " + reason + "\n"))
	st.rejectedTotal++
	addr := ""
	if a := c.RemoteAddr(); a != nil {
		addr = a.String()
	}
	st.log.Warn().Str("addr", addr).Str("reason", reason).Msg("rejected connection")
	return gnet.Close
}

// reject ends a data connection with a fatal ERR line.
func (st *store) reject(d *dataConn, reason string) gnet.Action {
	_, _ = d.c.Write([]byte("ERR " + reason + "\n"))
	st.rejectedTotal++
	st.log.Warn().Str("addr", d.addr()).Str("reason", reason).Msg("rejected connection")
	return gnet.Close
}

// dataTraffic consumes everything gnet read: whole lines are handled
// straight out of gnet's read buffer; only a line's unfinished tail is
// copied, into the Framer. So gnet's own inbound buffer stays empty and
// what a connection can make us hold is bounded by max-line.
func (st *store) dataTraffic(d *dataConn) gnet.Action {
	if st.stopping.Load() {
		return gnet.Close
	}
	buf, _ := d.c.Next(-1)
	// One receive time per read: the lines of one read arrived together.
	t := time.Now()
	act := st.ingest(d, buf, t.UnixMilli())
	st.watch.flush()
	st.pollAdmin(t)
	return act
}

// ingest handles one read's bytes: the whole data-port path but the socket.
func (st *store) ingest(d *dataConn, buf []byte, now int64) gnet.Action {
	d.bytes += uint64(len(buf))
	if d.name != "" {
		st.bytesTotal += uint64(len(buf)) // before IAM, identify adds what came so far
	}
	read := buf
	for {
		if d.name != "" && d.fr.AtLineStart() {
			buf = read[st.wholeLines(d, read, len(read)-len(buf), now):]
		}
		line, long, ok := d.fr.Next(&buf)
		if !ok {
			break
		}
		if d.name == "" {
			if act := st.identify(d, line, long, now); act != gnet.None {
				return act
			}
			continue
		}
		st.flushPending(d)
		st.command(d, line, long, now)
	}
	st.flushPending(d)
	return gnet.None
}

// wholeLines is ingest's fast path for an identified client: it takes the
// complete lines of read from offset i on straight out of it (the Framer is
// at a line start, so none of them began in an earlier read) and returns
// the offset of the first line that is unfinished or longer than max-line,
// which is left to the Framer. A plain "LOG <message>" line is counted and,
// when nobody watches, put on the pending list; any other line goes through
// command as usual, after the pending messages, so the ring sees every
// message in order.
func (st *store) wholeLines(d *dataConn, read []byte, i int, now int64) int {
	p := &st.pend
	p.read, p.ts = read, now
	watched := st.watch.active()
	// A pending message is checked for UTF-8 only if it is kept (in
	// flushPending): repair at most triples a message, so one of up to a
	// third of msgMax cannot come out truncated, and the counters do not
	// depend on its bytes.
	lateCheck := st.msgMax / 3
	logs := 0
	for {
		n := bytes.IndexByte(read[i:], '\n')
		if n < 0 || n > st.cfg.MaxLine {
			d.lines += uint64(logs)
			st.linesTotal += uint64(logs)
			return i
		}
		line := read[i : i+n]
		at := i
		i += n + 1
		if n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		msg, ok := codec.LOGMessage(line)
		switch {
		case !ok || len(msg) > st.msgMax:
			st.flushPending(d)
			st.command(d, line, false, now)
		case watched:
			st.storeLog(d, msg, false, now)
		case len(msg) > lateCheck && !codec.ValidUTF8(msg):
			st.flushPending(d)
			st.storeLog(d, msg, false, now)
		default:
			logs++
			if len(p.spans) == cap(p.spans) {
				st.flushPending(d)
			}
			p.spans = append(p.spans, uint64(at+len(line)-len(msg))<<32|uint64(len(msg)))
		}
	}
}

// maxPending is the pending list's capacity: a full read (ReadSize) of
// short lines flushes it a few times, and it costs 32 KiB once per server.
const maxPending = 4096

// pending is the plain LOG messages of the read being handled that are not
// in the ring yet, oldest first. Holding them back pays when one read
// brings more lines than the ring keeps: flushPending pushes only those
// that the newer ones would not evict, and the ring ends as if every one
// had been pushed. Only done when nobody watches, since a watcher sees every
// line.
//
// Messages are kept as offset<<32|length into read, not as slices, so
// that the list holds no pointers and filling it costs no write barriers.
// They are stored before ingest returns, while read is still valid.
type pending struct {
	read  []byte
	ts    int64
	spans []uint64
}

// flushPending stores the pending messages in d's ring, oldest first,
// skipping those that newer ones fill the ring's entry or byte cap without:
// the ring evicts oldest first, so it could not have kept them.
func (st *store) flushPending(d *dataConn) {
	p := &st.pend
	s := p.spans
	if len(s) == 0 {
		return
	}
	k, kept := len(s), 0
	for k > 0 && len(s)-k < st.cfg.Buffer {
		size := int(uint32(s[k-1]))
		if kept+size > st.cfg.BufferBytes {
			break
		}
		kept += size
		k--
	}
	if k > 0 {
		// Pushing the skipped messages would have evicted every older
		// entry before them; keeping those would leave a gap in the log.
		d.ring.Clear()
	}
	for _, x := range s[k:] {
		off := int(x >> 32)
		d.ring.Push(p.ts, st.validUTF8(p.read[off:off+int(uint32(x))]))
	}
	p.spans = s[:0]
}

func (st *store) identify(d *dataConn, line []byte, long bool, now int64) gnet.Action {
	if long {
		return st.reject(d, "line too long")
	}
	cmd, name, _, ok := codec.ParseData(line)
	switch {
	case cmd == codec.CmdBlank:
		return gnet.None
	case cmd != codec.CmdIAM || !ok:
		return st.reject(d, "expected IAM <name>")
	}
	if _, taken := st.clients[string(name)]; taken {
		return st.reject(d, "name in use: "+string(name))
	}
	d.name = string(name)
	d.at = now
	st.bytesTotal += d.bytes
	d.ring = ringbuf.New(st.cfg.Buffer, st.cfg.BufferBytes)
	st.clients[d.name] = d
	st.clientsTotal++
	if ev := st.log.Debug(); ev.Enabled() { // the address is made only when it is logged
		ev.Str("client", d.name).Str("addr", d.addr()).Msg("client identified")
	}
	st.watch.emit(eventReady, now, d.name, nil, nil)
	return gnet.None
}

// command handles one line of an identified client. Errors here are not
// fatal: they are counted and the last one kept, and the line is dropped.
func (st *store) command(d *dataConn, line []byte, long bool, now int64) {
	cmd, a, b, ok := codec.ParseData(line)
	switch cmd {
	case codec.CmdBlank:
	case codec.CmdLOG:
		st.storeLog(d, a, long, now)
	case codec.CmdSET:
		switch {
		case long:
			st.fail(d, "line too long: SET rejected")
		case !ok:
			st.fail(d, "usage: SET <key> <value>")
		default:
			st.set(d, a, b, now)
		}
	case codec.CmdIAM:
		st.fail(d, "already identified as "+d.name)
	default:
		st.fail(d, "unknown command "+quoteWord(a))
	}
}

// quoteWord quotes a command word for an error text, bounded and valid UTF-8.
func quoteWord(w []byte) string {
	if len(w) > 64 {
		w = w[:64]
	}
	return strconv.Quote(string(w))
}

func (st *store) fail(d *dataConn, reason string) {
	d.errors++
	st.errorsTotal++
	d.lastError = reason
}

// storeLog appends one message to the client's ring. It does not allocate
// once the ring and the scratch buffer are warm.
func (st *store) storeLog(d *dataConn, msg []byte, long bool, now int64) {
	d.lines++
	st.linesTotal++
	cut := long
	if long {
		// The Framer cut the line at max-line bytes, maybe inside a rune.
		msg = codec.TruncateUTF8(msg, st.msgMax)
	}
	msg = st.validUTF8(msg)
	if len(msg) > st.msgMax {
		msg = codec.TruncateUTF8(msg, st.msgMax)
		cut = true
	}
	if cut {
		d.truncated++
		st.truncTo++
	}
	d.ring.Push(now, msg)
	st.watch.emit(eventLog, now, d.name, msg, nil)
}

// validUTF8 returns b if it is valid UTF-8, else a copy with each run of
// invalid bytes replaced by U+FFFD, in the store's reused scratch buffer (valid
// until the next call).
func (st *store) validUTF8(b []byte) []byte {
	if codec.ValidUTF8(b) {
		return b
	}
	st.scratch = codec.AppendValidUTF8(st.scratch[:0], b)
	return st.scratch
}

func (st *store) set(d *dataConn, key, val []byte, now int64) {
	if d.keys == nil {
		d.keys = make(map[string]string)
	}
	old, exists := d.keys[string(key)]
	if !exists && len(d.keys) >= st.cfg.MaxKeys {
		st.fail(d, "too many keys: max-keys is "+strconv.Itoa(st.cfg.MaxKeys))
		return
	}
	val = st.validUTF8(val)
	if !exists || old != string(val) {
		d.keys[string(key)] = string(val)
	}
	st.watch.emit(eventSet, now, d.name, key, val)
}

func (st *store) closeData(d *dataConn) {
	if d.closed {
		return
	}
	d.closed = true
	st.conns--
	d.fr.Release()
	if d.name == "" {
		return
	}
	delete(st.clients, d.name)
	d.ring.Reset()
	d.keys = nil
	st.log.Debug().Str("client", d.name).Msg("client disconnected")
	if st.stopping.Load() {
		return // watchers are being closed too: no CLOSE events for the whole store
	}
	st.watch.emit(eventClose, time.Now().UnixMilli(), d.name, nil, nil)
	st.watch.flush()
}

// sweep runs on the loop every tick: it ends connections that did not
// identify in time. The queue is in opening order, so it stops at the first
// connection still within its time.
func (st *store) sweep(now int64) {
	limit := st.cfg.IdentTimeout.Milliseconds()
	q := st.unidentified
	for st.unidentHead < len(q) {
		d := q[st.unidentHead]
		// Both times are whole milliseconds, so a difference of exactly
		// limit may be up to 1 ms short of it: only more is late.
		if d.name == "" && !d.closed && now-d.at <= limit {
			break
		}
		q[st.unidentHead] = nil
		st.unidentHead++
		if d.name == "" && !d.closed {
			_, _ = d.c.Write([]byte("ERR identify timeout\n"))
			st.rejectedTotal++
			st.log.Warn().Str("addr", d.addr()).Str("reason", "identify timeout").Msg("rejected connection")
			// Close now, on the loop, so that no IAM can slip in before gnet gets to it.
			_ = d.c.EventLoop().Close(d.c)
		}
	}
	if st.unidentHead > 0 && st.unidentHead*2 >= len(q) {
		n := copy(q, q[st.unidentHead:])
		clear(q[n:])
		st.unidentified = q[:n]
		st.unidentHead = 0
	}
}
