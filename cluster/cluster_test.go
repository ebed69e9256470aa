package cluster

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixture: three nodes on one NATS server, clients spread over them, one
// name ("shared") connected on two nodes at once, entries logged in a
// known order a millisecond apart.
type fixture struct {
	n1, n2, n3 *testNode
	clients    map[string]*dataClient // "<name>@<node>"
}

func newFixture(t *testing.T) *fixture {
	ns := startNATS(t, 0)
	url := ns.ClientURL()
	fx := &fixture{
		n1: startNode(t, "n1", url), n2: startNode(t, "n2", url), n3: startNode(t, "n3", url),
		clients: map[string]*dataClient{},
	}
	waitPeers(t, fx.n1, fx.n2, fx.n3)
	// Each step: node, client, lines; each line is stored (polled) before
	// the next step, a millisecond later.
	steps := []struct {
		node  *testNode
		name  string
		lines []string
	}{
		{fx.n1, "alpha", []string{"SET k1 v1", "LOG a1 error one"}},
		{fx.n2, "beta", []string{"LOG b1 error two"}},
		{fx.n1, "shared", []string{"SET where n1", "LOG s1 from n1"}},
		{fx.n3, "gamma", []string{"LOG g1 error three"}},
		{fx.n2, "web.2", []string{"SET a.b c d", "LOG w2"}},
		{fx.n3, "shared", []string{"SET where n3", "LOG s3 from n3"}},
	}
	for _, s := range steps {
		key := s.name + "@" + s.node.name
		dc := fx.clients[key]
		if dc == nil {
			dc = dialData(t, s.node.data(), s.name)
			fx.clients[key] = dc
		}
		dc.send(t, s.lines...)
		a := dialAdmin(t, s.node.admin())
		last := s.lines[len(s.lines)-1][len("LOG "):]
		poll(t, 5*time.Second, func() bool {
			_, data := a.do(t, "LOG "+s.name+" 1")
			return len(data) == 1 && strings.HasSuffix(data[0], " "+last)
		})
		nextMilli()
	}
	return fx
}

