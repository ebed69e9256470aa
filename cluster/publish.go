package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/nats-io/nats.go"
)

// subscribeBuffer is how many events the loop may hand us before we read
// them. collect only moves them to the queue, so it falls this far behind
// only when starved of CPU; then the loop drops the subscription, collect
// subscribes again, and the gap is counted as one dropped event (how many
// were lost is not known) and logged.
const subscribeBuffer = 8192

// publishBatch is how many queued events the publisher takes at a time.
// The NATS client buffers them and writes them out together.
const publishBatch = 1024

// eventCost is what an event counts against QueueBytes: its strings and a
// fixed overhead.
func eventCost(e *loop.Event) int64 {
	return int64(64 + len(e.Client) + len(e.Message) + len(e.Key) + len(e.Value) + len(e.Reason))
}

// collect moves the loop's events into the queue until Stop or the
// server's end, dropping (and counting) what the queue cannot take.
func (n *Node) collect(sub *loop.Subscription) {
	defer n.wg.Done()
	defer close(n.queue)
	for {
		select {
		case <-n.stop:
			_ = sub.Close()
			return
		case e, ok := <-sub.C:
			if ok {
				n.enqueue(e)
				continue
			}
			if !errors.Is(sub.Err(), loop.ErrDropped) {
				return // the server stopped
			}
			n.dropped.Add(1)
			n.gaps.Add(1)
			n.log.Warn().Msg("the loop dropped the NATS publisher's subscription (CPU starved?); events lost, subscribing again")
			var err error
			if sub, err = n.resubscribe(); err != nil {
				n.log.Error().Err(err).Msg("cannot subscribe to the loop's events again; no more events are published")
				return
			}
		}
	}
}

func (n *Node) resubscribe() (*loop.Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.srv.Subscribe(ctx, subscribeBuffer, loop.WatchQuery{})
}

// enqueue queues e for publishing, or drops and counts it when the queue
// is full (by count or by bytes).
func (n *Node) enqueue(e loop.Event) {
	cost := eventCost(&e)
	if n.queued.Add(cost) > int64(n.cfg.QueueBytes) {
		n.queued.Add(-cost)
		n.dropped.Add(1)
		return
	}
	select {
	case n.queue <- e:
	default:
		n.queued.Add(-cost)
		n.dropped.Add(1)
	}
}

// publish sends the queued events to NATS, a batch at a time, until the
// queue is closed. It is the only goroutine that waits on NATS for
// events: when NATS stalls, it waits and the queue fills.
func (n *Node) publish() {
	defer n.wg.Done()
	var payload []byte
	var msg nats.Msg
	batch := make([]loop.Event, 0, publishBatch)
	for e := range n.queue {
		batch = append(batch[:0], e)
	fill:
		for len(batch) < publishBatch {
			select {
			case e, ok := <-n.queue:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		var cost int64
		for i := range batch {
			e := &batch[i]
			cost += eventCost(e)
			payload = appendEvent(payload[:0], n.cfg.Node, e)
			msg.Subject, msg.Data = EventSubject(n.cfg.Node, e.Client), payload
			if err := n.nc.PublishMsg(&msg); err != nil {
				n.dropped.Add(1)
			}
			*e = loop.Event{} // let the strings go
		}
		n.queued.Add(-cost)
	}
}

// appendEvent appends e's payload: the JSON line of CLUSTER WATCH (the
// single-node WATCH object with "node"), without the newline.
func appendEvent(dst []byte, node string, e *loop.Event) []byte {
	a, b := eventArgs(e.Kind, e.Message, e.Key, e.Value, e.Reason)
	dst = query.AppendNodeEvent(dst, query.JSON, nil, e.TS, e.Kind, node, e.Client, []byte(a), []byte(b))
	return dst[:len(dst)-1]
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
