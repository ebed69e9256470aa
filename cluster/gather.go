package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
)

// answer is one node's reply to a request: its JSON body, or the error it
// gave.
type answer struct {
	node string
	body []byte
	err  string
}

// maxGather bounds the reply bytes one request collects from all nodes
// together; the answers of nodes past it are left out and those nodes
// named missing. Page through larger fleets with CLIENTS limit= after=.
const maxGather = 64 << 20

// ErrNoneAnswered: not one node, this one included, answered in time.
var ErrNoneAnswered = errors.New("no node answered")

// gather runs req (its text line) on this node and, over NATS, on every
// other node, and returns the answers, sorted by node, and the nodes that
// did not answer in time (known from their heartbeats), sorted. It
// returns when every node it expects has answered, or at the timeout.
func (n *Node) gather(ctx context.Context, req *codec.Request, line string) (answers []answer, missing []string) {
	now := time.Now().UnixMilli()
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	named, alive := n.peers.known(n.cfg.Forget, n.cfg.Heartbeat)
	results := make(chan answer, 16)
	go func() {
		body, err := n.answer(ctx, req, now)
		a := answer{node: n.cfg.Node, body: body}
		if err != nil {
			a.err = err.Error()
		}
		select {
		case results <- a:
		case <-ctx.Done():
		}
	}()
	if n.nc != nil && n.nc.IsConnected() {
		payload, _ := json.Marshal(request{From: n.cfg.Node, Now: now, TimeoutMS: n.cfg.Timeout.Milliseconds(), Req: line})
		go n.scatter(ctx, req.Cmd.String(), payload, results)
	}
	replied := map[string]bool{} // answered, well or not
	ok := map[string]bool{}      // answered, with data or "no such client"
	waiting := func() bool {
		if !replied[n.cfg.Node] {
			return true
		}
		for _, p := range alive {
			if !replied[p] {
				return true
			}
		}
		return false
	}
collect:
	for waiting() {
		select {
		case a := <-results:
			if replied[a.node] {
				continue // a second node of the same name: the first answer stands
			}
			replied[a.node] = true
			if a.err != "" && !isNoSuchClient(a.err) {
				n.log.Debug().Str("peer", a.node).Str("error", a.err).Msg("cluster request failed on a node")
				continue // named missing below
			}
			ok[a.node] = true
			answers = append(answers, a)
		case <-ctx.Done():
			break collect
		}
	}
	for p := range replied {
		if !ok[p] {
			missing = append(missing, p)
		}
	}
	for _, p := range append(named, n.cfg.Node) {
		if !ok[p] && !slices.Contains(missing, p) {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	slices.SortFunc(answers, func(a, b answer) int { return strings.Compare(a.node, b.node) })
	return answers, missing
}

func isNoSuchClient(msg string) bool { return strings.HasPrefix(msg, "no such client: ") }

// scatter publishes the request on logatron.req.<cmd> and hands each
// node's reassembled reply to results until ctx ends. NATS calls may
// block while the connection stalls; gather does not wait for them past
// its timeout.
func (n *Node) scatter(ctx context.Context, cmd string, payload []byte, results chan<- answer) {
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, maxGather)
	if err := n.nc.PublishRequest(reqPrefix+cmd, inbox, payload); err != nil {
		return
	}
	type partial struct {
		body   []byte
		next   int
		broken bool
	}
	parts := map[string]*partial{}
	total := 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return
		}
		node := m.Header.Get(hdrNode)
		if !ValidNode(node) || node == n.cfg.Node {
			continue
		}
		p := parts[node]
		if p == nil {
			p = &partial{}
			parts[node] = p
		}
		if p.broken {
			continue
		}
		a := answer{node: node}
		if part, _ := strconv.Atoi(m.Header.Get(hdrPart)); part != p.next {
			a.err = fmt.Sprintf("reply part %d lost", p.next) // a slow-consumer drop
		} else if total += len(m.Data); total > maxGather {
			a.err = "reply too large for one cluster request"
		} else if e := m.Header.Get(hdrError); e != "" {
			a.err = e
		} else {
			p.body = append(p.body, m.Data...)
			p.next++
			if m.Header.Get(hdrLast) == "" {
				continue
			}
			a.body = p.body
		}
		p.broken, p.body = true, nil
		select {
		case results <- a:
		case <-ctx.Done():
			return
		}
	}
}

