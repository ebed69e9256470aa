package loop_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/logatron/logatron/store"
)

// SPEC §8 in process, under the race detector: who may connect (-allow,
// -max-per-ip, -tokens, -admin-token, PROXY protocol), the takeover of a
// name by its token, admin idle timeouts, and what one client's state may
// hold. The process-level cases (memory, thousands of connections, the
// open-file limit, haproxy) are in ../main_security_test.go.

// dialFromIP dials addr from the local address ip: all of 127.0.0.0/8 is
// loopback on Linux, so one test can be several peers.
func dialFromIP(t testing.TB, addr *net.TCPAddr, ip string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)}, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendAll writes s whole to c.
func sendAll(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// waitConnected waits until name is a connected client that has sent
// bytes bytes (its IAM line included), and returns its info.
func waitConnected(t testing.TB, srv *loop.Server, name string, bytes int) query.ClientInfo {
	t.Helper()
	var info query.ClientInfo
	eventually(t, 10*time.Second, name+" connected with all its bytes", func() (bool, string) {
		var err error
		info, err = srv.ClientInfo(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		return !info.Closed && info.Bytes == uint64(bytes), fmt.Sprintf("closed=%v bytes=%d, want %d", info.Closed, info.Bytes, bytes)
	})
	return info
}

// rejectedTotal is STATS rejected_total, read through the Go API.
func rejectedTotal(t testing.TB, srv *loop.Server) uint64 {
	t.Helper()
	st, err := srv.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.RejectedTotal
}

func mustTokens(t testing.TB, file string) store.Tokens {
	t.Helper()
	ts, err := store.ParseTokens(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// TestDataRefusals: each way a data connection is refused under §8 gives
// its exact ERR line, then the close, and is counted; -allow, -max-per-ip
// and -tokens together on one server.
func TestDataRefusals(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) {
		c.Allow = prefixes("127.0.0.1/32", "127.0.0.2/32")
		c.MaxPerIP = 3
		c.Tokens = mustTokens(t, "# sensors\nsensor_* s3cret\n\ngw gwtok\n")
	})
	const notAllowed, notAuthorized = "ERR not allowed\n", "ERR not authorized\n"
	cases := []struct {
		desc, from, send, want string
	}{
		{"address outside -allow", "127.0.0.3", "", notAllowed},
		{"another address outside -allow", "127.0.0.9", "", notAllowed},
		{"IAM without a token", "127.0.0.1", "IAM sensor_1\n", notAuthorized},
		{"wrong token", "127.0.0.1", "IAM sensor_1 guess\n", notAuthorized},
		{"token of another rule", "127.0.0.1", "IAM sensor_1 gwtok\n", notAuthorized},
		{"token's prefix", "127.0.0.1", "IAM sensor_1 s3cre\n", notAuthorized},
		{"token with a byte more", "127.0.0.1", "IAM sensor_1 s3cretx\n", notAuthorized},
		{"token of a glob the name does not match", "127.0.0.2", "IAM gateway s3cret\n", notAuthorized},
		{"name no rule matches", "127.0.0.2", "IAM nobody s3cret\n", notAuthorized},
		{"lines after the refused IAM are not stored", "127.0.0.1", "IAM gw wrong\nLOG sneaked in\n", notAuthorized},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := dialFromIP(t, srv.DataAddr(), tc.from)
			if tc.send != "" {
				sendAll(t, c, tc.send)
			}
			if got := readToClose(t, c, 5*time.Second); got != tc.want {
				t.Errorf("got %q, want %q then close", got, tc.want)
			}
		})
	}
	if names, err := srv.ClientNames(context.Background()); err != nil || len(names) != 0 {
		t.Fatalf("after the refusals the server knows clients %q (%v), want none", names, err)
	}

	// The right tokens identify, and -max-per-ip counts open connections
	// per address: the fourth from 127.0.0.2 is refused, 127.0.0.1 is not
	// affected, and a freed place can be taken again.
	var held []*net.TCPConn
	for i := range 3 {
		name := fmt.Sprintf("sensor_%d", 10+i)
		c := dialFromIP(t, srv.DataAddr(), "127.0.0.2")
		iam := "IAM " + name + " s3cret\n"
		sendAll(t, c, iam)
		waitConnected(t, srv, name, len(iam))
		held = append(held, c)
	}
	over := dialFromIP(t, srv.DataAddr(), "127.0.0.2")
	if got := readToClose(t, over, 5*time.Second); got != notAllowed {
		t.Errorf("4th connection from 127.0.0.2 with -max-per-ip 3: got %q, want %q", got, notAllowed)
	}
	gw := dialFromIP(t, srv.DataAddr(), "127.0.0.1")
	sendAll(t, gw, "IAM gw gwtok\n")
	waitConnected(t, srv, "gw", len("IAM gw gwtok\n"))

	held[0].Close()
	eventually(t, 5*time.Second, "sensor_10 closed", func() (bool, string) {
		info, err := srv.ClientInfo(context.Background(), "sensor_10")
		return err == nil && info.Closed, fmt.Sprintf("%+v %v", info, err)
	})
	again := dialFromIP(t, srv.DataAddr(), "127.0.0.2")
	sendAll(t, again, "IAM sensor_20 s3cret\n")
	waitConnected(t, srv, "sensor_20", len("IAM sensor_20 s3cret\n"))

	if got, want := rejectedTotal(t, srv), uint64(len(cases)+1); got != want {
		t.Errorf("rejected_total = %d, want %d", got, want)
	}
}

