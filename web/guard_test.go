package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/web"
)

// raw sends req as it is over a new connection to the server at base URL and
// returns the reply with its body.
func raw(t *testing.T, base, req string) (*http.Response, string) {
	t.Helper()
	c, resp := rawHeader(t, base, req)
	defer c.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// rawHeader sends req over a new connection and reads the reply's header.
func rawHeader(t *testing.T, base, req string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, resp
}

// getHost asks for /healthz with the given Host line ("" sends an HTTP/1.0
// request with no Host at all).
func getHost(t *testing.T, base, host string) (*http.Response, string) {
	t.Helper()
	if host == "" {
		return raw(t, base, "GET /healthz HTTP/1.0\r\n\r\n")
	}
	return raw(t, base, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
}

// On a loopback listener only loopback Hosts are answered: a page on another
// site that rebinds its name to 127.0.0.1 gets 421, not the logs.
func TestHostCheck(t *testing.T) {
	_, url := start(t, nil)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"localhost", 200},
		{"localhost:2214", 200},
		{"LocalHost:80", 200},
		{"127.0.0.1", 200},
		{"127.0.0.1:2214", 200},
		{"127.45.6.7:1", 200},
		{"[::1]", 200},
		{"[::1]:2214", 200},
		{"[::ffff:127.0.0.1]:2214", 200},
		{"", 200}, // HTTP/1.0 without Host: no browser sends that
		{"evil.example", 421},
		{"evil.example:2214", 421},
		{"localhost.evil.example", 421},
		{"127.0.0.1.nip.io:2214", 421},
		{"evil-localhost", 421},
		{"0.0.0.0:2214", 421},
		{"10.0.0.1", 421},
		{"[::2]:2214", 421},
		{"[fe80::1]", 421},
	} {
		t.Run(tc.host, func(t *testing.T) {
			resp, body := getHost(t, url, tc.host)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 421 {
				jsonHasError(t, body, "misdirected request")
			}
		})
	}
}

// jsonHasError checks that body is {"error": "<text containing want>"}.
func jsonHasError(t *testing.T, body, want string) {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 || !strings.Contains(e["error"], want) {
		t.Errorf("body %q, want {\"error\": \"...%s...\"}", body, want)
	}
}

// allInterfaces is a loopback listener that reports the address it would
// have bound to all interfaces: the network here is loopback only.
type allInterfaces struct{ net.Listener }

func (l allInterfaces) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4zero, Port: l.Listener.Addr().(*net.TCPAddr).Port}
}

// Off loopback, the Host is the operator's business (a name, a proxy):
// any is answered.
func TestHostNotCheckedOffLoopback(t *testing.T) {
	srv := newLoop(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveWeb(t, srv, web.Options{}, allInterfaces{ln})
	for _, host := range []string{"logs.example", "127.0.0.1"} {
		if resp, body := getHost(t, "http://"+ln.Addr().String(), host); resp.StatusCode != 200 {
			t.Errorf("Host %s: status %d: %s", host, resp.StatusCode, body)
		}
	}
}

// Request headers past the bound are refused before any handler runs.
func TestHugeHeaderRefused(t *testing.T) {
	_, url := start(t, nil)
	for _, tc := range []struct {
		size int
		want int
	}{
		{4 << 10, 200},
		{64 << 10, 431},
	} {
		// Only the header is read: the server resets the connection after a
		// 431, since the rest of the request was never read.
		c, resp := rawHeader(t, url, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("a", tc.size)+"\r\nConnection: close\r\n\r\n")
		c.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

// dialWS opens /api/watch with extra headers and returns the handshake's
// status (101 when it succeeded).
func dialWS(t *testing.T, hc *http.Client, url, query string, h http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, wsURL(url, query), &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
	}
	if resp == nil {
		t.Fatalf("websocket dial: %v", err)
	}
	return resp.StatusCode
}

// getTail opens /api/tail with extra headers and returns the status; a
// stream that opened is closed again.
func getTail(t *testing.T, hc *http.Client, url, query string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/tail"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("tail content type %q", ct)
		}
		return 200, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A stream asked for from another origin (a page on another site) is
// refused; same-origin pages and clients that send no Origin are served.
func TestStreamOrigin(t *testing.T) {
	_, url := start(t, nil)
	self := url // http://127.0.0.1:port, the Host the clients send
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"", true},
		{self, true},
		{"https://evil.example", false},
		{"http://evil.example" + strings.TrimPrefix(self, "http://127.0.0.1"), false},
		{"http://localhost" + strings.TrimPrefix(self, "http://127.0.0.1"), false}, // another origin, though loopback
		{"null", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws := dialWS(t, http.DefaultClient, url, "", h)
			sse, body := getTail(t, http.DefaultClient, url, "", h)
			if want := map[bool]int{true: 101, false: 403}[tc.want]; ws != want {
				t.Errorf("websocket: status %d, want %d", ws, want)
			}
			if want := map[bool]int{true: 200, false: 403}[tc.want]; sse != want {
				t.Errorf("event stream: status %d, want %d", sse, want)
			}
			if !tc.want {
				jsonHasError(t, body, "forbidden")
			}
		})
	}
}

