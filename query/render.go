package query

import (
	"io"
	"slices"
	"strconv"
)

// Each Append function named after a request appends one whole reply,
// terminator included, in the given format: in text "OK <n>\n" and n data
// lines, in JSON exactly one line. None of them bounds its output: the
// caller bounds what it copies into a snapshot (the store's own caps bound
// every snapshot).
//
// Replies that can be large (CLIENTS, GREP, LOG, NAMES, DUMP) can also be
// rendered in pieces, so that a responder can copy and write a whole-store
// reply in bounded chunks: a Frame opens and closes the reply, and the
// Append...Items functions render any run of its items, given the index of
// the run's first item in the whole reply (JSON puts a comma before every
// item but the first). Concatenated, the pieces equal the whole reply.
//
// Text mode passes every message, value, key, name, address and error text
// through AppendEscaped; JSON carries the exact text (AppendJSONString).
//
// CLUSTER replies (SPEC §10) mark where a client lives and which nodes did
// not answer:
//
//   - a CLIENTS line gains " node=<node>" at its end, a CLIENT reply a last
//     line "node <node>", a STATS reply a first line "node <node>", and each
//     JSON client object (and STATS object) a "node" key;
//   - a GREP or WATCH text line, whose message runs to the end of the line,
//     names the client "<name>@<node>" (names never contain '@'); a GREP
//     JSON hit gains the node as a fourth element [ts,"name","msg","node"],
//     a WATCH JSON event a "node" key;
//   - nothing of this is written when the node is "" (replies of one node);
//   - a Frame with Cluster set wraps the JSON reply as
//     {"missing":["n3"],"items":[...]} ("missing" is [] when every node
//     answered), and its text header is "OK <n> missing=n3,n4" (plain
//     "OK <n>" when every node answered), so the n data lines are the
//     same as a single node's and a node list can never be mistaken for a
//     data line. Node names are expected to follow the client-name rule
//     (no spaces or commas); they are escaped like any text.

// AppendError appends an error reply. reason is what follows "ERR "; in
// text it is escaped (it may echo what a client sent), in JSON exact.
func AppendError(dst []byte, f Format, reason string) []byte {
	if f == JSON {
		dst = append(dst, `{"error":`...)
		dst = AppendJSONString(dst, reason)
		return append(dst, "}\n"...)
	}
	dst = append(dst, "ERR "...)
	dst = AppendEscaped(dst, reason)
	return append(dst, '\n')
}

