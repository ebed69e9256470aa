package loop_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/query"
)

// Tests of SPEC §7: LOG with a time window and match, GREP across the
// fleet, CLIENTS paging, WATCH with globs, match and a gapless backlog.

// afterTick waits until the wall clock has passed ms, so that what is sent
// next gets a later receive time than ms.
func afterTick(ms int64) {
	for nowMS() <= ms {
		time.Sleep(time.Millisecond)
	}
}

// logApart sends each message as its own LOG line in its own read and
// returns the timestamps the server gave them: each later than the one
// before, since it waits for the clock to move on between them.
func logApart(t testing.TB, srv *loop.Server, c *dataClient, msgs ...string) []int64 {
	t.Helper()
	var ts []int64
	for _, m := range msgs {
		c.send("LOG " + m + "\n")
		c.sync()
		l, err := srv.ClientLog(context.Background(), c.name, loop.Query{Last: 1})
		if err != nil || len(l) != 1 || l[0].Message != m {
			t.Fatalf("newest entry of %s: %v %v, want %q", c.name, l, err, m)
		}
		ms := l[0].Time.UnixMilli()
		ts = append(ts, ms)
		afterTick(ms)
	}
	return ts
}

// rfc3339 renders ms as RFC 3339 in another zone and without trailing
// zeros, so the parser must honour the offset.
func rfc3339(ms int64, zone *time.Location) string {
	return time.UnixMilli(ms).In(zone).Format(time.RFC3339Nano)
}

// entryWant is one expected entry or hit.
type entryWant struct {
	ts   int64
	name string
	msg  string
}

func (e entryWant) String() string { return fmt.Sprintf("%d %s %q", e.ts, e.name, e.msg) }