// TestAdminAuth: with -admin-token, each conversation's exact replies: any
// request before AUTH gets "ERR auth required" and the connection stays;
// a wrong token gets "ERR not authorized" and the close; the right one
// "OK 0", after which requests are served.
func TestAdminAuth(t *testing.T) {
	const token = "adm1n-t0ken"
	srv := startServer(t, func(c *loop.Config) { c.AdminToken = token })
	type step struct {
		send string
		want []string // reply lines; nil: none
	}
	required := []string{"ERR auth required"}
	notAuthorized := []string{"ERR not authorized"}
	ok := []string{"OK 0"}
	cases := []struct {
		desc   string
		steps  []step
		closed bool // the server closes the connection after the last step
	}{
		{"requests before AUTH, then the token", []step{
			{"PING", required}, {"STATS", required}, {"NAMES", required}, {"DUMP", required},
			{"WATCH", required}, {"HELP", required}, {"FORMAT json", required},
			{"AUTH " + token, ok}, {"PING", []string{"OK 1", "PONG"}}, {"AUTH " + token, ok},
		}, false},
		{"blank lines are not requests", []step{{"", nil}, {"  ", nil}, {"AUTH " + token, ok}, {"PING", []string{"OK 1", "PONG"}}}, false},
		{"AUTH without a token", []step{{"AUTH", required}, {"AUTH " + token, ok}}, false},
		{"wrong token", []step{{"AUTH guess", notAuthorized}}, true},
		{"token's prefix", []step{{"AUTH " + token[:len(token)-1], notAuthorized}}, true},
		{"token with a byte more", []step{{"AUTH " + token + "x", notAuthorized}}, true},
		{"token in another case", []step{{"AUTH " + strings.ToUpper(token), notAuthorized}}, true},
		{"refused requests, then a wrong token", []step{{"NAMES", required}, {"AUTH nope", notAuthorized}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			a := dialAdmin(t, srv)
			for _, s := range tc.steps {
				a.write(s.send + "\n")
				for _, want := range s.want {
					if got := a.line(); got != want {
						t.Fatalf("%q: got %q, want %q", s.send, got, want)
					}
				}
			}
			if tc.closed {
				if rest := readToClose(t, a.conn, 5*time.Second); rest != "" {
					t.Errorf("after the refusal: got %q, want the close", rest)
				}
				return
			}
			// Still open, and nothing more was sent: a PING now gets the
			// next reply (a stray line would come first).
			a.write("PING\n")
			if got := a.reply(); !slices.Equal(got, []string{"OK 1", "PONG"}) {
				t.Errorf("PING after the conversation: %q", got)
			}
		})
	}
	// The data port does not take the admin token into account.
	c := connect(t, srv, "plain")
	c.send("LOG no token needed here\n")
	c.sync()
}

