// Package query answers operators' questions about the store: it holds the
// plain-data snapshots that the event loop copies out of the store and renders
// them as admin-protocol replies, in text or JSON (../shared/SPEC.md §2,
// and §6, §7, §10 of version 2). It also holds the matchers queries filter
// with: Glob for client names, Matcher for messages.
//
// Nothing here touches the live store. Snapshots are copies, so rendering can
// run on any goroutine while the event loop goes on ingesting. Text replies
// never pass a control character through (AppendEscaped); JSON replies carry
// the exact text (AppendJSONString).
package query

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Format is an admin connection's reply format.
type Format uint8

// The two reply formats of the admin protocol.
const (
	Text Format = iota
	JSON
)

// ClientInfo is a copy of one client's identity and counters (CLIENT,
// CLIENTS). A connected client has Closed false, ClosedAt 0 and CloseReason
// ""; a closed one (SPEC §6) keeps its counters and last Addr.
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
	Closed      bool   // status "closed", else "connected"
	ClosedAt    int64  // Unix epoch milliseconds; 0 while connected
	CloseReason string // eof, reset, keepalive, replaced, shutdown, "error: <text>"
	Reconnects  uint64 // resumes of this client by a later IAM
	Node        string // CLUSTER replies: the node that holds the client; rendered only when set
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

// Dump is a copy of everything the server holds for one client. The
// retention fields mean what they mean in ClientInfo.
type Dump struct {
	Name        string
	ConnectedAt int64
	Log         Log
	State       []KV // sorted by key
	Closed      bool
	ClosedAt    int64
	CloseReason string
	Reconnects  uint64
}

// Hit is one GREP match: an entry of client Name (held by Node in a CLUSTER
// reply, else Node is ""). Msg usually aliases a buffer that the loop filled
// with many hits' messages, so a GREP of 100,000 hits costs a few
// allocations, not one per hit.
type Hit struct {
	TS   int64 // Unix epoch milliseconds
	Node string
	Name string
	Msg  []byte
}

// SortHits puts hits in GREP order: by time, ties by name, then node, then
// the order they have in hits (which should be ring order, oldest first).
func SortHits(hits []Hit) {
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if a.TS != b.TS {
			if a.TS < b.TS {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
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

	ClosedClients    int    // closed clients held (SPEC §6)
	ForgottenTotal   uint64 // closed clients removed: by time, count, FORGET or memory
	StoreBytes       uint64 // ring and state bytes of every client held
	MaxMemory        uint64 // the budget StoreBytes stays under
	EvictedTotal     uint64 // entries evicted for memory
	LogDroppedTotal  uint64 // lines of the server's own log dropped (stalled stderr)
	NATSDroppedTotal uint64 // events not published to NATS (queue full)
	SetsTotal        uint64 // SET lines stored since start

	Node string // the node's name; a "node" line first, only when set
}

// Field is one STATS line: a name and its value as text.
type Field struct {
	Name, Value string
	Counter     bool // a monotonic counter (for metrics exposition), else a gauge
	Numeric     bool // Value is a JSON number
}

// Fields lists the STATS lines in reply order: node (only when set), then
// the version 1 fields in their order, then the version 2 ones.
func (s *Stats) Fields() []Field {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int) string { return strconv.Itoa(v) }
	var fs []Field
	if s.Node != "" {
		fs = append(make([]Field, 0, 23), Field{Name: "node", Value: s.Node})
	}
	return append(fs,
		Field{Name: "version", Value: s.Version},
		Field{Name: "uptime_s", Value: strconv.FormatInt(s.UptimeS, 10), Numeric: true},
		Field{Name: "clients", Value: i(s.Clients), Numeric: true},
		Field{Name: "max_clients", Value: i(s.MaxClients), Numeric: true},
		Field{Name: "clients_total", Value: u(s.ClientsTotal), Counter: true, Numeric: true},
		Field{Name: "rejected_total", Value: u(s.RejectedTotal), Counter: true, Numeric: true},
		Field{Name: "lines_total", Value: u(s.LinesTotal), Counter: true, Numeric: true},
		Field{Name: "bytes_total", Value: u(s.BytesTotal), Counter: true, Numeric: true},
		Field{Name: "errors_total", Value: u(s.ErrorsTotal), Counter: true, Numeric: true},
		Field{Name: "truncated_total", Value: u(s.TruncatedTotal), Counter: true, Numeric: true},
		Field{Name: "admin_connections", Value: i(s.AdminConnections), Numeric: true},
		Field{Name: "watchers", Value: i(s.Watchers), Numeric: true},
		Field{Name: "watchers_dropped_total", Value: u(s.WatchersDroppedTotal), Counter: true, Numeric: true},
		Field{Name: "heap_bytes", Value: u(s.HeapBytes), Numeric: true},
		Field{Name: "gc_cpu_fraction", Value: strconv.FormatFloat(s.GCCPUFraction, 'f', 6, 64), Numeric: true},
		Field{Name: "closed_clients", Value: i(s.ClosedClients), Numeric: true},
		Field{Name: "forgotten_total", Value: u(s.ForgottenTotal), Counter: true, Numeric: true},
		Field{Name: "store_bytes", Value: u(s.StoreBytes), Numeric: true},
		Field{Name: "max_memory", Value: u(s.MaxMemory), Numeric: true},
		Field{Name: "evicted_total", Value: u(s.EvictedTotal), Counter: true, Numeric: true},
		Field{Name: "log_dropped_total", Value: u(s.LogDroppedTotal), Counter: true, Numeric: true},
		Field{Name: "nats_dropped_total", Value: u(s.NATSDroppedTotal), Counter: true, Numeric: true},
		Field{Name: "sets_total", Value: u(s.SetsTotal), Counter: true, Numeric: true},
	)
}

// maxFastTime is the last millisecond of year 9999, the end of AppendTime's
// fast path: later years do not fit four digits.
const maxFastTime = 253402300799999

// AppendTime appends ms as RFC 3339 UTC with milliseconds, the protocol's
// text timestamp ("2026-11-24T00:36:25.123Z"). Every text line of LOG, GREP
// and WATCH has one, so dates from 1970 to 9999 are computed with integer
// arithmetic (about ten times cheaper than time.Time.AppendFormat, whose
// output it equals); other instants go through the time package.
func AppendTime(dst []byte, ms int64) []byte {
	if ms < 0 || ms > maxFastTime {
		return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	days, rem := ms/86400000, ms%86400000
	// Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible
	// Low-Level Date Algorithms"), for non-negative days.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
		y++
	}
	b := [24]byte{4: '-', 7: '-', 10: 'T', 13: ':', 16: ':', 19: '.', 23: 'Z'}
	put2 := func(at int, v int64) { b[at], b[at+1] = byte('0'+v/10), byte('0'+v%10) }
	put2(0, y/100)
	put2(2, y%100)
	put2(5, m)
	put2(8, d)
	put2(11, rem/3600000)
	put2(14, rem/60000%60)
	put2(17, rem/1000%60)
	b[20], b[21], b[22] = byte('0'+rem%1000/100), byte('0'+rem%100/10), byte('0'+rem%10)
	return append(dst, b[:]...)
}
