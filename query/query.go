// Package query answers operators' questions about the store: it holds the
// plain-data snapshots that the event loop copies out of the store and renders
// them as admin-protocol replies, in text or JSON (../shared/SPEC.md §2).
//
// Nothing here touches the live store. Snapshots are copies, so rendering can
// run on any goroutine while the event loop goes on ingesting.
package query

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Format is an admin connection's reply format.
type Format uint8

// The two reply formats of the admin protocol.
const (
	Text Format = iota
	JSON
)

// ClientInfo is a copy of one client's identity and counters.
type ClientInfo struct {
	Name        string
	Addr        string
	ConnectedAt int64 // Unix epoch milliseconds
	Entries     int
	Keys        int
	Lines       uint64
	Bytes       uint64
	Truncated   uint64
	Errors      uint64
	LastError   string
}

// Log is a copy of a client's ring, oldest entry first. It is flat (one
// timestamp slice, one offset slice, one byte slice) so that copying a ring
// costs three allocations whatever its length.
type Log struct {
	TS   []int64
	End  []int // End[i] is where message i ends in Data; it starts at End[i-1] (or 0)
	Data []byte
}

// Append adds one entry, copying msg.
func (l *Log) Append(ts int64, msg []byte) {
	l.TS = append(l.TS, ts)
	l.Data = append(l.Data, msg...)
	l.End = append(l.End, len(l.Data))
}

// Len is the number of entries.
func (l *Log) Len() int { return len(l.TS) }

// At returns entry i; msg aliases the Log.
func (l *Log) At(i int) (ts int64, msg []byte) {
	start := 0
	if i > 0 {
		start = l.End[i-1]
	}
	return l.TS[i], l.Data[start:l.End[i]]
}

// KV is one state key and its value.
type KV struct {
	Key, Value string
}

// Dump is a copy of everything the server holds for one client.
type Dump struct {
	Name        string
	ConnectedAt int64
	Log         Log
	State       []KV // sorted by key
}

// Stats is a copy of the server-wide counters and gauges of STATS.
type Stats struct {
	Version              string
	UptimeS              int64
	Clients              int
	ClientsTotal         uint64
	RejectedTotal        uint64
	LinesTotal           uint64
	BytesTotal           uint64
	ErrorsTotal          uint64
	TruncatedTotal       uint64
	AdminConnections     int
	Watchers             int
	WatchersDroppedTotal uint64
	HeapBytes            uint64
	GCCPUFraction        float64
	MaxClients           int
}

// Field is one STATS line: a name and its value as text.
type Field struct {
	Name, Value string
	Counter     bool // a monotonic counter (for metrics exposition), else a gauge
	Numeric     bool // Value is a JSON number
}

// Fields lists the STATS lines in reply order.
func (s *Stats) Fields() []Field {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int) string { return strconv.Itoa(v) }
	return []Field{
		{Name: "version", Value: s.Version},
		{Name: "uptime_s", Value: strconv.FormatInt(s.UptimeS, 10), Numeric: true},
		{Name: "clients", Value: i(s.Clients), Numeric: true},
		{Name: "max_clients", Value: i(s.MaxClients), Numeric: true},
		{Name: "clients_total", Value: u(s.ClientsTotal), Counter: true, Numeric: true},
		{Name: "rejected_total", Value: u(s.RejectedTotal), Counter: true, Numeric: true},
		{Name: "lines_total", Value: u(s.LinesTotal), Counter: true, Numeric: true},
		{Name: "bytes_total", Value: u(s.BytesTotal), Counter: true, Numeric: true},
		{Name: "errors_total", Value: u(s.ErrorsTotal), Counter: true, Numeric: true},
		{Name: "truncated_total", Value: u(s.TruncatedTotal), Counter: true, Numeric: true},
		{Name: "admin_connections", Value: i(s.AdminConnections), Numeric: true},
		{Name: "watchers", Value: i(s.Watchers), Numeric: true},
		{Name: "watchers_dropped_total", Value: u(s.WatchersDroppedTotal), Counter: true, Numeric: true},
		{Name: "heap_bytes", Value: u(s.HeapBytes), Numeric: true},
		{Name: "gc_cpu_fraction", Value: strconv.FormatFloat(s.GCCPUFraction, 'f', 6, 64), Numeric: true},
	}
}

// AppendTime appends ms as RFC 3339 UTC with milliseconds, the protocol's
// text timestamp ("2026-11-24T00:36:25.123Z").
func AppendTime(dst []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
}

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as in encoding/json, so a reply is valid JSON whatever reached the store.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// textValue is how a field with no value prints in text mode.
func textValue(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