// TestTokenTakeover: a sensor connected with its token keeps its name
// against an impostor without it; its own reconnect with the token
// replaces the old connection at once, as a resume.
func TestTokenTakeover(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) {
		c.Tokens = mustTokens(t, "sensor_* s3cret\n")
	})
	w := dialAdmin(t, srv)
	w.write("WATCH\n")
	if got := w.line(); got != "OK stream" {
		t.Fatalf("WATCH: %q", got)
	}
	event := func(want string) {
		t.Helper()
		l := w.line()
		if _, rest, _ := strings.Cut(l, " "); rest != want {
			t.Fatalf("watcher: got %q, want <ts> %s", l, want)
		}
	}

	sensor := dialData(t, srv)
	sensor.name = "sensor_7"
	sensor.send("IAM sensor_7 s3cret\nLOG first\n")
	sensor.sync()
	event("READY sensor_7")
	event("LOG sensor_7 first")

	for _, tc := range []struct{ desc, iam string }{
		{"wrong token", "IAM sensor_7 guess\n"},
		{"no token", "IAM sensor_7\n"},
	} {
		imp := dialData(t, srv)
		imp.send(tc.iam + "LOG from the impostor\n")
		if got := readToClose(t, imp.conn, 5*time.Second); got != "ERR not authorized\n" {
			t.Errorf("impostor with %s: got %q, want ERR not authorized then close", tc.desc, got)
		}
	}
	sensor.send("LOG still mine\n")
	sensor.sync()
	event("LOG sensor_7 still mine") // nothing from the impostors came between
	info, err := srv.ClientInfo(context.Background(), "sensor_7")
	if err != nil {
		t.Fatal(err)
	}
	if info.Addr != sensor.addr() || info.Closed || info.Reconnects != 0 {
		t.Errorf("after the impostors: addr %s closed %v reconnects %d, want %s, false, 0", info.Addr, info.Closed, info.Reconnects, sensor.addr())
	}

	// The sensor reconnects while its old connection is still open (half
	// dead, as after a network blip): the token takes the name over.
	again := dialData(t, srv)
	again.name, again.sent = "sensor_7", sensor.sent // the client's byte count goes on
	again.send("IAM sensor_7 s3cret\nLOG after the blip\n")
	// The data port sends nothing but a fatal ERR line before a close.
	if got := readToClose(t, sensor.conn, 5*time.Second); got != "" && (!strings.HasPrefix(got, "ERR ") || strings.Count(got, "\n") != 1) {
		t.Errorf("the replaced connection read %q before its close, want nothing or one ERR line", got)
	}
	event("CLOSE sensor_7 replaced")
	event("READY sensor_7")
	event("LOG sensor_7 after the blip")
	a := dialAdmin(t, srv)
	c := a.kv("CLIENT sensor_7")
	if c["reconnects"] != "1" || c["status"] != "connected" || c["addr"] != again.conn.LocalAddr().String() {
		t.Errorf("CLIENT after the takeover: reconnects %s status %s addr %s, want 1, connected, %s", c["reconnects"], c["status"], c["addr"], again.conn.LocalAddr())
	}
	if got := logMessages(t, srv, "sensor_7"); !slices.Equal(got, []string{"first", "still mine", "after the blip"}) {
		t.Errorf("LOG sensor_7 = %q: the resumed client keeps its ring", got)
	}
	// The old connection cannot write into the name any more.
	if _, err := io.WriteString(sensor.conn, "LOG from the dead connection\n"); err == nil {
		again.send("LOG last\n")
		again.sync()
		if got := logMessages(t, srv, "sensor_7"); got[len(got)-1] != "last" || slices.Contains(got, "from the dead connection") {
			t.Errorf("LOG sensor_7 = %q after a write on the replaced connection", got)
		}
	}
	if got := rejectedTotal(t, srv); got != 2 {
		t.Errorf("rejected_total = %d, want 2 (the impostors; a takeover is not a rejection)", got)
	}
}