func appendOK(dst []byte, n int) []byte {
	dst = append(dst, "OK "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// AppendDone appends the reply to FORMAT and QUIT: "OK 0" or {"ok":true}.
func AppendDone(dst []byte, f Format) []byte {
	if f == JSON {
		return append(dst, "{\"ok\":true}\n"...)
	}
	return appendOK(dst, 0)
}

// AppendStreamStart appends the reply that opens a WATCH stream.
func AppendStreamStart(dst []byte, f Format) []byte {
	return Frame{Format: f}.OpenStream(dst)
}

// AppendPong appends the reply to PING.
func AppendPong(dst []byte, f Format) []byte {
	if f == JSON {
		return append(dst, "\"PONG\"\n"...)
	}
	return append(appendOK(dst, 1), "PONG\n"...)
}

// Frame is the head and tail of a list reply (NAMES, CLIENTS, LOG, GREP) or
// of a WATCH stream, for one node or for CLUSTER (see the comment at the top
// of this file for the CLUSTER shapes).
type Frame struct {
	Format  Format
	Cluster bool     // a CLUSTER reply: JSON wraps the list with "missing"
	Missing []string // nodes that did not answer in time (CLUSTER)
}

// Open appends the head of a reply of n items: text "OK <n>\n" (with
// " missing=..." when nodes are missing), JSON "[" (CLUSTER:
// {"missing":[...],"items":[ ).
func (fr Frame) Open(dst []byte, n int) []byte {
	if fr.Format == JSON {
		if fr.Cluster {
			dst = append(dst, `{"missing":`...)
			dst = appendStringsJSON(dst, fr.Missing, 0)
			dst = append(dst, `,"items":`...)
		}
		return append(dst, '[')
	}
	dst = append(dst, "OK "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = fr.appendMissingText(dst)
	return append(dst, '\n')
}

// Close appends the tail of a list reply: JSON "]\n" (CLUSTER "]}\n"),
// nothing in text.
func (fr Frame) Close(dst []byte) []byte {
	if fr.Format != JSON {
		return dst
	}
	dst = append(dst, ']')
	if fr.Cluster {
		dst = append(dst, '}')
	}
	return append(dst, '\n')
}

// OpenStream appends the reply that opens a WATCH stream: "OK stream" or
// {"stream":true}; CLUSTER adds the missing nodes (" missing=n3",
// "missing":["n3"]).
func (fr Frame) OpenStream(dst []byte) []byte {
	if fr.Format == JSON {
		dst = append(dst, `{"stream":true`...)
		if fr.Cluster {
			dst = append(dst, `,"missing":`...)
			dst = appendStringsJSON(dst, fr.Missing, 0)
		}
		return append(dst, "}\n"...)
	}
	dst = append(dst, "OK stream"...)
	dst = fr.appendMissingText(dst)
	return append(dst, '\n')
}

func (fr Frame) appendMissingText(dst []byte) []byte {
	for i, n := range fr.Missing {
		if i == 0 {
			dst = append(dst, " missing="...)
		} else {
			dst = append(dst, ',')
		}
		dst = AppendEscaped(dst, n)
	}
	return dst
}

// comma appends the JSON separator before item i of a list.
func comma(dst []byte, i int) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	return dst
}

// AppendStrings appends a list of lines (NAMES, HELP): one per data line in
// text, a JSON array of strings in JSON.
func AppendStrings(dst []byte, f Format, lines []string) []byte {
	fr := Frame{Format: f}
	dst = fr.Open(dst, len(lines))
	return fr.Close(AppendStringItems(dst, f, lines, 0))
}

// AppendStringItems appends lines as items from..from+len(lines)-1 of a
// list of strings: escaped lines in text, JSON strings in JSON.
func AppendStringItems(dst []byte, f Format, lines []string, from int) []byte {
	if f == JSON {
		return appendStringsItemsJSON(dst, lines, from)
	}
	for _, s := range lines {
		dst = AppendEscaped(dst, s)
		dst = append(dst, '\n')
	}
	return dst
}

func appendStringsItemsJSON(dst []byte, ss []string, from int) []byte {
	for i, s := range ss {
		dst = comma(dst, from+i)
		dst = AppendJSONString(dst, s)
	}
	return dst
}

// appendStringsJSON appends ss as a JSON array.
func appendStringsJSON(dst []byte, ss []string, from int) []byte {
	return append(appendStringsItemsJSON(append(dst, '['), ss, from), ']')
}

// AppendClients appends the reply to CLIENTS; cs must be sorted by name.
func AppendClients(dst []byte, f Format, cs []ClientInfo) []byte {
	fr := Frame{Format: f}
	per := 180 // a typical line, so that the reply is not copied while it grows
	if f == JSON {
		per = 300
	}
	dst = slices.Grow(dst, len(cs)*per)
	dst = fr.Open(dst, len(cs))
	var clock Clock // clients that connected together share the text of their millisecond
	return fr.Close(AppendClientItems(dst, f, &clock, cs, 0))
}

// AppendClientItems appends cs as items from..from+len(cs)-1 of a CLIENTS
// reply. A text line is
//
//	<name> connected_at=<ts> addr=<ip:port> entries=<n> keys=<n> lines=<n> bytes=<n> errors=<n> status=connected
//
// and for a closed client ends "status=closed closed_at=<ts>
// close_reason=<reason>" (reason written by AppendToken, so "error: line
// too long" is quoted), then " node=<node>" when Node is set. JSON items are
// the objects of CLIENT. clock may be nil.
func AppendClientItems(dst []byte, f Format, clock *Clock, cs []ClientInfo, from int) []byte {
	if f == JSON {
		for i := range cs {
			dst = comma(dst, from+i)
			dst = appendClientJSON(dst, &cs[i])
		}
		return dst
	}
	for i := range cs {
		c := &cs[i]
		dst = AppendEscaped(dst, c.Name)
		dst = append(dst, " connected_at="...)
		dst = clock.Append(dst, c.ConnectedAt)
		dst = append(dst, " addr="...)
		dst = appendTextValue(dst, c.Addr)
		dst = append(dst, " entries="...)
		dst = strconv.AppendInt(dst, int64(c.Entries), 10)
		dst = append(dst, " keys="...)
		dst = strconv.AppendInt(dst, int64(c.Keys), 10)
		dst = append(dst, " lines="...)
		dst = strconv.AppendUint(dst, c.Lines, 10)
		dst = append(dst, " bytes="...)
		dst = strconv.AppendUint(dst, c.Bytes, 10)
		dst = append(dst, " errors="...)
		dst = strconv.AppendUint(dst, c.Errors, 10)
		if c.Closed {
			dst = append(dst, " status=closed closed_at="...)
			dst = clock.Append(dst, c.ClosedAt)
			dst = append(dst, " close_reason="...)
			if c.CloseReason == "" {
				dst = append(dst, '-')
			} else {
				dst = AppendToken(dst, c.CloseReason)
			}
		} else {
			dst = append(dst, " status=connected"...)
		}
		if c.Node != "" {
			dst = append(dst, " node="...)
			dst = AppendToken(dst, c.Node)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// clientLines is the number of data lines of a text CLIENT reply.
func clientLines(c *ClientInfo) int {
	if c.Node != "" {
		return 15
	}
	return 14
}

// AppendClient appends the reply to CLIENT <name>. Text: "key value" lines
// name, connected_at, addr, entries, keys, lines, bytes, truncated, errors,
// last_error, status, closed_at, close_reason, reconnects, then node when
// set; closed_at and close_reason are "-" while connected.
func AppendClient(dst []byte, f Format, c *ClientInfo) []byte {
	if f == JSON {
		return append(appendClientJSON(dst, c), '\n')
	}
	dst = appendOK(dst, clientLines(c))
	key := func(k string) { dst = append(dst, k...) }
	num := func(k string, v uint64) {
		key(k)
		dst = append(strconv.AppendUint(dst, v, 10), '\n')
	}
	text := func(k, v string) {
		key(k)
		dst = append(appendTextValue(dst, v), '\n')
	}
	text("name ", c.Name)
	key("connected_at ")
	dst = append(AppendTime(dst, c.ConnectedAt), '\n')
	text("addr ", c.Addr)
	num("entries ", uint64(c.Entries))
	num("keys ", uint64(c.Keys))
	num("lines ", c.Lines)
	num("bytes ", c.Bytes)
	num("truncated ", c.Truncated)
	num("errors ", c.Errors)
	text("last_error ", c.LastError)
	if c.Closed {
		text("status ", "closed")
		key("closed_at ")
		dst = append(AppendTime(dst, c.ClosedAt), '\n')
		text("close_reason ", c.CloseReason)
	} else {
		text("status ", "connected")
		text("closed_at ", "")
		text("close_reason ", "")
	}
	num("reconnects ", c.Reconnects)
	if c.Node != "" {
		text("node ", c.Node)
	}
	return dst
}

// appendTextValue appends s escaped, or "-" when it is empty.
func appendTextValue(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return AppendEscaped(dst, s)
}

// appendClientJSON appends c as the JSON object of CLIENT, with no newline.
func appendClientJSON(dst []byte, c *ClientInfo) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendJSONString(dst, c.Name)
	dst = append(dst, `,"connectedAt":`...)
	dst = strconv.AppendInt(dst, c.ConnectedAt, 10)
	dst = append(dst, `,"addr":`...)
	dst = AppendJSONString(dst, c.Addr)
	dst = append(dst, `,"entries":`...)
	dst = strconv.AppendInt(dst, int64(c.Entries), 10)
	dst = append(dst, `,"keys":`...)
	dst = strconv.AppendInt(dst, int64(c.Keys), 10)
	dst = append(dst, `,"lines":`...)
	dst = strconv.AppendUint(dst, c.Lines, 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendUint(dst, c.Bytes, 10)
	dst = append(dst, `,"truncated":`...)
	dst = strconv.AppendUint(dst, c.Truncated, 10)
	dst = append(dst, `,"errors":`...)
	dst = strconv.AppendUint(dst, c.Errors, 10)
	dst = append(dst, `,"lastError":`...)
	dst = AppendJSONString(dst, c.LastError)
	dst = appendRetentionJSON(dst, c.Closed, c.ClosedAt, c.CloseReason, c.Reconnects)
	if c.Node != "" {
		dst = append(dst, `,"node":`...)
		dst = AppendJSONString(dst, c.Node)
	}
	return append(dst, '}')
}

// appendRetentionJSON appends the status keys of a client object, each
// preceded by a comma: "status","closedAt" (0 while connected),
// "closeReason" ("" while connected), "reconnects".
func appendRetentionJSON(dst []byte, closed bool, closedAt int64, reason string, reconnects uint64) []byte {
	if closed {
		dst = append(dst, `,"status":"closed","closedAt":`...)
		dst = strconv.AppendInt(dst, closedAt, 10)
		dst = append(dst, `,"closeReason":`...)
		dst = AppendJSONString(dst, reason)
	} else {
		dst = append(dst, `,"status":"connected","closedAt":0,"closeReason":""`...)
	}
	dst = append(dst, `,"reconnects":`...)
	return strconv.AppendUint(dst, reconnects, 10)
}

// AppendLog appends the reply to LOG <name> [<n>].
func AppendLog(dst []byte, f Format, l *Log) []byte {
	fr := Frame{Format: f}
	dst = fr.Open(dst, l.Len())
	return fr.Close(AppendLogItems(dst, f, nil, l, 0, l.Len()))
}

// AppendLogItems appends entries from..to-1 of l as items of a LOG reply
// (item i is entry i): text "<RFC3339 ms> <message>" lines, JSON
// [ts,"message"] arrays. clock may be nil.
func AppendLogItems(dst []byte, f Format, clock *Clock, l *Log, from, to int) []byte {
	for i := from; i < to; i++ {
		ts, msg := l.At(i)
		if f == JSON {
			dst = comma(dst, i)
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, ts, 10)
			dst = append(dst, ',')
			dst = AppendJSONString(dst, msg)
			dst = append(dst, ']')
			continue
		}
		dst = clock.Append(dst, ts)
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, msg)
		dst = append(dst, '\n')
	}
	return dst
}

// AppendGrep appends the reply to GREP; hits must be in GREP order
// (SortHits).
func AppendGrep(dst []byte, f Format, hits []Hit) []byte {
	fr := Frame{Format: f}
	dst = fr.Open(dst, len(hits))
	var clock Clock
	return fr.Close(AppendHits(dst, f, &clock, hits, 0))
}

// AppendHits appends hits as items from..from+len(hits)-1 of a GREP reply:
// text "<RFC3339 ms> <name> <message>" lines ("<name>@<node>" when Node is
// set), JSON [ts,"name","message"] arrays ([ts,"name","message","node"]
// when Node is set). clock may be nil.
func AppendHits(dst []byte, f Format, clock *Clock, hits []Hit, from int) []byte {
	for i := range hits {
		h := &hits[i]
		if f == JSON {
			dst = comma(dst, from+i)
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, h.TS, 10)
			dst = append(dst, ',')
			dst = AppendJSONString(dst, h.Name)
			dst = append(dst, ',')
			dst = AppendJSONString(dst, h.Msg)
			if h.Node != "" {
				dst = append(dst, ',')
				dst = AppendJSONString(dst, h.Node)
			}
			dst = append(dst, ']')
			continue
		}
		dst = clock.Append(dst, h.TS)
		dst = append(dst, ' ')
		dst = appendWho(dst, h.Name, h.Node)
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, h.Msg)
		dst = append(dst, '\n')
	}
	return dst
}

// appendWho appends a client's name in a text line, "<name>@<node>" when
// node is set.
func appendWho(dst []byte, name, node string) []byte {
	dst = AppendEscaped(dst, name)
	if node != "" {
		dst = append(dst, '@')
		dst = AppendEscaped(dst, node)
	}
	return dst
}

// AppendState appends the reply to STATE <name>; kvs must be sorted by key.
func AppendState(dst []byte, f Format, kvs []KV) []byte {
	if f == JSON {
		return append(appendStateJSON(dst, kvs), '\n')
	}
	dst = appendOK(dst, len(kvs))
	for _, kv := range kvs {
		dst = AppendEscaped(dst, kv.Key)
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, kv.Value)
		dst = append(dst, '\n')
	}
	return dst
}

