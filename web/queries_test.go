package web_test

import (
	"context"
	"strings"

	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/logatron/logatron/loop"
)

// TestQueryRoutes: the version 2 parameters over real HTTP: /api/grep,
// /api/clients with match, limit, after, closed and all, the log's time
// window and match, and DELETE for FORGET, with their 400s, 404 and 409.
func TestQueryRoutes(t *testing.T) {
	srv, base := start(t, nil)
	web1 := client(t, srv, "web.1")
	send(t, web1, "LOG GET / 200\nLOG upstream timed out\n")
	db := client(t, srv, "db-1")
	send(t, db, "LOG connection refused\n")
	gone := client(t, srv, "gone")
	send(t, gone, "LOG last words: timeout\n")
	eventually(t, "four lines", func() bool {
		st, err := srv.Stats(context.Background())
		return err == nil && st.LinesTotal == 4
	})
	gone.Close()
	eventually(t, "gone closed", func() bool {
		ci, err := srv.ClientInfo(context.Background(), "gone")
		return err == nil && ci.Closed
	})
	l, err := srv.Log(context.Background(), "web.1", loop.Query{})
	if err != nil || l.Len() != 2 {
		t.Fatalf("web.1's log: %v", err)
	}
	ts1, _ := l.At(1)

	checkGets(t, base, []getCase{
		{"/api/grep?clients=web.*&q=" + url.QueryEscape("(?i)time(out|d out)"), 200, fmt.Sprintf(`[[%d,"web.1","upstream timed out"]]`, ts1)},
		{"/api/grep?q=timeout&clients=gone", 200, ""}, // a closed client is searched: checked below
		{"/api/grep?q=refused&clients=web.*", 200, `[]`},
		{"/api/grep?q=o&limit=0", 200, `[]`},
		{"/api/grep?q=(", 400, ""},
		{"/api/grep?q=x&since=yesterday", 400, ""},
		{"/api/grep?q=x&limit=100001", 400, ""},
		{"/api/clients?match=" + url.QueryEscape("*-1") + "&limit=1", 200, ""},
		{"/api/clients?closed=1&all=1", 400, ""},
		{"/api/clients?limit=x", 400, ""},
		{"/api/clients/web.1/log?match=timed", 200, fmt.Sprintf(`[[%d,"upstream timed out"]]`, ts1)},
		{fmt.Sprintf("/api/clients/web.1/log?since=%d&n=1", ts1), 200, fmt.Sprintf(`[[%d,"upstream timed out"]]`, ts1)},
		{fmt.Sprintf("/api/clients/web.1/log?since=%d", ts1+1), 200, `[]`},
		{"/api/clients/web.1/log?until=1", 200, `[]`},
		{"/api/clients/web.1/log?match=(", 400, ""},
		{"/api/clients/web.1/log?since=never", 400, ""},
	})
	if _, body := get(t, base+"/api/grep?q=timeout&clients=gone"); !jsonHas(body, `"gone","last words: timeout"`) {
		t.Errorf("GREP of a closed client: %s", body)
	}
	// Paging: the page after db-1 of the *-1 names is web.1; closed=1 is gone.
	if _, body := get(t, base+"/api/clients?match=*-1&limit=1"); !jsonHas(body, `"name":"db-1"`) || jsonHas(body, `"web.1"`) {
		t.Errorf("first page: %s", body)
	}
	if _, body := get(t, base+"/api/clients?match=*1&after=db-1"); !jsonHas(body, `"name":"web.1"`) || jsonHas(body, `"db-1"`) {
		t.Errorf("page after db-1: %s", body)
	}
	if _, body := get(t, base+"/api/clients?closed=1"); !jsonHas(body, `"name":"gone"`) || jsonHas(body, `"web.1"`) {
		t.Errorf("closed=1: %s", body)
	}
	for _, tc := range []struct {
		name   string
		status int
	}{{"web.1", http.StatusConflict}, {"gone", http.StatusOK}, {"gone", http.StatusNotFound}} {
		req, _ := http.NewRequest(http.MethodDelete, base+"/api/clients/"+tc.name, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("DELETE %s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

// jsonHas reports whether a JSON body holds the text part.
func jsonHas(body, part string) bool { return strings.Contains(body, part) }