// selectEntries is the oracle of LOG and GREP: the entries of es (already
// in the reply's order) with lo <= ts <= hi whose message matches re (nil:
// all), the newest n of them (n <= 0: all).
func selectEntries(es []entryWant, lo, hi int64, re *regexp.Regexp, n int) []entryWant {
	var out []entryWant
	for _, e := range es {
		if e.ts >= lo && e.ts <= hi && (re == nil || re.MatchString(e.msg)) {
			out = append(out, e)
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// checkLogReply compares a LOG reply in both formats with want.
func checkLogReply(t *testing.T, a, aj *adminClient, req string, want []entryWant) {
	t.Helper()
	lines := a.text(req)
	var got []entryWant
	for _, l := range lines {
		ts, msg, _ := strings.Cut(l, " ")
		got = append(got, entryWant{parseTextTime(t, ts), want0(want).name, msg})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s (text):\n got %v\nwant %v", req, got, want)
	}
	ts, msgs := jsonLog(t, aj.jsonLine(req))
	got = got[:0]
	for i := range ts {
		got = append(got, entryWant{ts[i], want0(want).name, msgs[i]})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s (JSON):\n got %v\nwant %v", req, got, want)
	}
}

func want0(es []entryWant) entryWant {
	if len(es) == 0 {
		return entryWant{}
	}
	return es[0]
}

// TestLogQuery: LOG <name> [<n>] since= until= match= selects the newest n
// of the entries in the window that match, in text, JSON and the Go API;
// times as RFC 3339 (any offset, any precision) or epoch ms; quoted
// options; bad times and regexes are usage errors.
func TestLogQuery(t *testing.T) {
	srv := startServer(t, nil)
	c := connect(t, srv, "q")
	msgs := []string{"connection refused by db", "ok 1", "Connection Refused again", "timeout talking to cache", "ok 2", "connection refused: retry 3"}
	ts := logApart(t, srv, c, msgs...)
	var all []entryWant
	for i := range msgs {
		all = append(all, entryWant{ts[i], "q", msgs[i]})
	}
	a := dialAdmin(t, srv)
	aj := dialAdmin(t, srv)
	aj.setJSON()
	east := time.FixedZone("UTC+0530", 5*3600+1800)
	secondOf := func(ms int64) int64 { return ms / 1000 * 1000 }
	const minT, maxT = -1 << 63, 1<<63 - 1
	for _, tc := range []struct {
		opts   string
		lo, hi int64
		re     string
		n      int
	}{
		{"", minT, maxT, "", 0},
		{"3", minT, maxT, "", 3},
		{"0", minT, maxT, "^$x", 0}, // nothing
		{"since=" + fmtTime(ts[2]), ts[2], maxT, "", 0},
		{"until=" + strconv.FormatInt(ts[3], 10), minT, ts[3], "", 0},
		{"since=" + strconv.FormatInt(ts[1], 10) + " until=" + fmtTime(ts[4]), ts[1], ts[4], "", 0},
		{"since=" + rfc3339(ts[2], east), ts[2], maxT, "", 0},
		{"until=" + rfc3339(ts[2], east), minT, ts[2], "", 0},
		{"since=" + time.UnixMilli(ts[3]).UTC().Format(time.RFC3339), secondOf(ts[3]), maxT, "", 0},
		{"since=" + strconv.FormatInt(ts[4]+1, 10), ts[4] + 1, maxT, "", 0},
		{"since=" + strconv.FormatInt(ts[4], 10) + " until=" + strconv.FormatInt(ts[1], 10), ts[4], ts[1], "", 0}, // empty window
		{`match="connection refused"`, minT, maxT, "connection refused", 0},
		{`match="(?i)connection refused"`, minT, maxT, "(?i)connection refused", 0},
		{`1 match=refused`, minT, maxT, "refused", 1},
		{`MATCH=ok since=` + fmtTime(ts[2]), ts[2], maxT, "ok", 0},
		{`match="ok \d"`, minT, maxT, `ok \d`, 0},
		{`match=^ok until=` + fmtTime(ts[3]) + ` 5`, minT, ts[3], "^ok", 5},
		{`match=` + "\"\\\"\"", minT, maxT, `"`, 0}, // a quoted double quote: matches nothing here
		{"since=1h", minT, maxT, "", 0},             // an hour ago: every entry
		{"until=1h", minT, maxT, "^$x", 0},          // older than an hour: none
		{"since=0s", minT, maxT, "^$x", 0},          // newer than now: none
		{"until=0s", minT, maxT, "", 0},             // up to now: every entry
	} {
		req := strings.TrimSpace("LOG q " + tc.opts)
		var re *regexp.Regexp
		if tc.re != "" {
			re = mustRegexp(t, tc.re)
		}
		want := selectEntries(all, tc.lo, tc.hi, re, tc.n)
		checkLogReply(t, a, aj, req, want)
	}

	// The Go API.
	got, err := srv.ClientLog(context.Background(), "q", loop.Query{
		Since: time.UnixMilli(ts[1]), Until: time.UnixMilli(ts[5]), Match: mustRegexp(t, "(?i)refused"), Last: 1,
	})
	if err != nil || len(got) != 1 || got[0].Message != msgs[5] || got[0].Time.UnixMilli() != ts[5] {
		t.Errorf("ClientLog with a query: %v %v, want only %q", got, err, msgs[5])
	}
	got, err = srv.ClientLog(context.Background(), "q", loop.Query{Until: time.UnixMilli(ts[0])})
	if err != nil || len(got) != 1 || got[0].Message != msgs[0] {
		t.Errorf("ClientLog until the first: %v %v", got, err)
	}

	badTime := func(s string) string {
		return `usage: bad time "` + s + `": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)`
	}
	for _, tc := range []struct {
		req, err string
	}{
		{"LOG q since=yesterday", badTime("yesterday")},
		{"LOG q until=-5s", badTime("-5s")},
		{"LOG q since=2026-13-01T00:00:00Z", badTime("2026-13-01T00:00:00Z")},
		{"LOG q since=", badTime("")},
		{"LOG q match=(", "usage: bad regex: "},
		{`LOG q match="a`, "usage: LOG <name> [<n>] [since=<t>] [until=<t>] [match=<regex>]"},
		{"LOG q color=red", "usage: LOG <name> [<n>] [since=<t>] [until=<t>] [match=<regex>]"},
		{"LOG q since=1h since=2h", "usage: LOG <name> [<n>] [since=<t>] [until=<t>] [match=<regex>]"},
		{"LOG q -1", "usage: LOG <name> [<n>]"},
		{"LOG nobody since=1h", "no such client: nobody"},
	} {
		checkErrBoth(t, a, aj, tc.req, tc.err)
	}
}

// checkErrBoth sends a request that must fail to a text and a JSON
// connection: the text reason must be want, or start with it when want ends
// in ": " (the rest is the parser's detail); JSON must carry the same.
func checkErrBoth(t *testing.T, a, aj *adminClient, req, want string) {
	t.Helper()
	got := a.textErr(req)
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(want, ": ") && got != want {
		t.Errorf("%s: ERR %q, want %q", req, got, want)
	}
	var e map[string]string
	aj.json(req, &e)
	if e["error"] != got {
		t.Errorf("%s (JSON): %q, want the text error %q", req, e, got)
	}
}

// TestQueryTimeAgo: a duration means that long before the request. With
// entries 1.5 s apart, since=1s and until=1s split them.
func TestQueryTimeAgo(t *testing.T) {
	srv := startServer(t, nil)
	c := connect(t, srv, "ago")
	old := logApart(t, srv, c, "old entry")[0]
	afterTick(old + 1500)
	recent := logApart(t, srv, c, "recent entry")[0]
	a := dialAdmin(t, srv)
	for _, tc := range []struct {
		req  string
		ago  int64 // the bound is the request's time less this
		keep func(ts, bound int64) bool
	}{
		{"LOG ago since=1s", 1000, func(ts, b int64) bool { return ts >= b }},
		{"LOG ago until=1s", 1000, func(ts, b int64) bool { return ts <= b }},
		{"LOG ago since=1000ms until=0s", 1000, func(ts, b int64) bool { return ts >= b }},
		{"GREP entry since=1s", 1000, func(ts, b int64) bool { return ts >= b }},
		{"GREP entry until=1s", 1000, func(ts, b int64) bool { return ts <= b }},
	} {
		// The server resolves the bound at some moment within [lo, hi]:
		// an entry is certainly kept or dropped only when the bound's
		// whole range falls on one side of it.
		lo := nowMS()
		lines := a.text(tc.req)
		hi := nowMS()
		for _, e := range []struct {
			ts  int64
			msg string
		}{{old, "old entry"}, {recent, "recent entry"}} {
			sure, keep := tc.keep(e.ts, lo-tc.ago) == tc.keep(e.ts, hi-tc.ago), tc.keep(e.ts, lo-tc.ago)
			present := slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " "+e.msg) })
			if sure && present != keep {
				t.Errorf("%s: %q present=%v, want %v (entry at %s, request within [%s, %s])", tc.req, e.msg, present, keep, fmtTime(e.ts), fmtTime(lo), fmtTime(hi))
			}
		}
		// Entries 1.5 s apart: the old one is always certain; the recent
		// one is unless the request came more than a second after it.
		if len(lines) > 1 {
			t.Errorf("%s: %q, want at most one entry", tc.req, lines)
		}
	}
}

