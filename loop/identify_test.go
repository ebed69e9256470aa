package loop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"golang.org/x/sys/unix"
)

// Both ports asked for as "127.0.0.1:0" must still be two listeners: gnet
// finds listeners by their address text, and a mix-up makes data
// connections admin ones (or the reverse) on about half the starts.
func TestDistinctPortsWhenBothAreZero(t *testing.T) {
	for i := range 8 {
		srv := startServer(t, nil) // fails when the two addresses are equal
		c := connect(t, srv, "c"+strconv.Itoa(i))
		a := dialAdmin(t, srv)
		if got := a.text("NAMES"); !slices.Equal(got, []string{c.name}) {
			t.Fatalf("start %d: NAMES = %q, want [%s]", i, got, c.name)
		}
	}
}

func TestIdentify(t *testing.T) {
	srv := startServer(t, nil)
	long := strings.Repeat("n", 64)
	for _, tc := range []struct {
		desc, send, name string
	}{
		{"plain", "IAM bob\n", "bob"},
		{"crlf", "IAM crlf\r\n", "crlf"},
		{"lower-case word", "iam lower\n", "lower"},
		{"mixed-case word", "Iam Mixed_Case_9\n", "Mixed_Case_9"},
		{"tabs and trailing blanks", "IAM\t \ttabbed \t\n", "tabbed"},
		{"blank lines first", "\n   \n\t\r\n\nIAM after_blanks\n", "after_blanks"},
		{"64 characters", "IAM " + long + "\n", long},
		{"underscores and digits", "IAM _0_9\n", "_0_9"},
		{"dash", "IAM worker-2\n", "worker-2"},
		{"dot", "IAM web.1\n", "web.1"},
		{"pod name", "IAM pod-7f9c6d-xk2p\n", "pod-7f9c6d-xk2p"},
		{"colon", "IAM host:svc\n", "host:svc"},
		{"token ignored without -tokens", "IAM tokened s3cret\n", "tokened"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := dialData(t, srv)
			c.name = tc.name
			c.send(tc.send)
			c.sync() // fails unless the client is known under that name
			info, err := srv.ClientInfo(context.Background(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Addr != c.addr() {
				t.Errorf("addr = %q, want %q", info.Addr, c.addr())
			}
		})
	}
	a := dialAdmin(t, srv)
	if got := a.stats()["rejected_total"]; got != "0" {
		t.Errorf("rejected_total = %s, want 0", got)
	}
}

// Each fatal identify error: one exact ERR line, then the connection is
// closed, counted in rejected_total, and the name (if any) not taken.
func TestIdentifyErrors(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.MaxLine = 100 })
	connect(t, srv, "bob")
	const expected = "ERR expected IAM <name>\n"
	const invalid = "ERR invalid name: use 1-64 of A-Z a-z 0-9 _ . : -\n"
	cases := []struct {
		desc, send, want string
	}{
		{"not IAM", "HELLO\n", expected},
		{"LOG before IAM", "LOG hi\n", expected},
		{"SET before IAM", "SET k v\n", expected},
		{"IAM alone", "IAM\n", invalid},
		{"IAM blanks only", "IAM  \t \n", invalid},
		{"65 characters", "IAM " + strings.Repeat("x", 65) + "\n", invalid},
		{"slash", "IAM bad/name\n", invalid},
		{"three words", "IAM a b c\n", invalid},
		{"non-ASCII", "IAM caf\u00e9\n", invalid},
		{"invalid UTF-8", "IAM a\xffb\n", invalid},
		{"IAM glued to the name", "IAMbob\n", expected},
		{"blank lines then garbage", "\n \n?\n", expected},
		{"name in use", "IAM bob\n", "ERR name in use: bob\n"},
		{"line too long", "IAM " + strings.Repeat("y", 97) + "\n", "ERR line too long\n"},
		{"too long without newline", strings.Repeat("z", 300), "ERR line too long\n"},
		{"too long blank line", strings.Repeat(" ", 101) + "\nIAM ok\n", "ERR line too long\n"},
		{"too long after blank lines", "\n\n" + strings.Repeat("w", 101) + "\n", "ERR line too long\n"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := dialData(t, srv)
			c.send(tc.send)
			if got := readToClose(t, c.conn, 5*time.Second); got != tc.want {
				t.Errorf("got %q, want %q then close", got, tc.want)
			}
		})
	}
	a := dialAdmin(t, srv)
	eventually(t, 5*time.Second, "every rejection counted", func() (bool, string) {
		s := a.stats()
		want := strconv.Itoa(len(cases))
		return s["rejected_total"] == want && s["clients"] == "1", "rejected_total=" + s["rejected_total"] + " clients=" + s["clients"] + ", want " + want
	})
	if got := a.text("NAMES"); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("NAMES = %q, want [bob]", got)
	}
	if got := a.stats()["clients_total"]; got != "1" {
		t.Errorf("clients_total = %s, want 1", got)
	}
}

