package loop

// The gnet v2.9.7 adapter: the engine's callbacks. Each callback is short
// and hands the work to the store or the admin port.
//
// gnet v2.9.7 has traps that this package works around; each workaround
// lives here or where it is named, and has a test that shows it:
//
//   - Its listeners: the acceptor queues connections to the loop without
//     bound and stops the engine on EMFILE; WithTCPKeepAlive replaces a
//     bind error with EBADF; a bind error does not name the address;
//     DupListener finds a listener by its address text. The engine's only
//     listener is a unix socket in a private directory (gnet runs no
//     engine without one; OnOpen closes what arrives there), and our
//     acceptors (accept.go) bind, accept and enroll each connection, with
//     the port it came from as its context.
//     TestConnectCloseFlood (main package), TestListenAddressInUse,
//     TestListenKeepAlive, TestDistinctPortsWhenBothAreZero.
//   - OnTick runs on the ticker goroutine, not the loop, and there is no way
//     to reach EventLoop().Execute without a conn: a socketpair "control
//     conn" is enrolled on the first tick (enrollControl) and every
//     hand-off to the loop goes through it (onLoop). TestGoAPIWithoutRunningServer.
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
	h.s.eng = eng
	return gnet.None
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
	switch c.Context() {
	case adminPort:
		act = s.openAdmin(c)
	case dataPort:
		act = s.openData(c)
	default: // gnet's own unix listener (see Start): not a port we serve
		return nil, gnet.Close
	}
	if _, admin := c.Context().(*adminConn); admin && act == gnet.None {
		s.setKeepAlive(c)
	}
	return nil, act
}

// setKeepAlive applies cfg.KeepAlive to an accepted admin connection. Data
// connections inherit it from their listener (see listen); an admin socket
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

// gnetLogger sends gnet's own log lines to zerolog.
type gnetLogger struct{ l zerolog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error().Str("from", "gnet").Msgf(f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error().Str("from", "gnet").Msgf(f, a...) }
