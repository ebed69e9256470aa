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

// AppendEvent appends one WATCH line. For EventLog a is the message; for
// EventSet a is the key and b the value; otherwise both are unused. Text:
// "<RFC3339 ms> LOG <client> <message>"; JSON: {"ts":..,"event":"log",...}.
func AppendEvent(dst []byte, f Format, ts int64, kind EventKind, client string, a, b []byte) []byte {
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
	dst = AppendTime(dst, ts)
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
