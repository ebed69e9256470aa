package cluster

import (
	"bufio"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/query"
)

// tcpPair returns the two ends of a real TCP connection on 127.0.0.1.
func tcpPair(t testing.TB) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// clusterWatch runs CLUSTER <inner> on node n the way the admin port does
// (node.Admin writing to a socket), and returns a reader of its output and
// the channel of Admin's result.
func clusterWatch(t *testing.T, n *testNode, f query.Format, inner string) (*bufio.Reader, context.CancelFunc, chan error) {
	t.Helper()
	s, c := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- n.node.Admin(ctx, f, inner, s) }()
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return r, cancel, done
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (%q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// readUntil reads event lines until every wanted line has been seen, and
// returns the lines seen, in order. Lines are compared with their time
// made constant: a text line's leading timestamp becomes "TS", a JSON
// line's "ts" 0.
func readUntil(t *testing.T, r *bufio.Reader, want []string) []string {
	t.Helper()
	var seen []string
	for left := slices.Clone(want); len(left) > 0; {
		l := readLine(t, r)
		if i, j := strings.Index(l, `"ts":`), strings.Index(l, `,"event"`); i >= 0 && j > i {
			l = l[:i] + `"ts":0` + l[j:]
		} else {
			l = stripTS([]string{l})[0]
		}
		seen = append(seen, l)
		if i := slices.Index(left, l); i >= 0 {
			left = slices.Delete(left, i, i+1)
		}
	}
	return seen
}

func TestClusterWatch(t *testing.T) {
	fx := newFixture(t)
	cases := []struct {
		name   string
		f      query.Format
		inner  string
		want   []string // all of these arrive
		forbid string   // no line seen before the last wanted one contains this
	}{
		{name: "every node, text", inner: "WATCH", want: []string{
			"TS LOG alpha@n1 live-a", "TS LOG beta@n2 live-b", "TS LOG gamma@n3 live-g",
			"TS SET web.2@n2 k v w", "TS CONT shared@n3 more",
		}},
		{name: "glob", inner: "WATCH web.* g*", want: []string{"TS LOG gamma@n3 live-g", "TS SET web.2@n2 k v w"}, forbid: "alpha"},
		{name: "one name", inner: "WATCH alpha", want: []string{"TS LOG alpha@n1 live-a"}, forbid: "beta"},
		{name: "match", inner: "WATCH match=live-[bg]", want: []string{"TS LOG beta@n2 live-b", "TS LOG gamma@n3 live-g", "TS SET web.2@n2 k v w"}, forbid: "live-a"},
		{name: "json", f: query.JSON, inner: "WATCH alpha", want: []string{`{"ts":TS,"event":"log","client":"alpha","node":"n1","message":"live-a"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, cancel, done := clusterWatch(t, fx.n2, c.f, c.inner)
			head := readLine(t, r)
			if want := string(query.Frame{Format: c.f, Cluster: true}.OpenStream(nil)); head+"\n" != want {
				t.Fatalf("head %q, want %q", head, want)
			}
			// The subscriptions are made before the head is written: every
			// event published from now on reaches the watcher.
			fx.clients["alpha@n1"].send(t, "LOG live-a")
			fx.clients["beta@n2"].send(t, "LOG live-b")
			fx.clients["gamma@n3"].send(t, "LOG live-g")
			fx.clients["web.2@n2"].send(t, "SET k v w")
			fx.clients["shared@n3"].send(t, "CONT more")
			for i := range c.want {
				c.want[i] = strings.Replace(c.want[i], `"ts":TS`, `"ts":0`, 1)
			}
			for _, l := range readUntil(t, r, c.want) {
				if c.forbid != "" && strings.Contains(l, c.forbid) {
					t.Fatalf("unwanted event %q", l)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Admin: %v", err)
			}
		})
	}
}

// TestClusterWatchAdminPort runs CLUSTER WATCH over the admin port.
func TestClusterWatchAdminPort(t *testing.T) {
	fx := newFixture(t)
	a := dialAdmin(t, fx.n1.admin())
	head, _ := a.do(t, "CLUSTER WATCH alpha beta")
	if head != "OK stream" {
		t.Fatalf("head %q", head)
	}
	fx.clients["alpha@n1"].send(t, "LOG over the port")
	if l := stripTS([]string{a.line(t)})[0]; l != "TS LOG alpha@n1 over the port" {
		t.Fatalf("got %q", l)
	}
}

// TestSlowClusterWatcher: a reader that stops reading is dropped once it
// owes watch-buffer, while its write is blocked.
func TestSlowClusterWatcher(t *testing.T) {
	ns := startNATS(t, 0)
	n1 := startNode(t, "n1", ns.ClientURL(), func(c *Config) { c.WatchBuffer = 64 << 10 })
	s, c := tcpPair(t)
	_ = s.SetWriteBuffer(4096)
	_ = c.SetReadBuffer(4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n1.node.Admin(ctx, query.Text, "WATCH", s) }()
	dc := dialData(t, n1.data(), "noisy")
	line := "LOG " + strings.Repeat("x", 500)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			if !errors.Is(err, ErrSlowWatcher) {
				t.Fatalf("Admin returned %v, want ErrSlowWatcher", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow watcher was not dropped")
		}
		batch := make([]string, 200)
		for i := range batch {
			batch[i] = line
		}
		dc.send(t, batch...)
		time.Sleep(time.Millisecond) // pace the sender; the drop is polled above
	}
}
