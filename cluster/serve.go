package cluster

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
	"github.com/nats-io/nats.go"
)

// request is the payload of logatron.req.<CMD>: the request line as an
// operator writes it after CLUSTER (admin syntax), who asks, and the
// asker's clock, against which every node resolves relative times
// (since=10m), so all nodes search the same window.
type request struct {
	From      string `json:"from"`
	Now       int64  `json:"now"`        // Unix ms at the asking node
	TimeoutMS int64  `json:"timeout_ms"` // how long the asker waits
	Req       string `json:"req"`
}

// Headers of a reply part. A node answers with one or more messages on the
// reply subject; their bodies, concatenated in Part order, are the node's
// own JSON reply to the request (what its admin port answers in JSON
// mode), or the node sends one message with Logatron-Error and no body.
const (
	hdrNode  = "Logatron-Node"
	hdrPart  = "Logatron-Part" // 0, 1, ...
	hdrLast  = "Logatron-Last" // "1" on the final part
	hdrError = "Logatron-Error"
)

// maxPart bounds a reply part's body, under the NATS server's max_payload
// (1 MiB by default).
const maxPart = 512 << 10

// onRequest answers another node's CLUSTER request, in its own goroutine,
// at most maxAnswering at once (more are answered "busy").
func (n *Node) onRequest(m *nats.Msg) {
	var r request
	if err := json.Unmarshal(m.Data, &r); err != nil || m.Reply == "" {
		return
	}
	if r.From == n.cfg.Node {
		return // the asker answers for itself
	}
	select {
	case n.busy <- struct{}{}:
	default:
		n.reply(m.Reply, nil, "busy: too many cluster requests at once")
		return
	}
	go func() {
		defer func() { <-n.busy }()
		timeout := time.Duration(r.TimeoutMS) * time.Millisecond
		if timeout <= 0 || timeout > time.Minute {
			timeout = n.cfg.Timeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		body, err := n.answerLine(ctx, r.Req, r.Now)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		n.reply(m.Reply, body, msg)
	}()
}

// reply publishes body in parts of at most maxPart bytes, or errMsg.
func (n *Node) reply(subject string, body []byte, errMsg string) {
	part := 0
	for {
		m := nats.NewMsg(subject)
		m.Header.Set(hdrNode, n.cfg.Node)
		m.Header.Set(hdrPart, strconv.Itoa(part))
		if errMsg != "" {
			m.Header.Set(hdrError, errMsg)
			m.Header.Set(hdrLast, "1")
		} else {
			size := min(len(body), maxPart)
			m.Data, body = body[:size], body[size:]
			if len(body) == 0 {
				m.Header.Set(hdrLast, "1")
			}
		}
		if err := n.nc.PublishMsg(m); err != nil {
			n.log.Debug().Err(err).Msg("cannot send a cluster reply")
			return
		}
		if m.Header.Get(hdrLast) != "" {
			return
		}
		part++
	}
}

// errNotCluster: a request CLUSTER cannot run.
var errNotCluster = codec.UsageError(codec.AdminCLUSTER)

// parse parses a request line that CLUSTER runs.
func parse(line string) (codec.Request, error) {
	req, err := codec.ParseAdmin([]byte(line))
	if err != nil {
		return req, err
	}
	switch req.Cmd {
	case codec.AdminNAMES, codec.AdminCLIENTS, codec.AdminCLIENT, codec.AdminLOG,
		codec.AdminSTATE, codec.AdminGREP, codec.AdminSTATS, codec.AdminWATCH:
		return req, nil
	}
	return req, errNotCluster
}

// answerLine answers one request line for this node's clients: the JSON
// reply this node's admin port gives to it.
func (n *Node) answerLine(ctx context.Context, line string, now int64) ([]byte, error) {
	req, err := parse(line)
	if err != nil {
		return nil, err
	}
	if req.Cmd == codec.AdminWATCH {
		return nil, errNotCluster
	}
	return n.answer(ctx, &req, now)
}

// answer runs req on this node and renders the JSON reply.
func (n *Node) answer(ctx context.Context, req *codec.Request, now int64) ([]byte, error) {
	s := n.srv
	const f = query.JSON
	switch req.Cmd {
	case codec.AdminNAMES:
		names, err := s.ClientNames(ctx)
		return query.AppendStrings(nil, f, names), err
	case codec.AdminCLIENTS:
		var cs []query.ClientInfo
		if req.Limit != 0 {
			var err error
			if cs, err = s.ClientInfos(ctx, requestQuery(req, now)); err != nil {
				return nil, err
			}
		}
		return query.AppendClients(nil, f, cs), nil
	case codec.AdminCLIENT:
		c, err := s.ClientInfo(ctx, req.Name)
		if err != nil {
			return nil, err
		}
		return query.AppendClient(nil, f, &c), nil
	case codec.AdminSTATE:
		kvs, err := s.State(ctx, req.Name)
		if err != nil {
			return nil, err
		}
		return query.AppendState(nil, f, kvs), nil
	case codec.AdminLOG:
		q := requestQuery(req, now)
		if req.N == 0 {
			q.Match, q.Last = matchNothing, 1 // still "no such client" for a name not held
		}
		l, err := s.Log(ctx, req.Name, q)
		if err != nil {
			return nil, err
		}
		if req.N == 0 {
			l = query.Log{}
		}
		return query.AppendLog(nil, f, &l), nil
	case codec.AdminGREP:
		var hits []query.Hit
		if req.Limit != 0 {
			var err error
			if hits, err = s.Grep(ctx, requestQuery(req, now)); err != nil {
				return nil, err
			}
		}
		return query.AppendGrep(nil, f, hits), nil
	case codec.AdminSTATS:
		st, err := s.Stats(ctx)
		if err != nil {
			return nil, err
		}
		return query.AppendStats(nil, f, &st), nil
	}
	return nil, errNotCluster
}

var matchNothing = regexp.MustCompile(`$^`)

// requestQuery is the Go API's form of a request's options, its relative
// times resolved against now (the asking node's clock).
func requestQuery(req *codec.Request, now int64) loop.Query {
	q := loop.Query{Clients: req.Glob, After: req.After, Match: req.Match, Limit: max(req.Limit, 0)}
	switch {
	case req.All:
		q.Which = loop.All
	case req.Closed:
		q.Which = loop.Closed
	}
	if req.N > 0 {
		q.Last = req.N
	}
	lo, hi := codec.Window(req.Since, req.Until, now)
	if req.Since.IsSet() {
		q.Since = time.UnixMilli(lo)
	}
	if req.Until.IsSet() {
		q.Until = time.UnixMilli(hi)
	}
	return q
}
