package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// TestNodeStoppedIsMissing: a node that dies is named missing, within the
// timeout, while the others answer; a node that stops cleanly says
// goodbye and is not.
func TestNodeStoppedIsMissing(t *testing.T) {
	fx := newFixture(t)
	a := dialAdmin(t, fx.n1.admin())
	fx.n3.crash()
	cases := []struct {
		req  string
		head string
		data []string
	}{
		{"CLUSTER NAMES", "OK 4 missing=n3", []string{"alpha", "beta", "shared", "web.2"}},
		{"CLUSTER GREP error", "OK 2 missing=n3", []string{"TS alpha@n1 a1 error one", "TS beta@n2 b1 error two"}},
		{"CLUSTER CLIENT gamma", "OK 0 missing=n3", nil}, // gamma may be on n3: not "no such client"
		{"CLUSTER LOG shared", "OK 1 missing=n3", []string{"TS s1 from n1"}},
	}
	for _, c := range cases {
		start := time.Now()
		head, data := a.do(t, c.req)
		took := time.Since(start)
		if head != c.head || !slices.Equal(stripTS(data), c.data) {
			t.Fatalf("%s: %q %q, want %q %q", c.req, head, stripTS(data), c.head, c.data)
		}
		if took > testTimeout+time.Second {
			t.Fatalf("%s took %s, timeout %s", c.req, took, testTimeout)
		}
		t.Logf("%s with n3 gone: %s", c.req, took)
	}
	j := dialAdmin(t, fx.n2.admin())
	j.doJSON(t, "FORMAT json")
	if got := j.doJSON(t, "CLUSTER NAMES"); got != `{"missing":["n3"],"items":["alpha","beta","shared","web.2"]}` {
		t.Fatalf("JSON: %s", got)
	}
	// A clean stop: n2 says goodbye, so it is not missing afterwards.
	fx.n2.stop()
	poll(t, 5*time.Second, func() bool { return !slices.Contains(fx.n1.node.Peers(), "n2") })
	if head, data := a.do(t, "CLUSTER NAMES"); head != "OK 2 missing=n3" || !slices.Equal(data, []string{"alpha", "shared"}) {
		t.Fatalf("after n2 left: %q %q", head, data)
	}
}

// TestNATSRestart: while NATS is down, nodes serve their own clients and
// count the events they cannot publish; when it is back, they rejoin by
// themselves.
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	n1, n2 := startNode(t, "n1", url), startNode(t, "n2", url)
	waitPeers(t, n1, n2)
	c1, c2 := dialData(t, n1.data(), "c1"), dialData(t, n2.data(), "c2")
	c1.send(t, "LOG before")
	c2.send(t, "LOG before")
	a := dialAdmin(t, n1.admin())
	names := func() (string, []string) { return a.do(t, "CLUSTER NAMES") }
	poll(t, 5*time.Second, func() bool { h, d := names(); return h == "OK 2" && slices.Equal(d, []string{"c1", "c2"}) })

	ns.Shutdown()
	ns.WaitForShutdown()
	poll(t, 5*time.Second, func() bool { return !n1.node.nc.IsConnected() && !n2.node.nc.IsConnected() })
	// Local service goes on; more than the reconnect buffer (1 MiB) of
	// events cannot be published and is counted.
	big := "LOG " + strings.Repeat("d", 1000)
	batch := make([]string, 2000)
	for i := range batch {
		batch[i] = big
	}
	c1.send(t, batch...)
	c1.send(t, "LOG while down")
	poll(t, 5*time.Second, func() bool {
		_, d := a.do(t, "LOG c1 1")
		return len(d) == 1 && strings.HasSuffix(d[0], " while down")
	})
	poll(t, 5*time.Second, func() bool {
		_, d := a.do(t, "STATS")
		v, _ := strconv.Atoi(statValue(d, "nats_dropped_total"))
		return v > 0
	})
	if h, d := names(); h != "OK 1 missing=n2" || !slices.Equal(d, []string{"c1"}) {
		t.Fatalf("while NATS is down: %q %q", h, d)
	}

	ns2, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns2.Start()
	t.Cleanup(func() { ns2.Shutdown(); ns2.WaitForShutdown() })
	if !ns2.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not restart")
	}
	start := time.Now()
	poll(t, 20*time.Second, func() bool { h, d := names(); return h == "OK 2" && slices.Equal(d, []string{"c1", "c2"}) })
	t.Logf("rejoined %s after NATS came back", time.Since(start).Round(time.Millisecond))
	// Events flow again: n2 sees n1's new events.
	r, cancel, _ := clusterWatch(t, n2, 0, "WATCH c1")
	defer cancel()
	readLine(t, r)
	c1.send(t, "LOG after")
	readUntil(t, r, []string{"TS LOG c1@n1 after"})
}