// TestAdminIdleTimeout: 64 admin connections that send nothing take every
// admin place; after -idle-timeout each gets "ERR idle timeout" and its
// close, and a new operator is served. A watcher and an operator who keeps
// asking are not closed.
func TestAdminIdleTimeout(t *testing.T) {
	const (
		idle   = 500 * time.Millisecond
		idlers = 64
	)
	srv := startServer(t, func(c *loop.Config) {
		c.IdleTimeout = idle
		c.MaxAdmin = idlers + 2 // the watcher and the active operator
	})
	w := dialAdmin(t, srv)
	w.write("WATCH\n")
	if got := w.line(); got != "OK stream" {
		t.Fatalf("WATCH: %q", got)
	}
	watchFrom := time.Now()
	active := dialAdmin(t, srv)

	type closed struct {
		i     int
		after time.Duration
		got   string
		err   error
	}
	ends := make(chan closed, idlers)
	for i := range idlers {
		opened := time.Now() // the server's timer starts after this
		c := dialAdmin(t, srv)
		go func() {
			_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := io.ReadAll(c.conn)
			ends <- closed{i, time.Since(opened), string(b), err}
		}()
	}
	// Every place is taken (once the loop has opened every idler: it need
	// not open them in the order of their connects): one more operator is
	// refused.
	eventually(t, 5*time.Second, "every admin place taken", func() (bool, string) {
		st, err := srv.Stats(context.Background())
		return err == nil && st.AdminConnections == idlers+2, fmt.Sprintf("admin_connections %d (%v)", st.AdminConnections, err)
	})
	locked := dialAdmin(t, srv)
	if got := readToClose(t, locked.conn, 5*time.Second); got != "ERR too many admin connections\n" {
		t.Fatalf("an operator with every admin place idle: got %q", got)
	}

	// The active operator asks every 100 ms while the idle ones are
	// closed, and for two idle timeouts at least.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var longest, shortest time.Duration
	for n := 0; n < idlers || time.Since(watchFrom) < 2*idle; {
		select {
		case e := <-ends:
			n++
			if e.got != "ERR idle timeout\n" || !closedByPeer(e.err) {
				t.Errorf("idle connection %d: read %q then %v, want ERR idle timeout then the close", e.i, e.got, e.err)
			}
			if shortest == 0 || e.after < shortest {
				shortest = e.after
			}
			longest = max(longest, e.after)
		case <-tick.C:
			if got := active.text("PING"); !slices.Equal(got, []string{"PONG"}) {
				t.Fatalf("active operator's PING: %q", got)
			}
		}
	}
	t.Logf("%d idle admin connections closed %v to %v after they opened (-idle-timeout %v)", idlers, shortest.Round(time.Millisecond), longest.Round(time.Millisecond), idle)
	if shortest < idle {
		t.Errorf("an idle connection was closed after %v, before -idle-timeout %v", shortest, idle)
	}
	if longest > idle+3*time.Second {
		t.Errorf("an idle connection was closed only after %v (-idle-timeout %v)", longest, idle)
	}

	eventually(t, 5*time.Second, "the idle connections' places freed", func() (bool, string) {
		st, err := srv.Stats(context.Background())
		return err == nil && st.AdminConnections == 2, fmt.Sprintf("admin_connections %d (%v)", st.AdminConnections, err)
	})
	op := dialAdmin(t, srv)
	if got := op.text("PING"); !slices.Equal(got, []string{"PONG"}) {
		t.Fatalf("new operator's PING: %q", got)
	}

	// The watcher, silent for two idle timeouts, still streams.
	c := connect(t, srv, "idle_probe")
	c.send("LOG watched\n")
	c.sync()
	for _, want := range []string{"READY idle_probe", "LOG idle_probe watched"} {
		l := w.line()
		if _, rest, _ := strings.Cut(l, " "); rest != want {
			t.Fatalf("watcher after %v: got %q, want <ts> %s", time.Since(watchFrom).Round(time.Millisecond), l, want)
		}
	}
}

