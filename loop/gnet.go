package loop

// The gnet v2.9.7 adapter: the engine's callbacks and the sockets it
// listens on. Each callback is short and hands the work to the store or
// the admin port.
//
// gnet v2.9.7 has traps that this package works around; each workaround
// lives here or where it is named, and has a test that shows it:
//
//   - A listener's bind error is replaced by EBADF when WithTCPKeepAlive is
//     set (gnet sets keepalive on the failed socket). We never pass that
//     option: keepalive is set on the data listener in OnBoot (accepted
//     sockets inherit it) and on each admin socket in OnOpen.
//     TestListenAddressInUse, TestListenKeepAlive.
//   - gnet returns the bare bind error without naming the address, and
//     leaves the data listener open when the admin bind fails: listenErr
//     names the port by probing the admin address. TestListenAddressInUse.
//   - EMFILE at accept stops the whole engine and Rotate returns nil:
//     max-clients is derived from the open-file limit (defaultMaxClients)
//     and a nil return without Stop is reported as a failure.
//     TestConnectionCeiling (main package).
//   - OnTick runs on the ticker goroutine, not the loop, and there is no way
//     to reach EventLoop().Execute without a conn: a socketpair "control
//     conn" is enrolled on the first tick (enrollControl) and every
//     hand-off to the loop goes through it (onLoop). TestGoAPIWithoutRunningServer.
//   - DupListener finds a listener by its address text: two ports on ":0"
//     get distinct spellings (New), and bound ports are read back with
//     getsockname (boundAddr). TestDistinctPortsWhenBothAreZero.
//   - A peer's half-close makes gnet close the socket and drop what the
//     kernel did not take: admin replies are written by the connection's
//     responder through a duplicate of the socket (admin.go).
//     TestLargeRepliesHalfClosed.

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// handler adapts gnet's callbacks; each one is short and hands the work to the store.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

type ctlMark struct{}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.eng = eng
	var err error
	if s.dataAddr, err = boundAddr(eng, s.cfg.Listen, s.cfg.KeepAlive); err != nil {
		s.startErr = err
		return gnet.None
	}
	if s.cfg.Admin != "" {
		if s.adminAddr, err = boundAddr(eng, s.cfg.Admin, 0); err != nil {
			s.startErr = err
			return gnet.None
		}
	}
	ev := s.log.Info().Str("data", s.dataAddr.String()).Int("max_clients", s.cfg.MaxClients)
	if s.adminAddr != nil {
		ev = ev.Str("admin", s.adminAddr.String())
	}
	ev.Msg("listening")
	return gnet.None
}

// boundAddr asks the kernel which address a listener got, since gnet keeps
// the configured one (port 0 included). A keepalive above 0 is set on the
// listener: Linux copies it to each socket accepted from it, which saves
// four system calls per connection in a connection storm.
func boundAddr(eng gnet.Engine, addr string, keep time.Duration) (*net.TCPAddr, error) {
	fd, err := eng.DupListener("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("logatron: listener %s: %w", addr, err)
	}
	defer unix.Close(fd)
	if keep > 0 {
		if err := keepAlive(fd, keep); err != nil {
			return nil, fmt.Errorf("logatron: listener %s: keepalive: %w", addr, err)
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("logatron: listener %s: %w", addr, err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("logatron: listener %s: unexpected address family", addr)
}

// OnTick runs on gnet's ticker goroutine, not the loop: the first tick
// enrolls the control connection (only now do the loops exist), later ticks
// hand the periodic sweep to the loop.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	s.ctlOnce.Do(func() {
		if err := s.enrollControl(); err != nil {
			s.startErr = err
			close(s.ready)
		}
	})
	select {
	case <-s.ready:
		if s.startErr == nil {
			_ = s.ctl.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				s.sweepIdentify()
				s.st.Sweep(s.since())
				return nil
			}))
		}
	default:
	}
	return tickEvery, gnet.None
}

const tickEvery = 100 * time.Millisecond

// enrollControl registers one end of a socketpair with the loop. Its
// gnet.Conn gives us EventLoop().Execute, the supported way to run a
// function on the loop from another goroutine; gnet offers no other.
func (s *Server) enrollControl() error {
	if s.startErr != nil {
		return s.startErr
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("logatron: control socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "logatron-control")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		return fmt.Errorf("logatron: control conn: %w", err)
	}
	s.ctlPeer = os.NewFile(uintptr(fds[1]), "logatron-control-peer")
	ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), ctlMark{}), nc)
	ch, err := s.eng.Register(ctx)
	if err != nil {
		return fmt.Errorf("logatron: register control conn: %w", err)
	}
	res := <-ch
	if res.Err != nil {
		return fmt.Errorf("logatron: register control conn: %w", res.Err)
	}
	return nil
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	if _, ok := c.Context().(ctlMark); ok {
		s.ctl = c
		close(s.ready)
		return nil, gnet.None
	}
	var act gnet.Action
	if s.isAdmin(c) {
		act = s.openAdmin(c)
	} else {
		act = s.openData(c)
	}
	if _, admin := c.Context().(*adminConn); admin && act == gnet.None {
		s.setKeepAlive(c)
	}
	return nil, act
}

// setKeepAlive applies cfg.KeepAlive to an accepted admin connection. Data
// connections inherit it from their listener (see OnBoot); an admin socket
// needs its own, since openAdmin's net.FileConn gave it Go's default (15 s).
func (s *Server) setKeepAlive(c gnet.Conn) {
	if err := keepAlive(c.Fd(), s.cfg.KeepAlive); err != nil {
		s.log.Warn().Err(err).Str("addr", c.RemoteAddr().String()).Msg("cannot set TCP keepalive")
	}
}

// keepAlive sets TCP keepalive on a socket: idle time d, probes every third
// of it, dropped after 3 unanswered; or off when d is 0. The kernel counts
// whole seconds, so each is at least one.
func keepAlive(fd int, d time.Duration) error {
	if d <= 0 {
		return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0))
	}
	idle := max(int(d/time.Second), 1)
	intvl := max(int(d/3/time.Second), 1)
	for _, o := range []struct{ level, opt, v int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, intvl},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *dataConn:
		return h.s.dataTraffic(x)
	case *adminConn:
		return h.s.adminTraffic(x)
	}
	_, _ = c.Discard(c.InboundBuffered() + 1<<30) // control conn or a refused one: ignore input
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *dataConn:
		h.s.closeData(x, err)
	case *adminConn:
		h.s.closeAdmin(x)
	}
	return gnet.None
}

func (h *handler) OnShutdown(gnet.Engine) {
	h.s.log.Info().Msg("shutting down")
}

// isAdmin tells which listener accepted c.
func (s *Server) isAdmin(c gnet.Conn) bool {
	if s.adminAddr == nil {
		return false
	}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.Port != 0 {
		if s.adminAddr.Port == s.dataAddr.Port { // one port number on two addresses
			return a.IP.Equal(s.adminAddr.IP)
		}
		return a.Port == s.adminAddr.Port
	}
	// Configured port 0: gnet reports the listener's configured address, so ask the kernel.
	sa, err := unix.Getsockname(c.Fd())
	if err != nil {
		return false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port == s.adminAddr.Port
	case *unix.SockaddrInet6:
		return a.Port == s.adminAddr.Port
	}
	return false
}

// gnetLogger sends gnet's own log lines to zerolog.
type gnetLogger struct{ l zerolog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error().Str("from", "gnet").Msgf(f, a...) }
