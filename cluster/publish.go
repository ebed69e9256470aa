package cluster

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/nats-io/nats.go"
)

// How events leave the node. The loop renders each event once as a WATCH
// JSON line into a byte stream (loop.Server.Watch), handing over one batch
// per read: a watcher costs the loop an append per event and a lock per
// read, where a channel Subscription costs a string copy and a channel
// send per event, and fell behind (was dropped) ten times as often in a
// flat-out test. collect copies each batch into the queue, which is
// bounded in bytes; what does not fit is dropped and counted. publish, the
// only goroutine that waits on NATS for events, takes the queue a batch
// at a time.
//
// The stream is bounded by the server's watch-buffer: should collect fall
// that far behind (starved of CPU), the loop drops the stream, collect
// opens another, and the gap (of unknown size) counts as one dropped event
// and is logged. The stream counts among the server's watchers.
//
// A message on logatron.events.<node>.<client> carries one or more events
// of that client: their JSON lines (the CLUSTER WATCH objects, with
// "node"), separated by "\n". A message holds a run of consecutive events
// of one client, so a subscriber to logatron.events.> still gets the
// node's events in the order they happened.

// maxMessage bounds the payload of one event message.
const maxMessage = 256 << 10

// collect moves the loop's event batches into the queue until Stop or the
// server's end.
func (n *Node) collect(st *loop.Stream) {
	defer n.wg.Done()
	defer close(n.queue)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var spare []byte
	for {
		b, err := st.Next(ctx, spare)
		if err == nil {
			n.enqueue(b)
			spare = b
			continue
		}
		_ = st.Close()
		if !errors.Is(err, loop.ErrDropped) {
			return // stopping, or the server stopped
		}
		n.dropped.Add(1)
		n.gaps.Add(1)
		n.log.Warn().Msg("the loop dropped the NATS publisher's event stream (CPU starved?); events lost, watching again")
		if st, err = n.openStream(); err != nil {
			n.log.Error().Err(err).Msg("cannot watch the loop's events again; no more events are published")
			return
		}
	}
}

func (n *Node) openStream() (*loop.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.srv.Watch(ctx, query.JSON, loop.WatchQuery{})
}

// enqueue copies a batch of event lines into the queue, or drops them all,
// counted, when the queue is full.
func (n *Node) enqueue(b []byte) {
	cost := int64(len(b))
	if n.queued.Add(cost) > int64(n.cfg.QueueBytes) {
		n.queued.Add(-cost)
		n.dropped.Add(uint64(bytes.Count(b, []byte("\n"))))
		return
	}
	bp := batches.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	select {
	case n.queue <- bp:
	default:
		batches.Put(bp)
		n.queued.Add(-cost)
		n.dropped.Add(uint64(bytes.Count(b, []byte("\n"))))
	}
}

// batches recycles the queue's copies of the loop's batches: copying
// megabytes a second into fresh memory made the garbage collector run
// often, and its assists slow the loop.
var batches = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBatch: larger copies are left to the garbage collector.
const maxPooledBatch = 1 << 20

// publish sends the queued event lines to NATS until the queue is closed.
func (n *Node) publish() {
	defer n.wg.Done()
	p := publisher{nc: n.nc, node: n.cfg.Node}
	for bp := range n.queue {
		b := *bp
		select {
		case <-n.stop: // stopping: what is left is dropped, not waited for
			n.dropped.Add(uint64(bytes.Count(b, []byte("\n"))))
		default:
			p.batch(b) // NATS copies what it publishes
			n.dropped.Add(p.failed)
			p.failed = 0
		}
		n.queued.Add(-int64(len(b)))
		if cap(b) <= maxPooledBatch {
			batches.Put(bp)
		}
	}
}

// publisher turns event lines into messages.
type publisher struct {
	nc      *nats.Conn
	node    string
	client  []byte // the client of the run being built
	payload []byte
	msg     nats.Msg
	events  uint64 // in payload
	failed  uint64 // events that NATS refused
}

// batch publishes a batch of single-node WATCH JSON lines, each with
// "node" added, in runs of one client.
func (p *publisher) batch(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		line := b[:i]
		b = b[min(i+1, len(b)):]
		client, at, ok := clientOf(line)
		if !ok {
			p.failed++
			continue
		}
		if p.events > 0 && (!bytes.Equal(client, p.client) || len(p.payload)+len(line) > maxMessage) {
			p.flush()
		}
		if p.events == 0 {
			p.client = append(p.client[:0], client...)
		} else {
			p.payload = append(p.payload, '\n')
		}
		p.payload = append(p.payload, line[:at]...)
		p.payload = append(p.payload, `,"node":`...)
		p.payload = query.AppendJSONString(p.payload, p.node)
		p.payload = append(p.payload, line[at:]...)
		p.events++
	}
	p.flush()
}

// flush publishes the run in payload.
func (p *publisher) flush() {
	if p.events == 0 {
		return
	}
	p.msg.Subject, p.msg.Data = EventSubject(p.node, string(p.client)), p.payload
	if err := p.nc.PublishMsg(&p.msg); err != nil {
		p.failed += p.events
	}
	p.payload, p.events = p.payload[:0], 0
}

// clientKey starts the client member of a WATCH JSON line, which comes
// right after "ts" and "event".
var clientKey = []byte(`,"client":"`)

// clientOf finds the client's name in a WATCH JSON line and where its
// string ends (where "node" goes). A valid client name needs no JSON
// escape, so the name runs to the next quote.
func clientOf(line []byte) (name []byte, end int, ok bool) {
	i := bytes.Index(line, clientKey)
	if i < 0 {
		return nil, 0, false
	}
	start := i + len(clientKey)
	j := bytes.IndexByte(line[start:], '"')
	if j <= 0 {
		return nil, 0, false
	}
	return line[start : start+j], start + j + 1, true
}

// eventArgs picks what query.AppendNodeEvent takes as a and b for kind.
func eventArgs(kind query.EventKind, message, key, value, reason string) (a, b string) {
	switch kind {
	case query.EventLog, query.EventCont:
		return message, ""
	case query.EventSet:
		return key, value
	case query.EventClose:
		return reason, ""
	}
	return "", ""
}