// allEntries returns every entry the server holds in GREP order: by time,
// ties by name, then ring order.
func allEntries(t testing.TB, srv *loop.Server) []entryWant {
	t.Helper()
	clients, err := srv.Clients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type ranked struct {
		e    entryWant
		ring int
	}
	var rs []ranked
	for name, c := range clients {
		for i, e := range c.Log {
			rs = append(rs, ranked{entryWant{e.Time.UnixMilli(), name, e.Message}, i})
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.e.ts, b.e.ts), cmp.Compare(a.e.name, b.e.name), cmp.Compare(a.ring, b.ring))
	})
	out := make([]entryWant, len(rs))
	for i, r := range rs {
		out[i] = r.e
	}
	return out
}

// grepBoth runs a GREP in text and JSON and checks both against want.
func grepBoth(t *testing.T, a, aj *adminClient, req string, want []entryWant) {
	t.Helper()
	var got []entryWant
	for _, l := range a.text(req) {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("%s: line %q is not <ts> <name> <message>", req, l)
		}
		got = append(got, entryWant{parseTextTime(t, f[0]), f[1], f[2]})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s (text):\n got %v\nwant %v", req, got, want)
	}
	var hits [][]json.RawMessage
	decodeJSON(t, aj.jsonLine(req), &hits)
	got = got[:0]
	for _, h := range hits {
		var e entryWant
		if len(h) != 3 || json.Unmarshal(h[0], &e.ts) != nil || json.Unmarshal(h[1], &e.name) != nil || json.Unmarshal(h[2], &e.msg) != nil {
			t.Fatalf("%s (JSON): hit %s is not [ts,\"name\",\"message\"]", req, h)
		}
		got = append(got, e)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s (JSON):\n got %v\nwant %v", req, got, want)
	}
}