// TestPausedNATSDoesNotStallIngest: with the NATS connection stalled
// (a proxy that stops forwarding), a client sending flat out goes on being
// served, and the loop answers as fast as with NATS flowing; the events
// that cannot go out are dropped and counted. The loop's stalls are seen
// as PING round trips on the admin port, every millisecond: the loop reads
// every admin request between data reads, so a loop waiting on NATS would
// hold the PING for as long as it waits. A node without -nats under the
// same load gives the figures without publishing.
func TestPausedNATSDoesNotStallIngest(t *testing.T) {
	ns := startNATS(t, 0)
	px := startProxy(t, ns.Addr().String())
	n1 := startNode(t, "n1", px.url(), func(c *Config) { c.QueueBytes = 256 << 10 })
	n2 := startNode(t, "n2", ns.ClientURL())
	waitPeers(t, n1, n2)
	alone := startPlain(t)

	const d = 2 * time.Second
	plain := measureIngest(t, alone.DataAddr().String(), alone.AdminAddr().String(), d)
	// The same node with one local JSON watcher that reads everything
	// (opened again when dropped): the loop then renders every event, as
	// it does for the NATS publisher.
	var watchDrops atomic.Int64
	watched := func() ingest {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				st, err := alone.Watch(ctx, query.JSON, loop.WatchQuery{})
				if err != nil {
					return
				}
				var b []byte
				for err == nil {
					b, err = st.Next(ctx, b)
				}
				_ = st.Close()
				if errors.Is(err, loop.ErrDropped) {
					watchDrops.Add(1)
				}
			}
		}()
		return measureIngest(t, alone.DataAddr().String(), alone.AdminAddr().String(), d)
	}()
	flowing := measureIngest(t, n1.data(), n1.admin(), d)
	droppedBefore := n1.node.Dropped()
	px.pause(true)
	paused := measureIngest(t, n1.data(), n1.admin(), d)
	dropped := n1.node.Dropped() - droppedBefore
	px.pause(false)
	t.Logf("no NATS:      %s", plain)
	t.Logf("no NATS, one local WATCH: %s, watcher dropped %d times", watched, watchDrops.Load())
	t.Logf("NATS flowing: %s", flowing)
	t.Logf("NATS paused:  %s, %d events dropped, event stream dropped %d times in all", paused, dropped, n1.node.gaps.Load())
	if dropped == 0 {
		t.Fatal("no event dropped while NATS was paused: the publisher did not stall, the test proves nothing")
	}
	if paused.p50 > medianLimit {
		t.Fatalf("median PING round trip %s with NATS paused, over %s", paused.p50, medianLimit)
	}
	if paused.max > maxLimit {
		t.Fatalf("longest PING round trip %s with NATS paused, over %s", paused.max, maxLimit)
	}
	if paused.lines < flowing.lines/2 {
		t.Fatalf("ingest fell from %d to %d lines with NATS paused", flowing.lines, paused.lines)
	}
}

// ingest is what measureIngest saw.
type ingest struct {
	lines         uint64 // LOG lines stored
	d             time.Duration
	p50, p99, max time.Duration // PING round trips
	pings         int
}

func (g ingest) String() string {
	return fmt.Sprintf("%.0f lines/s; PING round trip p50 %s p99 %s max %s (%d pings)",
		float64(g.lines)/g.d.Seconds(), g.p50, g.p99, g.max, g.pings)
}

// measureIngest has a new client pipeline LOG lines of 100 bytes flat out
// to data for d while a prober PINGs admin every millisecond.
func measureIngest(t *testing.T, data, admin string, d time.Duration) ingest {
	dc := dialData(t, data, "load"+strconv.FormatInt(time.Now().UnixNano(), 36))
	a := dialAdmin(t, admin)
	before := linesTotal(t, a)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := []byte(strings.Repeat("LOG "+strings.Repeat("m", 100)+"\n", 500))
		for !stop.Load() {
			if _, err := dc.c.Write(chunk); err != nil {
				return
			}
		}
	}()
	p := dialAdmin(t, admin)
	var rtts []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		if _, err := io.WriteString(p.c, "PING\n"); err != nil {
			t.Fatal(err)
		}
		p.line(t)
		p.line(t)
		rtts = append(rtts, time.Since(t0))
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	stop.Store(true)
	dc.c.Close()
	wg.Wait()
	slices.Sort(rtts)
	return ingest{
		lines: linesTotal(t, a) - before, d: took, pings: len(rtts),
		p50: rtts[len(rtts)/2], p99: rtts[len(rtts)*99/100], max: rtts[len(rtts)-1],
	}
}

func linesTotal(t *testing.T, a *adminConn) uint64 {
	_, d := a.do(t, "STATS")
	v, _ := strconv.ParseUint(statValue(d, "lines_total"), 10, 64)
	return v
}

// TestStartWithoutNATS: a node whose NATS server is not up yet starts and
// serves its clients, and joins once the server is there.
func TestStartWithoutNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	n1 := startNode(t, "n1", url)
	dialData(t, n1.data(), "early").send(t, "LOG before NATS")
	a := dialAdmin(t, n1.admin())
	poll(t, 5*time.Second, func() bool {
		h, d := a.do(t, "CLUSTER NAMES")
		return h == "OK 1" && slices.Equal(d, []string{"early"})
	})
	startNATS(t, port)
	n2 := startNode(t, "n2", url)
	dialData(t, n2.data(), "late")
	waitPeers(t, n1, n2)
	poll(t, 10*time.Second, func() bool {
		h, d := a.do(t, "CLUSTER NAMES")
		return h == "OK 2" && slices.Equal(d, []string{"early", "late"})
	})
}
