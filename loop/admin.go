package loop

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// The admin port is read by the event loop but written by one responder
// goroutine per admin connection, through a duplicate of its socket. The
// reason is gnet v2.9.7: when a peer half-closes (`printf 'DUMP\n' | nc -N`)
// gnet closes the socket and drops whatever the kernel did not take at once,
// so a reply of megabytes would be cut. The duplicate keeps the socket open
// until the responder has written everything owed; it also lets a large reply
// be rendered off the loop, which only copies. Data connections never get a
// goroutine.

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

func (st *store) openAdmin(c gnet.Conn, s *Server) gnet.Action {
	if st.admins >= st.cfg.MaxAdmin {
		_, _ = c.Write([]byte("ERR too many admin connections\n"))
		st.log.Warn().Str("addr", c.RemoteAddr().String()).Str("reason", "too many admin connections").Msg("rejected admin connection")
		return gnet.Close
	}
	nc, err := dupConn(c)
	if err != nil {
		st.log.Error().Err(err).Msg("admin connection: cannot duplicate socket")
		return gnet.Close
	}
	st.admins++
	a := &adminConn{c: c, fr: codec.NewFramer(maxAdminLine), r: newResponder(s, c, nc)}
	if err := st.apoll.add(a); err != nil {
		// Only the priority is lost: gnet still serves the connection.
		st.log.Error().Err(err).Msg("admin connection")
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

func (st *store) adminTraffic(a *adminConn) gnet.Action {
	buf, _ := a.c.Next(-1)
	if a.closing {
		return gnet.Close
	}
	return st.adminInput(a, buf)
}

// adminInput handles bytes read from an admin connection, by gnet or by
// pollAdmin.
func (st *store) adminInput(a *adminConn, buf []byte) gnet.Action {
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
			st.log.Warn().Str("addr", a.r.addr).Msg("HTTP request on the admin port: closed (possible cross-protocol attack)")
			a.r.abort()
			return gnet.Close
		}
		if a.r.idle() && a.answerInline(line) {
			continue
		}
		if !a.r.pushRequest(line) {
			a.r.finish("too many requests pending: read the replies")
			return gnet.Close
		}
	}
}

// adminPoll lets the loop take admin requests in the middle of a busy round
// of data reads. gnet handles the sockets one epoll_wait reported, in its
// order; in level-triggered mode a socket that becomes ready during a round
// is queued behind every data socket that stays ready, so under a full data
// load a PING waited for the rest of one round and all of the next (p50
// 8 ms with 100 clients sending flat out). Between data reads, at most
// every 250 µs (one epoll_wait each: about 0.1% of a core), the loop asks a
// second epoll set that holds only the admin sockets, and reads those that
// are ready itself; gnet's own read of them then finds nothing (EAGAIN),
// which it ignores. With no admin connection open there is no set and no
// cost.
type adminPoll struct {
	ep     int // epoll descriptor; -1 while no admin connection is open
	byFd   map[int]*adminConn
	events []unix.EpollEvent
	buf    []byte
	last   time.Time // the last check (its monotonic reading is compared)
	reads  uint64
}

const adminPollRead = 16 << 10 // bytes read from one admin socket per check

func (p *adminPoll) add(a *adminConn) error {
	if p.ep < 0 {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("admin poll: epoll_create1: %w", err)
		}
		p.ep = ep
		p.byFd = make(map[int]*adminConn)
		p.events = make([]unix.EpollEvent, 16)
		p.buf = make([]byte, adminPollRead)
	}
	fd := a.c.Fd()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("admin poll: epoll_ctl add: %w", err)
	}
	p.byFd[fd] = a
	return nil
}

// remove must run before gnet closes a's socket: the responder's duplicate
// keeps the socket alive, and with it a registration keyed by a closed fd.
func (p *adminPoll) remove(a *adminConn) {
	fd := a.c.Fd()
	if p.byFd[fd] != a {
		return
	}
	_ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, fd, nil)
	delete(p.byFd, fd)
	if len(p.byFd) == 0 {
		_ = unix.Close(p.ep)
		*p = adminPoll{ep: -1}
	}
}

// adminPollEvery is the least time between two checks of the admin set.
const adminPollEvery = 250 * time.Microsecond

// pollAdmin reads and handles the admin sockets that have input, if the
// last check was adminPollEvery ago or more.
func (st *store) pollAdmin(now time.Time) {
	p := &st.apoll
	if p.ep < 0 || now.Sub(p.last) < adminPollEvery {
		return
	}
	p.last = now
	n, err := unix.EpollWait(p.ep, p.events, 0)
	if err != nil {
		return // EINTR; gnet serves the sockets as before
	}
	for _, ev := range p.events[:n] {
		a := p.byFd[int(ev.Fd)]
		if a == nil || a.closing {
			continue
		}
		k, err := unix.Read(int(ev.Fd), p.buf)
		if err != nil || k <= 0 {
			continue // EAGAIN, or the end or an error that gnet's read will see too
		}
		p.reads++
		if st.adminInput(a, p.buf[:k]) == gnet.Close {
			// Closed after gnet's round, which may still hold an event for
			// this socket; until then its input is discarded.
			a.closing = true
			_ = a.c.Close()
		}
	}
}

