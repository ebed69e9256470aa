package cluster

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startNATS runs an embedded NATS server on 127.0.0.1:port (0: any free
// port) until the test ends.
func startNATS(t testing.TB, port int) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// testNode is a Logatron server with its cluster node.
type testNode struct {
	name string
	srv  *loop.Server
	node *Node
}

func (tn *testNode) admin() string { return tn.srv.AdminAddr().String() }
func (tn *testNode) data() string  { return tn.srv.DataAddr().String() }

// testTimeout is -cluster-timeout in tests: short, so that tests of
// missing nodes are quick, long enough for -race on two cores.
const testTimeout = 1500 * time.Millisecond

// startNode starts a Logatron server on 127.0.0.1 port 0 that joins the
// cluster at url as name; it stops when the test ends.
func startNode(t testing.TB, name, url string, tune ...func(*Config)) *testNode {
	t.Helper()
	ccfg := Config{URL: url, Node: name, Timeout: testTimeout, Heartbeat: 100 * time.Millisecond}
	for _, f := range tune {
		f(&ccfg)
	}
	n, err := New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MaxClients = 4000
	cfg.Cluster, cfg.StatsHook = n.Admin, n.FillStats
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(srv); err != nil {
		t.Fatal(err)
	}
	tn := &testNode{name: name, srv: srv, node: n}
	t.Cleanup(tn.stop)
	return tn
}

// startPlain starts a Logatron server without a cluster.
func startPlain(t testing.TB) *loop.Server {
	t.Helper()
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MaxClients = 100
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

func (tn *testNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tn.node.Stop(ctx)
	_ = tn.srv.Stop(ctx)
}

// crash ends a node the way a killed process does: its NATS connection
// drops without a goodbye and its server stops.
func (tn *testNode) crash() {
	tn.node.nc.Close()
	_ = tn.srv.Stop(context.Background())
}

// waitPeers polls until every node knows every other one.
func waitPeers(t testing.TB, nodes ...*testNode) {
	t.Helper()
	poll(t, 10*time.Second, func() bool {
		for _, a := range nodes {
			if len(a.node.Peers()) < len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

// poll calls ok until it is true, failing the test after limit.
func poll(t testing.TB, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dataClient is a real TCP client of a data port.
type dataClient struct {
	c net.Conn
}

func dialData(t testing.TB, addr, name string) *dataClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dc := &dataClient{c: c}
	dc.send(t, "IAM "+name)
	return dc
}

func (dc *dataClient) send(t testing.TB, lines ...string) {
	t.Helper()
	if _, err := io.WriteString(dc.c, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

// adminConn is a real TCP connection to an admin port.
type adminConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialAdmin(t testing.TB, addr string) *adminConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &adminConn{c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func (a *adminConn) line(t testing.TB) string {
	t.Helper()
	_ = a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := a.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// do sends a request and reads a text reply: its first line, and the data
// lines that "OK <n>" announces.
func (a *adminConn) do(t testing.TB, req string) (head string, data []string) {
	t.Helper()
	if _, err := io.WriteString(a.c, req+"\n"); err != nil {
		t.Fatal(err)
	}
	head = a.line(t)
	f := strings.Fields(head)
	if len(f) < 2 || f[0] != "OK" || f[1] == "stream" {
		return head, nil
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("bad head %q", head)
	}
	for range n {
		data = append(data, a.line(t))
	}
	return head, data
}

// doJSON sends a request on a connection in JSON mode and reads its line.
func (a *adminConn) doJSON(t testing.TB, req string) string {
	t.Helper()
	if _, err := io.WriteString(a.c, req+"\n"); err != nil {
		t.Fatal(err)
	}
	return a.line(t)
}

// stripTS replaces each line's leading RFC 3339 timestamp with "TS".
func stripTS(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 24 && l[4] == '-' && l[23] == 'Z' {
			l = "TS" + l[24:]
		}
		out[i] = l
	}
	return out
}

// nextMilli waits until the clock's millisecond has passed, so that the
// next entry stored gets a later timestamp than the last one.
func nextMilli() {
	ms := time.Now().UnixMilli()
	for time.Now().UnixMilli() <= ms+1 {
		time.Sleep(200 * time.Microsecond)
	}
}

// proxy forwards TCP connections to upstream and can be paused: while
// paused it neither reads nor writes, so the peers' writes fill the
// kernel's buffers and then block, as with a stalled server.
type proxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	conns    []net.Conn
	closed   atomic.Bool
}

func startProxy(t testing.TB, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		for p.paused && !p.closed.Load() {
			p.cond.Wait()
		}
		p.mu.Unlock()
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused && !p.closed.Load() {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

func (p *proxy) pause(on bool) {
	p.mu.Lock()
	p.paused = on
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *proxy) close() {
	p.closed.Store(true)
	p.pause(false)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// statValue returns the value of key in a text STATS block.
func statValue(data []string, key string) string {
	for _, l := range data {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			return v
		}
	}
	return ""
}
