package loop_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"golang.org/x/sys/unix"
)

// TestListenAddressInUse: when the data or the admin port is taken, Start
// fails with the kernel's reason and names the port and its address, with
// TCP keepalive on (the default, which once hid the reason behind
// "setsockopt: bad file descriptor") and off.
func TestListenAddressInUse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		taken     string // which port is occupied: "data" or "admin"
		keepAlive time.Duration
	}{
		{"data", "data", loop.DefaultConfig().KeepAlive},
		{"admin", "admin", loop.DefaultConfig().KeepAlive},
		{"data without keepalive", "data", 0},
		{"admin without keepalive", "admin", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			addr := ln.Addr().String()

			cfg := loop.DefaultConfig()
			cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
			cfg.KeepAlive = tc.keepAlive
			if tc.taken == "data" {
				cfg.Listen = addr
			} else {
				cfg.Admin = addr
			}
			srv, err := loop.New(cfg)
			if err != nil {
				t.Fatalf("loop.New: %v", err)
			}
			err = srv.Start()
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Stop(ctx)
				t.Fatalf("Start succeeded with the %s port %s taken", tc.taken, addr)
			}
			msg := err.Error()
			for _, want := range []string{addr, "address already in use", tc.taken + " port"} {
				if !strings.Contains(msg, want) {
					t.Errorf("Start error %q does not mention %q", msg, want)
				}
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("Start error %q does not wrap EADDRINUSE", msg)
			}
			select {
			case <-srv.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the event loop is still running after Start failed")
			}
		})
	}
}

// TestListenKeepAlive: cfg.KeepAlive holds on each accepted connection, admin
// ones included (their net.FileConn must not impose Go's default), a period
// too short for whole seconds is rounded up to one second instead of failing
// Start, and 0 turns keepalive off.
func TestListenKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name           string
		keepAlive      time.Duration
		idle, interval int // seconds
	}{
		{"7s", 7 * time.Second, 7, 2},
		{"2s", 2 * time.Second, 2, 1},
		{"300ms", 300 * time.Millisecond, 1, 1},
		{"off", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, func(c *loop.Config) { c.KeepAlive = tc.keepAlive })
			d := connect(t, srv, "bob")
			a := dialAdmin(t, srv)
			a.text("NAMES") // the admin connection is open on the server side
			for _, s := range []struct{ port, local, peer string }{
				{"data", srv.DataAddr().String(), d.addr()},
				{"admin", srv.AdminAddr().String(), a.conn.LocalAddr().String()},
			} {
				fd := serverSideFD(t, s.local, s.peer)
				opts := []struct {
					name       string
					level, opt int
					want       int
				}{
					{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
					{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, tc.idle},
					{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, tc.interval},
					{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
				}
				if tc.keepAlive == 0 {
					opts = opts[:1]
					opts[0].want = 0
				}
				for _, o := range opts {
					got, err := unix.GetsockoptInt(fd, o.level, o.opt)
					if err != nil {
						t.Fatalf("%s %s: %v", s.port, o.name, err)
					}
					if got != o.want {
						t.Errorf("%s connection: %s = %d, want %d", s.port, o.name, got, o.want)
					}
				}
			}
		})
	}
}