// closedByPeer reports whether err is how a read ends on a connection the
// server closed: nil from io.ReadAll (EOF) or a reset.
func closedByPeer(err error) bool {
	return err == nil || isConnReset(err)
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset by peer")
}

// proxyV2 is a PROXY protocol v2 header: PROXY over TCP from src to dst,
// or LOCAL when src is not valid.
func proxyV2(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if !src.IsValid() {
		return append(b, 0x20, 0x00, 0, 0) // version 2, LOCAL; no addresses
	}
	b = append(b, 0x21) // version 2, PROXY
	fam, n := byte(0x11), 12
	if src.Addr().Is6() {
		fam, n = 0x21, 36
	}
	b = append(b, fam) // AF_INET or AF_INET6, STREAM
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// TestProxyProtocol: connections from -proxy-from start with a PROXY
// header, v1 or v2, written here by hand; its source is the client's
// address (CLIENT addr), and -allow and -max-per-ip apply to it. A
// connection from elsewhere is not read as proxied.
func TestProxyProtocol(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) {
		c.ProxyFrom = prefixes("127.0.0.1/32")
		c.Allow = prefixes("192.0.2.0/24", "2001:db8::/32", "127.0.0.1/32", "127.0.0.2/32")
		c.MaxPerIP = 2
	})
	dst4 := netip.MustParseAddrPort("127.0.0.1:2212")
	dst6 := netip.MustParseAddrPort("[::1]:2212")
	v1 := func(proto, src, dst string, sport, dport int) string {
		return fmt.Sprintf("PROXY %s %s %s %d %d\r\n", proto, src, dst, sport, dport)
	}
	const own = "own" // the connection's own address
	cases := []struct {
		desc, from string
		pieces     []string // written one after another
		name       string   // the client it identifies; "" when refused
		addr       string   // its address as the server must show it
		refusal    string
	}{
		{"v1 TCP4", "127.0.0.1", []string{v1("TCP4", "192.0.2.7", "127.0.0.1", 40001, 2212) + "IAM v1_tcp4\nLOG over v1\n"}, "v1_tcp4", "192.0.2.7:40001", ""},
		{"v1 TCP6", "127.0.0.1", []string{v1("TCP6", "2001:db8::7", "::1", 40002, 2212) + "IAM v1_tcp6\n"}, "v1_tcp6", "[2001:db8::7]:40002", ""},
		{"v2 TCP4", "127.0.0.1", []string{string(proxyV2(netip.MustParseAddrPort("192.0.2.8:40003"), dst4)) + "IAM v2_tcp4\n"}, "v2_tcp4", "192.0.2.8:40003", ""},
		{"v2 TCP6", "127.0.0.1", []string{string(proxyV2(netip.MustParseAddrPort("[2001:db8::8]:40004"), dst6)) + "IAM v2_tcp6\n"}, "v2_tcp6", "[2001:db8::8]:40004", ""},
		{"v1 header in pieces", "127.0.0.1", []string{"PRO", "XY TCP4 192.0.2.9 127.0", ".0.1 40005 2212\r", "\nIAM v1_pieces\n"}, "v1_pieces", "192.0.2.9:40005", ""},
		{"v2 header in pieces", "127.0.0.1", func() []string {
			h := string(proxyV2(netip.MustParseAddrPort("192.0.2.10:40006"), dst4))
			return []string{h[:5], h[5:17], h[17:] + "IAM v2_pieces\n"}
		}(), "v2_pieces", "192.0.2.10:40006", ""},
		{"v1 UNKNOWN: the proxy's own address", "127.0.0.1", []string{"PROXY UNKNOWN\r\nIAM v1_unknown\n"}, "v1_unknown", own, ""},
		{"v2 LOCAL: the proxy's own address", "127.0.0.1", []string{string(proxyV2(netip.AddrPort{}, dst4)) + "IAM v2_local\n"}, "v2_local", own, ""},
		{"v1 source outside -allow", "127.0.0.1", []string{v1("TCP4", "198.51.100.7", "127.0.0.1", 40007, 2212) + "IAM outsider\n"}, "", "", "ERR not allowed\n"},
		{"v2 source outside -allow", "127.0.0.1", []string{string(proxyV2(netip.MustParseAddrPort("198.51.100.8:40008"), dst4)) + "IAM outsider\n"}, "", "", "ERR not allowed\n"},
		{"no header from a proxy", "127.0.0.1", []string{"IAM sneaky\n"}, "", "", "ERR not allowed\n"},
		{"malformed v1 header", "127.0.0.1", []string{"PROXY TCP4 192.0.2.300 127.0.0.1 1 2\r\nIAM bad\n"}, "", "", "ERR not allowed\n"},
		{"v1 header without CRLF in 107 bytes", "127.0.0.1", []string{"PROXY TCP4 " + strings.Repeat("1", 120)}, "", "", "ERR not allowed\n"},
		{"a PROXY line from a peer that is not a proxy", "127.0.0.2", []string{v1("TCP4", "192.0.2.50", "127.0.0.1", 40009, 2212) + "IAM spoofer\n"}, "", "", "ERR expected IAM <name>\n"},
		{"a plain client from a peer that is not a proxy", "127.0.0.2", []string{"IAM direct\n"}, "direct", own, ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := dialFromIP(t, srv.DataAddr(), tc.from)
			for i, p := range tc.pieces {
				if i > 0 {
					time.Sleep(20 * time.Millisecond) // let each piece arrive alone
				}
				sendAll(t, c, p)
			}
			if tc.refusal != "" {
				if got := readToClose(t, c, 5*time.Second); got != tc.refusal {
					t.Errorf("got %q, want %q then close", got, tc.refusal)
				}
				return
			}
			sent := len(tc.pieces[len(tc.pieces)-1])
			if i := strings.Index(tc.pieces[len(tc.pieces)-1], "IAM "); i >= 0 {
				sent -= i // the header is not the client's bytes
			}
			info := waitConnected(t, srv, tc.name, sent)
			want := tc.addr
			if want == own {
				want = c.LocalAddr().String()
			}
			if info.Addr != want {
				t.Errorf("addr = %s, want %s", info.Addr, want)
			}
		})
	}
	// The admin port shows the same address.
	a := dialAdmin(t, srv)
	if got := a.kv("CLIENT v1_tcp4")["addr"]; got != "192.0.2.7:40001" {
		t.Errorf("CLIENT v1_tcp4 addr = %s", got)
	}
	if got := logMessages(t, srv, "v1_tcp4"); !slices.Equal(got, []string{"over v1"}) {
		t.Errorf("LOG v1_tcp4 = %q", got)
	}

	// -max-per-ip 2 counts the proxied source: two from 192.0.2.77 (through
	// one proxy address) are held, the third is refused, another source is not.
	for i := range 3 {
		c := dialFromIP(t, srv.DataAddr(), "127.0.0.1")
		name := "per_ip_" + strconv.Itoa(i)
		sendAll(t, c, v1("TCP4", "192.0.2.77", "127.0.0.1", 41000+i, 2212)+"IAM "+name+"\n")
		if i < 2 {
			waitConnected(t, srv, name, len("IAM "+name+"\n"))
			continue
		}
		if got := readToClose(t, c, 5*time.Second); got != "ERR not allowed\n" {
			t.Errorf("third connection from proxied 192.0.2.77 with -max-per-ip 2: got %q", got)
		}
	}
	c := dialFromIP(t, srv.DataAddr(), "127.0.0.1")
	sendAll(t, c, v1("TCP4", "192.0.2.78", "127.0.0.1", 41010, 2212)+"IAM per_ip_other\n")
	waitConnected(t, srv, "per_ip_other", len("IAM per_ip_other\n"))
}

