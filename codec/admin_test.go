package codec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAdmin(t *testing.T) {
	tests := []struct {
		line string
		want Request
		err  string
	}{
		{"", Request{Cmd: AdminBlank, N: -1}, ""},
		{" \t ", Request{Cmd: AdminBlank, N: -1}, ""},

		{"PING", Request{Cmd: AdminPING, Word: "PING", N: -1}, ""},
		{"ping", Request{Cmd: AdminPING, Word: "ping", N: -1}, ""},
		{"  Ping \t", Request{Cmd: AdminPING, Word: "Ping", N: -1}, ""},
		{"PING x", Request{Cmd: AdminPING, Word: "PING", N: -1}, "usage: PING"},
		{"ping x", Request{Cmd: AdminPING, Word: "ping", N: -1}, "usage: PING"},
		{"HELP", Request{Cmd: AdminHELP, Word: "HELP", N: -1}, ""},
		{"help me", Request{Cmd: AdminHELP, Word: "help", N: -1}, "usage: HELP"},
		{"NAMES", Request{Cmd: AdminNAMES, Word: "NAMES", N: -1}, ""},
		{"NAMES a", Request{Cmd: AdminNAMES, Word: "NAMES", N: -1}, "usage: NAMES"},
		{"CLIENTS", Request{Cmd: AdminCLIENTS, Word: "CLIENTS", N: -1}, ""},
		{"clients bob", Request{Cmd: AdminCLIENTS, Word: "clients", N: -1}, "usage: CLIENTS"},
		{"STATS", Request{Cmd: AdminSTATS, Word: "STATS", N: -1}, ""},
		{"STATS x y", Request{Cmd: AdminSTATS, Word: "STATS", N: -1}, "usage: STATS"},
		{"DUMP", Request{Cmd: AdminDUMP, Word: "DUMP", N: -1}, ""},
		{"dump all", Request{Cmd: AdminDUMP, Word: "dump", N: -1}, "usage: DUMP"},
		{"QUIT", Request{Cmd: AdminQUIT, Word: "QUIT", N: -1}, ""},
		{"quit now", Request{Cmd: AdminQUIT, Word: "quit", N: -1}, "usage: QUIT"},

		{"CLIENT bob", Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "bob", N: -1}, ""},
		{"client\tbob\t", Request{Cmd: AdminCLIENT, Word: "client", Name: "bob", N: -1}, ""},
		{"CLIENT bad-name", Request{Cmd: AdminCLIENT, Word: "CLIENT", Name: "bad-name", N: -1}, ""},
		{"CLIENT", Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "usage: CLIENT <name>"},
		{"CLIENT a b", Request{Cmd: AdminCLIENT, Word: "CLIENT", N: -1}, "usage: CLIENT <name>"},
		{"STATE bob", Request{Cmd: AdminSTATE, Word: "STATE", Name: "bob", N: -1}, ""},
		{"STATE", Request{Cmd: AdminSTATE, Word: "STATE", N: -1}, "usage: STATE <name>"},
		{"state a b", Request{Cmd: AdminSTATE, Word: "state", N: -1}, "usage: STATE <name>"},

		{"LOG bob", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, ""},
		{"LOG bob 10", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 10}, ""},
		{"log bob 0", Request{Cmd: AdminLOG, Word: "log", Name: "bob", N: 0}, ""},
		{"LOG bob 007", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: 7}, ""},
		{"LOG", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob -1", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob +1", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob x", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob 1.5", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob 1 2", Request{Cmd: AdminLOG, Word: "LOG", N: -1}, "usage: LOG <name> [<n>]"},
		{"LOG bob 99999999999999999999999", Request{Cmd: AdminLOG, Word: "LOG", Name: "bob", N: -1}, "usage: LOG <name> [<n>]"},

		{"WATCH", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1}, ""},
		{"watch bob", Request{Cmd: AdminWATCH, Word: "watch", N: -1, Names: []string{"bob"}}, ""},
		{"WATCH a \t b  c", Request{Cmd: AdminWATCH, Word: "WATCH", N: -1, Names: []string{"a", "b", "c"}}, ""},

		{"FORMAT json", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1, JSON: true}, ""},
		{"format JSON", Request{Cmd: AdminFORMAT, Word: "format", N: -1, JSON: true}, ""},
		{"FORMAT text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, ""},
		{"FORMAT Text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, ""},
		{"FORMAT", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "usage: FORMAT json|text"},
		{"FORMAT xml", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "usage: FORMAT json|text"},
		{"FORMAT json text", Request{Cmd: AdminFORMAT, Word: "FORMAT", N: -1}, "usage: FORMAT json|text"},

		{"FOO", Request{Cmd: AdminUnknown, Word: "FOO", N: -1}, `unknown command "FOO"`},
		{"  frob a b", Request{Cmd: AdminUnknown, Word: "frob", N: -1}, `unknown command "frob"`},
		{"PINGX", Request{Cmd: AdminUnknown, Word: "PINGX", N: -1}, `unknown command "PINGX"`},
		{"STATſ", Request{Cmd: AdminUnknown, Word: "STATſ", N: -1}, `unknown command "STATſ"`},               // no Unicode folding
		{"\u212aill", Request{Cmd: AdminUnknown, Word: "\u212aill", N: -1}, "unknown command \"\u212aill\""}, // Kelvin sign
		{"a\xffb", Request{Cmd: AdminUnknown, Word: "a\xffb", N: -1}, "unknown command \"a\uFFFDb\""},
	}
	for _, tt := range tests {
		got, err := ParseAdmin([]byte(tt.line))
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.err {
			t.Errorf("ParseAdmin(%q) error = %q, want %q", tt.line, gotErr, tt.err)
		}
		if tt.err == "" && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAdmin(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
		if got.Cmd != tt.want.Cmd || got.Word != tt.want.Word {
			t.Errorf("ParseAdmin(%q) Cmd/Word = %v/%q, want %v/%q", tt.line, got.Cmd, got.Word, tt.want.Cmd, tt.want.Word)
		}
	}
}

func TestAdminHelp(t *testing.T) {
	want := []string{"PING", "HELP", "NAMES", "CLIENTS", "CLIENT", "LOG", "STATE", "STATS", "DUMP", "WATCH", "FORMAT", "QUIT"}
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
