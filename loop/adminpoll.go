package loop

import (
	"fmt"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// adminPoll lets the loop take admin requests in the middle of a busy round
// of data reads. gnet handles the sockets one epoll_wait reported, in its
// order; in level-triggered mode a socket that becomes ready during a round
// is queued behind every data socket that stays ready, so under a full data
// load a request waited for the rest of one round and all of the next.
// Between data reads, at most every 250 µs (one epoll_wait each), the loop
// asks a second epoll set that holds only the admin sockets, and reads
// those that are ready itself; gnet's own read of them then finds nothing
// (EAGAIN), which it ignores. With no admin connection open there is no set
// and no cost. It is a gnet workaround for read order, not a write path:
// every reply goes through the connection's responder.
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
func (s *Server) pollAdmin(now time.Time) {
	p := &s.apoll
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
		if s.adminInput(a, p.buf[:k]) == gnet.Close {
			// Closed after gnet's round, which may still hold an event for
			// this socket; until then its input is discarded.
			a.closing = true
			_ = a.c.Close()
		}
	}
}
