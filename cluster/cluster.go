// Package cluster joins Logatron nodes into one view over NATS (SPEC §10).
// Each node stays the owner of its clients; NATS carries, between nodes,
// the events each node publishes and the CLUSTER requests that every node
// answers for its own clients. Nodes find each other only through NATS,
// by the heartbeats they publish.
//
// A Node is made with New before the loop server (so that its Admin and
// FillStats can go into loop.Config), started with Start once the server
// runs, and ended with Stop before the server stops.
//
// What the loop never waits for: a Node reads the loop's events from a
// byte stream (loop.Server.Watch), moves them at once into a bounded queue
// (dropped and counted when full: nats_dropped_total), and one goroutine
// publishes the queue to NATS. A NATS server that is slow, paused or gone costs dropped
// events, never a stalled loop. The NATS connection reconnects forever;
// while it is down the node answers for its own clients only.
//
// Files: subject.go the subjects and the name escaping, publish.go the
// events, peers.go the heartbeats, serve.go the answers to other nodes,
// gather.go the scatter-gather and the merge, render.go the replies,
// watch.go CLUSTER WATCH, http.go /api/cluster/.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Config is a node's settings; zero fields take the defaults given on each.
type Config struct {
	URL  string // NATS server URL(s), comma separated (-nats)
	Node string // this node's name (-node); default the host name
	// Timeout is how long a CLUSTER request waits for the other nodes
	// (-cluster-timeout, default 2s).
	Timeout time.Duration
	// WatchBuffer is the unsent output a CLUSTER WATCH reader may owe
	// before it is disconnected (default 4 MiB, as -watch-buffer).
	WatchBuffer int
	// Heartbeat is how often the node announces itself (default 1s). A
	// node whose heartbeat is three intervals late is not waited for; it
	// is still named missing until Forget has passed without a word from
	// it.
	Heartbeat time.Duration
	Forget    time.Duration // default 5m
	// QueueBytes bounds the events waiting to be published, as JSON lines
	// (default 16 MiB); what does not fit is dropped and counted.
	QueueBytes int
	Log        zerolog.Logger
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("cluster: no NATS URL (-nats)")
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster: no -node given and no host name: %w", err)
		}
		c.Node = h
	}
	if !ValidNode(c.Node) {
		return fmt.Errorf("cluster: invalid node name %q: use 1-64 of A-Z a-z 0-9 _ . : -", c.Node)
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.WatchBuffer <= 0 {
		c.WatchBuffer = 4 << 20
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.Forget <= 0 {
		c.Forget = 5 * time.Minute
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 16 << 20
	}
	return nil
}

// Node is one Logatron server's membership of a cluster.
type Node struct {
	cfg   Config
	id    string // this run's identity, to tell two nodes of one name apart
	log   zerolog.Logger
	srv   *loop.Server
	nc    *nats.Conn
	peers peers

	queue   chan *[]byte  // batches of event lines (see publish.go)
	queued  atomic.Int64  // bytes in queue
	dropped atomic.Uint64 // events not published: nats_dropped_total
	gaps    atomic.Uint64 // times the loop dropped our subscription
	busy    chan struct{} // one token per request being answered for another node
	watches chan struct{} // one token per CLUSTER WATCH over HTTP

	started atomic.Bool // Start was called
	ready   atomic.Bool // Start succeeded: nc and the goroutines are there
	stop    chan struct{}
	wg      sync.WaitGroup
	subs    []*nats.Subscription
}

// queueBatches bounds the batches in the queue (QueueBytes bounds their
// bytes): a batch is what the loop handed over after one read.
const queueBatches = 4096

// maxAnswering bounds the requests of other nodes answered at once; more
// are answered "busy" at once.
const maxAnswering = 8

// New checks cfg and returns a node that is not yet connected.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Node{
		cfg:     cfg,
		id:      nats.NewInbox(),
		log:     cfg.Log.With().Str("node", cfg.Node).Logger(),
		queue:   make(chan *[]byte, queueBatches),
		busy:    make(chan struct{}, maxAnswering),
		watches: make(chan struct{}, maxHTTPWatches),
		stop:    make(chan struct{}),
		peers:   peers{seen: map[string]time.Time{}},
	}, nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Dropped is how many events were not published (nats_dropped_total):
// dropped from a full queue, or refused by the NATS client while it was
// disconnected past its reconnect buffer.
func (n *Node) Dropped() uint64 { return n.dropped.Load() }

// FillStats sets the node's figures in a STATS copy: call it from
// loop.Config.StatsHook.
func (n *Node) FillStats(st *query.Stats) {
	st.Node = n.cfg.Node
	st.NATSDroppedTotal = n.dropped.Load()
}

// Start connects to NATS and starts publishing srv's events and answering
// other nodes. srv must be running. A NATS server that cannot be reached
// now is not an error: the node keeps trying in the background.
func (n *Node) Start(srv *loop.Server) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("cluster: Start called twice")
	}
	n.srv = srv
	nc, err := nats.Connect(n.cfg.URL,
		nats.Name("logatron "+n.cfg.Node),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// While disconnected, up to 1 MiB of events wait for the
		// reconnect; beyond that Publish fails at once (counted dropped).
		nats.ReconnectBufSize(1<<20),
		// A stalled server must not hold the publisher for a minute: a
		// write blocked this long breaks the connection, which reconnects.
		nats.FlusherTimeout(2*time.Second),
		nats.ReconnectOnFlusherError(),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			select {
			case <-n.stop:
			default:
				n.log.Warn().Err(err).Msg("NATS disconnected; serving local clients only")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.log.Info().Str("nats", c.ConnectedUrlRedacted()).Msg("NATS reconnected")
			n.announce(c, false)
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			n.log.Info().Str("nats", c.ConnectedUrlRedacted()).Msg("NATS connected")
			n.announce(c, false)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			n.log.Warn().Err(err).Str("subject", subj).Msg("NATS error")
		}),
	)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS %s: %w", n.cfg.URL, err)
	}
	n.nc = nc
	for _, s := range []struct {
		subj string
		fn   nats.MsgHandler
	}{{allPresence, n.onPresence}, {allRequests, n.onRequest}} {
		sub, err := nc.Subscribe(s.subj, s.fn)
		if err != nil {
			nc.Close()
			return fmt.Errorf("cluster: subscribe %s: %w", s.subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	st, err := n.openStream()
	if err != nil {
		nc.Close()
		return fmt.Errorf("cluster: watch the loop's events: %w", err)
	}
	n.wg.Add(3)
	go n.collect(st)
	go n.publish()
	go n.heartbeat()
	if nc.IsConnected() {
		n.announce(nc, false)
	}
	n.ready.Store(true)
	return nil
}

// Stop says goodbye to the other nodes (so they stop expecting it), stops
// publishing (events still queued are dropped) and closes the NATS
// connection. It waits for its goroutines, or for ctx.
func (n *Node) Stop(ctx context.Context) error {
	if !n.ready.Load() {
		return nil // never started, or Start failed and cleaned up
	}
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop) // heartbeat says goodbye
	for _, sub := range n.subs {
		_ = sub.Unsubscribe() // no more requests answered
	}
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		// Flush the goodbye, briefly: a stalled server must not hold up the stop.
		_ = n.nc.FlushTimeout(200 * time.Millisecond)
		n.nc.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: stop: %w", ctx.Err())
	}
}