// merged is the merged reply to a CLUSTER request, ready to render.
type merged struct {
	cmd     codec.AdminCmd
	missing []string
	names   []string           // NAMES
	clients []query.ClientInfo // CLIENTS, CLIENT
	log     query.Log          // LOG
	states  []nodeState        // STATE
	hits    []query.Hit        // GREP
	stats   []query.Stats      // STATS
	// noSuch is set when no answering node holds the client a CLIENT, LOG
	// or STATE asked for, and no node is missing: the reply is then
	// "ERR no such client: <name>".
	noSuch string
}

// nodeState is one node's STATE of a client.
type nodeState struct {
	node string
	kvs  []query.KV
}

// query runs req cluster-wide and merges the answers. Its error is
// ErrNoneAnswered or a bad answer's.
func (n *Node) query(ctx context.Context, req *codec.Request, line string) (*merged, error) {
	answers, missing := n.gather(ctx, req, line)
	if len(answers) == 0 {
		return nil, fmt.Errorf("%w within %s", ErrNoneAnswered, n.cfg.Timeout)
	}
	m := &merged{cmd: req.Cmd, missing: missing}
	held := 0
	for _, a := range answers {
		if a.err != "" {
			continue // no such client on that node
		}
		held++
		if err := m.add(a.node, a.body); err != nil {
			n.log.Warn().Err(err).Str("peer", a.node).Msg("bad cluster reply")
			m.missing = append(m.missing, a.node)
		}
	}
	slices.Sort(m.missing)
	switch req.Cmd {
	case codec.AdminCLIENT, codec.AdminLOG, codec.AdminSTATE:
		if held == 0 && len(m.missing) == 0 {
			m.noSuch = req.Name
		}
	}
	m.finish(req)
	return m, nil
}

// add decodes one node's JSON reply into m.
func (m *merged) add(node string, body []byte) error {
	var err error
	switch m.cmd {
	case codec.AdminNAMES:
		var names []string
		if err = json.Unmarshal(body, &names); err == nil {
			m.names = append(m.names, names...)
		}
	case codec.AdminCLIENTS:
		var cs []clientJSON
		if err = json.Unmarshal(body, &cs); err == nil {
			for i := range cs {
				m.clients = append(m.clients, cs[i].info(node))
			}
		}
	case codec.AdminCLIENT:
		var c clientJSON
		if err = json.Unmarshal(body, &c); err == nil {
			m.clients = append(m.clients, c.info(node))
		}
	case codec.AdminSTATE:
		var st map[string]string
		if err = json.Unmarshal(body, &st); err == nil {
			ns := nodeState{node: node}
			for k, v := range st {
				ns.kvs = append(ns.kvs, query.KV{Key: k, Value: v})
			}
			slices.SortFunc(ns.kvs, func(a, b query.KV) int { return strings.Compare(a.Key, b.Key) })
			m.states = append(m.states, ns)
		}
	case codec.AdminLOG:
		err = decodeTuples(body, 1, func(ts int64, s [][]byte) {
			m.hits = append(m.hits, query.Hit{TS: ts, Node: node, Msg: s[0]})
		})
	case codec.AdminGREP:
		err = decodeTuples(body, 2, func(ts int64, s [][]byte) {
			m.hits = append(m.hits, query.Hit{TS: ts, Name: string(s[0]), Node: node, Msg: s[1]})
		})
	case codec.AdminSTATS:
		var s statsJSON
		dec := json.NewDecoder(bytes.NewReader(body))
		if err = dec.Decode(&s); err == nil {
			st := s.stats()
			st.Node = node
			m.stats = append(m.stats, st)
		}
	}
	if err != nil {
		return fmt.Errorf("decode %s reply: %w", m.cmd, err)
	}
	return nil
}

// finish puts the merged items in order and applies the request's limits
// to the union: NAMES sorted without repeats; CLIENTS by name, then node,
// at most limit; LOG by time (ties by node), the newest n; GREP by time,
// ties by name then node, the newest limit. CLIENT, STATE and STATS stay
// in node order.
func (m *merged) finish(req *codec.Request) {
	switch m.cmd {
	case codec.AdminNAMES:
		slices.Sort(m.names)
		m.names = slices.Compact(m.names)
	case codec.AdminCLIENTS:
		slices.SortStableFunc(m.clients, func(a, b query.ClientInfo) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Node, b.Node)
		})
		if req.Limit >= 0 && len(m.clients) > req.Limit {
			m.clients = m.clients[:req.Limit]
		}
	case codec.AdminLOG:
		query.SortHits(m.hits) // one name: by time, then node
		if req.N >= 0 && len(m.hits) > req.N {
			m.hits = m.hits[len(m.hits)-req.N:]
		}
		for _, h := range m.hits {
			m.log.Append(h.TS, h.Msg)
		}
		m.hits = nil
	case codec.AdminGREP:
		query.SortHits(m.hits)
		if len(m.hits) > req.Limit {
			m.hits = m.hits[len(m.hits)-req.Limit:]
		}
	}
}

