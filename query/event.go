package query

import "strconv"

// EventKind is what happened to a client.
type EventKind uint8

// The events of WATCH. EventCont is last so that the values of the others
// stay what they were.
const (
	EventReady EventKind = iota // identified (or resumed)
	EventLog                    // logged a message
	EventSet                    // set a key
	EventClose                  // disconnected, with a reason
	EventCont                   // continued its newest entry (CONT)
)

var kindWords = [...][2]string{
	EventReady: {"READY", "ready"},
	EventLog:   {"LOG", "log"},
	EventSet:   {"SET", "set"},
	EventClose: {"CLOSE", "close"},
	EventCont:  {"CONT", "cont"},
}

// String is the event's name as JSON shows it ("ready", "log", ...).
func (k EventKind) String() string {
	if int(k) >= len(kindWords) {
		return "event(" + strconv.Itoa(int(k)) + ")"
	}
	return kindWords[k][1]
}

// Clock renders text timestamps, reusing the last one: the events of one
// read share their receive time, so most calls copy 24 cached bytes instead
// of formatting a date. The zero Clock is ready and never allocates; a nil
// *Clock formats every time. It is not safe for concurrent use.
type Clock struct {
	ms   int64
	n    int // length of text; 0 before the first call
	text [40]byte
}

// Append appends ms as AppendTime does.
func (c *Clock) Append(dst []byte, ms int64) []byte {
	if c == nil {
		return AppendTime(dst, ms)
	}
	if c.n == 0 || c.ms != ms {
		c.ms, c.n = ms, len(AppendTime(c.text[:0], ms))
	}
	return append(dst, c.text[:c.n]...)
}

// AppendEvent appends one WATCH line of a single node's stream; it is
// AppendNodeEvent with no node.
func AppendEvent(dst []byte, f Format, clock *Clock, ts int64, kind EventKind, client string, a, b []byte) []byte {
	return AppendNodeEvent(dst, f, clock, ts, kind, "", client, a, b)
}

// AppendNodeEvent appends one WATCH line. What a and b carry depends on the
// kind:
//
//	EventLog    a message    "<ts> LOG <client> <message>"   {"ts":..,"event":"log","client":..,"message":..}
//	EventCont   a text       "<ts> CONT <client> <text>"     {..,"event":"cont",..,"message":<text>}
//	EventSet    a key, b value "<ts> SET <client> <key> <value>" {..,"key":..,"value":..}
//	EventClose  a reason     "<ts> CLOSE <client> <reason>"  {..,"event":"close",..,"reason":..}
//	EventReady  -            "<ts> READY <client>"           {..,"event":"ready",..}
//
// A CLOSE with an empty reason is written as in version 1: no reason in
// text or JSON (every close of version 2 has one). When node is set (CLUSTER WATCH) the text names the client
// "<client>@<node>" and JSON adds "node" after "client". Text is escaped
// (AppendEscaped), JSON exact. clock may be nil.
func AppendNodeEvent(dst []byte, f Format, clock *Clock, ts int64, kind EventKind, node, client string, a, b []byte) []byte {
	if f == JSON {
		dst = append(dst, `{"ts":`...)
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, `,"event":"`...)
		dst = append(dst, kind.String()...)
		dst = append(dst, `","client":`...)
		dst = AppendJSONString(dst, client)
		if node != "" {
			dst = append(dst, `,"node":`...)
			dst = AppendJSONString(dst, node)
		}
		switch kind {
		case EventLog, EventCont:
			dst = append(dst, `,"message":`...)
			dst = AppendJSONString(dst, a)
		case EventSet:
			dst = append(dst, `,"key":`...)
			dst = AppendJSONString(dst, a)
			dst = append(dst, `,"value":`...)
			dst = AppendJSONString(dst, b)
		case EventClose:
			if len(a) > 0 {
				dst = append(dst, `,"reason":`...)
				dst = AppendJSONString(dst, a)
			}
		}
		return append(dst, "}\n"...)
	}
	dst = clock.Append(dst, ts)
	dst = append(dst, ' ')
	if int(kind) < len(kindWords) {
		dst = append(dst, kindWords[kind][0]...)
	} else {
		dst = append(dst, kind.String()...)
	}
	dst = append(dst, ' ')
	dst = appendWho(dst, client, node)
	switch kind {
	case EventLog, EventCont:
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, a)
	case EventSet:
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, a)
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, b)
	case EventClose:
		if len(a) > 0 {
			dst = append(dst, ' ')
			dst = AppendEscaped(dst, a)
		}
	}
	return append(dst, '\n')
}
