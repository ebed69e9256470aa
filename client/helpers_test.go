package client_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logatron/logatron/client"
	"github.com/logatron/logatron/loop"
)

// The tests run a real server in-process (package loop) on 127.0.0.1 and
// read back what it stored through its Go API.

// waitLimit bounds every wait for the server; a healthy run needs far less.
const waitLimit = 20 * time.Second

// fastBackoff keeps reconnect tests quick.
var fastBackoff = client.WithBackoff(2*time.Millisecond, 20*time.Millisecond)

func serverConfig(listen string) loop.Config {
	cfg := loop.DefaultConfig()
	cfg.Listen = listen
	cfg.Admin = "127.0.0.1:0"
	cfg.Buffer = 1 << 20
	cfg.BufferBytes = 256 << 20
	return cfg
}

// startServer starts a server on listen ("127.0.0.1:0" for any port) and
// stops it at the end of the test.
func startServer(t testing.TB, listen string) *loop.Server {
	t.Helper()
	return startConfig(t, serverConfig(listen))
}

// startConfig starts a server with cfg and stops it at the end of the test.
func startConfig(t testing.TB, cfg loop.Config) *loop.Server {
	t.Helper()
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}

// dial connects a client to srv and closes it at the end of the test.
func dial(t testing.TB, addr, name string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := client.Dial(ctx, addr, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// messages polls srv until name has at least n entries and returns their
// messages.
func messages(t testing.TB, srv *loop.Server, name string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		es, err := srv.ClientLog(context.Background(), name, loop.Query{})
		var nsc *loop.NoSuchClientError
		if err != nil && !errors.As(err, &nsc) {
			t.Fatal(err)
		}
		if len(es) >= n {
			out := make([]string, len(es))
			for i, e := range es {
				out[i] = e.Message
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s has %d entries after %s, want %d", name, len(es), waitLimit, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitState polls srv until name's state has key=value.
func waitState(t testing.TB, srv *loop.Server, name, key, value string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st, _ := srv.ClientState(context.Background(), name)
		if st[key] == value {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s state %v after %s, want %s=%s", name, st, waitLimit, key, value)
		}
		time.Sleep(time.Millisecond)
	}
}

// seq is the test entries "entry 0", "entry 1", ...
func seq(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, "entry "+strconv.Itoa(i))
	}
	return out
}

// errs collects what a client reports to its error handler and signals
// each report on C.
type errs struct {
	mu   sync.Mutex
	list []error
	C    chan error
}

func newErrs() *errs { return &errs{C: make(chan error, 1024)} }

func (e *errs) handler(err error) {
	e.mu.Lock()
	e.list = append(e.list, err)
	e.mu.Unlock()
	select {
	case e.C <- err:
	default:
	}
}

// next waits for the next reported error.
func (e *errs) next(t testing.TB) error {
	t.Helper()
	select {
	case err := <-e.C:
		return err
	case <-time.After(waitLimit):
		t.Fatal("no error reported")
		return nil
	}
}

// freePort returns an address nobody listens on (it was free a moment ago).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d\ngot  %q\nwant %q", what, len(got), len(want), trunc(got), trunc(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: entry %d is %q, want %q", what, i, got[i], want[i])
		}
	}
}

func trunc(s []string) []string {
	if len(s) > 10 {
		return append(s[:5:5], append([]string{"..."}, s[len(s)-5:]...)...)
	}
	return s
}

// untilEnd logs "end" as name's last entry, waits until srv has it and
// returns the entries before it: all of them, as they arrive in order.
func untilEnd(t *testing.T, c *client.Client, srv *loop.Server, name string) []string {
	t.Helper()
	c.Log("end")
	var got []string
	waitFor(t, "the entry \"end\"", func() bool {
		got = messages(t, srv, name, 1)
		return got[len(got)-1] == "end"
	})
	return got[:len(got)-1]
}