// TestGrep: GREP merges every client's matching entries (closed clients
// included) in time order, ties by name then ring order, keeps the newest
// limit, filters by clients= glob and time, in text, JSON and the Go API.
func TestGrep(t *testing.T) {
	srv := startServer(t, nil)
	zed, amy := connect(t, srv, "zed"), connect(t, srv, "amy")
	bob, web1, web2 := connect(t, srv, "bob"), connect(t, srv, "web.1"), connect(t, srv, "web.2")
	// Several entries of one read share a time: ring order decides.
	zed.send("LOG req 1 ok\nLOG req 2 error\nLOG req 3 error\n")
	zed.sync()
	if l, err := srv.ClientLog(context.Background(), "zed", loop.Query{}); err != nil || len(l) != 3 || !l[0].Time.Equal(l[2].Time) {
		t.Fatalf("zed's three lines of one write: %v %v, want three entries with one time", l, err)
	} else {
		afterTick(l[2].Time.UnixMilli())
	}
	logApart(t, srv, amy, "req 4 error", "req 5 ok")
	logApart(t, srv, bob, "bob error: connection refused", "bob ok")
	logApart(t, srv, web1, "GET / 200", "GET /x 500 error")
	logApart(t, srv, web2, "GET / 200")
	// Entries of different clients in the same millisecond: zed's read
	// first, then amy's, so that name order differs from arrival order.
	// The loop serves both in one round, usually in one millisecond; try
	// until it does.
	var tie int64
	for try := 0; try < 200 && tie == 0; try++ {
		zed.send(fmt.Sprintf("LOG tie %d error\n", try))
		amy.send(fmt.Sprintf("LOG tie %d error\n", try))
		zed.sync()
		amy.sync()
		z, _ := srv.ClientLog(context.Background(), "zed", loop.Query{Last: 1})
		y, _ := srv.ClientLog(context.Background(), "amy", loop.Query{Last: 1})
		if len(z) == 1 && len(y) == 1 && z[0].Time.Equal(y[0].Time) {
			tie = z[0].Time.UnixMilli()
		}
	}
	if tie == 0 {
		t.Log("no two clients' reads shared a millisecond in 200 tries: the cross-client tie is not tested")
	}
	bob.conn.Close()
	waitClosed(t, srv, "bob")

	all := allEntries(t, srv)
	at := func(i int) int64 { return all[i].ts }
	a := dialAdmin(t, srv)
	aj := dialAdmin(t, srv)
	aj.setJSON()
	const minT, maxT = -1 << 63, 1<<63 - 1
	for _, tc := range []struct {
		req    string
		glob   string
		lo, hi int64
		re     string
		limit  int
	}{
		{"GREP error", "", minT, maxT, "error", 1000},
		{"GREP .", "", minT, maxT, ".", 1000},
		{"GREP . limit=3", "", minT, maxT, ".", 3},
		{"GREP error limit=1", "", minT, maxT, "error", 1},
		{"GREP req", "", minT, maxT, "req", 1000},
		{"GREP (?i)ERROR", "", minT, maxT, "(?i)ERROR", 1000},
		{`GREP "req [0-9]+ error"`, "", minT, maxT, "req [0-9]+ error", 1000},
		{`GREP "connection refused"`, "", minT, maxT, "connection refused", 1000},
		{"GREP . clients=web.*", "web.*", minT, maxT, ".", 1000},
		{"GREP . clients=b?b", "b?b", minT, maxT, ".", 1000},
		{"GREP . clients=zed limit=2", "zed", minT, maxT, ".", 2},
		{"GREP . clients=nobody", "nobody", minT, maxT, ".", 1000},
		{"GREP . since=" + fmtTime(at(3)), "", at(3), maxT, ".", 1000},
		{"GREP . until=" + strconv.FormatInt(at(5), 10), "", minT, at(5), ".", 1000},
		{"GREP ok since=" + strconv.FormatInt(at(2), 10) + " until=" + fmtTime(at(9)) + " limit=2", "", at(2), at(9), "ok", 2},
		{"GREP . limit=0", "", minT, maxT, ".", 0},
		{"GREP tie", "", minT, maxT, "tie", 1000},
		{`GREP ""`, "", minT, maxT, "", 1000}, // the empty regex matches everything
	} {
		var re *regexp.Regexp
		if tc.re != "" {
			re = mustRegexp(t, tc.re)
		}
		var es []entryWant
		g := query.NewGlob(tc.glob)
		for _, e := range all {
			if tc.glob == "" || g.Match(e.name) {
				es = append(es, e)
			}
		}
		want := selectEntries(es, tc.lo, tc.hi, re, tc.limit)
		if tc.limit == 0 {
			want = nil
		}
		grepBoth(t, a, aj, tc.req, want)
	}

	// The order is the spec's, not only the oracle's: within a
	// millisecond names sort, and one client's entries keep ring order.
	var reqs []string
	for _, l := range a.text("GREP req") {
		reqs = append(reqs, l[strings.Index(l, " req ")+1:])
	}
	if want := []string{"req 1 ok", "req 2 error", "req 3 error", "req 4 error", "req 5 ok"}; !slices.Equal(reqs, want) {
		t.Errorf("GREP req: %q, want %q", reqs, want)
	}
	if tie != 0 {
		var names []string
		for _, l := range a.text("GREP tie since=" + strconv.FormatInt(tie, 10) + " until=" + strconv.FormatInt(tie, 10)) {
			names = append(names, strings.Fields(l)[1])
		}
		if len(names) < 2 || names[0] != "amy" || names[len(names)-1] != "zed" {
			t.Errorf("entries of one millisecond: %q, want amy's before zed's", names)
		}
	}

	// The Go API.
	hits, err := srv.Grep(context.Background(), loop.Query{Match: mustRegexp(t, "error"), Clients: "*e*", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []entryWant
	for _, h := range hits {
		got = append(got, entryWant{h.TS, h.Name, string(h.Msg)})
	}
	var es []entryWant
	for _, e := range all {
		if strings.Contains(e.name, "e") {
			es = append(es, e)
		}
	}
	if want := selectEntries(es, minT, maxT, mustRegexp(t, "error"), 2); !slices.Equal(got, want) {
		t.Errorf("Grep(error, *e*, 2):\n got %v\nwant %v", got, want)
	}

	usage := "usage: GREP <regex> [clients=<glob>] [since=<t>] [until=<t>] [limit=<n>]"
	for _, tc := range []struct{ req, err string }{
		{"GREP (", "usage: bad regex: "},
		{"GREP a[", "usage: bad regex: "},
		{"GREP x since=tomorrow", `usage: bad time "tomorrow": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)`},
		{"GREP x until=12:00", `usage: bad time "12:00": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)`},
		{"GREP", usage},
		{"GREP a b", usage},
		{"GREP x limit=100001", usage},
		{"GREP x limit=-1", usage},
		{"GREP x flavour=1", usage},
	} {
		checkErrBoth(t, a, aj, tc.req, tc.err)
	}
}

// TestGrepLimits: without limit= GREP returns the newest 1000 matches;
// limit= goes up to 100,000.
func TestGrepLimits(t *testing.T) {
	srv := startServer(t, func(c *loop.Config) { c.Buffer = 1500 })
	c := connect(t, srv, "many")
	var b strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&b, "LOG line %d\n", i)
	}
	c.send(b.String())
	c.sync()
	a := dialAdmin(t, srv)
	for _, tc := range []struct {
		req         string
		first, last int
	}{
		{"GREP line", 200, 1199},
		{"GREP line limit=100000", 0, 1199},
		{"GREP line limit=5", 1195, 1199},
	} {
		lines := a.text(tc.req)
		if len(lines) != tc.last-tc.first+1 || !strings.HasSuffix(lines[0], fmt.Sprintf(" many line %d", tc.first)) ||
			!strings.HasSuffix(lines[len(lines)-1], fmt.Sprintf(" many line %d", tc.last)) {
			t.Errorf("%s: %d lines, want lines %d to %d", tc.req, len(lines), tc.first, tc.last)
		}
	}
	hits, err := srv.Grep(context.Background(), loop.Query{Match: mustRegexp(t, "line")})
	if err != nil || len(hits) != loop.GrepDefaultLimit {
		t.Errorf("Grep with no limit: %d hits, %v; want %d", len(hits), err, loop.GrepDefaultLimit)
	}
}

