package cluster

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// presence is the payload of logatron.presence.<node>.
type presence struct {
	Node       string `json:"node"`
	IntervalMS int64  `json:"interval_ms"`
	ID         string `json:"id"` // differs between two nodes given the same name
	Bye        bool   `json:"bye,omitempty"`
}

// peers is what a node knows of the others: when each last sent its
// presence, on the monotonic clock. Only presence messages count, so a
// goodbye, the last one a node sends, is final.
type peers struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	interval map[string]time.Duration
}

// heard records a sign of life from node; it reports whether node was
// new (or had been forgotten).
func (p *peers) heard(node string, interval time.Duration, forget time.Duration) bool {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.seen[node]
	p.seen[node] = now
	if interval > 0 {
		if p.interval == nil {
			p.interval = map[string]time.Duration{}
		}
		p.interval[node] = interval
	}
	return !ok || now.Sub(last) > forget
}

// left forgets node, which said goodbye.
func (p *peers) left(node string) {
	p.mu.Lock()
	delete(p.seen, node)
	delete(p.interval, node)
	p.mu.Unlock()
}

// lateAfter is how many heartbeats a node may miss before requests stop
// waiting for it.
const lateAfter = 3

// known returns, sorted, the nodes heard of within forget (named missing
// when they do not answer) and, among them, those heard of within three
// of their heartbeat intervals (waited for). Older entries are dropped.
func (p *peers) known(forget, defInterval time.Duration) (named, alive []string) {
	now := time.Now()
	p.mu.Lock()
	for node, t := range p.seen {
		age := now.Sub(t)
		if age > forget {
			delete(p.seen, node)
			delete(p.interval, node)
			continue
		}
		named = append(named, node)
		iv := p.interval[node]
		if iv <= 0 {
			iv = defInterval
		}
		if age <= lateAfter*iv {
			alive = append(alive, node)
		}
	}
	p.mu.Unlock()
	slices.Sort(named)
	slices.Sort(alive)
	return named, alive
}

// announce publishes this node's presence (or its goodbye) on nc.
func (n *Node) announce(nc *nats.Conn, bye bool) {
	b, _ := json.Marshal(presence{Node: n.cfg.Node, ID: n.id, IntervalMS: n.cfg.Heartbeat.Milliseconds(), Bye: bye})
	_ = nc.Publish(presencePrefix+Token(n.cfg.Node), b)
}

// heartbeat announces the node every Heartbeat until Stop, then says
// goodbye: the last presence message, since one goroutine sends them all.
func (n *Node) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			n.announce(n.nc, true)
			return
		case <-t.C:
			if n.nc.IsConnected() {
				n.announce(n.nc, false)
			}
		}
	}
}

// onPresence records another node's heartbeat. A node heard of for the
// first time gets this node's presence at once, so a node that joins
// learns of the others within one round trip, not one heartbeat.
func (n *Node) onPresence(m *nats.Msg) {
	var p presence
	if err := json.Unmarshal(m.Data, &p); err != nil || !ValidNode(p.Node) {
		return
	}
	if p.Node == n.cfg.Node {
		if p.ID != n.id && !p.Bye {
			n.log.Warn().Msg("another node uses this node's name: give each node its own -node")
		}
		return
	}
	if p.Bye {
		n.peers.left(p.Node)
		n.log.Info().Str("peer", p.Node).Msg("node left the cluster")
		return
	}
	if n.peers.heard(p.Node, time.Duration(p.IntervalMS)*time.Millisecond, n.cfg.Forget) {
		n.log.Info().Str("peer", p.Node).Msg("node joined the cluster")
		n.announce(n.nc, false)
	}
}

// Peers returns the other nodes this node knows of, sorted.
func (n *Node) Peers() []string {
	named, _ := n.peers.known(n.cfg.Forget, n.cfg.Heartbeat)
	return named
}
