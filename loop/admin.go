package loop

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
	"github.com/panjf2000/gnet/v2"
)

// The admin port. The event loop reads and frames each admin connection's
// requests; every reply has one path: its responder goroutine takes a copy
// from the loop (onLoop), renders it and writes it, through a duplicate of
// the socket. Rendering and writing off the loop keep a reply of megabytes
// from stalling ingest, and the duplicate keeps the socket open after a
// peer's half-close (`printf 'DUMP\n' | nc -N`), when gnet v2.9.7 would
// close it and drop what the kernel had not taken yet. Data connections
// never get a goroutine.

const (
	maxAdminLine     = 4096     // longest admin request, terminator excluded
	maxPendingBytes  = 64 << 10 // request bytes read but not yet answered
	stopWriteTimeout = 300 * time.Millisecond
)

// adminConn is the loop's side of an admin connection.
type adminConn struct {
	c       gnet.Conn
	fr      codec.Framer
	r       *responder
	closing bool // pollAdmin asked gnet to close it
}

func (s *Server) openAdmin(c gnet.Conn) gnet.Action {
	if s.admins >= s.cfg.MaxAdmin {
		_, _ = c.Write([]byte("ERR too many admin connections\n"))
		s.log.Warn().Str("addr", c.RemoteAddr().String()).Str("reason", "too many admin connections").Msg("rejected admin connection")
		return gnet.Close
	}
	nc, err := dupConn(c)
	if err != nil {
		s.log.Error().Err(err).Msg("admin connection: cannot duplicate socket")
		return gnet.Close
	}
	s.admins++
	a := &adminConn{c: c, fr: codec.NewFramer(maxAdminLine), r: newResponder(s, c, nc)}
	if err := s.apoll.add(a); err != nil {
		// Only the priority is lost: gnet still serves the connection.
		s.log.Error().Err(err).Msg("admin connection")
	}
	c.SetContext(a)
	go a.r.run()
	return gnet.None
}

// dupConn gives the responder its own descriptor of c's socket.
func dupConn(c gnet.Conn) (net.Conn, error) {
	fd, err := c.Dup()
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	f := os.NewFile(uintptr(fd), "admin")
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("file conn: %w", err)
	}
	return nc, nil
}

func (s *Server) adminTraffic(a *adminConn) gnet.Action {
	buf, _ := a.c.Next(-1)
	if a.closing {
		return gnet.Close
	}
	return s.adminInput(a, buf)
}

// adminInput handles bytes read from an admin connection, by gnet or by
// pollAdmin.
func (s *Server) adminInput(a *adminConn, buf []byte) gnet.Action {
	for {
		line, long, ok := a.fr.Next(&buf)
		if !ok {
			return gnet.None
		}
		if long {
			a.r.finish("line too long")
			return gnet.Close
		}
		if codec.LooksLikeHTTP(line) {
			s.log.Warn().Str("addr", a.r.addr).Msg("HTTP request on the admin port: closed (possible cross-protocol attack)")
			a.r.abort()
			return gnet.Close
		}
		if !a.r.pushRequest(line) {
			a.r.finish("too many requests pending: read the replies")
			return gnet.Close
		}
	}
}

func (s *Server) closeAdmin(a *adminConn) {
	s.apoll.remove(a)
	a.fr.Release()
	if st := a.r.stream.Load(); st != nil {
		s.st.Watch.RemoveStream(st)
		st.Stop(false)
	}
	a.r.loopClosed = true
	a.r.ended()
	a.r.finish("")
	if a.r.s.stopping.Load() {
		// Shutdown must end within a second: do not wait on a client that does not read.
		_ = a.r.nc.SetWriteDeadline(time.Now().Add(stopWriteTimeout))
	}
}

// responder answers one admin connection's requests in order and writes the
// replies. The loop feeds it request lines, and after WATCH a Stream of
// events; it owes the client at most maxPendingBytes of requests plus
// watch-buffer of events.
type responder struct {
	s    *Server
	gc   gnet.Conn // only for Close, which gnet allows from any goroutine
	nc   net.Conn
	addr string
	wake chan struct{} // requests, the end of input and the stream all signal it

	mu       sync.Mutex
	items    []item // owed to the client, in order
	reqBytes int    // request bytes among items, bounded by maxPendingBytes
	busy     bool   // the responder is working on an item it took
	eof      bool   // no more requests will come
	final    string // an ERR to send once the queued replies are out
	aborted  bool   // stop now

	stream     atomic.Pointer[store.Stream] // set on the loop by WATCH
	authed     bool                         // responder-owned: AUTH succeeded
	closed     chan struct{}                // closed once the connection has ended (see ended)
	endOnce    sync.Once
	idleReset  func()        // responder-owned: restarts the idle timer
	loopClosed bool          // loop-owned: gnet has closed its side
	format     atomic.Uint32 // query.Format; set by FORMAT on either side, never both at once
}