// TestClientsPaging: CLIENTS <glob> limit= after= pages through clients
// in name order, each exactly once, in text, JSON and the Go API; closed
// clients page with closed=1 or all=1.
func TestClientsPaging(t *testing.T) {
	srv := startServer(t, nil)
	var nodes []string
	for i := range 25 {
		nodes = append(nodes, fmt.Sprintf("node-%02d", i))
	}
	// Connect in a shuffled order: the listing must not follow it.
	order := slices.Clone(nodes)
	for i := range order {
		j := (i * 7) % len(order)
		order[i], order[j] = order[j], order[i]
	}
	conns := map[string]*dataClient{}
	for _, n := range append(order, "alpha", "zulu", "node") {
		conns[n] = connect(t, srv, n)
	}
	// Every third node goes: closed clients are listed only when asked.
	var open, gone []string
	for i, n := range nodes {
		if i%3 == 0 {
			conns[n].conn.Close()
			waitClosed(t, srv, n)
			gone = append(gone, n)
		} else {
			open = append(open, n)
		}
	}
	a := dialAdmin(t, srv)
	aj := dialAdmin(t, srv)
	aj.setJSON()

	pageText := func(req string) []string {
		var names []string
		for _, l := range a.text(req) {
			names = append(names, strings.Fields(l)[0])
		}
		return names
	}
	pageJSON := func(req string) []string {
		var cs []struct{ Name string }
		decodeJSON(t, aj.jsonLine(req), &cs)
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		return names
	}
	pageGo := func(q loop.Query) []string {
		cs, err := srv.ClientInfos(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		return names
	}
	for _, tc := range []struct {
		desc, opts string
		which      loop.Which
		want       []string
	}{
		{"all=1", " all=1", loop.All, nodes},
		{"connected", "", loop.Connected, open},
		{"closed=1", " closed=1", loop.Closed, gone},
	} {
		for _, f := range []struct {
			name string
			page func(after string) []string
		}{
			{"text", func(after string) []string {
				return pageText("CLIENTS node-* limit=10" + tc.opts + ` after="` + after + `"`)
			}},
			{"JSON", func(after string) []string {
				return pageJSON("CLIENTS node-*" + tc.opts + ` after="` + after + `" limit=10`)
			}},
			{"Go", func(after string) []string {
				return pageGo(loop.Query{Clients: "node-*", Which: tc.which, After: after, Limit: 10})
			}},
		} {
			var seen []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("%s %s: more than 10 pages", tc.desc, f.name)
				}
				p := f.page(after)
				if len(p) > 10 {
					t.Errorf("%s %s: page of %d", tc.desc, f.name, len(p))
				}
				if len(p) == 0 {
					break
				}
				seen = append(seen, p...)
				after = p[len(p)-1]
			}
			if !slices.Equal(seen, tc.want) {
				t.Errorf("%s %s: paged through %q, want %q once each, sorted", tc.desc, f.name, seen, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		req  string
		want []string
	}{
		{"CLIENTS node-1?", []string{"node-10", "node-11", "node-13", "node-14", "node-16", "node-17", "node-19"}},
		{"CLIENTS node-1? all=1", nodes[10:20]},
		{"CLIENTS node-2* after=node-21", []string{"node-22", "node-23"}},
		{"CLIENTS after=node-05x limit=3 all=1", []string{"node-06", "node-07", "node-08"}},
		{"CLIENTS node", []string{"node"}},
		{"CLIENTS *a*", []string{"alpha"}},
		{"CLIENTS limit=0", nil},
		{"CLIENTS after=zulu", nil},
		{"CLIENTS limit=2", []string{"alpha", "node"}},
	} {
		if got := pageText(tc.req); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.req, got, tc.want)
		}
		if got := pageJSON(tc.req); !slices.Equal(got, tc.want) {
			t.Errorf("%s (JSON): %q, want %q", tc.req, got, tc.want)
		}
	}
	for _, req := range []string{"CLIENTS limit=x", "CLIENTS a b", "CLIENTS closed=2", "CLIENTS limit=-1"} {
		if got := a.textErr(req); got != "usage: CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]" {
			t.Errorf("%s: ERR %s", req, got)
		}
	}
}