func TestClusterRequestsText(t *testing.T) {
	fx := newFixture(t)
	a := dialAdmin(t, fx.n2.admin())
	cases := []struct {
		req  string
		head string
		data []string // timestamps replaced by TS
		keep func([]string) []string
	}{
		{req: "CLUSTER NAMES", head: "OK 5", data: []string{"alpha", "beta", "gamma", "shared", "web.2"}},
		{req: "cluster names", head: "OK 5", data: []string{"alpha", "beta", "gamma", "shared", "web.2"}},
		{req: "CLUSTER CLIENTS", head: "OK 6", keep: nameNode,
			data: []string{"alpha n1", "beta n2", "gamma n3", "shared n1", "shared n3", "web.2 n2"}},
		{req: "CLUSTER CLIENTS limit=2 after=alpha", head: "OK 2", keep: nameNode, data: []string{"beta n2", "gamma n3"}},
		{req: "CLUSTER CLIENTS s* limit=5", head: "OK 2", keep: nameNode, data: []string{"shared n1", "shared n3"}},
		{req: "CLUSTER CLIENTS limit=0", head: "OK 0"},
		{req: "CLUSTER CLIENTS closed=1", head: "OK 0"},
		{req: "CLUSTER CLIENT shared", head: "OK 30", keep: clientKeys("name", "node"),
			data: []string{"name shared", "node n1", "name shared", "node n3"}},
		{req: "CLUSTER CLIENT alpha", head: "OK 15", keep: clientKeys("name", "keys", "node"),
			data: []string{"name alpha", "keys 1", "node n1"}},
		{req: "CLUSTER LOG shared", head: "OK 2", data: []string{"TS s1 from n1", "TS s3 from n3"}},
		{req: "CLUSTER LOG shared 1", head: "OK 1", data: []string{"TS s3 from n3"}},
		{req: "CLUSTER LOG shared 0", head: "OK 0"},
		{req: `CLUSTER LOG shared match="n3$"`, head: "OK 1", data: []string{"TS s3 from n3"}},
		{req: "CLUSTER STATE shared", head: "OK 2", data: []string{"where@n1 n1", "where@n3 n3"}},
		{req: "CLUSTER STATE web.2", head: "OK 1", data: []string{"a.b@n2 c d"}},
		{req: "CLUSTER GREP error", head: "OK 3",
			data: []string{"TS alpha@n1 a1 error one", "TS beta@n2 b1 error two", "TS gamma@n3 g1 error three"}},
		{req: "CLUSTER GREP error limit=2", head: "OK 2",
			data: []string{"TS beta@n2 b1 error two", "TS gamma@n3 g1 error three"}},
		{req: "CLUSTER GREP . clients=s*", head: "OK 2", data: []string{"TS shared@n1 s1 from n1", "TS shared@n3 s3 from n3"}},
		{req: "CLUSTER GREP error since=10s until=1h", head: "OK 0"},
		{req: "CLUSTER GREP error since=1h until=0s", head: "OK 3", keep: func(l []string) []string { return nil }},
		{req: "CLUSTER GREP error limit=0", head: "OK 0"},
		{req: "CLUSTER STATS", keep: clientKeys("node", "clients"),
			data: []string{"node n1", "clients 2", "node n2", "clients 2", "node n3", "clients 2"}},
		{req: "CLUSTER CLIENT nobody", head: "ERR no such client: nobody"},
		{req: "CLUSTER LOG nobody", head: "ERR no such client: nobody"},
		{req: "CLUSTER STATE nobody", head: "ERR no such client: nobody"},
		{req: "CLUSTER GREP (", head: "ERR usage: bad regex: missing closing ): `(`"},
		{req: "CLUSTER DUMP", head: "ERR usage: CLUSTER NAMES|CLIENTS|CLIENT|LOG|STATE|GREP|STATS|WATCH ..."},
		{req: "CLUSTER", head: "ERR usage: CLUSTER NAMES|CLIENTS|CLIENT|LOG|STATE|GREP|STATS|WATCH ..."},
	}
	for _, c := range cases {
		t.Run(c.req, func(t *testing.T) {
			head, data := a.do(t, c.req)
			if c.head != "" && head != c.head {
				t.Fatalf("head %q, want %q", head, c.head)
			}
			got := stripTS(data)
			if c.keep != nil {
				got = c.keep(data)
			}
			if !slices.Equal(got, c.data) && (len(got) != 0 || len(c.data) != 0) {
				t.Fatalf("data\n%q\nwant\n%q", got, c.data)
			}
		})
	}
	// STATS: one block per node, each as long as a node's own STATS.
	head, data := a.do(t, "CLUSTER STATS")
	_, one := dialAdmin(t, fx.n1.admin()).do(t, "STATS")
	if want := "OK " + strconv.Itoa(3*len(one)); head != want {
		t.Fatalf("CLUSTER STATS head %q, want %q", head, want)
	}
	if statValue(data, "nats_dropped_total") != "0" {
		t.Fatalf("nats_dropped_total: %q", statValue(data, "nats_dropped_total"))
	}
}

// nameNode keeps a CLIENTS line's name and node.
func nameNode(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		node := ""
		for _, x := range f {
			if v, ok := strings.CutPrefix(x, "node="); ok {
				node = v
			}
		}
		out = append(out, f[0]+" "+node)
	}
	return out
}

// clientKeys keeps the "key value" lines of the given keys.
func clientKeys(keys ...string) func([]string) []string {
	return func(lines []string) []string {
		var out []string
		for _, l := range lines {
			if k, _, _ := strings.Cut(l, " "); slices.Contains(keys, k) {
				out = append(out, l)
			}
		}
		return out
	}
}