func (st *store) closeAdmin(a *adminConn) {
	st.apoll.remove(a)
	a.fr.Release()
	if st := a.r.stream.Load(); st != nil {
		a.r.s.st.watch.remove(func(x *watcher) bool { return x.stream == st })
		st.stop(false)
	}
	a.r.loopClosed = true
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

	stream     atomic.Pointer[Stream] // set on the loop by WATCH
	loopClosed bool                   // loop-owned: gnet has closed its side
	format     atomic.Uint32          // query.Format; set by FORMAT on either side, never both at once
}

// item is one thing owed to the client: a request to answer, the rest of a
// reply the loop began writing, or a reply the loop copied for rendering.
type item struct {
	line string
	out  []byte
	job  func(io.Writer) error
}

func newResponder(s *Server, gc gnet.Conn, nc net.Conn) *responder {
	r := &responder{s: s, gc: gc, nc: nc, wake: make(chan struct{}, 1)}
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

// push queues a reply (or its rest) that the loop produced.
func (r *responder) push(it item) {
	r.mu.Lock()
	r.items = append(r.items, it)
	r.mu.Unlock()
	r.signal()
}

// idle reports whether the responder owes nothing: then the loop may answer
// a request itself, and the reply keeps its place in the order.
func (r *responder) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.busy && len(r.items) == 0 && !r.eof && !r.aborted && r.stream.Load() == nil
}

// answerInline answers a request on the loop when the responder owes
// nothing, so the reply does not wait for another thread to be scheduled:
// under load that wait cost tens of milliseconds (PING p50 18 ms, p99
// 158 ms at 100k lines/s over 10,000 connections). A small reply goes out
// in one non-blocking write; what the socket does not take, and large
// replies (copied here, rendered there), go to the responder, still in
// order. QUIT and WATCH are left to the responder: it reports false.
func (a *adminConn) answerInline(line []byte) bool {
	req, err := codec.ParseAdmin(line)
	var out []byte
	var job func(io.Writer) error
	switch {
	case err != nil:
		out = query.AppendError(nil, query.Format(a.r.format.Load()), err.Error())
	case req.Cmd == codec.AdminBlank:
		return true
	case req.Cmd == codec.AdminQUIT || req.Cmd == codec.AdminWATCH:
		return false
	default:
		out, job = a.r.reply(&req, true)
	}
	if job != nil {
		a.r.push(item{job: job})
		return true
	}
	n, _ := unix.Write(a.c.Fd(), out) // gnet holds nothing for admin connections: we never use its Write
	if n = max(n, 0); n < len(out) {
		a.r.push(item{out: out[n:]})
	}
	return true
}

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
	r.signal()
}

// run is the responder goroutine: WATCH output first (it is time ordered
// and bounded), then requests one at a time.
func (r *responder) run() {
	defer func() {
		_ = r.nc.Close()
		// The connection counts until its last reply is out: the responder
		// holds a descriptor until then.
		r.s.post(func() { r.s.st.admins-- })
	}()
	var spare []byte
	for {
		if st := r.stream.Load(); st != nil {
			out, err := st.take(spare)
			if err == ErrDropped {
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
			ok := r.do(it)
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
		<-r.wake
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

// do handles one item; false ends the connection.
func (r *responder) do(it item) bool {
	switch {
	case it.out != nil:
		return r.write(it.out) == nil
	case it.job != nil:
		return it.job(writerFunc(r.write)) == nil
	}
	return r.answer(it.line)
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
	switch {
	case err != nil:
		return r.write(query.AppendError(nil, f, err.Error())) == nil
	case req.Cmd == codec.AdminBlank:
		return true
	case req.Cmd == codec.AdminQUIT:
		_ = r.write(query.AppendDone(nil, f))
		_ = r.gc.Close()
		return false
	case req.Cmd == codec.AdminWATCH:
		return r.startWatch(req.Names)
	}
	out, job := r.reply(&req, false)
	if job != nil {
		return job(writerFunc(r.write)) == nil
	}
	return r.write(out) == nil
}

type writerFunc func([]byte) error

func (w writerFunc) Write(b []byte) (int, error) {
	if err := w(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// startWatch makes this connection a watcher. "OK stream" goes into the
// stream on the loop, before the watcher is added, so it precedes every event.
func (r *responder) startWatch(names []string) bool {
	f := query.Format(r.format.Load())
	st := newStream(r.s, r.addr, r.wake)
	err := r.s.onLoop(func() {
		if r.loopClosed {
			return
		}
		st.push(query.AppendStreamStart(nil, f), r.s.cfg.WatchBuffer)
		r.stream.Store(st)
		r.s.st.watch.add(newWatcher(st, f, names))
	})
	if err != nil {
		return r.write(query.AppendError(nil, f, err.Error())) == nil
	}
	return true
}
