package codec

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The usage texts of the commands that take options, as the protocol
// spells them.
const (
	usageLogLong = "usage: LOG <name> [<n>] [since=<t>] [until=<t>] [match=<regex>]"
	usageGrep    = "usage: GREP <regex> [clients=<glob>] [since=<t>] [until=<t>] [limit=<n>]"
	usageClients = "usage: CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]"
	usageWatch   = "usage: WATCH [<glob> ...] [match=<regex>] [backlog=<n>]"
	usageCluster = "usage: CLUSTER NAMES|CLIENTS|CLIENT|LOG|STATE|GREP|STATS|WATCH ..."
	badTimeTail  = ": use RFC 3339, Unix epoch ms or a duration ago (90s, 10m, 2h)"
)

// adminCase is one ParseAdmin table row. match is the expected source of
// Request.Match ("-" for nil), compared apart because a compiled regex is
// not plain data; on an error only Cmd, Word and Cluster are compared.
type adminCase struct {
	line  string
	want  Request
	match string
	err   string
}

func runAdminCases(t *testing.T, tests []adminCase) {
	t.Helper()
	for _, tt := range tests {
		got, err := ParseAdmin([]byte(tt.line))
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.err {
			t.Errorf("ParseAdmin(%q) error = %q, want %q", tt.line, gotErr, tt.err)
		}
		if got.Cmd != tt.want.Cmd || got.Word != tt.want.Word || got.Cluster != tt.want.Cluster {
			t.Errorf("ParseAdmin(%q) Cmd/Word/Cluster = %v/%q/%v, want %v/%q/%v", tt.line,
				got.Cmd, got.Word, got.Cluster, tt.want.Cmd, tt.want.Word, tt.want.Cluster)
		}
		if tt.err != "" {
			continue
		}
		gotMatch := "-"
		if got.Match != nil {
			gotMatch = got.Match.String()
		}
		if want := cmpOr(tt.match, "-"); gotMatch != want {
			t.Errorf("ParseAdmin(%q) Match = %q, want %q", tt.line, gotMatch, want)
		}
		got.Match = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAdmin(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestParseAdmin(t *testing.T) {
	runAdminCases(t, []adminCase{
		{"", Request{Cmd: AdminBlank, N: -1}, "", ""},
		{" \t ", Request{Cmd: AdminBlank, N: -1}, "", ""},

		{"PING", Request{Cmd: AdminPING, Word: "PING", N: -1}, "", ""},
		{"ping", Request{Cmd: AdminPING, Word: "ping", N: -1}, "", ""},
		{"  Ping \t", Request{Cmd: AdminPING, Word: "Ping", N: -1}, "", ""},
		{"PING x", Request{Cmd: AdminPING, Word: "PING", N: -1}, "", "usage: PING"},
		{"ping x", Request{Cmd: AdminPING, Word: "ping", N: -1}, "", "usage: PING"},
		{"HELP", Request{Cmd: AdminHELP, Word: "HELP", N: -1}, "", ""},
		{"help me", Request{Cmd: AdminHELP, Word: "help", N: -1}, "", "usage: HELP"},
		{"NAMES", Request{Cmd: AdminNAMES, Word: "NAMES", N: -1}, "", ""},
		{"NAMES a", Request{Cmd: AdminNAMES, Word: "NAMES", N: -1}, "", "usage: NAMES"},
		{"CLIENTS", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1, Limit: -1}, "", ""},
		{"STATS", Request{Cmd: AdminSTATS, Word: "STATS", N: -1}, "", ""},
		{"STATS x y", Request{Cmd: AdminSTATS, Word: "STATS", N: -1}, "", "usage: STATS"},
		{"DUMP", Request{Cmd: AdminDUMP, Word: "DUMP", N: -1}, "", ""},
		{"dump all", Request{Cmd: AdminDUMP, Word: "dump", N: -1}, "", "usage: DUMP"},
		{"QUIT", Request{Cmd: AdminQUIT, Word: "QUIT", N: -1}, "", ""},
		{"quit now", Request{Cmd: AdminQUIT, Word: "quit", N: -1}, "", "usage: QUIT"},

		{"CLIENT bob", Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "bob", N: -1}, "", ""},
		{"client\tbob\t", Request{Cmd: AdminCLIENT, Word: "client", Name: "bob", N: -1}, "", ""},
		{"CLIENT bad-name", Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "bad-name", N: -1}, "", ""},
		{"CLIENT", Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "", "usage: CLIENT <name>"},
		{"CLIENT a b", Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "", "usage: CLIENT <name>"},
		{"STATE bob", Request{Cmd: AdminSTATE, Word: "STATE", Name: "bob", N: -1}, "", ""},
		{"STATE", Request{Cmd: AdminSTATE, Word: "STATE", N: -1}, "", "usage: STATE <name>"},
		{"state a b", Request{Cmd: AdminSTATE, Word: "state", N: -1}, "", "usage: STATE <name>"},

		{"LOG bob", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", ""},
		{"LOG bob 10", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 10}, "", ""},
		{"log bob 0", Request{Cmd: AdminLOG, Word: "log", Name: "bob", N: 0}, "", ""},
		{"LOG bob 007", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 7}, "", ""},
		{"LOG", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob -1", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob +1", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob x", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob 1.5", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob 1 2", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob 99999999999999999999999", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", "usage: LOG <name> [<n>]"},

		{"WATCH", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, "", ""},
		{"watch bob", Request{Cmd: AdminWATCH, Word: "watch", N: -1, Names: []string{"bob"}}, "", ""},
		{"WATCH a \t b  c", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1, Names: []string{"a", "b", "c"}}, "", ""},

		{"FORMAT json", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1, JSON: true}, "", ""},
		{"format JSON", Request{Cmd: AdminFORMAT, Word: "format", N: -1, JSON: true}, "", ""},
		{"FORMAT text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", ""},
		{"FORMAT Text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", ""},
		{"FORMAT", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", "usage: FORMAT json|text"},
		{"FORMAT xml", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", "usage: FORMAT json|text"},
		{"FORMAT json text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", "usage: FORMAT json|text"},

		{"FOO", Request{Cmd: AdminUnknown, Word: "FOO", N: -1}, "", `unknown command "FOO"`},
		{"  frob a b", Request{Cmd: AdminUnknown, Word: "frob", N: -1}, "", `unknown command "frob"`},
		{"PINGX", Request{Cmd: AdminUnknown, Word: "PINGX", N: -1}, "", `unknown command "PINGX"`},
		{"STATſ", Request{Cmd: AdminUnknown, Word: "STATſ", N: -1}, "", `unknown command "STATſ"`},               // no Unicode folding
		{"\u212aill", Request{Cmd: AdminUnknown, Word: "\u212aill", N: -1}, "", "unknown command \"\u212aill\""}, // Kelvin sign
		{"a\xffb", Request{Cmd: AdminUnknown, Word: "a\xffb", N: -1}, "", "unknown command \"a\uFFFDb\""},
		{`"PING"`, Request{Cmd: AdminUnknown, Word: `"PING"`, N: -1}, "", `unknown command ""PING""`}, // the word is never unquoted
	})
}