// TestWatchGlobAndMatch: WATCH names are globs; match= lets through only
// the LOG events whose message matches, while READY, SET and CLOSE of the
// selected clients still come; in text, JSON and a Go subscription.
func TestWatchGlobAndMatch(t *testing.T) {
	srv := startServer(t, nil)
	globs := openWatch(t, srv, false, "web.* db-?")
	errs := openWatch(t, srv, false, "match=error")
	webErrs := openWatch(t, srv, true, `web.* match="(?i)error"`)
	sub := subscribe(t, srv, 256, loop.WatchQuery{Clients: []string{"db-?"}, Match: mustRegexp(t, "error")})

	names := []string{"web.1", "web.22", "db-1", "db-22", "api"}
	for _, n := range names {
		c := connect(t, srv, n)
		c.send("LOG all fine\nLOG disk error\nLOG ERROR upper\nSET k v\n")
		c.sync()
		c.conn.Close()
		waitClosed(t, srv, n)
	}
	// A last client that every watcher selects: each must see its READY
	// right after the events above, so none got more than expected.
	connect(t, srv, "web.9")

	events := func(n string, logs ...string) []string {
		out := []string{"READY " + n}
		for _, l := range logs {
			out = append(out, "LOG "+n+" "+l)
		}
		return append(out, "SET "+n+" k v", "CLOSE "+n+" eof")
	}
	var wantGlobs, wantErrs, wantWebErrs, wantSub []string
	for _, n := range names {
		if strings.HasPrefix(n, "web.") || n == "db-1" {
			wantGlobs = append(wantGlobs, events(n, "all fine", "disk error", "ERROR upper")...)
		}
		wantErrs = append(wantErrs, events(n, "disk error")...)
		if strings.HasPrefix(n, "web.") {
			wantWebErrs = append(wantWebErrs, events(n, "disk error", "ERROR upper")...)
		}
		if n == "db-1" {
			wantSub = append(wantSub, events(n, "disk error")...)
		}
	}
	for _, w := range []struct {
		name string
		r    *eventReader
		want []string
	}{
		{"WATCH web.* db-?", globs, wantGlobs},
		{"WATCH match=error", errs, wantErrs},
		{`WATCH web.* match="(?i)error" (JSON)`, webErrs, wantWebErrs},
	} {
		var got []string
		for range len(w.want) + 1 {
			ev := w.r.next()
			got = append(got, strings.TrimSpace(ev.Kind+" "+ev.Client+" "+ev.Text))
		}
		if want := append(w.want, "READY web.9"); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", w.name, got, want)
		}
	}
	var got []string
	for range wantSub {
		got = append(got, subEventString(nextSub(t, sub)))
	}
	if !slices.Equal(got, wantSub) {
		t.Errorf("Subscribe(db-?, error):\n got %q\nwant %q", got, wantSub)
	}
	select {
	case ev := <-sub.C:
		t.Errorf("Subscribe(db-?, error): unexpected %+v", ev)
	default:
	}
	for _, req := range []string{"WATCH match=(", "WATCH backlog=x", "WATCH colour=red"} {
		a := dialAdmin(t, srv)
		if got := a.textErr(req); !strings.HasPrefix(got, "usage: ") {
			t.Errorf("%s: ERR %s, want usage", req, got)
		}
	}
}