func appendStateJSON(dst []byte, kvs []KV) []byte {
	dst = append(dst, '{')
	for i, kv := range kvs {
		dst = comma(dst, i)
		dst = AppendJSONString(dst, kv.Key)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, kv.Value)
	}
	return append(dst, '}')
}

// AppendStats appends the reply to STATS: "key value" lines in the order of
// Stats.Fields, or one JSON object with the same keys.
func AppendStats(dst []byte, f Format, s *Stats) []byte {
	fields := s.Fields()
	if f == JSON {
		return append(appendStatsJSON(dst, fields), '\n')
	}
	dst = appendOK(dst, len(fields))
	return appendStatsText(dst, fields)
}

// AppendStatsItem appends s as item i of a list of STATS (CLUSTER STATS):
// its len(s.Fields()) "key value" lines in text, its object in JSON.
func AppendStatsItem(dst []byte, f Format, s *Stats, i int) []byte {
	if f == JSON {
		return appendStatsJSON(comma(dst, i), s.Fields())
	}
	return appendStatsText(dst, s.Fields())
}

func appendStatsJSON(dst []byte, fields []Field) []byte {
	dst = append(dst, '{')
	for i, fl := range fields {
		dst = comma(dst, i)
		dst = AppendJSONString(dst, fl.Name)
		dst = append(dst, ':')
		if fl.Numeric {
			dst = append(dst, fl.Value...)
		} else {
			dst = AppendJSONString(dst, fl.Value)
		}
	}
	return append(dst, '}')
}