// The first bob keeps working after a second bob was refused.
func TestNameInUseKeepsFirst(t *testing.T) {
	srv := startServer(t, nil)
	bob := connect(t, srv, "bob")
	dup := dialData(t, srv)
	dup.send("IAM bob\nLOG from the impostor\n")
	if got := readToClose(t, dup.conn, 5*time.Second); got != "ERR name in use: bob\n" {
		t.Fatalf("got %q", got)
	}
	bob.send("LOG still here\n")
	bob.sync()
	if got := logMessages(t, srv, "bob"); !slices.Equal(got, []string{"still here"}) {
		t.Errorf("bob's log = %q, want [still here]", got)
	}
	info, err := srv.ClientInfo(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if info.Addr != bob.addr() {
		t.Errorf("bob's addr = %s, want the first connection's %s", info.Addr, bob.addr())
	}
}

func TestTooManyClients(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.MaxClients = 2 })
	a := connect(t, srv, "a")
	connect(t, srv, "b")
	adm := dialAdmin(t, srv)
	// The third connection is refused at once, before it says anything.
	third := dialData(t, srv)
	if got := readToClose(t, third.conn, 5*time.Second); got != "ERR too many clients\n" {
		t.Fatalf("third connection: got %q", got)
	}
	if got := adm.stats()["rejected_total"]; got != "1" {
		t.Errorf("rejected_total = %s, want 1", got)
	}
	// Unidentified connections count too: free a slot, fill it with a silent
	// connection, and the next one is refused.
	a.conn.Close()
	eventually(t, 5*time.Second, "a to go", func() (bool, string) {
		n := adm.text("NAMES")
		return slices.Equal(n, []string{"b"}), strings.Join(n, ",")
	})
	// Two silent connections: the loop opens them in the order it learns
	// of them, not necessarily that of the connects, so either may take
	// the slot; the other is refused.
	x, y := dialData(t, srv), dialData(t, srv)
	type read struct {
		c   *dataClient
		got string
	}
	reads := make(chan read, 2)
	for _, c := range []*dataClient{x, y} {
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		go func() {
			b, _ := io.ReadAll(c.conn)
			reads <- read{c, string(b)}
		}()
	}
	first := <-reads
	if first.got != "ERR too many clients\n" {
		t.Fatalf("with a silent connection holding the slot: got %q", first.got)
	}
	silent := x
	if first.c == x {
		silent = y
	}
	silent.conn.SetReadDeadline(time.Now()) // end the other read
	if second := <-reads; second.got != "" {
		t.Fatalf("the connection holding the slot read %q", second.got)
	}
	silent.conn.SetReadDeadline(time.Time{})
	// The silent one can still identify.
	silent.name = "c"
	silent.send("IAM c\n")
	silent.sync()
	if got := adm.text("NAMES"); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("NAMES = %q, want [b c]", got)
	}
}

func TestIdentifyTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := startServer(t, func(c *loop.Config) { c.IdentTimeout = timeout })
	// An identified client opened before the others: it must survive their
	// timeouts.
	early := connect(t, srv, "early")
	for _, tc := range []struct{ desc, send string }{
		{"silent", ""},
		{"partial line", "IAM bo"},
		{"blank lines only", "\n\n  \n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			start := time.Now()
			c := dialData(t, srv)
			c.send(tc.send)
			got := readToClose(t, c.conn, 10*time.Second)
			took := time.Since(start)
			if got != "ERR identify timeout\n" {
				t.Fatalf("got %q, want ERR identify timeout then close", got)
			}
			if took < timeout {
				t.Errorf("timed out after %s, before ident-timeout %s", took, timeout)
			}
			if took > timeout+3*time.Second {
				t.Errorf("timed out only after %s (ident-timeout %s)", took, timeout)
			}
		})
	}
	a := dialAdmin(t, srv)
	if got := a.text("NAMES"); !slices.Equal(got, []string{"early"}) {
		t.Errorf("NAMES = %q, want [early]: an identified client was timed out", got)
	}
	if got := a.stats()["rejected_total"]; got != "3" {
		t.Errorf("rejected_total = %s, want 3", got)
	}
	early.send("LOG alive\n")
	early.sync()
}