// subEventString writes a subscription's event as the WATCH tests compare
// events: "KIND client text".
func subEventString(ev loop.Event) string {
	text := ""
	switch ev.Kind {
	case query.EventLog, query.EventCont:
		text = ev.Message
	case query.EventSet:
		text = ev.Key + " " + ev.Value
	case query.EventClose:
		text = ev.Reason
	}
	return strings.TrimSpace(strings.ToUpper(ev.Kind.String()) + " " + ev.Client + " " + text)
}

// backlogWant is the oracle of a backlog: the newest n entries of each
// client that sel selects whose message matches re (nil: all), from all
// (in time order), kept in that order.
func backlogWant(all []entryWant, sel func(name string) bool, re *regexp.Regexp, n int) []string {
	var out []string
	taken := map[string]int{}
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if sel(e.name) && (re == nil || re.MatchString(e.msg)) && taken[e.name] < n {
			taken[e.name]++
			out = append(out, fmt.Sprintf("%d LOG %s %s", e.ts, e.name, e.msg))
		}
	}
	slices.Reverse(out)
	return out
}

// TestWatchBacklogMerged: backlog=n starts the stream with the newest n
// stored entries of each selected client, closed ones included, merged in
// time order with their stored times, then goes live; in text, JSON and a
// Go subscription.
func TestWatchBacklogMerged(t *testing.T) {
	srv := startServer(t, nil)
	a, b, c := connect(t, srv, "a"), connect(t, srv, "b"), connect(t, srv, "c")
	var all []entryWant
	for _, step := range []struct {
		c   *dataClient
		msg string
	}{{a, "a1"}, {b, "b1"}, {c, "c1"}, {a, "a2"}, {b, "b2"}, {a, "a3 match"}, {c, "c2 match"}, {b, "b3"}} {
		ts := logApart(t, srv, step.c, step.msg)
		all = append(all, entryWant{ts[0], step.c.name, step.msg})
	}
	c.conn.Close()
	waitClosed(t, srv, "c")

	sub := subscribe(t, srv, 16, loop.WatchQuery{Clients: []string{"a", "b"}, Backlog: 1})
	for _, want := range []string{"a3 match", "b3"} {
		if ev := nextSub(t, sub); ev.Kind != query.EventLog || ev.Message != want {
			t.Errorf("Subscribe backlog: %+v, want LOG %q", ev, want)
		}
	}
	every := func(string) bool { return true }
	for _, tc := range []struct {
		args  string
		json  bool
		sel   func(name string) bool
		match string
		n     int
		live  *dataClient // a selected client that logs once the backlog is in
	}{
		{"backlog=2", false, every, "", 2, b},
		{"backlog=2", true, every, "", 2, b},
		{"a c backlog=100", false, func(n string) bool { return n != "b" }, "", 100, a},
		{"backlog=1 match=match", true, every, "match", 1, b},
		{"? backlog=1", false, every, "", 1, a},
		{"b* backlog=0", false, func(n string) bool { return n == "b" }, "", 0, b},
	} {
		var re *regexp.Regexp
		if tc.match != "" {
			re = mustRegexp(t, tc.match)
		}
		want := backlogWant(all, tc.sel, re, tc.n)
		if tc.n > 0 && len(want) < 2 {
			t.Fatalf("WATCH %s: the oracle wants %q: too little to test", tc.args, want)
		}
		w := openWatch(t, srv, tc.json, tc.args)
		var got []string
		for range want {
			ev := w.next()
			got = append(got, fmt.Sprintf("%d %s %s %s", ev.TS, ev.Kind, ev.Client, ev.Text))
		}
		if !slices.Equal(got, want) {
			t.Errorf("WATCH %s (JSON %v):\n got %q\nwant %q", tc.args, tc.json, got, want)
		}
		// Then live, and the live line joins what later backlogs hold.
		msg := "live " + tc.args
		ts := logApart(t, srv, tc.live, msg)
		all = append(all, entryWant{ts[0], tc.live.name, msg})
		if ev := w.next(); ev.Kind != "LOG" || ev.Client != tc.live.name || ev.Text != msg || ev.TS != ts[0] {
			t.Errorf("WATCH %s: after the backlog %q, want %s's live line", tc.args, ev.Raw, tc.live.name)
		}
	}
}