// item is one thing owed to the client: a request to answer.
type item struct {
	line string
}

func newResponder(s *Server, gc gnet.Conn, nc net.Conn) *responder {
	r := &responder{s: s, gc: gc, nc: nc, wake: make(chan struct{}, 1), closed: make(chan struct{})}
	if a := gc.RemoteAddr(); a != nil {
		r.addr = a.String()
	}
	return r
}

func (r *responder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pushRequest queues a request line; false means the client has too many
// unanswered requests.
func (r *responder) pushRequest(line []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reqBytes+len(line) > maxPendingBytes {
		return false
	}
	r.items = append(r.items, item{line: string(line)})
	r.reqBytes += len(line)
	r.signal()
	return true
}

// ended tells a reply in progress that streams (CLUSTER WATCH) that the
// connection is gone.
func (r *responder) ended() { r.endOnce.Do(func() { close(r.closed) }) }

// finish says no more requests will come; reason, when set, is sent as an
// ERR line after the replies already owed.
func (r *responder) finish(reason string) {
	r.mu.Lock()
	if !r.eof {
		r.eof = true
		r.final = reason
	}
	r.mu.Unlock()
	r.signal()
}

// abort ends the connection at once, discarding what is owed: linger 0
// makes the close a reset, so the kernel frees the megabytes it may still
// hold for a reader that stopped reading.
func (r *responder) abort() {
	r.mu.Lock()
	r.aborted = true
	r.mu.Unlock()
	if tc, ok := r.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = r.nc.Close() // unblocks a write in progress
	_ = r.gc.Close()
	r.ended()
	r.signal()
}

// run is the responder goroutine: WATCH output first (it is time ordered
// and bounded), then requests one at a time.
func (r *responder) run() {
	defer func() {
		_ = r.nc.Close()
		// The connection counts until its last reply is out: the responder
		// holds a descriptor until then.
		r.s.post(func() { r.s.admins-- })
	}()
	var spare []byte
	// An admin connection that sends nothing for idle-timeout, and does not
	// watch, is closed, so idle connections cannot lock operators out.
	var idle <-chan time.Time
	if d := r.s.cfg.IdleTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		idle = t.C
		r.idleReset = func() { t.Reset(d) }
	}
	for {
		if st := r.stream.Load(); st != nil {
			out, err := st.Take(spare)
			if err == store.ErrDropped {
				r.abort()
				return
			}
			if out != nil {
				if r.write(out) != nil {
					return
				}
				spare = out
				continue
			}
		}
		r.mu.Lock()
		switch {
		case r.aborted:
			r.mu.Unlock()
			return
		case len(r.items) > 0:
			it := r.items[0]
			r.items[0] = item{}
			r.items = r.items[1:]
			r.reqBytes -= len(it.line)
			r.busy = true
			r.mu.Unlock()
			if r.idleReset != nil {
				r.idleReset()
			}
			ok := r.answer(it.line)
			r.mu.Lock()
			r.busy = false
			r.mu.Unlock()
			if !ok {
				return
			}
			continue
		case r.eof:
			final := r.final
			r.mu.Unlock()
			if final != "" {
				_ = r.write(query.AppendError(nil, query.Format(r.format.Load()), final))
			}
			return
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-idle:
			if r.stream.Load() == nil {
				r.s.log.Debug().Str("addr", r.addr).Msg("admin connection idle: closed")
				_ = r.write(query.AppendError(nil, query.Format(r.format.Load()), "idle timeout"))
				_ = r.gc.Close()
				r.ended()
				return
			}
		}
	}
}

// write sends b, giving up after write-timeout without progress: a client
// that asks and never reads must not hold a goroutine and a descriptor forever.
func (r *responder) write(b []byte) error {
	timeout := r.s.cfg.WriteTimeout
	if r.s.stopping.Load() {
		timeout = stopWriteTimeout
	}
	_ = r.nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := r.nc.Write(b); err != nil {
		r.mu.Lock()
		r.aborted = true
		r.mu.Unlock()
		_ = r.gc.Close()
		return err
	}
	return nil
}