// TestNameFreedAfterDisconnect: with -retain 0 (the version 1 behaviour) a
// client is removed when its connection ends.
func TestNameFreedAfterDisconnect(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.Retain = 0 })
	a := dialAdmin(t, srv)
	first := connect(t, srv, "bob")
	first.send("LOG from the first\nSET k v\n")
	first.sync()
	first.conn.Close()
	eventually(t, 5*time.Second, "bob to go", func() (bool, string) {
		n := a.text("NAMES")
		return len(n) == 0, strings.Join(n, ",")
	})
	if got := a.textErr("CLIENT bob"); got != "no such client: bob" {
		t.Errorf("CLIENT bob after close: ERR %s", got)
	}
	second := connect(t, srv, "bob")
	info := a.kv("CLIENT bob")
	if info["addr"] != second.addr() {
		t.Errorf("addr = %s, want the second connection's %s", info["addr"], second.addr())
	}
	// A new client starts empty.
	if info["entries"] != "0" || info["keys"] != "0" || info["lines"] != "0" {
		t.Errorf("the second bob inherited the first's data: %v", info)
	}
	if st := a.stats(); st["clients_total"] != "2" || st["clients"] != "1" {
		t.Errorf("clients_total=%s clients=%s, want 2 and 1", st["clients_total"], st["clients"])
	}
}

// TCP keepalive is on for accepted data sockets. The server runs in this
// process, so its socket can be found among our descriptors by its address.
func TestKeepAlive(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.KeepAlive = 7 * time.Second })
	c := connect(t, srv, "bob")
	fd := serverSideFD(t, srv.DataAddr().String(), c.addr())
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		t.Fatal(err)
	}
	if on != 1 {
		t.Errorf("SO_KEEPALIVE = %d, want 1", on)
	}
	idle, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err != nil {
		t.Fatal(err)
	}
	if idle != 7 {
		t.Errorf("TCP_KEEPIDLE = %d s, want 7", idle)
	}
}

// serverSideFD finds this process's socket whose local address is local and
// peer is peer.
func serverSideFD(t *testing.T, local, peer string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		la, err1 := unix.Getsockname(fd)
		pa, err2 := unix.Getpeername(fd)
		if errors.Join(err1, err2) != nil {
			continue
		}
		if sockaddrString(la) == local && sockaddrString(pa) == peer {
			return fd
		}
	}
	t.Fatalf("no socket %s <- %s in this process", local, peer)
	return -1
}

func sockaddrString(sa unix.Sockaddr) string {
	if a, ok := sa.(*unix.SockaddrInet4); ok {
		return strconv.Itoa(int(a.Addr[0])) + "." + strconv.Itoa(int(a.Addr[1])) + "." +
			strconv.Itoa(int(a.Addr[2])) + "." + strconv.Itoa(int(a.Addr[3])) + ":" + strconv.Itoa(a.Port)
	}
	return ""
}

// TestDefaultConfig: the defaults are the spec's.
func TestDefaultConfig(t *testing.T) {
	c := loop.DefaultConfig()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "0.0.0.0:2212"},
		{"admin", c.Admin, "127.0.0.1:2213"},
		{"buffer", c.Buffer, 128},
		{"buffer-bytes", c.BufferBytes, 1 << 20},
		{"max-line", c.MaxLine, 64 << 10},
		{"max-keys", c.MaxKeys, 1024},
		{"ident-timeout", c.IdentTimeout, 10 * time.Second},
		{"watch-buffer", c.WatchBuffer, 4 << 20},
		{"max-clients (0: derived)", c.MaxClients, 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if c.KeepAlive <= 0 {
		t.Errorf("keepalive is off by default (%s)", c.KeepAlive)
	}
	// max-clients derived from the open-file limit, less a reserve.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	srv, err := loop.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if mc := srv.MaxClients(); mc < 1 || uint64(mc) >= lim.Cur {
		t.Errorf("derived max-clients = %d with an open-file limit of %d", mc, lim.Cur)
	}
}

// TestIdentifyTimeoutMany: hundreds of silent connections interleaved with
// identifying ones all time out, each with its ERR line, and no identified
// client is touched.
func TestIdentifyTimeoutMany(t *testing.T) {
	const pairs = 300
	srv := startServer(t, func(c *loop.Config) { c.IdentTimeout = 300 * time.Millisecond })
	silent := make([]*dataClient, 0, pairs)
	var ids []*dataClient
	var names []string
	for i := range pairs {
		silent = append(silent, dialData(t, srv))
		c := dialData(t, srv)
		c.name = fmt.Sprintf("id%03d", i)
		c.send("IAM " + c.name + "\n")
		names = append(names, c.name)
		ids = append(ids, c)
	}
	for _, c := range ids {
		c.sync()
	}
	results := make(chan string, pairs)
	for _, c := range silent {
		go func() {
			c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, err := io.ReadAll(c.conn)
			if err != nil {
				results <- fmt.Sprintf("%q then %v", b, err)
				return
			}
			results <- string(b)
		}()
	}
	for range pairs {
		if got := <-results; got != "ERR identify timeout\n" {
			t.Errorf("a silent connection got %s", got)
		}
	}
	got, err := srv.ClientNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, names) {
		t.Errorf("after the timeouts, %d clients, want the %d that identified", len(got), len(names))
	}
	st, err := srv.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.RejectedTotal != pairs {
		t.Errorf("rejected_total = %d, want %d", st.RejectedTotal, pairs)
	}
}
