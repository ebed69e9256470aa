package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
)

// sse reads an event stream one block (lines up to a blank line) at a time.
type sse struct {
	t    testing.TB
	resp *http.Response
	r    *bufio.Reader
}

// sseClient bounds a whole event stream in a test: a reader waiting for
// a line that never comes fails instead of hanging.
var sseClient = &http.Client{Timeout: 20 * time.Second}

// openSSE opens /api/tail + query and checks that it is an event stream.
func openSSE(t testing.TB, url, query string) *sse {
	t.Helper()
	resp, err := sseClient.Get(url + "/api/tail" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("tail: status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sse{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// block returns the next block's lines; io.EOF when the stream ended.
func (s *sse) block() ([]string, error) {
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (len(lines) > 0 || line != "") {
				err = io.ErrUnexpectedEOF
			}
			return lines, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

// event returns the next block that is not a comment.
func (s *sse) event() ([]string, error) {
	for {
		b, err := s.block()
		if err != nil || len(b) != 1 || !strings.HasPrefix(b[0], ":") {
			return b, err
		}
	}
}

// data returns the JSON of the next event, which must be a plain data line.
func (s *sse) data() ([]byte, error) {
	b, err := s.event()
	if err != nil {
		return nil, err
	}
	if len(b) != 1 || !strings.HasPrefix(b[0], "data: ") {
		s.t.Fatalf("event %q: want one data line", b)
	}
	return []byte(strings.TrimPrefix(b[0], "data: ")), nil
}

func TestServerSentEvents(t *testing.T) {
	srv, url := start(t, nil)
	s := openSSE(t, url, "?client=bob&client=nobody")
	checkBobEvents(t, srv, s.data)
}

// A silent stream gets comment lines, and when the server stops, an
// "event: error" with the reason, then the end.
func TestServerSentEventsHeartbeatAndEnd(t *testing.T) {
	srv, url := startWeb(t, nil, web.Options{Heartbeat: 20 * time.Millisecond})
	s := openSSE(t, url, "")
	for i := range 2 {
		if b, err := s.block(); err != nil || len(b) != 1 || b[0] != ": keep-alive" {
			t.Fatalf("block %d: %q, %v; want a keep-alive comment", i, b, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := s.event()
	if err != nil || strings.Join(b, "\n") != "event: error\ndata: {\"error\":\"server stopping\"}" {
		t.Fatalf("last event %q, %v", b, err)
	}
	if b, err := s.block(); err != io.EOF {
		t.Errorf("after the error: %q, %v; want the end", b, err)
	}
}

// Open streams outlive the request read and write timeouts: they are lifted
// for a stream's connection.
func TestStreamsOutliveRequestTimeouts(t *testing.T) {
	const timeout = 100 * time.Millisecond
	srv, url := startWeb(t, nil, web.Options{ReadTimeout: timeout, WriteTimeout: timeout, Heartbeat: timeout / 5})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(url, "?client=bob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	s := openSSE(t, url, "?client=bob")
	for opened := time.Now(); time.Since(opened) < 3*timeout; {
		if b, err := s.block(); err != nil || len(b) != 1 || b[0] != ": keep-alive" {
			t.Fatalf("%v after opening: %q, %v; want a keep-alive comment", time.Since(opened), b, err)
		}
	}
	eventually(t, "two watchers", func() bool { st, _ := srv.Stats(context.Background()); return st.Watchers == 2 })
	client(t, srv, "bob")
	if msg, err := s.data(); err != nil || !strings.Contains(string(msg), `"event":"ready"`) {
		t.Errorf("event stream: %s, %v", msg, err)
	}
	if _, msg, err := ws.Read(ctx); err != nil || !strings.Contains(string(msg), `"event":"ready"`) {
		t.Errorf("websocket: %s, %v", msg, err)
	}
}

// An event-stream reader that does not read is dropped like a WebSocket
// one, and told why once it reads again.
func TestServerSentEventsSlowConsumerDropped(t *testing.T) {
	srv, url := start(t, func(c *loop.Config) { c.WatchBuffer = 64 << 10 })
	s := openSSE(t, url, "")
	floodUntilDropped(t, srv)
	for {
		b, err := s.event()
		if err != nil {
			t.Fatalf("stream ended without an error event: %v", err)
		}
		if b[0] == "event: error" {
			if len(b) != 2 || !strings.Contains(b[1], "slow consumer") {
				t.Errorf("error event %q", b)
			}
			break
		}
	}
	if b, err := s.block(); err != io.EOF {
		t.Errorf("after the error: %q, %v; want the end", b, err)
	}
}

// Both stream routes parse their query the same way.
func TestWatchQuery(t *testing.T) {
	_, url := start(t, nil)
	for _, tc := range []struct {
		query string
		want  int // for /api/tail; /api/watch answers 426 instead of 200 to a plain GET
		err   string
	}{
		{"", 200, ""},
		{"?client=", 200, ""},
		{"?client=a&client=b*", 200, ""},
		{"?backlog=0", 200, ""},
		{"?backlog=x", 400, "usage: backlog"},
		{"?backlog=-1", 400, "usage: backlog"},
		{"?backlog=", 400, "usage: backlog"},
		{"?match=(", 400, "usage: match"},
		{"?match=refused", 200, ""},
		{"?backlog=10&client=x*&match=(?i)timeout", 200, ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			for _, route := range []string{"/api/tail", "/api/watch"} {
				resp, err := sseClient.Get(url + route + tc.query)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == 200 && route == "/api/watch" {
					want = http.StatusUpgradeRequired
				}
				var body []byte
				if resp.StatusCode != 200 {
					body, _ = io.ReadAll(resp.Body)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d: %s", route, resp.StatusCode, want, body)
				}
				if tc.err != "" {
					jsonHasError(t, string(body), tc.err)
				}
			}
		})
	}
}

// Streams get at most MaxStreams connections (by default three quarters of
// MaxConns), so with every stream slot taken the API still answers; a
// stream past the cap gets 503, and a slot freed is usable again.
func TestStreamCap(t *testing.T) {
	srv, url := startWeb(t, nil, web.Options{MaxConns: 4})
	// One connection per request: a connection the client kept idle would
	// hold the one slot left until the server's idle timeout.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var open []func()
	for i := range 3 {
		if i%2 == 0 {
			ws, _, err := websocket.Dial(ctx, wsURL(url, ""), &websocket.DialOptions{HTTPClient: hc})
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			open = append(open, func() { ws.CloseNow() })
			continue
		}
		resp, err := hc.Get(url + "/api/tail")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, err, resp.Status)
		}
		open = append(open, func() { resp.Body.Close() })
	}
	eventually(t, "three watchers", func() bool { s, _ := srv.Stats(context.Background()); return s.Watchers == 3 })

	if got := dialWS(t, hc, url, "", nil); got != 503 {
		t.Errorf("fourth stream (WebSocket): status %d, want 503", got)
	}
	if got, body := getTail(t, hc, url, "", nil); got != 503 {
		t.Errorf("fourth stream (event stream): status %d, want 503", got)
	} else {
		jsonHasError(t, body, "too many streams")
	}
	if status, body := getWith(t, hc, url+"/api/stats"); status != 200 {
		t.Errorf("API with every stream slot taken: status %d: %s", status, body)
	}

	open[0]()
	eventually(t, "a stream slot freed", func() bool {
		status, _ := getTail(t, hc, url, "", nil)
		return status == 200
	})
	for _, c := range open[1:] {
		c()
	}
}

func getWith(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	r, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, string(b)
}

// BenchmarkStream measures events delivered per second to one reader of
// each stream route, from one data client logging 100-byte lines.
func BenchmarkStream(b *testing.B) {
	for _, route := range []string{"websocket", "event-stream"} {
		b.Run(route, func(b *testing.B) {
			srv, url := start(b, func(c *loop.Config) { c.WatchBuffer = 64 << 20 })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var next func() error
			if route == "websocket" {
				ws, _, err := websocket.Dial(ctx, wsURL(url, "?client=bench"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer ws.CloseNow()
				next = func() error { _, _, err := ws.Read(ctx); return err }
			} else {
				s := openSSE(b, url, "?client=bench")
				next = func() error { _, err := s.data(); return err }
			}
			eventually(b, "watcher", func() bool { st, _ := srv.Stats(context.Background()); return st.Watchers == 1 })
			c := client(b, srv, "bench")
			if err := next(); err != nil { // ready
				b.Fatal(err)
			}
			line := "LOG " + strings.Repeat("x", 100) + "\n"
			b.ResetTimer()
			go func() {
				w := bufio.NewWriter(c)
				for range b.N {
					_, _ = w.WriteString(line)
				}
				_ = w.Flush()
			}()
			for i := range b.N {
				if err := next(); err != nil {
					b.Fatalf("event %d: %v", i, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
