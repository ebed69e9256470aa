package web_test

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/logatron/logatron/cluster"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startNATS runs an embedded NATS server on a free loopback port until the
// test ends and returns its URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// startClusterNode starts a Logatron server on loopback ports that joins
// the cluster at natsURL as name; both stop when the test ends.
func startClusterNode(t *testing.T, name, natsURL string) (*loop.Server, *cluster.Node) {
	t.Helper()
	node, err := cluster.New(cluster.Config{URL: natsURL, Node: name, Timeout: 1500 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := newLoop(t, func(cfg *loop.Config) { cfg.Cluster, cfg.StatsHook = node.Admin, node.FillStats })
	if err := node.Start(srv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Stop(ctx)
	})
	return srv, node
}

// cutProxy forwards TCP connections to upstream until cut, which closes
// them all and accepts no more: to the nodes on the far side, the node
// behind it dies without a goodbye.
type cutProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	conns    []net.Conn
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream}
	go p.accept()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) accept() {
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
		go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestStatusPageCluster runs three nodes over an embedded NATS server,
// with a client on each, and opens node n1's status page: the cluster
// panel lists every node with its counts; a search of the whole cluster
// finds a line logged by a client of node n2, shown as name@node and not
// as a link (its details are on n2's page), while the same search on n1
// alone finds nothing; a node that dies without a goodbye is shown
// missing.
func TestStatusPageCluster(t *testing.T) {
	chromium(t)
	natsURL := startNATS(t)
	n1, node1 := startClusterNode(t, "n1", natsURL)
	n2, node2 := startClusterNode(t, "n2", natsURL)
	cut := startCutProxy(t, natsURL[len("nats://"):])
	n3, node3 := startClusterNode(t, "n3", "nats://"+cut.ln.Addr().String())
	eventually(t, "every node knows the others", func() bool {
		return len(node1.Peers()) == 2 && len(node2.Peers()) == 2 && len(node3.Peers()) == 2
	})
	for _, c := range []struct {
		srv        *loop.Server
		name, line string
	}{
		{n1, "web-1", "GET / 200 on n1"},
		{n2, "db-1", "needle 42 found on n2"},
		{n2, "db-2", "vacuum done on n2"},
		{n3, "edge-1", "reading 21.5C on n3"},
	} {
		send(t, client(t, c.srv, c.name), "LOG "+c.line+"\n")
		logged(t, c.srv, c.name, c.line)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := serveWeb(t, n1, web.Options{Cluster: node1.Handler()}, ln)

	p := openPage(t, url+"/", 1280, 900, false)
	nodeRow := func(n string) string { return `document.querySelector('#nodes tr[data-node=` + js(n) + `]')` }
	cells := func(n string) string {
		return `[...(` + nodeRow(n) + `?.children ?? [])].map(e => e.textContent)`
	}
	p.wait("the cluster panel with every node", `!document.getElementById("cluster").hidden && document.querySelectorAll("#nodes tr").length === 3`)
	p.wait("n1 marked as this page's node", nodeRow("n1")+`.querySelector("td.node").classList.contains("me")`)
	for _, want := range [][]string{{"n1", "1", "0", "1"}, {"n2", "2", "0", "2"}, {"n3", "1", "0", "1"}} {
		if got := eval[[]string](p, cells(want[0])); !slices.Equal(got, want) {
			t.Errorf("node row %s shows %q, want %q", want[0], got, want)
		}
	}
	if got := eval[string](p, badge("cnodes")); got != "3 up" {
		t.Errorf("cluster badge %q, want 3 up", got)
	}

	// The same search on this node alone, then on the whole cluster.
	p.do("search this node",
		chromedp.SendKeys(chromedp.CSS("#q"), `needle \d+`),
		chromedp.Click(chromedp.CSS("#search button")),
		until(`document.getElementById("rsum").textContent.startsWith("No match for")`),
	)
	p.do("search the whole cluster",
		chromedp.Click(chromedp.CSS("#qcluster")),
		chromedp.Click(chromedp.CSS("#search button")),
		until(`document.querySelectorAll("#hits tr").length === 1`),
	)
	hit := eval[[]string](p, `[...document.querySelectorAll("#hits tr td")].map(e => e.textContent)`)
	if len(hit) != 3 || hit[1] != "db-1@n2" || hit[2] != "needle 42 found on n2" {
		t.Fatalf("cluster search cells %q, want time, db-1@n2, the line", hit)
	}
	if got := eval[string](p, `document.getElementById("rsum").textContent`); got != `1 match for /needle \d+/ on the whole cluster` {
		t.Errorf("cluster search summary %q", got)
	}
	if eval[bool](p, `document.querySelector("#hits button.link") !== null`) {
		t.Error("a hit on another node is a link to this page's details")
	}
	p.do("a cluster search with a hit on this node too",
		chromedp.SetValue(chromedp.CSS("#q"), "on n[12]$"),
		chromedp.Click(chromedp.CSS("#search button")),
		until(`document.querySelectorAll("#hits tr").length === 3`),
	)
	if got := eval[[]string](p, `[...document.querySelectorAll("#hits button.link")].map(e => e.textContent)`); !slices.Equal(got, []string{"web-1@n1"}) {
		t.Errorf("links among the cluster hits %q, want only web-1@n1", got)
	}

	// n3 dies: its NATS connection drops without a goodbye.
	cut.cut()
	p.wait("n3 shown missing", nodeRow("n3")+`?.classList.contains("missing") && `+badge("cnodes")+` === "2 up · 1 missing"`)
	if got := eval[[]string](p, cells("n3")); !slices.Equal(got, []string{"n3", "missing: no answer"}) {
		t.Errorf("missing node row %q", got)
	}
	p.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	p.screenshot("cluster", false)
}

// TestStatusPageClusterHiddenWhenSingle checks that a server without a
// cluster shows nothing of one and asks /api/cluster/stats only once.
func TestStatusPageClusterHiddenWhenSingle(t *testing.T) {
	chromium(t)
	_, url := start(t, nil)
	p := openPage(t, url+"/", 1280, 900, false)
	stats := func(path string) string {
		return `performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === ` + js(path) + `).length`
	}
	// /api/stats is asked once by the tail as it connects and once by each
	// poll (every two seconds): three mean a poll after the first.
	p.wait("a second poll", stats("/api/stats")+` >= 3`)
	if n := eval[int](p, stats("/api/cluster/stats")); n != 1 {
		t.Errorf("/api/cluster/stats asked %d times, want once", n)
	}
	if !eval[bool](p, `document.getElementById("cluster").hidden && document.getElementById("qscope").hidden`) {
		t.Error("the cluster panel or toggle is shown on a server without a cluster")
	}
}