func appendStatsText(dst []byte, fields []Field) []byte {
	for _, fl := range fields {
		dst = append(dst, fl.Name...)
		dst = append(dst, ' ')
		dst = appendTextValue(dst, fl.Value)
		dst = append(dst, '\n')
	}
	return dst
}

// AppendDumpOpen appends the head of a DUMP reply: "OK 1\n{" in text (the
// data line is the JSON object), "{" in JSON. A DUMP is AppendDumpOpen,
// AppendDumpClient for each client in name order, AppendDumpClose.
func AppendDumpOpen(dst []byte, f Format) []byte {
	if f == Text {
		dst = appendOK(dst, 1)
	}
	return append(dst, '{')
}

// AppendDumpClient appends d as member i of the DUMP object:
// "<name>":{"connectedAt":..,"status":..,"closedAt":..,"closeReason":..,
// "reconnects":..,"log":[[ts,"msg"],...],"state":{...}}. The same in both
// formats: DUMP is JSON in text mode too.
func AppendDumpClient(dst []byte, d *Dump, i int) []byte {
	dst = comma(dst, i)
	dst = AppendJSONString(dst, d.Name)
	dst = append(dst, `:{"connectedAt":`...)
	dst = strconv.AppendInt(dst, d.ConnectedAt, 10)
	dst = appendRetentionJSON(dst, d.Closed, d.ClosedAt, d.CloseReason, d.Reconnects)
	dst = append(dst, `,"log":[`...)
	dst = AppendLogItems(dst, JSON, nil, &d.Log, 0, d.Log.Len())
	dst = append(dst, `],"state":`...)
	dst = appendStateJSON(dst, d.State)
	return append(dst, '}')
}

// AppendDumpClose appends the tail of a DUMP reply.
func AppendDumpClose(dst []byte) []byte {
	return append(dst, "}\n"...)
}

// WriteDump writes the reply to DUMP to w, writing whenever 64 KiB have
// been rendered, so that a dump of every client is never held whole in
// memory as text (one client's object is held whole). ds must be sorted by
// name.
func WriteDump(w io.Writer, f Format, ds []Dump) error {
	const flushAt = 64 << 10
	buf := make([]byte, 0, flushAt+4096)
	buf = AppendDumpOpen(buf, f)
	for i := range ds {
		buf = AppendDumpClient(buf, &ds[i], i)
		if len(buf) >= flushAt {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(AppendDumpClose(buf))
	return err
}
