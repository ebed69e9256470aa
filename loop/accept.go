package loop

// The server's own acceptors. gnet v2.9.7's acceptor takes connections on
// a goroutine of its own as fast as the kernel hands them over, queues each
// to the loop without bound, and stops the whole engine at the first
// EMFILE, so a flood of connect-and-close cycles could outrun the loop
// until the process held every descriptor it may open. Here each port has
// a goroutine that accepts with Go's net package and enrolls the
// connection with the loop, with never more than about maxPending
// accepted but not yet opened by the loop: past that, new connections
// wait in the kernel's backlog, where they cost the process nothing. An
// accept error such as EMFILE pauses that port's acceptor; it never stops
// the server. Connections accepted at the same moment may be opened in
// either order: gnet enrolls each on a goroutine of its pool.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// port tells OnOpen which listener accepted a connection. It travels as the
// gnet.Conn's context from Register to OnOpen, which replaces it.
type port int

const (
	dataPort port = iota
	adminPort
)

func (p port) String() string {
	if p == adminPort {
		return "admin"
	}
	return "data"
}

// maxPending bounds the connections accepted but not yet opened by the
// loop, over both ports (each acceptor may hold one more, and the reaper
// one). Each holds two descriptors until gnet has enrolled it (gnet
// duplicates the socket, then closes Go's), so New keeps 2*maxPending back
// from max-clients. The loop opens at most this many a round: on a loop
// saturated by ingest a larger bound admits a storm faster and a smaller
// one holds fewer descriptors (bench/results/v2-accept.txt). gnet runs at
// most 256 queued tasks a round anyway.
const maxPending = 256

// listen binds addr for one port. IPv4 addresses and an empty host get
// an IPv4 socket, others an IPv6-only one, as gnet did. Go's keepalive is
// off on accepted sockets (they would each cost four system calls): a
// keepalive above 0 is set on the listener instead, and Linux copies it
// to every socket accepted from it.
func listen(p port, addr string, keep time.Duration) (*net.TCPListener, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("logatron: %s port: %w", p, err)
	}
	network := "tcp6"
	if ta.IP == nil || ta.IP.To4() != nil {
		network = "tcp4"
	}
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("logatron: %s port: %w", p, err)
	}
	ln := l.(*net.TCPListener)
	if keep > 0 {
		rc, err := ln.SyscallConn()
		if err == nil {
			cerr := rc.Control(func(fd uintptr) { err = keepAlive(int(fd), keep) })
			err = errors.Join(cerr, err)
		}
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("logatron: %s port %s: keepalive: %w", p, addr, err)
		}
	}
	return ln, nil
}

// acceptors are the goroutines that accept on the server's listeners, and
// the one that waits for the loop to open what they accepted.
type acceptors struct {
	lns     []*net.TCPListener // indexed by port; nil when that port is disabled
	pending chan enrolling     // handed to gnet, not yet known to be opened; oldest first
	quit    chan struct{}      // closed by close
	mu      sync.Mutex         // guards closed, and wg.Add against close's Wait
	closed  bool
	wg      sync.WaitGroup // the acceptors
	logMu   sync.Mutex
	logLim  logLimit // accept errors logged
}

// enrolling is a connection gnet is opening on the loop.
type enrolling struct {
	p   port
	res <-chan gnet.RegisteredResult // one result once the loop opened it, or could not
}

// close closes the listeners and waits for the acceptors to return.
// Safe to call more than once and from any goroutine.
func (a *acceptors) close() {
	a.mu.Lock()
	first := !a.closed
	if first {
		a.closed = true
		close(a.quit)
		for _, ln := range a.lns {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
	if first {
		close(a.pending) // no acceptor sends any more: the reaper ends
	}
}

// startAccepting starts one acceptor per listener, and the reaper. Call it
// once the loop runs (s.eng can enroll).
func (s *Server) startAccepting() {
	s.acc.mu.Lock()
	defer s.acc.mu.Unlock()
	if s.acc.closed {
		return
	}
	go s.reap()
	for p, ln := range s.acc.lns {
		if ln != nil {
			s.acc.wg.Add(1)
			go s.accept(port(p), ln)
		}
	}
}

// accept takes p's connections until its listener is closed. It hands
// each to gnet and then to the reaper, and waits while maxPending are
// with the reaper.
func (s *Server) accept(p port, ln *net.TCPListener) {
	defer s.acc.wg.Done()
	var pause time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ENOBUFS or a like shortage: the connection
			// waits in the backlog until descriptors are freed. Retry soon,
			// as net/http does, without spinning.
			pause = min(max(2*pause, 5*time.Millisecond), 100*time.Millisecond)
			s.logAcceptError(p, err, pause)
			select {
			case <-time.After(pause):
			case <-s.acc.quit:
				return
			}
			continue
		}
		pause = 0
		ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), p), c)
		res, err := s.eng.Register(ctx)
		if err != nil { // the engine is shutting down
			_ = c.Close()
			continue
		}
		select {
		case s.acc.pending <- enrolling{p, res}:
		case <-s.acc.quit:
			return
		}
	}
}

// reap waits, oldest first, until the loop has opened each connection
// handed to it (or gnet could not), which frees its place in pending. One
// goroutine does it for every connection: gnet already spends one of its
// pool's on each until the loop opens it.
func (s *Server) reap() {
	for e := range s.acc.pending {
		select {
		case r := <-e.res:
			if r.Err != nil {
				s.logAcceptError(e.p, fmt.Errorf("hand to the loop: %w", r.Err), 0)
			}
		case <-s.done: // the loop ended before it opened the connection
		}
	}
}

// logAcceptError logs at most about ten accept failures a second.
func (s *Server) logAcceptError(p port, err error, pause time.Duration) {
	s.acc.logMu.Lock()
	ok, suppressed := s.acc.logLim.allow(s.since())
	s.acc.logMu.Unlock()
	if !ok {
		return
	}
	ev := s.log.Warn().Err(err).Str("port", p.String())
	if pause > 0 {
		ev = ev.Dur("pause", pause)
	}
	if suppressed > 0 {
		ev = ev.Uint64("not_logged", suppressed)
	}
	ev.Msg("cannot accept a connection")
}
