package cluster

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

func TestToken(t *testing.T) {
	cases := []struct{ name, token string }{
		{"web1", "web1"},
		{"web.1", "web%2E1"},
		{"a.b.c", "a%2Eb%2Ec"},
		{"host:8080_x-y", "host:8080_x-y"},
		{"*", "%2A"},
		{">", "%3E"},
		{"50%", "50%25"},
		{"a b\tc", "a%20b%09c"},
		{"é", "%C3%A9"},
		{"", "%"},
	}
	for _, c := range cases {
		got := Token(c.name)
		if got != c.token {
			t.Errorf("Token(%q) = %q, want %q", c.name, got, c.token)
		}
		if strings.ContainsAny(got, ".*> \t") {
			t.Errorf("Token(%q) = %q splits a subject", c.name, got)
		}
		back, ok := Untoken(got)
		if !ok || back != c.name {
			t.Errorf("Untoken(%q) = %q %v, want %q", got, back, ok, c.name)
		}
	}
	for _, bad := range []string{"%2", "%G0", "a%", "%2e"} {
		if _, ok := Untoken(bad); ok {
			t.Errorf("Untoken(%q) accepted", bad)
		}
	}
	if got := EventSubject("node.1", "web.2"); got != "logatron.events.node%2E1.web%2E2" {
		t.Errorf("EventSubject: %q", got)
	}
}

// TestQuote: a value quoted for a request line comes back whole from the
// admin parser, whatever it holds.
func TestQuote(t *testing.T) {
	for _, v := range []string{`plain`, `two words`, `"quoted"`, `back\slash`, `\d+ "x" \\`, `a=b`, ``, `tab	in`} {
		req, err := codec.ParseAdmin([]byte("CLIENT " + quote(v)))
		if v == "" {
			if err != nil || req.Name != "" {
				t.Errorf("empty: %v %q", err, req.Name)
			}
			continue
		}
		if err != nil || req.Name != v {
			t.Errorf("quote(%q) parsed as %q, %v", v, req.Name, err)
		}
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		cfg Config
		err string
	}{
		{Config{Node: "n1"}, "no NATS URL"},
		{Config{URL: "nats://127.0.0.1:1", Node: "bad name"}, "invalid node name"},
		{Config{URL: "nats://127.0.0.1:1", Node: strings.Repeat("x", 65)}, "invalid node name"},
		{Config{URL: "nats://127.0.0.1:1", Node: "n.1:a-b_c"}, ""},
	}
	for _, c := range cases {
		n, err := New(c.cfg)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%+v: %v", c.cfg, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.err)
		case err == nil && (n.cfg.Timeout != 2e9 || n.cfg.WatchBuffer != 4<<20):
			t.Errorf("defaults: %+v", n.cfg)
		}
	}
}

// TestNotStarted: before Start (main sets the hooks before the server
// runs), CLUSTER answers an error and Stop does nothing.
func TestNotStarted(t *testing.T) {
	n, err := New(Config{URL: "nats://127.0.0.1:1", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []query.Format{query.Text, query.JSON} {
		var b bytes.Buffer
		if err := n.Admin(context.Background(), f, "NAMES", &b); err != nil {
			t.Fatal(err)
		}
		if want := string(query.AppendError(nil, f, "cluster not started yet")); b.String() != want {
			t.Errorf("got %q, want %q", b.String(), want)
		}
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