// answer handles one request that waited in the queue.
func (r *responder) answer(line string) bool {
	req, err := codec.ParseAdmin([]byte(line))
	if r.stream.Load() != nil {
		// A watcher's input is ignored but for QUIT: its output is the stream.
		if err == nil && req.Cmd == codec.AdminQUIT {
			_ = r.gc.Close()
			return false
		}
		return true
	}
	f := query.Format(r.format.Load())
	if token := r.s.cfg.AdminToken; token != "" && !r.authed {
		switch {
		case err == nil && req.Cmd == codec.AdminBlank:
			return true
		case err != nil || req.Cmd != codec.AdminAUTH:
			return r.write(query.AppendError(nil, f, "auth required")) == nil
		case !store.SameToken([]byte(req.Token), []byte(token)):
			r.s.log.Warn().Str("addr", r.addr).Msg("admin connection: wrong token")
			_ = r.write(query.AppendError(nil, f, "not authorized"))
			_ = r.gc.Close()
			return false
		}
		r.authed = true
		return r.write(query.AppendDone(nil, f)) == nil
	}
	switch {
	case err != nil:
		return r.write(query.AppendError(nil, f, err.Error())) == nil
	case req.Cmd == codec.AdminBlank:
		return true
	case req.Cmd == codec.AdminAUTH: // no token configured, or already given
		return r.write(query.AppendDone(nil, f)) == nil
	case req.Cmd == codec.AdminQUIT:
		_ = r.write(query.AppendDone(nil, f))
		_ = r.gc.Close()
		return false
	case req.Cmd == codec.AdminWATCH && !req.Cluster:
		return r.startWatch(&req)
	}
	return r.reply(&req)
}

type writerFunc func([]byte) error

