package loop

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/logatron/logatron/codec"
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
	// proxy: the connection must start with a PROXY protocol header, held
	// in hdr until it is whole (at most codec.MaxProxyHeaderLen bytes).
	proxy bool
	hdr   []byte
	ip    netip.Addr // counted in perIP under this address; invalid: not counted
}

func (s *Server) openData(c gnet.Conn) gnet.Action {
	peer := store.PeerOf(c.RemoteAddr())
	if s.conns >= s.cfg.MaxClients {
		return s.refuse(c, peer, "too many clients")
	}
	d := &dataConn{c: c, sc: s.st.NewConn(peer), opened: s.since()}
	d.sc.Owner = d
	ip := peer.Addr().Addr()
	if d.proxy = inPrefixes(s.cfg.ProxyFrom, ip); !d.proxy {
		if reason := s.admit(d, ip); reason != "" {
			return s.refuse(c, peer, reason)
		}
	}
	s.conns++
	c.SetContext(d)
	s.unidentified = append(s.unidentified, d)
	return gnet.None
}

// admit checks a data peer's address against -allow and -max-per-ip and
// counts the connection under it.
func (s *Server) admit(d *dataConn, ip netip.Addr) (reason string) {
	if len(s.cfg.Allow) > 0 && !inPrefixes(s.cfg.Allow, ip) {
		return "not allowed"
	}
	if s.cfg.MaxPerIP > 0 {
		if s.perIP[ip] >= s.cfg.MaxPerIP {
			return "not allowed"
		}
		s.perIP[ip]++
		d.ip = ip
	}
	return ""
}

func inPrefixes(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refuse ends a data connection with a fatal `ERR <reason>` line. The log
// line is rate-limited (logLimit).
func (s *Server) refuse(c gnet.Conn, peer store.Peer, reason string) gnet.Action {
	_, _ = c.Write([]byte("ERR " + reason + "\n"))
	s.st.CountRejected()
	s.countReject(reason)
	if ok, suppressed := s.rejectLog.allow(s.since()); ok {
		ev := s.log.Warn().Str("addr", peer.String()).Str("reason", reason)
		if suppressed > 0 {
			ev = ev.Uint64("not_logged", suppressed)
		}
		ev.Msg("rejected connection")
	}
	return gnet.Close
}

// proxyHeader takes the PROXY protocol header off the front of a proxied
// connection's input: rest is what follows it, once it is whole. The
// header's source address becomes the client's address everywhere, and
// -allow and -max-per-ip apply to it.
func (s *Server) proxyHeader(d *dataConn, buf []byte) (rest []byte, reason string) {
	in := buf
	if len(d.hdr) > 0 {
		d.hdr = append(d.hdr, buf...)
		in = d.hdr
	}
	src, n, more, err := codec.ParseProxy(in)
	switch {
	case err != nil:
		s.log.Debug().Err(err).Str("addr", d.sc.Peer().String()).Msg("bad PROXY protocol header")
		return nil, "not allowed"
	case more:
		if len(in) > codec.MaxProxyHeaderLen {
			return nil, "not allowed"
		}
		if len(d.hdr) == 0 {
			d.hdr = append([]byte(nil), buf...)
		}
		return nil, ""
	}
	d.proxy, d.hdr = false, nil
	rest = in[n:]
	if src.IsValid() {
		d.sc.SetPeer(store.PeerOfAddrPort(netip.AddrPortFrom(src.Addr().Unmap(), src.Port())))
	}
	return rest, s.admit(d, d.sc.Peer().Addr().Addr())
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
	if d.proxy {
		var reason string
		if buf, reason = s.proxyHeader(d, buf); reason != "" {
			return s.refuse(d.c, d.sc.Peer(), reason)
		}
		if d.proxy {
			return gnet.None // the header is not whole yet
		}
	}
	// One receive time per read: the lines of one read arrived together.
	t := s.wall()
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
	if d.ip.IsValid() {
		if s.perIP[d.ip]--; s.perIP[d.ip] <= 0 {
			delete(s.perIP, d.ip)
		}
	}
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
	s.st.Close(&d.sc, reason, s.wall().UnixMilli(), s.since())
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
