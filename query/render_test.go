package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	t0     = 1764000000123 // 2025-11-24T16:00:00.123Z
	t0Text = "2025-11-24T16:00:00.123Z"
	t1     = 1764000060000 // 2025-11-24T16:01:00.000Z
	t1Text = "2025-11-24T16:01:00.000Z"
)

var (
	connected = ClientInfo{Name: "alice", Addr: "127.0.0.1:5000", ConnectedAt: t0, Entries: 3, Keys: 2,
		Lines: 5, Bytes: 100, Truncated: 1, Errors: 2, LastError: "unknown command \"\x1b[2J\"", Reconnects: 1}
	closedErr = ClientInfo{Name: "bob", Addr: "10.0.0.2:6000", ConnectedAt: t0, Lines: 1, Bytes: 9,
		Closed: true, ClosedAt: t1, CloseReason: "error: line too long"}
	closedEOF = ClientInfo{Name: "carol", Addr: "10.0.0.3:7000", ConnectedAt: t1, Closed: true, ClosedAt: t1,
		CloseReason: "eof", Reconnects: 4, Node: "n2"}
)

// decode parses one JSON reply, failing the test when it is not exactly
// one line of valid JSON.
func decode(t *testing.T, out []byte, v any) {
	t.Helper()
	if !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) != 1 {
		t.Fatalf("JSON reply is not one line: %q", out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("invalid JSON %q: %v", out, err)
	}
}

// lines splits a text reply into its header and data lines, checking that
// the header counts them.
func lines(t *testing.T, out []byte) (head string, data []string) {
	t.Helper()
	all := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	head, data = all[0], all[1:]
	var n int
	if _, err := fmt.Sscanf(head, "OK %d", &n); err != nil || n != len(data) {
		t.Fatalf("header %q does not count %d data lines", head, len(data))
	}
	for _, l := range data {
		checkTerminalSafe(t, []byte(l))
	}
	return head, data
}

