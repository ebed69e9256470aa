package cluster

import (
	"bytes"
	"io"
	"slices"
	"strings"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

// The CLUSTER replies (see also query/render.go): every reply is a
// query.Frame with Cluster set, so text starts "OK <n>" (" missing=n3,n4"
// when nodes did not answer) and JSON is {"missing":[...],"items":[...]}.
//
//	NAMES    the union of names, sorted, each once
//	CLIENTS  CLIENTS lines ending " node=<node>", by name then node; JSON client objects with "node"
//	CLIENT   one CLIENT block (15 lines, the last "node <node>") per node holding the name; JSON objects
//	LOG      the entries of every node holding the name, by time: "<ts> <message>"; JSON [ts,"message"]
//	STATE    "<key>@<node> <value>" lines, by key then node; JSON {"node":..,"state":{...}} per node
//	GREP     "<ts> <name>@<node> <message>"; JSON [ts,"name","message","node"]
//	STATS    one STATS block per node, each starting "node <node>"; JSON STATS objects with "node"
//
// CLIENT, LOG and STATE of a name no answering node holds are "ERR no such
// client: <name>" when every node answered, else an empty list naming the
// missing nodes (the client may be on one of them).

// writePiece is how much rendered reply is written at a time.
const writePiece = 64 << 10

// pieceItems is how many items are rendered between checks of the size.
const pieceItems = 100

// writer writes a reply in pieces of about writePiece bytes, keeping the
// first error.
type writer struct {
	w   io.Writer
	buf []byte
	err error
}

func (o *writer) maybeFlush() {
	if len(o.buf) >= writePiece {
		o.flush()
	}
}

func (o *writer) flush() {
	if o.err == nil && len(o.buf) > 0 {
		_, o.err = o.w.Write(o.buf)
	}
	o.buf = o.buf[:0]
}

// items renders n items, pieceItems at a time, through appendRun.
func (o *writer) items(n int, appendRun func(dst []byte, from, to int) []byte) {
	for from := 0; from < n && o.err == nil; from += pieceItems {
		o.buf = appendRun(o.buf, from, min(from+pieceItems, n))
		o.maybeFlush()
	}
}

// render writes m in format f to w.
func (m *merged) render(w io.Writer, f query.Format) error {
	o := &writer{w: w, buf: make([]byte, 0, writePiece+4096)}
	if m.noSuch != "" {
		o.buf = query.AppendError(o.buf, f, "no such client: "+m.noSuch)
		o.flush()
		return o.err
	}
	fr := query.Frame{Format: f, Cluster: true, Missing: m.missing}
	var clock query.Clock
	switch m.cmd {
	case codec.AdminNAMES:
		o.buf = fr.Open(o.buf, len(m.names))
		o.items(len(m.names), func(dst []byte, from, to int) []byte {
			return query.AppendStringItems(dst, f, m.names[from:to], from)
		})
	case codec.AdminCLIENTS:
		o.buf = fr.Open(o.buf, len(m.clients))
		o.items(len(m.clients), func(dst []byte, from, to int) []byte {
			return query.AppendClientItems(dst, f, &clock, m.clients[from:to], from)
		})
	case codec.AdminCLIENT:
		blocks := make([][]byte, len(m.clients))
		lines := 0
		for i := range m.clients {
			blocks[i], lines = itemOf(query.AppendClient(nil, f, &m.clients[i]), f, lines)
		}
		o.buf = appendBlocks(fr.Open(o.buf, lines), f, blocks)
	case codec.AdminLOG:
		o.buf = fr.Open(o.buf, m.log.Len())
		o.items(m.log.Len(), func(dst []byte, from, to int) []byte {
			return query.AppendLogItems(dst, f, &clock, &m.log, from, to)
		})
	case codec.AdminSTATE:
		o.buf = m.appendStates(o.buf, fr)
	case codec.AdminGREP:
		o.buf = fr.Open(o.buf, len(m.hits))
		o.items(len(m.hits), func(dst []byte, from, to int) []byte {
			return query.AppendHits(dst, f, &clock, m.hits[from:to], from)
		})
	case codec.AdminSTATS:
		lines := 0
		for i := range m.stats {
			lines += len(m.stats[i].Fields())
		}
		o.buf = fr.Open(o.buf, lines)
		for i := range m.stats {
			o.buf = query.AppendStatsItem(o.buf, f, &m.stats[i], i)
		}
	}
	o.buf = fr.Close(o.buf)
	o.flush()
	return o.err
}

// itemOf turns a single-node reply into an item of a CLUSTER list: in
// text its data lines (the "OK <n>" line removed, n added to lines), in
// JSON its object (the newline removed).
func itemOf(reply []byte, f query.Format, lines int) ([]byte, int) {
	if f == query.JSON {
		return bytes.TrimSuffix(reply, []byte("\n")), lines
	}
	i := bytes.IndexByte(reply, '\n')
	return reply[i+1:], lines + bytes.Count(reply[i+1:], []byte("\n"))
}

// appendBlocks appends items made by itemOf: JSON separated by commas.
func appendBlocks(dst []byte, f query.Format, blocks [][]byte) []byte {
	for i, b := range blocks {
		if f == query.JSON && i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, b...)
	}
	return dst
}

// appendStates appends the STATE items: text "<key>@<node> <value>" lines
// sorted by key then node; JSON {"node":..,"state":{...}} objects in node
// order.
func (m *merged) appendStates(dst []byte, fr query.Frame) []byte {
	if fr.Format == query.JSON {
		dst = fr.Open(dst, len(m.states))
		for i, s := range m.states {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"node":`...)
			dst = query.AppendJSONString(dst, s.node)
			dst = append(dst, `,"state":`...)
			dst = bytes.TrimSuffix(query.AppendState(dst, query.JSON, s.kvs), []byte("\n"))
			dst = append(dst, '}')
		}
		return dst
	}
	type line struct{ key, node, value string }
	var ls []line
	for _, s := range m.states {
		for _, kv := range s.kvs {
			ls = append(ls, line{kv.Key, s.node, kv.Value})
		}
	}
	// states are in node order and each sorted by key: a stable sort by key
	// leaves equal keys in node order.
	slices.SortStableFunc(ls, func(a, b line) int { return strings.Compare(a.key, b.key) })
	dst = fr.Open(dst, len(ls))
	for _, l := range ls {
		dst = query.AppendEscaped(dst, l.key)
		dst = append(dst, '@')
		dst = query.AppendEscaped(dst, l.node)
		dst = append(dst, ' ')
		dst = query.AppendEscaped(dst, l.value)
		dst = append(dst, '\n')
	}
	return dst
}
