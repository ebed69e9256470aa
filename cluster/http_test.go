package cluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/web"
)

// serveHTTP serves tn's HTTP API, the cluster routes mounted, on 127.0.0.1.
func serveHTTP(t *testing.T, tn *testNode, token string) string {
	t.Helper()
	hs, err := web.NewServer(tn.srv, web.Options{AdminToken: token, Cluster: tn.node.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String()
}

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSuffix(string(b), "\n")
}

func TestClusterHTTP(t *testing.T) {
	fx := newFixture(t)
	base := serveHTTP(t, fx.n1, "")
	cases := []struct {
		path   string
		status int
		body   string // exact, or a prefix ending in "..."
	}{
		{"/api/cluster/names", 200, `{"missing":[],"items":["alpha","beta","gamma","shared","web.2"]}`},
		{"/api/cluster/clients?match=s*&limit=1", 200, `{"missing":[],"items":[{"name":"shared",...`},
		{"/api/cluster/clients?limit=0", 200, `{"missing":[],"items":[]}`},
		{"/api/cluster/clients?closed=1&all=1", 400, `{"error":"usage: CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]"}`},
		{"/api/cluster/clients?limit=x", 400, `{"error":"usage: CLIENTS...`},
		{"/api/cluster/clients/web.2", 200, `{"missing":[],"items":[{"name":"web.2",...`},
		{"/api/cluster/clients/nobody", 404, `{"error":"no such client: nobody"}`},
		{"/api/cluster/clients/nobody/log", 404, `{"error":"no such client: nobody"}`},
		{"/api/cluster/clients/shared/log?n=1", 200, `{"missing":[],"items":[[...`},
		{"/api/cluster/clients/shared/log?n=-1", 400, `{"error":"usage: LOG <name> [<n>]"}`},
		{"/api/cluster/clients/shared/log?match=%28", 400, `{"error":"usage: bad regex...`},
		{"/api/cluster/clients/shared/state", 200, `{"missing":[],"items":[{"node":"n1","state":{"where":"n1"}},{"node":"n3","state":{"where":"n3"}}]}`},
		{"/api/cluster/clients/web.2/state", 200, `{"missing":[],"items":[{"node":"n2","state":{"a.b":"c d"}}]}`},
		{"/api/cluster/grep?q=error&limit=1", 200, `{"missing":[],"items":[[...`},
		{`/api/cluster/grep?q=%22x%22%7C%5Cbtwo%24&clients=b*`, 200, `{"missing":[],"items":[[...`},
		{"/api/cluster/grep?q=error&since=nonsense", 400, `{"error":"usage: bad time...`},
		{"/api/cluster/stats", 200, `{"missing":[],"items":[{"node":"n1",...`},
		{"/api/cluster/nothing", 404, `{"error":"not found"}`},
		{"/api/cluster/watch?backlog=3", 400, `{"error":"` + errWatchBacklog.Error() + `"}`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			status, body := httpGet(t, base+c.path, "")
			ok := body == c.body
			if p, cut := strings.CutSuffix(c.body, "..."); cut {
				ok = strings.HasPrefix(body, p)
			}
			if status != c.status || !ok {
				t.Fatalf("%d %s, want %d %s", status, body, c.status, c.body)
			}
		})
	}
	// The quoting of parameters carries any text: a regex with quotes and
	// backslashes finds exactly what it says.
	if _, body := httpGet(t, base+"/api/cluster/grep?q="+`%5Cbtwo%24`, ""); !strings.Contains(body, `"b1 error two","n2"]`) || strings.Contains(body, "one") {
		t.Fatalf("grep \\btwo$: %s", body)
	}
}

func TestClusterHTTPToken(t *testing.T) {
	fx := newFixture(t)
	base := serveHTTP(t, fx.n2, "s3cret")
	if status, _ := httpGet(t, base+"/api/cluster/names", ""); status != 401 {
		t.Fatalf("no token: %d", status)
	}
	if status, body := httpGet(t, base+"/api/cluster/names", "s3cret"); status != 200 || !strings.Contains(body, `"web.2"`) {
		t.Fatalf("token: %d %s", status, body)
	}
}

func TestClusterHTTPWatch(t *testing.T) {
	fx := newFixture(t)
	base := serveHTTP(t, fx.n3, "")
	client := &http.Client{Timeout: 20 * time.Second} // bounds reading the stream too
	resp, err := client.Get(base + "/api/cluster/watch?client=alpha&client=web.*")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The handler subscribes (and makes sure the NATS server has the
	// subscription) before it answers; the header is out once Get returns.
	fx.clients["beta@n2"].send(t, "LOG not watched")
	fx.clients["alpha@n1"].send(t, "LOG over sse")
	fx.clients["web.2@n2"].send(t, "SET k v")
	r := bufio.NewReader(resp.Body)
	// The two nodes' events may come in either order.
	want := []string{`"client":"alpha","node":"n1","message":"over sse"}`, `"client":"web.2","node":"n2","key":"k","value":"v"}`}
	for len(want) > 0 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		l = strings.TrimSuffix(l, "\n")
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		if strings.Contains(l, "beta") {
			t.Fatalf("unwatched client's event: %s", l)
		}
		i := slices.IndexFunc(want, func(w string) bool { return strings.HasSuffix(l, w) })
		if !strings.HasPrefix(l, "data: {") || i < 0 {
			t.Fatalf("got %q, want data ending in one of %q", l, want)
		}
		want = slices.Delete(want, i, i+1)
	}
	// Another origin may not open a stream.
	req, _ := http.NewRequest("GET", base+"/api/cluster/watch", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 403 {
		t.Fatalf("cross-origin watch: %d", resp2.StatusCode)
	}
}
