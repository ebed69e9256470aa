package query

import "strconv"

// EventKind is what happened to a client.
type EventKind uint8

// The events of WATCH, in the order a client lives through them.
const (
	EventReady EventKind = iota // identified
	EventLog                    // logged a message
	EventSet                    // set a key
	EventClose                  // disconnected
)

var kindWords = [...][2]string{
	EventReady: {"READY", "ready"},
	EventLog:   {"LOG", "log"},
	EventSet:   {"SET", "set"},
	EventClose: {"CLOSE", "close"},
}

// String is the event's name as JSON shows it ("ready", "log", ...).
func (k EventKind) String() string { return kindWords[k][1] }

// Clock renders text timestamps, reusing the last one: the events of one
// read share their receive time, so most calls copy 24 cached bytes instead
// of formatting a date. The zero Clock is ready; it is not safe for
// concurrent use.
type Clock struct {
	ms   int64
	text []byte
}

// Append appends ms as AppendTime does.
func (c *Clock) Append(dst []byte, ms int64) []byte {
	if c.text == nil || c.ms != ms {
		c.ms, c.text = ms, AppendTime(c.text[:0], ms)
	}
	return append(dst, c.text...)
}

// AppendEvent appends one WATCH line. For EventLog a is the message; for
// EventSet a is the key and b the value; otherwise both are unused. Text:
// "<RFC3339 ms> LOG <client> <message>"; JSON: {"ts":..,"event":"log",...}.
// clock may be nil.
func AppendEvent(dst []byte, f Format, clock *Clock, ts int64, kind EventKind, client string, a, b []byte) []byte {
	if f == JSON {
		dst = append(dst, `{"ts":`...)
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, `,"event":"`...)
		dst = append(dst, kindWords[kind][1]...)
		dst = append(dst, `","client":`...)
		dst = AppendJSONString(dst, client)
		switch kind {
		case EventLog:
			dst = append(dst, `,"message":`...)
			dst = AppendJSONString(dst, a)
		case EventSet:
			dst = append(dst, `,"key":`...)
			dst = AppendJSONString(dst, a)
			dst = append(dst, `,"value":`...)
			dst = AppendJSONString(dst, b)
		}
		return append(dst, "}\n"...)
	}
	if clock != nil {
		dst = clock.Append(dst, ts)
	} else {
		dst = AppendTime(dst, ts)
	}
	dst = append(dst, ' ')
	dst = append(dst, kindWords[kind][0]...)
	dst = append(dst, ' ')
	dst = append(dst, client...)
	switch kind {
	case EventLog:
		dst = append(dst, ' ')
		dst = append(dst, a...)
	case EventSet:
		dst = append(dst, ' ')
		dst = append(dst, a...)
		dst = append(dst, ' ')
		dst = append(dst, b...)
	}
	return append(dst, '\n')
}
