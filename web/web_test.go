package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// newLoop starts a loop server on loopback ports, stopped when the test ends.
func newLoop(t testing.TB, tune func(*loop.Config)) *loop.Server {
	t.Helper()
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	srv, err := loop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return srv
}

// serveWeb serves srv's HTTP API on ln until the test ends (before the loop
// stops) and returns its base URL.
func serveWeb(t testing.TB, srv *loop.Server, opts web.Options, ln net.Listener) string {
	t.Helper()
	hs, err := web.NewServer(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	scheme := "http://"
	if opts.CertFile != "" {
		scheme = "https://"
	}
	return scheme + ln.Addr().String()
}

// startWeb runs a loop server and its HTTP server on loopback ports.
func startWeb(t testing.TB, tune func(*loop.Config), opts web.Options) (*loop.Server, string) {
	t.Helper()
	srv := newLoop(t, tune)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, serveWeb(t, srv, opts, ln)
}

// start runs a server on loopback ports with the HTTP server's defaults.
func start(t testing.TB, tune func(*loop.Config)) (*loop.Server, string) {
	t.Helper()
	return startWeb(t, tune, web.Options{})
}

// client connects to the data port and identifies as name.
func client(t testing.TB, srv *loop.Server, name string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.DataAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send(t, c, "IAM "+name+"\n")
	return c
}

func send(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or five seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return getWith(t, http.DefaultClient, url)
}

func TestRoutes(t *testing.T) {
	srv, url := start(t, nil)
	bob := client(t, srv, "bob")
	send(t, bob, "LOG one\nLOG two\nSET temp 21 C\nSET mode auto\nFOO\n")
	client(t, srv, "alice")
	eventually(t, "bob's lines and alice", func() bool {
		c, err := srv.ClientInfo(context.Background(), "bob")
		names, _ := srv.ClientNames(context.Background())
		return err == nil && c.Errors == 1 && len(names) == 2
	})
	st, err := srv.ClientInfo(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := srv.Log(context.Background(), "bob", loop.Query{})
	ts0, _ := log.At(0)
	ts1, _ := log.At(1)

	checkGets(t, url, []getCase{
		{"/healthz", 200, ""},
		{"/api/clients/bob", 200, fmt.Sprintf(`{"name":"bob","connectedAt":%d,"addr":%q,"entries":2,"keys":2,"lines":2,"bytes":%d,"truncated":0,"errors":1,"lastError":"unknown command \"FOO\"","status":"connected","closedAt":0,"closeReason":"","reconnects":0}`, st.ConnectedAt, st.Addr, st.Bytes)},
		{"/api/clients/bob/log", 200, fmt.Sprintf(`[[%d,"one"],[%d,"two"]]`, ts0, ts1)},
		{"/api/clients/bob/log?n=1", 200, fmt.Sprintf(`[[%d,"two"]]`, ts1)},
		{"/api/clients/bob/log?n=0", 200, `[]`},
		{"/api/clients/bob/log?n=x", 400, `{"error":"usage: n must be a non-negative integer"}`},
		{"/api/clients/bob/log?n=-1", 400, `{"error":"usage: n must be a non-negative integer"}`},
		{"/api/clients/bob/log?n=", 400, `{"error":"usage: n must be a non-negative integer"}`},
		{"/api/clients/bob/state", 200, `{"mode":"auto","temp":"21 C"}`},
		{"/api/clients/alice/state", 200, `{}`},
		{"/api/clients/zed", 404, `{"error":"no such client: zed"}`},
		{"/api/clients/zed/log", 404, `{"error":"no such client: zed"}`},
		{"/api/clients/zed/state", 404, `{"error":"no such client: zed"}`},
		{"/nope", 404, ""},
	})

	_, body := get(t, url+"/healthz")
	if body != "ok\n" {
		t.Errorf("healthz body %q", body)
	}
	_, body = get(t, url+"/api/clients")
	var cs []map[string]any
	if err := json.Unmarshal([]byte(body), &cs); err != nil || len(cs) != 2 || cs[0]["name"] != "alice" || cs[1]["name"] != "bob" {
		t.Errorf("clients: %v %s", err, body)
	}
	_, body = get(t, url+"/api/stats")
	var stats map[string]any
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err, body)
	}
	for k, want := range map[string]float64{"clients": 2, "lines_total": 2, "errors_total": 1, "clients_total": 2} {
		if stats[k] != want {
			t.Errorf("stats %s = %v, want %v", k, stats[k], want)
		}
	}
	status, page := get(t, url+"/")
	if status != 200 || !strings.Contains(page, "<title>Logatron</title>") {
		t.Errorf("status page: %d", status)
	}
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("reply is not JSON: %v: %q", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", gb, wb)
	}
}

