package loop

import (
	"errors"
	"io"
	"time"

	"github.com/logatron/logatron/store"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// dataConn is one data connection: the gnet socket and the store's state
// for it. Its client (once identified) belongs to the store.
type dataConn struct {
	c      gnet.Conn
	sc     store.Conn
	opened time.Duration // Server.since at accept: the identify deadline counts from here
	closed bool
	reason string // why we close it, when we do: a fatal ERR ("error: <text>") or "replaced"
}

func (s *Server) openData(c gnet.Conn) gnet.Action {
	if s.conns >= s.cfg.MaxClients {
		return s.refuse(c, store.PeerOf(c.RemoteAddr()), "too many clients")
	}
	s.conns++
	d := &dataConn{c: c, sc: s.st.NewConn(store.PeerOf(c.RemoteAddr())), opened: s.since()}
	c.SetContext(d)
	s.unidentified = append(s.unidentified, d)
	return gnet.None
}

// refuse ends a data connection with a fatal `ERR <reason>` line.
func (s *Server) refuse(c gnet.Conn, peer store.Peer, reason string) gnet.Action {
	_, _ = c.Write([]byte("ERR " + reason + "\n"))
	s.st.CountRejected()
	s.log.Warn().Str("addr", peer.String()).Str("reason", reason).Msg("rejected connection")
	return gnet.Close
}

// dataTraffic hands everything gnet read to the store: whole lines are
// handled straight out of gnet's read buffer and only a line's unfinished
// tail is copied (into the connection's Framer), so gnet's own inbound
// buffer stays empty and what a connection can make us hold is bounded by
// max-line.
func (s *Server) dataTraffic(d *dataConn) gnet.Action {
	if s.stopping.Load() {
		return gnet.Close
	}
	buf, _ := d.c.Next(-1)
	// One receive time per read: the lines of one read arrived together.
	t := time.Now()
	fatal := s.st.Ingest(&d.sc, buf, t.UnixMilli())
	s.st.Watch.Flush()
	s.pollAdmin(t)
	if fatal != "" {
		d.reason = "error: " + fatal
		return s.refuse(d.c, d.sc.Peer(), fatal)
	}
	return gnet.None
}

// closeData runs when gnet has closed a data connection; err is why (nil
// when we closed it).
func (s *Server) closeData(d *dataConn, err error) {
	if d.closed {
		return
	}
	d.closed = true
	s.conns--
	reason := d.reason
	switch {
	case s.stopping.Load():
		reason = "shutdown"
	case reason != "":
	case err == nil || errors.Is(err, io.EOF):
		reason = "eof"
	case errors.Is(err, unix.ETIMEDOUT):
		reason = "keepalive" // TCP keepalive probes went unanswered
	default:
		reason = "reset"
	}
	s.st.Close(&d.sc, reason, time.Now().UnixMilli(), s.since(), s.stopping.Load())
}

// sweepIdentify runs on the loop every tick: it ends connections that did
// not identify in time. The queue is in opening order, so it stops at the
// first connection still within its time.
func (s *Server) sweepIdentify() {
	now := s.since()
	q := s.unidentified
	for s.unidentHead < len(q) {
		d := q[s.unidentHead]
		waiting := d.sc.Client() == nil && !d.closed
		if waiting && now-d.opened <= s.cfg.IdentTimeout {
			break
		}
		q[s.unidentHead] = nil
		s.unidentHead++
		if waiting {
			s.refuse(d.c, d.sc.Peer(), "identify timeout")
			// Close now, on the loop, so that no IAM can slip in before gnet gets to it.
			_ = d.c.EventLoop().Close(d.c)
		}
	}
	if s.unidentHead > 0 && s.unidentHead*2 >= len(q) {
		n := copy(q, q[s.unidentHead:])
		clear(q[n:])
		s.unidentified = q[:n]
		s.unidentHead = 0
	}
}