func TestClusterRequestsJSON(t *testing.T) {
	fx := newFixture(t)
	a := dialAdmin(t, fx.n3.admin())
	if got := a.doJSON(t, "FORMAT json"); got != `{"ok":true}` {
		t.Fatal(got)
	}
	type list struct {
		Missing []string          `json:"missing"`
		Items   []json.RawMessage `json:"items"`
	}
	get := func(t *testing.T, req string) list {
		line := a.doJSON(t, req)
		var l list
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s: %v: %s", req, err, line)
		}
		if l.Missing == nil || len(l.Missing) != 0 {
			t.Fatalf("%s: missing %v in %s", req, l.Missing, line)
		}
		return l
	}
	t.Run("NAMES", func(t *testing.T) {
		var names []string
		for _, it := range get(t, "CLUSTER NAMES").Items {
			var s string
			_ = json.Unmarshal(it, &s)
			names = append(names, s)
		}
		if want := []string{"alpha", "beta", "gamma", "shared", "web.2"}; !slices.Equal(names, want) {
			t.Fatal(names)
		}
	})
	t.Run("CLIENTS", func(t *testing.T) {
		var got []string
		for _, it := range get(t, "CLUSTER CLIENTS").Items {
			var c struct{ Name, Node, Status string }
			_ = json.Unmarshal(it, &c)
			got = append(got, c.Name+"@"+c.Node+" "+c.Status)
		}
		want := []string{"alpha@n1 connected", "beta@n2 connected", "gamma@n3 connected", "shared@n1 connected", "shared@n3 connected", "web.2@n2 connected"}
		if !slices.Equal(got, want) {
			t.Fatal(got)
		}
	})
	t.Run("CLIENT", func(t *testing.T) {
		l := get(t, "CLUSTER CLIENT shared")
		if len(l.Items) != 2 || !strings.Contains(string(l.Items[0]), `"node":"n1"`) || !strings.Contains(string(l.Items[1]), `"node":"n3"`) {
			t.Fatalf("%s", l.Items)
		}
	})
	t.Run("LOG", func(t *testing.T) {
		var got []string
		for _, it := range get(t, "CLUSTER LOG shared").Items {
			var e []any
			_ = json.Unmarshal(it, &e)
			got = append(got, e[1].(string))
		}
		if want := []string{"s1 from n1", "s3 from n3"}; !slices.Equal(got, want) {
			t.Fatal(got)
		}
	})
	t.Run("STATE", func(t *testing.T) {
		l := get(t, "CLUSTER STATE shared")
		want := []string{`{"node":"n1","state":{"where":"n1"}}`, `{"node":"n3","state":{"where":"n3"}}`}
		if len(l.Items) != 2 || string(l.Items[0]) != want[0] || string(l.Items[1]) != want[1] {
			t.Fatalf("%s", l.Items)
		}
	})
	t.Run("GREP", func(t *testing.T) {
		var got []string
		for _, it := range get(t, "CLUSTER GREP error").Items {
			var h []any
			_ = json.Unmarshal(it, &h)
			got = append(got, h[1].(string)+"@"+h[3].(string)+" "+h[2].(string))
		}
		want := []string{"alpha@n1 a1 error one", "beta@n2 b1 error two", "gamma@n3 g1 error three"}
		if !slices.Equal(got, want) {
			t.Fatal(got)
		}
	})
	t.Run("STATS", func(t *testing.T) {
		var got []string
		for _, it := range get(t, "CLUSTER STATS").Items {
			var s struct {
				Node    string
				Clients int
			}
			_ = json.Unmarshal(it, &s)
			got = append(got, s.Node+" "+strconv.Itoa(s.Clients))
		}
		if want := []string{"n1 2", "n2 2", "n3 2"}; !slices.Equal(got, want) {
			t.Fatal(got)
		}
	})
	t.Run("no such client", func(t *testing.T) {
		if got := a.doJSON(t, "CLUSTER CLIENT nobody"); got != `{"error":"no such client: nobody"}` {
			t.Fatal(got)
		}
	})
}