// seqLogger logs "seq <n>" lines, n = 0, 1, 2, ..., on its own connection
// until stopped, a few lines a millisecond.
type seqLogger struct {
	stop chan struct{}
	done chan error
}

func startSeqLogger(t *testing.T, srv *loop.Server, name string) *seqLogger {
	t.Helper()
	c := connect(t, srv, name)
	l := &seqLogger{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		n := 0
		for {
			select {
			case <-l.stop:
				l.done <- nil
				return
			default:
			}
			var b strings.Builder
			for range 5 {
				fmt.Fprintf(&b, "LOG seq %d\n", n)
				n++
			}
			if _, err := io.WriteString(c.conn, b.String()); err != nil {
				l.done <- err
				return
			}
			time.Sleep(time.Millisecond) // pacing, so the readers keep up
		}
	}()
	t.Cleanup(func() { l.halt(t) })
	return l
}

// halt stops the logger and reports its write error, once.
func (l *seqLogger) halt(t *testing.T) {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	if err := <-l.done; err != nil {
		t.Errorf("logger: %v", err)
	}
}

// linesOf is how many LOG lines the server has taken from name.
func linesOf(t *testing.T, srv *loop.Server, name string) int {
	t.Helper()
	ci, err := srv.ClientInfo(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return int(ci.Lines)
}

// checkSeqs checks a stream of "seq <n>" messages: contiguous (nothing
// lost or repeated across the backlog and live boundary), starting with a
// backlog of n entries: the first is at most after-n, where after is what
// was stored once the subscription had started, and at least before-n.
func checkSeqs(t *testing.T, what string, msgs []string, ts []int64, backlog, before, after int) {
	t.Helper()
	seqs := make([]int, len(msgs))
	for i, m := range msgs {
		n, err := strconv.Atoi(strings.TrimPrefix(m, "seq "))
		if err != nil || !strings.HasPrefix(m, "seq ") {
			t.Fatalf("%s: event %d is %q, not seq <n>", what, i, m)
		}
		seqs[i] = n
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("%s: seq %d follows seq %d (event %d): lost or repeated at the backlog/live boundary", what, seqs[i], seqs[i-1], i)
		}
		if ts[i] < ts[i-1] {
			t.Errorf("%s: event %d at %d after one at %d: not in time order", what, i, ts[i], ts[i-1])
		}
	}
	if first := seqs[0]; first > after-backlog || first < before-backlog {
		t.Errorf("%s: starts at seq %d; with backlog=%d it must start within [%d, %d] (stored before: %d, after: %d)",
			what, first, backlog, before-backlog, after-backlog, before, after)
	}
}

// TestWatchBacklogGapless: with a client logging all the while, a WATCH
// (text and JSON) or Go subscription with backlog=n starts with the newest
// n stored lines and goes on live with no line lost or repeated between
// them.
func TestWatchBacklogGapless(t *testing.T) {
	const backlog, events = 50, 400
	for _, mode := range []string{"text", "JSON", "Go"} {
		t.Run(mode, func(t *testing.T) {
			srv := startServer(t, nil)
			logger := startSeqLogger(t, srv, "counter")
			eventually(t, replyTimeout, "a few hundred lines stored", func() (bool, string) {
				n := linesOf(t, srv, "counter")
				return n >= 3*backlog, strconv.Itoa(n)
			})
			before := linesOf(t, srv, "counter")
			var msgs []string
			var ts []int64
			var after int
			if mode == "Go" {
				sub := subscribe(t, srv, 4*events, loop.WatchQuery{Clients: []string{"count*"}, Backlog: backlog})
				after = linesOf(t, srv, "counter")
				for len(msgs) < events {
					ev := nextSub(t, sub)
					if ev.Kind != query.EventLog {
						t.Fatalf("event %+v, want LOG", ev)
					}
					msgs, ts = append(msgs, ev.Message), append(ts, ev.TS)
				}
			} else {
				w := openWatch(t, srv, mode == "JSON", "count* backlog="+strconv.Itoa(backlog))
				after = linesOf(t, srv, "counter")
				for len(msgs) < events {
					ev := w.next()
					if ev.Kind != "LOG" {
						t.Fatalf("event %q, want LOG", ev.Raw)
					}
					msgs, ts = append(msgs, ev.Text), append(ts, ev.TS)
				}
			}
			logger.halt(t)
			checkSeqs(t, "WATCH "+mode, msgs, ts, backlog, before, after)
		})
	}
}