func (w writerFunc) Write(b []byte) (int, error) {
	if err := w(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// startWatch makes this connection a watcher. "OK stream" and the backlog
// go into the stream on the loop in the step that adds the watcher, so
// they precede every live event and none is lost or repeated between them.
func (r *responder) startWatch(req *codec.Request) bool {
	f := query.Format(r.format.Load())
	st := r.s.newStream(r.addr, r.wake)
	wf := store.WatchFilter{Clients: req.Names, Match: req.Match, Backlog: req.Backlog}
	err := r.s.onLoop(context.Background(), func() {
		if r.loopClosed {
			return
		}
		r.stream.Store(st)
		r.s.st.WatchStream(st, f, &wf, query.AppendStreamStart(nil, f))
	})
	if err != nil {
		return r.write(query.AppendError(nil, f, err.Error())) == nil
	}
	return true
}

// replyBufs holds render buffers between large replies, so that a CLIENTS
// over 10,000 clients (1.2 MB) does not allocate its buffer each time. The
// pool empties itself over two garbage collections when replies stop.
var replyBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledReply is the largest buffer kept: a DUMP of many megabytes is
// not worth holding on to.
const maxPooledReply = 4 << 20

// reply answers one admin request that reads the store or the
// connection's format (all but QUIT and WATCH): it takes the copy from the
// loop, renders it and writes it; false ends the connection.
func (r *responder) reply(req *codec.Request) bool {
	s := r.s
	ctx := context.Background()
	f := query.Format(r.format.Load())
	fail := func(err error) bool { return r.write(query.AppendError(nil, f, err.Error())) == nil }
	// render writes a reply built in a pooled buffer.
	render := func(build func(dst []byte) []byte) bool {
		bp := replyBufs.Get().(*[]byte)
		b := build((*bp)[:0])
		err := r.write(b)
		if cap(b) <= maxPooledReply {
			*bp = b[:0]
			replyBufs.Put(bp)
		}
		return err == nil
	}
	if req.Cluster {
		if s.cfg.Cluster == nil {
			return fail(errors.New("cluster not enabled: start logatron with -nats"))
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { // a CLUSTER WATCH streams until the connection ends
			<-r.closed
			cancel()
		}()
		return s.cfg.Cluster(ctx, f, req.Inner, writerFunc(r.write)) == nil
	}

	switch req.Cmd {
	case codec.AdminPING:
		return r.write(query.AppendPong(nil, f)) == nil
	case codec.AdminHELP:
		return r.write(query.AppendStrings(nil, f, codec.AdminHelp)) == nil
	case codec.AdminFORMAT:
		f = query.Text
		if req.JSON {
			f = query.JSON
		}
		r.format.Store(uint32(f))
		return r.write(query.AppendDone(nil, f)) == nil
	case codec.AdminSTATS:
		st, err := s.Stats(ctx)
		if err != nil {
			return fail(err)
		}
		return r.write(query.AppendStats(nil, f, &st)) == nil
	case codec.AdminCLIENT:
		c, err := s.ClientInfo(ctx, req.Name)
		if err != nil {
			return fail(err)
		}
		return r.write(query.AppendClient(nil, f, &c)) == nil
	case codec.AdminSTATE:
		kvs, err := s.State(ctx, req.Name)
		if err != nil {
			return fail(err)
		}
		return r.write(query.AppendState(nil, f, kvs)) == nil
	case codec.AdminFORGET:
		if err := s.Forget(ctx, req.Name); err != nil {
			return fail(err)
		}
		return r.write(query.AppendDone(nil, f)) == nil
	case codec.AdminLOG:
		l, err := s.Log(ctx, req.Name, s.requestQuery(req))
		if err != nil {
			return fail(err)
		}
		if req.N == 0 { // LOG <name> 0: nothing, but an unknown name is still an error
			l = query.Log{}
		}
		return render(func(dst []byte) []byte { return query.AppendLog(dst, f, &l) })
	case codec.AdminNAMES:
		names, err := s.ClientNames(ctx)
		if err != nil {
			return fail(err)
		}
		return render(func(dst []byte) []byte { return query.AppendStrings(dst, f, names) })
	case codec.AdminCLIENTS:
		var cs []query.ClientInfo
		if req.Limit != 0 {
			var err error
			if cs, err = s.ClientInfos(ctx, s.requestQuery(req)); err != nil {
				return fail(err)
			}
		}
		fr := query.Frame{Format: f}
		var clock query.Clock
		return r.pieces(fr.Open(nil, len(cs)), len(cs), func(dst []byte, from, to int) []byte {
			return query.AppendClientItems(dst, f, &clock, cs[from:to], from)
		}, fr.Close(nil))
	case codec.AdminGREP:
		var hits []query.Hit
		if req.Limit != 0 {
			var err error
			if hits, err = s.Grep(ctx, s.requestQuery(req)); err != nil {
				return fail(err)
			}
		}
		fr := query.Frame{Format: f}
		var clock query.Clock
		return r.pieces(fr.Open(nil, len(hits)), len(hits), func(dst []byte, from, to int) []byte {
			return query.AppendHits(dst, f, &clock, hits[from:to], from)
		}, fr.Close(nil))
	case codec.AdminDUMP:
		buf := query.AppendDumpOpen(nil, f)
		i := 0
		err := s.dump(ctx, func(ds []query.Dump) error {
			for k := range ds {
				buf = query.AppendDumpClient(buf, &ds[k], i)
				i++
				if len(buf) >= writePiece {
					if err := r.write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
			return nil
		})
		if err != nil {
			// Mid-reply the framing cannot carry an error: end the connection.
			return false
		}
		return r.write(query.AppendDumpClose(buf)) == nil
	}
	w := req.Word
	if len(w) > 64 {
		w = w[:64]
	}
	return r.write(query.AppendError(nil, f, "unknown command "+strconv.Quote(w))) == nil
}

// writePiece is how much rendered reply is written at a time: a reply of
// megabytes is never rendered whole.
const writePiece = 64 << 10

// pieces writes head, n items rendered a hundred at a time by items, and
// tail, writing whenever writePiece bytes are rendered; false ends the
// connection.
func (r *responder) pieces(head []byte, n int, items func(dst []byte, from, to int) []byte, tail []byte) bool {
	buf := head
	for from := 0; from < n; from += 100 {
		buf = items(buf, from, min(from+100, n))
		if len(buf) >= writePiece {
			if r.write(buf) != nil {
				return false
			}
			buf = buf[:0]
		}
	}
	return r.write(append(buf, tail...)) == nil
}

// requestQuery is the Go API's form of an admin request's options.
func (s *Server) requestQuery(req *codec.Request) Query {
	q := Query{Clients: req.Glob, After: req.After, Match: req.Match, Limit: max(req.Limit, 0)}
	switch {
	case req.All:
		q.Which = All
	case req.Closed:
		q.Which = Closed
	}
	if req.N > 0 {
		q.Last = req.N
	}
	lo, hi := codec.Window(req.Since, req.Until, s.wall().UnixMilli())
	if req.Since.IsSet() {
		q.Since = time.UnixMilli(lo)
	}
	if req.Until.IsSet() {
		q.Until = time.UnixMilli(hi)
	}
	return q
}