// TestMaxStateBytes: one client's keys and values are capped at
// -max-state-bytes, counted after UTF-8 repair (an invalid byte becomes
// U+FFFD, three bytes); a SET past it is an error, "state too large",
// and leaves the state as it was.
func TestMaxStateBytes(t *testing.T) {
	const limit = 64 << 10
	srv := startServer(t, func(c *loop.Config) {
		c.MaxStateBytes = limit
		c.MaxLine = 256 << 10
	})
	tooLarge := "state too large: max-state-bytes is " + strconv.Itoa(limit)
	alternating := func(n int) string { return strings.Repeat("\xffa", n/2) } // repaired: twice n
	cases := []struct {
		desc, key, val string
		ok             bool
		stateBytes     int // keys and values held after the SET
	}{
		{"40,000 bytes", "a", strings.Repeat("a", 40000), true, 1 + 40000},
		{"40,000 bytes of \\xff/a: 80,000 once repaired", "b", alternating(40000), false, 40001},
		{"20,000 more", "b", strings.Repeat("b", 20000), true, 40001 + 20001},
		{"one byte past the cap", "c", strings.Repeat("c", limit-60002), false, 60002},
		{"exactly the cap", "c", strings.Repeat("c", limit-60003), true, limit},
		{"a replaced value that grows past it", "c", strings.Repeat("c", limit-60002), false, limit},
		{"a replaced value that shrinks", "a", "x", true, limit - 39999},
		{"30,000 bytes of \\xff/a: 60,000 once repaired, past it", "d", alternating(30000), false, limit - 39999},
		{"6,000 bytes of \\xff/a: 12,000 once repaired", "d", alternating(6000), true, limit - 39999 + 1 + 12000},
	}
	c := connect(t, srv, "stateful")
	var errs uint64
	want := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c.send("SET " + tc.key + " " + tc.val + "\n")
			c.sync()
			info, err := srv.ClientInfo(context.Background(), "stateful")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				errs++
			} else {
				want[tc.key] = strings.ReplaceAll(tc.val, "\xff", "\uFFFD")
			}
			if info.Errors != errs {
				t.Errorf("errors = %d, want %d (last_error %q)", info.Errors, errs, info.LastError)
			}
			if !tc.ok && info.LastError != tooLarge {
				t.Errorf("last_error = %q, want %q", info.LastError, tooLarge)
			}
			kvs, err := srv.State(context.Background(), "stateful")
			if err != nil {
				t.Fatal(err)
			}
			held := 0
			for _, kv := range kvs {
				held += len(kv.Key) + len(kv.Value)
				if kv.Value != want[kv.Key] {
					t.Errorf("state %s has %d bytes, want %d", kv.Key, len(kv.Value), len(want[kv.Key]))
				}
			}
			if len(kvs) != len(want) || held != tc.stateBytes {
				t.Errorf("state holds %d keys, %d bytes; want %d keys, %d bytes", len(kvs), held, len(want), tc.stateBytes)
			}
		})
	}
	c.send("LOG still connected\n")
	c.sync()
}

// TestMaxMemoryWithStateOnly: -max-memory bounds ring and state bytes
// together "at every moment". Clients that hold only state (one 60,000-byte
// value each, under -max-state-bytes) must not take the store past it
// either: 100 of them ask for 6 MB against a 4 MiB budget.
func TestMaxMemoryWithStateOnly(t *testing.T) {
	const budget = 4 << 20
	srv := startServer(t, func(c *loop.Config) {
		c.MaxMemory = budget
		c.MaxStateBytes = 64 << 10
	})
	val := strings.Repeat("v", 60000)
	var peak uint64
	for i := range 100 {
		c := connect(t, srv, "holder_"+strconv.Itoa(i))
		c.send("SET k " + val + "\n")
		c.sync()
		st, err := srv.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, st.StoreBytes)
		if st.StoreBytes > st.MaxMemory {
			t.Fatalf("after %d clients of 60,000 bytes of state each: store_bytes %d > max_memory %d (evicted_total %d)",
				i+1, st.StoreBytes, st.MaxMemory, st.EvictedTotal)
		}
	}
	t.Logf("peak store_bytes %d of max_memory %d", peak, budget)
}