// Version 2 requests: quoting, options, times, regexes, CLUSTER.
func TestParseAdminV2(t *testing.T) {
	const ts = "2026-11-24T00:36:25.123Z"
	const tsMs = 1795480585123
	long := strings.Repeat("a", MaxRegexLen)
	runAdminCases(t, []adminCase{
		// Quoting applies to every token after the word.
		{`CLIENT "bob"`, Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "bob", N: -1}, "", ""},
		{`CLIENT "a b"`, Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "a b", N: -1}, "", ""},
		{`CLIENT a"b c"d`, Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "ab cd", N: -1}, "", ""},
		{`CLIENT ""`, Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "", ""},
		{`CLIENT "q\"\\"`, Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: `q"\`, N: -1}, "", ""},
		{`CLIENT "bob`, Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "", "usage: CLIENT <name>"},
		{`CLIENT "bob\"`, Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "", "usage: CLIENT <name>"},
		{`PING ""`, Request{Cmd: AdminPING, Word: "PING", N: -1}, "", "usage: PING"},
		{`FORMAT "json"`, Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1, JSON: true}, "", ""},
		{"FORMAT j\u017fon", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "", "usage: FORMAT json|text"},

		{"AUTH s3cret", Request{Cmd: AdminAUTH, Word: "AUTH", Token: "s3cret", N: -1}, "", ""},
		{"auth dG9rZW4=", Request{Cmd: AdminAUTH, Word: "auth", Token: "dG9rZW4=", N: -1}, "", ""}, // no options: '=' is a token byte
		{`AUTH "pass word"`, Request{Cmd: AdminAUTH, Word: "AUTH", Token: "pass word", N: -1}, "", ""},
		{"AUTH", Request{Cmd: AdminAUTH, Word: "AUTH", N: -1}, "", "usage: AUTH <token>"},
		{"AUTH a b", Request{Cmd: AdminAUTH, Word: "AUTH", N: -1}, "", "usage: AUTH <token>"},

		{"FORGET bob", Request{Cmd: AdminFORGET, Word: "FORGET", Name: "bob", N: -1}, "", ""},
		{"forget", Request{Cmd: AdminFORGET, Word: "forget", N: -1}, "", "usage: FORGET <name>"},
		{"FORGET a b", Request{Cmd: AdminFORGET, Word: "FORGET", N: -1}, "", "usage: FORGET <name>"},

		{"clients bob", Request{Cmd: AdminCLIENTS, Word: "clients", Glob: "bob", N: -1, Limit: -1}, "", ""},
		{"CLIENTS web-* limit=10 after=web-3", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", Glob: "web-*", Limit: 10, After: "web-3", N: -1}, "", ""},
		{"CLIENTS after=x LIMIT=0 w?b", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", Glob: "w?b", Limit: 0, After: "x", N: -1}, "", ""},
		{"CLIENTS closed=1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", Closed: true, N: -1, Limit: -1}, "", ""},
		{"CLIENTS All=true", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", All: true, N: -1, Limit: -1}, "", ""},
		{"CLIENTS closed=0 all=1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", All: true, N: -1, Limit: -1}, "", ""},
		{"CLIENTS closed=false", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1, Limit: -1}, "", ""},
		{"CLIENTS limit=99999999", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1, Limit: 99999999}, "", ""},
		{"CLIENTS closed=1 all=1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS a b", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS x", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", Glob: "x", N: -1, Limit: -1}, "", ""},
		{"CLIENTS closed=2", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS closed=", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS limit=-1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS limit=x", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS limit=", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS limit=99999999999999999999", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS limit=1 limit=2", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS closed=0 closed=1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS foo=1", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{"CLIENTS match=web", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},
		{`CLIENTS "web`, Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, "", usageClients},

		{"LOG bob since=1764000000000", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1, Since: TimeAt(1764000000000)}, "", ""},
		{"LOG bob 5 since=10m until=" + ts + " match=(?i)error", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 5,
			Since: TimeAgo(10 * time.Minute), Until: TimeAt(tsMs)}, "(?i)error", ""},
		{"LOG bob SINCE=90s", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1, Since: TimeAgo(90 * time.Second)}, "", ""},
		{"LOG since=2h bob Until=0 3", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 3, Since: TimeAgo(2 * time.Hour), Until: TimeAt(0)}, "", ""},
		{`LOG bob match="connection refused"`, Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "connection refused", ""},
		{`LOG bob match=a" "b`, Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "a b", ""},
		{`LOG bob match="\d+ ms"`, Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, `\d+ ms`, ""},
		{`LOG bob match="say \"hi\" \\\\d"`, Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, `say "hi" \\d`, ""},
		{`LOG bob match=\bx=y\b`, Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, `\bx=y\b`, ""},
		{"LOG bob match=", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "", ""},
		{`LOG bob "match=connection refused"`, Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG since=10m", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: LOG <name> [<n>]"},
		{"LOG bob since=yesterday", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", `usage: bad time "yesterday"` + badTimeTail},
		{"LOG bob until=-5m", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", `usage: bad time "-5m"` + badTimeTail},
		{"LOG bob since=", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", `usage: bad time ""` + badTimeTail},
		{"LOG bob since=99999999999999999999", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", `usage: bad time "99999999999999999999"` + badTimeTail},
		{"LOG bob since=\x1b[31m", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", `usage: bad time "\x1b[31m"` + badTimeTail},
		{"LOG bob match=(", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: bad regex: missing closing ): `(`"},
		{"LOG bob match=" + long + "a", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", "usage: bad regex: longer than 1024 bytes"},
		{"LOG bob limit=5", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", usageLogLong},
		{"LOG bob since=1 since=2", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", usageLogLong},
		{`LOG bob match="abc`, Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "", usageLogLong},

		{"GREP error", Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 1000}, "error", ""},
		{"grep (?i)timeout clients=web-* since=1h until=1764000000000 limit=50", Request{Cmd: AdminGREP, Word: "grep", N: -1,
			Glob: "web-*", Since: TimeAgo(time.Hour), Until: TimeAt(1764000000000), Limit: 50}, "(?i)timeout", ""},
		{`GREP "connection refused" limit=0`, Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "connection refused", ""},
		{"GREP x limit=100000", Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 100000}, "x", ""},
		{`GREP "user=bob"`, Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 1000}, "user=bob", ""},
		{`GREP a\d=5`, Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 1000}, `a\d=5`, ""},
		{`GREP ""`, Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 1000}, "", ""},
		{"GREP " + long, Request{Cmd: AdminGREP, Word: "GREP", N: -1, Limit: 1000}, long, ""},
		{"GREP x limit=100001", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP user=bob", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP since=1h", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP a b", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP x match=y", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP x clients=a clients=b", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", usageGrep},
		{"GREP (", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", "usage: bad regex: missing closing ): `(`"},
		{"GREP a**", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", "usage: bad regex: invalid nested repetition operator: `**`"},
		{"GREP \xff", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", "usage: bad regex: invalid UTF-8: `\uFFFD`"},
		{"GREP x since=never", Request{Cmd: AdminGREP, Word: "GREP", N: -1}, "", `usage: bad time "never"` + badTimeTail},

		{"WATCH web-* db-? match=ERROR backlog=20", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1, Names: []string{"web-*", "db-?"}, Backlog: 20}, "ERROR", ""},
		{"WATCH backlog=0", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, "", ""},
		{`WATCH match="a b" bob`, Request{Cmd: AdminWATCH, Word: "WATCH", N: -1, Names: []string{"bob"}}, "a b", ""},
		{"WATCH match=(", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, "", "usage: bad regex: missing closing ): `(`"},
		{"WATCH backlog=x", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, "", usageWatch},
		{"WATCH limit=1", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, "", usageWatch},

		{"CLUSTER NAMES", Request{Cmd: AdminNAMES, Word: "CLUSTER", Cluster: true, Inner: "NAMES", N: -1}, "", ""},
		{"cluster log bob 5 since=10m", Request{Cmd: AdminLOG, Word: "cluster", Cluster: true, Inner: "log bob 5 since=10m",
			Name: "bob", N: 5, Since: TimeAgo(10 * time.Minute)}, "", ""},
		{"CLUSTER \t GREP err  limit=5 \t", Request{Cmd: AdminGREP, Word: "CLUSTER", Cluster: true, Inner: "GREP err  limit=5",
			N: -1, Limit: 5}, "err", ""},
		{"CLUSTER CLIENTS", Request{Cmd: AdminCLIENTS, Word: "CLUSTER", Cluster: true, Inner: "CLIENTS", N: -1, Limit: -1}, "", ""},
		{"CLUSTER WATCH a*", Request{Cmd: AdminWATCH, Word: "CLUSTER", Cluster: true, Inner: "WATCH a*", N: -1, Names: []string{"a*"}}, "", ""},
		{"CLUSTER STATS", Request{Cmd: AdminSTATS, Word: "CLUSTER", Cluster: true, Inner: "STATS", N: -1}, "", ""},
		{"CLUSTER state bob", Request{Cmd: AdminSTATE, Word: "CLUSTER", Cluster: true, Inner: "state bob", Name: "bob", N: -1}, "", ""},
		{"CLUSTER CLIENT bob", Request{Cmd: AdminCLIENT, Word: "CLUSTER", Cluster: true, Inner: "CLIENT bob", Name: "bob", N: -1}, "", ""},
		{"CLUSTER", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER  ", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER DUMP", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER FOO", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER CLUSTER NAMES", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER QUIT", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER AUTH x", Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{`CLUSTER "NAMES"`, Request{Cmd: AdminCLUSTER, Word: "CLUSTER", N: -1}, "", usageCluster},
		{"CLUSTER NAMES x", Request{Cmd: AdminNAMES, Word: "CLUSTER", Cluster: true, N: -1}, "", "usage: NAMES"},
		{"CLUSTER LOG", Request{Cmd: AdminLOG, Word: "CLUSTER", Cluster: true, N: -1}, "", "usage: LOG <name> [<n>]"},
		{"CLUSTER GREP (", Request{Cmd: AdminGREP, Word: "CLUSTER", Cluster: true, N: -1}, "", "usage: bad regex: missing closing ): `(`"},
	})
}

// A regex compiled by ParseAdmin matches what it should: the quoting rules
// reach the regex engine intact.
func TestParseAdminRegexMatches(t *testing.T) {
	for _, tc := range []struct {
		line, text string
		want       bool
	}{
		{`GREP (?i)timeout`, "read TIMEOUT after 5s", true},
		{`GREP timeout`, "read TIMEOUT after 5s", false},
		{`GREP "\d+ ms"`, "took 15 ms", true},
		{`GREP "\d+ ms"`, "took many ms", false},
		{`GREP "say \"hi\""`, `he said: say "hi"`, true},
		{`LOG bob match="connection refused"`, "dial: connection refused", true},
		{`WATCH match=^x$`, "x", true},
	} {
		req, err := ParseAdmin([]byte(tc.line))
		if err != nil {
			t.Fatalf("ParseAdmin(%q): %v", tc.line, err)
		}
		if got := req.Match.MatchString(tc.text); got != tc.want {
			t.Errorf("%q matching %q = %v, want %v", tc.line, tc.text, got, tc.want)
		}
	}
}

func TestAdminHelp(t *testing.T) {
	want := []string{"PING", "HELP", "AUTH", "NAMES", "CLIENTS", "CLIENT", "LOG", "GREP", "STATE", "STATS", "DUMP",
		"WATCH", "FORGET", "CLUSTER", "FORMAT", "QUIT"}
	if len(AdminHelp) != len(want) {
		t.Fatalf("%d help lines, want %d", len(AdminHelp), len(want))
	}
	for i, w := range want {
		h := AdminHelp[i]
		if first, _, _ := strings.Cut(h, " "); first != w {
			t.Errorf("help line %d = %q, want it to start with %s", i, h, w)
		}
		if !strings.Contains(h, " - ") || strings.ContainsAny(h, "\r\n") {
			t.Errorf("help line %q malformed", h)
		}
		if adminWords[i].word != w || AdminCmd(i+1).String() != w {
			t.Errorf("command %d: table says %q, String() %q, want %q", i, adminWords[i].word, AdminCmd(i+1).String(), w)
		}
		// The help line's syntax is the one a usage error shows.
		if syntax, _, _ := strings.Cut(h, " - "); "usage: "+syntax != usageErr[AdminCmd(i+1)].Error() {
			t.Errorf("help %q, usage %q", h, usageErr[AdminCmd(i+1)])
		}
	}
	// Every option a command takes is in its syntax, so HELP lists them all.
	for _, w := range adminWords {
		for _, o := range w.opts {
			if !strings.Contains(w.syntax, o+"=") {
				t.Errorf("%s syntax %q lacks option %s", w.word, w.syntax, o)
			}
		}
	}
}

func TestLooksLikeHTTP(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"GET / HTTP/1.1", true},
		{"POST /api HTTP/1.0", true},
		{"get /x http/1.1", true},
		{"Host: 127.0.0.1:2213", true},
		{"host:example", true},
		{"OPTIONS * HTTP/2", true},
		{"GET / HTTP", false},
		{"GET /", false},
		{"LOG bob 5", false},
		{"NAMES", false},
		{"", false},
		{"CLIENT GET", false},
	} {
		if got := LooksLikeHTTP([]byte(tc.line)); got != tc.want {
			t.Errorf("LooksLikeHTTP(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}