// With an admin token every route but /healthz and the status page needs
// it, as a Bearer header or ?token=; without it the answer is 401.
func TestBearerToken(t *testing.T) {
	const token = "s3cret-token"
	srv, url := startWeb(t, nil, web.Options{AdminToken: token})
	client(t, srv, "bob")
	eventually(t, "bob", func() bool { _, err := srv.ClientInfo(context.Background(), "bob"); return err == nil })

	for _, tc := range []struct {
		path string
		open bool
		want int // status with the token
	}{
		{"/healthz", true, 200},
		{"/", true, 200},
		{"/api/stats", false, 200},
		{"/api/clients", false, 200},
		{"/api/clients/bob", false, 200},
		{"/api/clients/bob/log?n=1", false, 200},
		{"/api/clients/bob/state", false, 200},
		{"/api/clients/zed", false, 404},
		{"/metrics", false, 200},
		{"/api/tail?client=bob", false, 200},
		{"/api/watch", false, 426}, // authorized, but not a WebSocket handshake
		{"/nope", false, 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			for _, c := range []struct {
				name, auth, query string
				ok                bool
			}{
				{"none", "", "", tc.open},
				{"header", "Bearer " + token, "", true},
				{"header, lower-case scheme", "bearer " + token, "", true},
				{"query", "", sep + "token=" + token, true},
				{"wrong header", "Bearer " + token + "x", "", tc.open},
				{"wrong query", "", sep + "token=x" + token, tc.open},
				{"empty query", "", sep + "token=", tc.open},
				{"basic", "Basic " + token, "", tc.open},
			} {
				req, err := http.NewRequest("GET", url+tc.path+c.query, nil)
				if err != nil {
					t.Fatal(err)
				}
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body []byte
				if resp.Header.Get("Content-Type") != "text/event-stream" {
					body, _ = io.ReadAll(resp.Body)
				}
				resp.Body.Close()
				want := tc.want
				if !c.ok {
					want = 401
				}
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, want)
				}
				if want == 401 {
					if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
						t.Errorf("%s: WWW-Authenticate %q", c.name, h)
					}
					jsonHasError(t, string(body), "unauthorized")
				}
			}
		})
	}

	// The WebSocket handshake itself, as a browser (?token=) or a script
	// (header) makes it.
	for _, tc := range []struct {
		name  string
		query string
		h     http.Header
		want  int
	}{
		{"none", "", nil, 401},
		{"query", "?token=" + token, nil, 101},
		{"header", "", http.Header{"Authorization": {"Bearer " + token}}, 101},
		{"wrong", "?token=nope", nil, 401},
	} {
		if got := dialWS(t, http.DefaultClient, url, tc.query, tc.h); got != tc.want {
			t.Errorf("websocket %s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}