func TestAppendClientText(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    ClientInfo
		want []string
	}{
		{"connected", connected, []string{"OK 14",
			"name alice", "connected_at " + t0Text, "addr 127.0.0.1:5000", "entries 3", "keys 2", "lines 5",
			"bytes 100", "truncated 1", "errors 2", `last_error unknown command "\x1b[2J"`,
			"status connected", "closed_at -", "close_reason -", "reconnects 1"}},
		{"closed by error", closedErr, []string{"OK 14",
			"name bob", "connected_at " + t0Text, "addr 10.0.0.2:6000", "entries 0", "keys 0", "lines 1",
			"bytes 9", "truncated 0", "errors 0", "last_error -",
			"status closed", "closed_at " + t1Text, "close_reason error: line too long", "reconnects 0"}},
		{"closed on another node", closedEOF, []string{"OK 15",
			"name carol", "connected_at " + t1Text, "addr 10.0.0.3:7000", "entries 0", "keys 0", "lines 0",
			"bytes 0", "truncated 0", "errors 0", "last_error -",
			"status closed", "closed_at " + t1Text, "close_reason eof", "reconnects 4", "node n2"}},
		{"connected but stale close fields", ClientInfo{Name: "d", ClosedAt: 5, CloseReason: "eof"}, []string{"OK 14",
			"name d", "connected_at 1970-01-01T00:00:00.000Z", "addr -", "entries 0", "keys 0", "lines 0",
			"bytes 0", "truncated 0", "errors 0", "last_error -",
			"status connected", "closed_at -", "close_reason -", "reconnects 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(string(AppendClient(nil, Text, &tc.c)), "\n"), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// clientJSON is the CLIENT object as a client of the API decodes it.
type clientJSON struct {
	Name        string  `json:"name"`
	ConnectedAt int64   `json:"connectedAt"`
	Addr        string  `json:"addr"`
	Entries     int     `json:"entries"`
	Keys        int     `json:"keys"`
	Lines       uint64  `json:"lines"`
	Bytes       uint64  `json:"bytes"`
	Truncated   uint64  `json:"truncated"`
	Errors      uint64  `json:"errors"`
	LastError   string  `json:"lastError"`
	Status      string  `json:"status"`
	ClosedAt    int64   `json:"closedAt"`
	CloseReason string  `json:"closeReason"`
	Reconnects  uint64  `json:"reconnects"`
	Node        *string `json:"node"`
}

func wantClientJSON(c ClientInfo) clientJSON {
	w := clientJSON{Name: c.Name, ConnectedAt: c.ConnectedAt, Addr: c.Addr, Entries: c.Entries, Keys: c.Keys,
		Lines: c.Lines, Bytes: c.Bytes, Truncated: c.Truncated, Errors: c.Errors, LastError: c.LastError,
		Status: "connected", Reconnects: c.Reconnects}
	if c.Closed {
		w.Status, w.ClosedAt, w.CloseReason = "closed", c.ClosedAt, c.CloseReason
	}
	if c.Node != "" {
		w.Node = &c.Node
	}
	return w
}

func TestAppendClientJSON(t *testing.T) {
	for _, c := range []ClientInfo{connected, closedErr, closedEOF, {Name: "d", ClosedAt: 5, CloseReason: "eof"}} {
		t.Run(c.Name, func(t *testing.T) {
			var got clientJSON
			out := AppendClient(nil, JSON, &c)
			decode(t, out, &got)
			if want := wantClientJSON(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v\nfrom %s", got, want, out)
			}
			if c.Node == "" && bytes.Contains(out, []byte(`"node"`)) {
				t.Errorf("node key without a node: %s", out)
			}
		})
	}
}

func TestAppendClients(t *testing.T) {
	cs := []ClientInfo{connected, closedErr, closedEOF}
	head, data := lines(t, AppendClients(nil, Text, cs))
	want := []string{
		"alice connected_at=" + t0Text + " addr=127.0.0.1:5000 entries=3 keys=2 lines=5 bytes=100 errors=2 status=connected",
		"bob connected_at=" + t0Text + " addr=10.0.0.2:6000 entries=0 keys=0 lines=1 bytes=9 errors=0 status=closed closed_at=" + t1Text + ` close_reason="error: line too long"`,
		"carol connected_at=" + t1Text + " addr=10.0.0.3:7000 entries=0 keys=0 lines=0 bytes=0 errors=0 status=closed closed_at=" + t1Text + " close_reason=eof node=n2",
	}
	if head != "OK 3" || !reflect.DeepEqual(data, want) {
		t.Errorf("text: %q %q\nwant %q", head, data, want)
	}
	var got []clientJSON
	decode(t, AppendClients(nil, JSON, cs), &got)
	for i := range cs {
		if w := wantClientJSON(cs[i]); i >= len(got) || !reflect.DeepEqual(got[i], w) {
			t.Errorf("JSON item %d: got %+v, want %+v", i, got, w)
		}
	}
	if out := string(AppendClients(nil, JSON, nil)); out != "[]\n" {
		t.Errorf("no clients, JSON: %q", out)
	}
	if out := string(AppendClients(nil, Text, nil)); out != "OK 0\n" {
		t.Errorf("no clients, text: %q", out)
	}
}

// Rendering a list in pieces through a Frame gives the same bytes as the
// whole reply, whatever the piece size: what bounded writing relies on.
func TestPiecesEqualWhole(t *testing.T) {
	cs := []ClientInfo{connected, closedErr, closedEOF, {Name: "dave"}}
	hits := []Hit{{TS: t0, Name: "a", Msg: []byte("one")}, {TS: t0, Name: "b", Msg: []byte("two\n")}, {TS: t1, Name: "a", Msg: nil}}
	names := []string{"a", "b", "c", "d", "e"}
	var l Log
	for i, m := range []string{"x", "y\x1b", "", "z"} {
		l.Append(t0+int64(i), []byte(m))
	}
	for _, f := range []Format{Text, JSON} {
		fr := Frame{Format: f}
		for size := 1; size <= 4; size++ {
			var clock Clock
			piece := func(n int, render func(dst []byte, from, to int) []byte) []byte {
				out := fr.Open(nil, n)
				for from := 0; from < n; from += size {
					out = render(out, from, min(from+size, n))
				}
				return fr.Close(out)
			}
			for _, tc := range []struct {
				name  string
				whole []byte
				piece []byte
			}{
				{"CLIENTS", AppendClients(nil, f, cs), piece(len(cs), func(dst []byte, from, to int) []byte {
					return AppendClientItems(dst, f, &clock, cs[from:to], from)
				})},
				{"GREP", AppendGrep(nil, f, hits), piece(len(hits), func(dst []byte, from, to int) []byte {
					return AppendHits(dst, f, &clock, hits[from:to], from)
				})},
				{"NAMES", AppendStrings(nil, f, names), piece(len(names), func(dst []byte, from, to int) []byte {
					return AppendStringItems(dst, f, names[from:to], from)
				})},
				{"LOG", AppendLog(nil, f, &l), piece(l.Len(), func(dst []byte, from, to int) []byte {
					return AppendLogItems(dst, f, &clock, &l, from, to)
				})},
			} {
				if !bytes.Equal(tc.whole, tc.piece) {
					t.Errorf("%s format %d pieces of %d:\n%q\nwhole:\n%q", tc.name, f, size, tc.piece, tc.whole)
				}
			}
		}
	}
}

func TestAppendGrep(t *testing.T) {
	hits := []Hit{
		{TS: t0, Name: "alice", Msg: []byte("connection refused")},
		{TS: t0, Name: "bob", Msg: []byte("boom\x1b[31m\nat main.go:12")},
		{TS: t1, Name: "bob", Node: "n2", Msg: []byte("é \u0085")},
	}
	head, data := lines(t, AppendGrep(nil, Text, hits))
	want := []string{
		t0Text + " alice connection refused",
		t0Text + ` bob boom\x1b[31m\nat main.go:12`,
		t1Text + ` bob@n2 é \u0085`,
	}
	if head != "OK 3" || !reflect.DeepEqual(data, want) {
		t.Errorf("text: %q %q\nwant %q", head, data, want)
	}
	var got [][]any
	decode(t, AppendGrep(nil, JSON, hits), &got)
	wantJSON := [][]any{
		{float64(t0), "alice", "connection refused"},
		{float64(t0), "bob", "boom\x1b[31m\nat main.go:12"},
		{float64(t1), "bob", "é \u0085", "n2"},
	}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("JSON: %v\nwant %v", got, wantJSON)
	}
	if out := string(AppendGrep(nil, JSON, nil)); out != "[]\n" {
		t.Errorf("no hits: %q", out)
	}
}

func TestSortHits(t *testing.T) {
	hits := []Hit{
		{TS: 2, Name: "b", Msg: []byte("b2")},
		{TS: 1, Name: "b", Msg: []byte("b1-first")},
		{TS: 1, Name: "a", Node: "n2", Msg: []byte("a1-n2")},
		{TS: 1, Name: "b", Msg: []byte("b1-second")},
		{TS: 1, Name: "a", Node: "n1", Msg: []byte("a1-n1")},
	}
	SortHits(hits)
	var got []string
	for _, h := range hits {
		got = append(got, string(h.Msg))
	}
	if want := []string{"a1-n1", "a1-n2", "b1-first", "b1-second", "b2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFrameCluster(t *testing.T) {
	items := func(dst []byte, f Format) []byte {
		return AppendClientItems(dst, f, nil, []ClientInfo{closedEOF}, 0)
	}
	for _, tc := range []struct {
		name     string
		fr       Frame
		wantHead string
		missing  []string // JSON, nil: not wrapped
	}{
		{"one node", Frame{}, "OK 1", nil},
		{"cluster, all answered", Frame{Cluster: true}, "OK 1", []string{}},
		{"cluster, two missing", Frame{Cluster: true, Missing: []string{"n3", "n4"}}, "OK 1 missing=n3,n4", []string{"n3", "n4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := tc.fr
			head, data := lines(t, fr.Close(items(fr.Open(nil, 1), Text)))
			if head != tc.wantHead || len(data) != 1 || !strings.HasSuffix(data[0], " node=n2") {
				t.Errorf("text: %q %q", head, data)
			}
			fr.Format = JSON
			out := fr.Close(items(fr.Open(nil, 1), JSON))
			if tc.missing == nil {
				var got []clientJSON
				decode(t, out, &got)
				if len(got) != 1 || got[0].Node == nil || *got[0].Node != "n2" {
					t.Errorf("JSON: %s", out)
				}
				return
			}
			var got struct {
				Missing []string     `json:"missing"`
				Items   []clientJSON `json:"items"`
			}
			decode(t, out, &got)
			if !reflect.DeepEqual(got.Missing, tc.missing) || len(got.Items) != 1 || got.Items[0].Name != "carol" {
				t.Errorf("JSON: %+v from %s", got, out)
			}
		})
	}
	if out := string(Frame{Format: Text, Cluster: true, Missing: []string{"n3"}}.OpenStream(nil)); out != "OK stream missing=n3\n" {
		t.Errorf("text stream: %q", out)
	}
	var st struct {
		Stream  bool     `json:"stream"`
		Missing []string `json:"missing"`
	}
	decode(t, Frame{Format: JSON, Cluster: true, Missing: []string{"n3"}}.OpenStream(nil), &st)
	if !st.Stream || !reflect.DeepEqual(st.Missing, []string{"n3"}) {
		t.Errorf("JSON stream: %+v", st)
	}
	if out := string(AppendStreamStart(nil, Text)) + string(AppendStreamStart(nil, JSON)); out != "OK stream\n{\"stream\":true}\n" {
		t.Errorf("single-node stream start: %q", out)
	}
}

func TestAppendEvent(t *testing.T) {
	type ev struct {
		TS      int64   `json:"ts"`
		Event   string  `json:"event"`
		Client  string  `json:"client"`
		Node    *string `json:"node"`
		Message *string `json:"message"`
		Key     *string `json:"key"`
		Value   *string `json:"value"`
		Reason  *string `json:"reason"`
	}
	p := func(s string) *string { return &s }
	for _, tc := range []struct {
		name     string
		kind     EventKind
		node     string
		a, b     string
		text     string
		json     ev
		jsonKeys int
	}{
		{"ready", EventReady, "", "", "", t0Text + " READY bob", ev{TS: t0, Event: "ready", Client: "bob"}, 3},
		{"log", EventLog, "", "hello  world", "", t0Text + " LOG bob hello  world", ev{TS: t0, Event: "log", Client: "bob", Message: p("hello  world")}, 4},
		{"log empty", EventLog, "", "", "", t0Text + " LOG bob ", ev{TS: t0, Event: "log", Client: "bob", Message: p("")}, 4},
		{"log escaped", EventLog, "", "a\x1b]0;t\x07\r\n\u009b\\", "", t0Text + ` LOG bob a\x1b]0;t\x07\r\n\u009b\\`, ev{TS: t0, Event: "log", Client: "bob", Message: p("a\x1b]0;t\x07\r\n\u009b\\")}, 4},
		{"cont", EventCont, "", "\tat main.go:12", "", t0Text + " CONT bob \tat main.go:12", ev{TS: t0, Event: "cont", Client: "bob", Message: p("\tat main.go:12")}, 4},
		{"set", EventSet, "", "temp", "21 C\n", t0Text + ` SET bob temp 21 C\n`, ev{TS: t0, Event: "set", Client: "bob", Key: p("temp"), Value: p("21 C\n")}, 5},
		{"close eof", EventClose, "", "eof", "", t0Text + " CLOSE bob eof", ev{TS: t0, Event: "close", Client: "bob", Reason: p("eof")}, 4},
		{"close error", EventClose, "", "error: line too long", "", t0Text + " CLOSE bob error: line too long", ev{TS: t0, Event: "close", Client: "bob", Reason: p("error: line too long")}, 4},
		{"close no reason", EventClose, "", "", "", t0Text + " CLOSE bob", ev{TS: t0, Event: "close", Client: "bob"}, 3},
		{"cluster log", EventLog, "n1", "hi", "", t0Text + " LOG bob@n1 hi", ev{TS: t0, Event: "log", Client: "bob", Node: p("n1"), Message: p("hi")}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock Clock
			text := AppendNodeEvent(nil, Text, &clock, t0, tc.kind, tc.node, "bob", []byte(tc.a), []byte(tc.b))
			if string(text) != tc.text+"\n" {
				t.Errorf("text %q, want %q", text, tc.text+"\n")
			}
			out := AppendNodeEvent(nil, JSON, nil, t0, tc.kind, tc.node, "bob", []byte(tc.a), []byte(tc.b))
			var got ev
			decode(t, out, &got)
			if !reflect.DeepEqual(got, tc.json) {
				t.Errorf("JSON %s", out)
			}
			var keys map[string]any
			decode(t, out, &keys)
			if len(keys) != tc.jsonKeys {
				t.Errorf("JSON %s has %d keys, want %d", out, len(keys), tc.jsonKeys)
			}
			if tc.node == "" {
				if old := AppendEvent(nil, JSON, nil, t0, tc.kind, "bob", []byte(tc.a), []byte(tc.b)); !bytes.Equal(old, out) {
					t.Errorf("AppendEvent %s differs from AppendNodeEvent %s", old, out)
				}
			}
		})
	}
	if EventCont.String() != "cont" || EventKind(200).String() != "event(200)" {
		t.Errorf("String: %q %q", EventCont, EventKind(200))
	}
}

func TestAppendLogAndState(t *testing.T) {
	var l Log
	l.Append(t0, []byte("plain"))
	l.Append(t1, []byte("two\nlines\x1b[0m"))
	head, data := lines(t, AppendLog(nil, Text, &l))
	if want := []string{t0Text + " plain", t1Text + ` two\nlines\x1b[0m`}; head != "OK 2" || !reflect.DeepEqual(data, want) {
		t.Errorf("LOG text %q %q", head, data)
	}
	var entries [][]any
	decode(t, AppendLog(nil, JSON, &l), &entries)
	if want := [][]any{{float64(t0), "plain"}, {float64(t1), "two\nlines\x1b[0m"}}; !reflect.DeepEqual(entries, want) {
		t.Errorf("LOG JSON %v", entries)
	}

	kvs := []KV{{"a", "1"}, {"msg", "x\x07y \\ z"}}
	head, data = lines(t, AppendState(nil, Text, kvs))
	if want := []string{"a 1", `msg x\x07y \\ z`}; head != "OK 2" || !reflect.DeepEqual(data, want) {
		t.Errorf("STATE text %q %q", head, data)
	}
	var state map[string]string
	decode(t, AppendState(nil, JSON, kvs), &state)
	if want := map[string]string{"a": "1", "msg": "x\x07y \\ z"}; !reflect.DeepEqual(state, want) {
		t.Errorf("STATE JSON %v", state)
	}
}

func TestAppendError(t *testing.T) {
	for _, tc := range []struct{ reason, text string }{
		{"no such client: bob", "ERR no such client: bob\n"},
		{"unknown command \"\x1b[2J\x9b\"", "ERR unknown command \"\\x1b[2J\\x9b\"\n"},
		{"usage: GREP <regex>\n", "ERR usage: GREP <regex>\\n\n"},
	} {
		if got := string(AppendError(nil, Text, tc.reason)); got != tc.text {
			t.Errorf("text %q, want %q", got, tc.text)
		}
		var got struct{ Error string }
		decode(t, AppendError(nil, JSON, tc.reason), &got)
		if want := strings.ToValidUTF8(tc.reason, "\uFFFD"); got.Error != want {
			t.Errorf("JSON error %q, want %q", got.Error, want)
		}
	}
}

func TestAppendStrings(t *testing.T) {
	head, data := lines(t, AppendStrings(nil, Text, []string{"alice", "b\x1bob"}))
	if head != "OK 2" || !reflect.DeepEqual(data, []string{"alice", `b\x1bob`}) {
		t.Errorf("text %q %q", head, data)
	}
	var got []string
	decode(t, AppendStrings(nil, JSON, []string{"alice", "b\x1bob"}), &got)
	if !reflect.DeepEqual(got, []string{"alice", "b\x1bob"}) {
		t.Errorf("JSON %q", got)
	}
}

var stats = Stats{Version: "2.0.0", UptimeS: 42, Clients: 3, ClientsTotal: 9, RejectedTotal: 1, LinesTotal: 100,
	BytesTotal: 2000, ErrorsTotal: 2, TruncatedTotal: 1, AdminConnections: 1, Watchers: 2, WatchersDroppedTotal: 1,
	HeapBytes: 4096, GCCPUFraction: 0.25, MaxClients: 1000, ClosedClients: 4, ForgottenTotal: 5, StoreBytes: 6000,
	MaxMemory: 1 << 30, EvictedTotal: 7, LogDroppedTotal: 8, NATSDroppedTotal: 9}

var statsKeys = []string{"version", "uptime_s", "clients", "max_clients", "clients_total", "rejected_total",
	"lines_total", "bytes_total", "errors_total", "truncated_total", "admin_connections", "watchers",
	"watchers_dropped_total", "heap_bytes", "gc_cpu_fraction", "closed_clients", "forgotten_total",
	"store_bytes", "max_memory", "evicted_total", "log_dropped_total", "nats_dropped_total"}

func TestAppendStats(t *testing.T) {
	head, data := lines(t, AppendStats(nil, Text, &stats))
	if head != "OK 22" || len(data) != len(statsKeys) {
		t.Fatalf("text %q %q", head, data)
	}
	for i, k := range statsKeys {
		if name, _, _ := strings.Cut(data[i], " "); name != k {
			t.Errorf("line %d is %q, want key %s", i, data[i], k)
		}
	}
	wantTail := []string{"closed_clients 4", "forgotten_total 5", "store_bytes 6000", "max_memory 1073741824",
		"evicted_total 7", "log_dropped_total 8", "nats_dropped_total 9"}
	if got := data[len(data)-7:]; !reflect.DeepEqual(got, wantTail) {
		t.Errorf("new lines %q, want %q", got, wantTail)
	}
	var got map[string]any
	decode(t, AppendStats(nil, JSON, &stats), &got)
	if len(got) != len(statsKeys) || got["version"] != "2.0.0" || got["gc_cpu_fraction"] != 0.25 ||
		got["max_memory"] != float64(1<<30) || got["nats_dropped_total"] != float64(9) || got["closed_clients"] != float64(4) {
		t.Errorf("JSON %v", got)
	}

	withNode := stats
	withNode.Node = "n1"
	head, data = lines(t, AppendStats(nil, Text, &withNode))
	if head != "OK 23" || data[0] != "node n1" {
		t.Errorf("node first: %q %q", head, data[:2])
	}
	var list []map[string]any
	out := AppendStatsItem(AppendStatsItem(append([]byte(nil), '['), JSON, &withNode, 0), JSON, &stats, 1)
	decode(t, append(out, "]\n"...), &list)
	if len(list) != 2 || list[0]["node"] != "n1" || list[1]["node"] != nil {
		t.Errorf("CLUSTER STATS items %v", list)
	}
	counters := map[string]bool{}
	for _, f := range stats.Fields() {
		counters[f.Name] = f.Counter
	}
	for _, k := range []string{"forgotten_total", "evicted_total", "log_dropped_total", "nats_dropped_total"} {
		if !counters[k] {
			t.Errorf("%s is not marked a counter", k)
		}
	}
	for _, k := range []string{"closed_clients", "store_bytes", "max_memory"} {
		if counters[k] {
			t.Errorf("%s is marked a counter", k)
		}
	}
}

// writes records each Write, so that a test sees the pieces.
type writes struct{ pieces [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.pieces = append(w.pieces, bytes.Clone(p))
	return len(p), nil
}

func TestWriteDump(t *testing.T) {
	var l Log
	l.Append(t0, []byte("one\x1b[31m"))
	l.Append(t1, []byte("two"))
	ds := []Dump{
		{Name: "alice", ConnectedAt: t0, Log: l, State: []KV{{"k", "v\x00"}}},
		{Name: "bob", ConnectedAt: t0, Closed: true, ClosedAt: t1, CloseReason: "error: line too long", Reconnects: 2},
	}
	type client struct {
		ConnectedAt int64             `json:"connectedAt"`
		Status      string            `json:"status"`
		ClosedAt    int64             `json:"closedAt"`
		CloseReason string            `json:"closeReason"`
		Reconnects  uint64            `json:"reconnects"`
		Log         [][]any           `json:"log"`
		State       map[string]string `json:"state"`
	}
	want := map[string]client{
		"alice": {ConnectedAt: t0, Status: "connected", Log: [][]any{{float64(t0), "one\x1b[31m"}, {float64(t1), "two"}}, State: map[string]string{"k": "v\x00"}},
		"bob":   {ConnectedAt: t0, Status: "closed", ClosedAt: t1, CloseReason: "error: line too long", Reconnects: 2, Log: [][]any{}, State: map[string]string{}},
	}
	for _, f := range []Format{Text, JSON} {
		var w writes
		if err := WriteDump(&w, f, ds); err != nil {
			t.Fatal(err)
		}
		out := bytes.Join(w.pieces, nil)
		if f == Text {
			rest, ok := bytes.CutPrefix(out, []byte("OK 1\n"))
			if !ok {
				t.Fatalf("text DUMP does not start with OK 1: %q", out)
			}
			checkTerminalSafe(t, bytes.TrimSuffix(rest, []byte("\n")))
			out = rest
		}
		var got map[string]client
		decode(t, out, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("format %d: got %+v\nwant %+v", f, got, want)
		}
	}

	// A large dump is written in pieces of about 64 KiB, not whole.
	big := make([]Dump, 200)
	msg := []byte(strings.Repeat("x", 1000))
	for i := range big {
		big[i].Name = string(rune('a'+i%26)) + strings.Repeat("n", i/26)
		for range 10 {
			big[i].Log.Append(t0, msg)
		}
	}
	var w writes
	if err := WriteDump(&w, JSON, big); err != nil {
		t.Fatal(err)
	}
	if len(w.pieces) < 20 {
		t.Errorf("2 MB dump written in %d pieces", len(w.pieces))
	}
	for i, p := range w.pieces {
		if len(p) > 80<<10 {
			t.Errorf("piece %d is %d bytes", i, len(p))
		}
	}
	if !json.Valid(bytes.Join(w.pieces, nil)) {
		t.Error("large dump is not valid JSON")
	}
}

// Small fixed replies keep their exact version 1 bytes.
func TestFixedReplies(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(AppendPong(nil, Text)), "OK 1\nPONG\n"},
		{string(AppendPong(nil, JSON)), "\"PONG\"\n"},
		{string(AppendDone(nil, Text)), "OK 0\n"},
		{string(AppendDone(nil, JSON)), "{\"ok\":true}\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Rendering into a buffer with room allocates nothing: replies over 10,000
// clients or 100,000 hits cost their bytes, not an allocation per item.
func TestRenderNoAlloc(t *testing.T) {
	cs := []ClientInfo{connected, closedErr, closedEOF}
	hits := []Hit{{TS: t0, Name: "a", Node: "n1", Msg: []byte("x\x1by")}, {TS: t1, Name: "b", Msg: []byte("z")}}
	var l Log
	l.Append(t0, []byte("one"))
	l.Append(t1, []byte("two\n"))
	kvs := []KV{{"k", "v"}}
	dst := make([]byte, 0, 64<<10)
	var clock Clock
	for _, f := range []Format{Text, JSON} {
		for _, tc := range []struct {
			name   string
			render func()
		}{
			{"CLIENT", func() { dst = AppendClient(dst[:0], f, &cs[1]) }},
			{"CLIENTS", func() { dst = AppendClients(dst[:0], f, cs) }},
			{"client items", func() { dst = AppendClientItems(dst[:0], f, &clock, cs, 3) }},
			{"GREP", func() { dst = AppendGrep(dst[:0], f, hits) }},
			{"LOG", func() { dst = AppendLog(dst[:0], f, &l) }},
			{"STATE", func() { dst = AppendState(dst[:0], f, kvs) }},
			{"event", func() {
				dst = AppendNodeEvent(dst[:0], f, &clock, t0, EventSet, "n1", "bob", []byte("k"), []byte("v\n"))
			}},
			{"error", func() { dst = AppendError(dst[:0], f, "no such client: bob") }},
			{"cluster frame", func() {
				fr := Frame{Format: f, Cluster: true, Missing: []string{"n3"}}
				dst = fr.Close(fr.Open(dst[:0], 0))
			}},
			{"dump client", func() { dst = AppendDumpClient(dst[:0], &Dump{Name: "a", Log: l, State: kvs}, 1) }},
		} {
			if n := testing.AllocsPerRun(50, tc.render); n != 0 {
				t.Errorf("%s format %d: %v allocations", tc.name, f, n)
			}
		}
	}
}