func TestMetricsMatchStats(t *testing.T) {
	srv, url := start(t, nil)
	c := client(t, srv, "bob")
	send(t, c, "LOG a\nLOG b\nBAD\n")
	eventually(t, "lines", func() bool { s, _ := srv.Stats(context.Background()); return s.LinesTotal == 2 && s.ErrorsTotal == 1 })

	_, body := get(t, url+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	st, err := srv.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		f, ok := families[name]
		if !ok || len(f.Metric) != 1 {
			t.Fatalf("metric %s missing", name)
		}
		m := f.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		t.Fatalf("metric %s: neither counter nor gauge", name)
		return 0
	}
	for name, want := range map[string]float64{
		"logatron_clients":                float64(st.Clients),
		"logatron_identified_total":       float64(st.ClientsTotal),
		"logatron_lines_total":            float64(st.LinesTotal),
		"logatron_received_bytes_total":   float64(st.BytesTotal),
		"logatron_errors_total":           float64(st.ErrorsTotal),
		"logatron_truncated_total":        float64(st.TruncatedTotal),
		"logatron_rejected_total":         float64(st.RejectedTotal),
		"logatron_watchers":               float64(st.Watchers),
		"logatron_watchers_dropped_total": float64(st.WatchersDroppedTotal),
		"logatron_max_clients":            float64(st.MaxClients),
		"logatron_up":                     1,
	} {
		if got := value(name); got != want {
			t.Errorf("%s = %v, STATS says %v", name, got, want)
		}
	}
	if families["logatron_lines_total"].GetType().String() != "COUNTER" {
		t.Errorf("lines_total is not a counter")
	}
	if value("logatron_heap_bytes") <= 0 {
		t.Errorf("heap_bytes not positive")
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (Debian package prometheus): lint skipped")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func wsURL(httpURL, query string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http") + "/api/watch" + query
}

func TestWebSocketStream(t *testing.T) {
	srv, url := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(url, "?client=bob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	checkBobEvents(t, srv, func() ([]byte, error) {
		typ, msg, err := ws.Read(ctx)
		if err == nil && typ != websocket.MessageText {
			t.Errorf("message type %v", typ)
		}
		return msg, err
	})
}

// checkBobEvents waits for one watcher, makes a client alice (whose events
// the watcher must not get) and a client bob that logs, sets and leaves, and
// checks that next returns bob's four events, in JSON, in order.
func checkBobEvents(t *testing.T, srv *loop.Server, next func() ([]byte, error)) {
	t.Helper()
	eventually(t, "watcher registered", func() bool { s, _ := srv.Stats(context.Background()); return s.Watchers == 1 })
	other := client(t, srv, "alice") // filtered out
	send(t, other, "LOG not for bob\n")
	bob := client(t, srv, "bob")
	send(t, bob, "LOG hello \xffworld\nSET temp 21 C\n")
	eventually(t, "bob's set", func() bool {
		kv, err := srv.ClientState(context.Background(), "bob")
		return err == nil && kv["temp"] != ""
	})
	bob.Close()

	want := []map[string]any{
		{"event": "ready", "client": "bob"},
		{"event": "log", "client": "bob", "message": "hello \uFFFDworld"},
		{"event": "set", "client": "bob", "key": "temp", "value": "21 C"},
		{"event": "close", "client": "bob"},
	}
	for i, w := range want {
		msg, err := next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var got map[string]any
		if err := json.Unmarshal(msg, &got); err != nil {
			t.Fatalf("event %d: %v: %q", i, err, msg)
		}
		if _, ok := got["ts"].(float64); !ok {
			t.Errorf("event %d has no ts: %s", i, msg)
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("event %d: %s = %v, want %v (%s)", i, k, got[k], v, msg)
			}
		}
	}
}

// floodUntilDropped waits for one watcher, then logs 1000-byte lines from a
// client until the loop drops a watcher, and waits until every line sent is
// stored: the data client goes on while the watcher is dropped.
func floodUntilDropped(t *testing.T, srv *loop.Server) {
	t.Helper()
	eventually(t, "watcher registered", func() bool { s, _ := srv.Stats(context.Background()); return s.Watchers == 1 })
	c := client(t, srv, "noisy")
	line := "LOG " + strings.Repeat("x", 1000) + "\n"
	w := bufio.NewWriter(c)
	sent := 0
	for s, _ := srv.Stats(context.Background()); s.WatchersDroppedTotal == 0; s, _ = srv.Stats(context.Background()) {
		if sent > 200_000 {
			t.Fatal("watcher never dropped")
		}
		for range 1000 {
			_, _ = w.WriteString(line)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		sent += 1000
	}
	eventually(t, "all lines stored", func() bool { s, _ := srv.Stats(context.Background()); return s.LinesTotal == uint64(sent) })
	if s, _ := srv.Stats(context.Background()); s.Watchers != 0 {
		t.Errorf("watchers = %d after the drop", s.Watchers)
	}
}

// A WebSocket reader that never reads is dropped once it owes watch-buffer,
// while the data clients go on and the server keeps answering.
func TestWebSocketSlowConsumerDropped(t *testing.T) {
	srv, url := start(t, func(c *loop.Config) { c.WatchBuffer = 64 << 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(url, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	floodUntilDropped(t, srv)
	// Reading now drains what was in flight, then meets the close frame.
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "slow consumer") {
			t.Errorf("close: %v", err)
		}
		break
	}
}

// getCase is a GET of path and the reply it must get.
type getCase struct {
	path   string
	status int
	want   string // JSON, compared structurally; "" means check only status
}

// checkGets runs each case as a subtest against base.
func checkGets(t *testing.T, base string, cases []getCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			status, body := get(t, base+tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", status, tc.status, body)
			}
			if tc.want != "" {
				jsonEqual(t, body, tc.want)
			}
		})
	}
}