// clientJSON is the JSON object of CLIENT.
type clientJSON struct {
	Name        string `json:"name"`
	ConnectedAt int64  `json:"connectedAt"`
	Addr        string `json:"addr"`
	Entries     int    `json:"entries"`
	Keys        int    `json:"keys"`
	Lines       uint64 `json:"lines"`
	Bytes       uint64 `json:"bytes"`
	Truncated   uint64 `json:"truncated"`
	Errors      uint64 `json:"errors"`
	LastError   string `json:"lastError"`
	Status      string `json:"status"`
	ClosedAt    int64  `json:"closedAt"`
	CloseReason string `json:"closeReason"`
	Reconnects  uint64 `json:"reconnects"`
}

func (c *clientJSON) info(node string) query.ClientInfo {
	return query.ClientInfo{
		Name: c.Name, Addr: c.Addr, ConnectedAt: c.ConnectedAt, Entries: c.Entries, Keys: c.Keys,
		Lines: c.Lines, Bytes: c.Bytes, Truncated: c.Truncated, Errors: c.Errors, LastError: c.LastError,
		Closed: c.Status == "closed", ClosedAt: c.ClosedAt, CloseReason: c.CloseReason,
		Reconnects: c.Reconnects, Node: node,
	}
}

// statsJSON is the JSON object of STATS.
type statsJSON struct {
	Version              string  `json:"version"`
	UptimeS              int64   `json:"uptime_s"`
	Clients              int     `json:"clients"`
	MaxClients           int     `json:"max_clients"`
	ClientsTotal         uint64  `json:"clients_total"`
	RejectedTotal        uint64  `json:"rejected_total"`
	LinesTotal           uint64  `json:"lines_total"`
	BytesTotal           uint64  `json:"bytes_total"`
	ErrorsTotal          uint64  `json:"errors_total"`
	TruncatedTotal       uint64  `json:"truncated_total"`
	AdminConnections     int     `json:"admin_connections"`
	Watchers             int     `json:"watchers"`
	WatchersDroppedTotal uint64  `json:"watchers_dropped_total"`
	HeapBytes            uint64  `json:"heap_bytes"`
	GCCPUFraction        float64 `json:"gc_cpu_fraction"`
	ClosedClients        int     `json:"closed_clients"`
	ForgottenTotal       uint64  `json:"forgotten_total"`
	StoreBytes           uint64  `json:"store_bytes"`
	MaxMemory            uint64  `json:"max_memory"`
	EvictedTotal         uint64  `json:"evicted_total"`
	LogDroppedTotal      uint64  `json:"log_dropped_total"`
	NATSDroppedTotal     uint64  `json:"nats_dropped_total"`
}

func (s *statsJSON) stats() query.Stats {
	return query.Stats{
		Version: s.Version, UptimeS: s.UptimeS, Clients: s.Clients, MaxClients: s.MaxClients,
		ClientsTotal: s.ClientsTotal, RejectedTotal: s.RejectedTotal, LinesTotal: s.LinesTotal,
		BytesTotal: s.BytesTotal, ErrorsTotal: s.ErrorsTotal, TruncatedTotal: s.TruncatedTotal,
		AdminConnections: s.AdminConnections, Watchers: s.Watchers, WatchersDroppedTotal: s.WatchersDroppedTotal,
		HeapBytes: s.HeapBytes, GCCPUFraction: s.GCCPUFraction, ClosedClients: s.ClosedClients,
		ForgottenTotal: s.ForgottenTotal, StoreBytes: s.StoreBytes, MaxMemory: s.MaxMemory,
		EvictedTotal: s.EvictedTotal, LogDroppedTotal: s.LogDroppedTotal, NATSDroppedTotal: s.NATSDroppedTotal,
	}
}

// statusOf is the HTTP status of a failed cluster query.
func statusOf(err error) int {
	var nsc *loop.NoSuchClientError
	switch {
	case errors.As(err, &nsc):
		return 404
	case errors.Is(err, ErrNoneAnswered):
		return 503
	}
	return 400
}
