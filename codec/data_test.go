package codec

import (
	"strings"
	"testing"
)

func TestParseData(t *testing.T) {
	k64 := strings.Repeat("k", 64)
	k65 := strings.Repeat("k", 65)
	tests := []struct {
		line       string
		cmd        Cmd
		arg1, arg2 string
		ok         bool
	}{
		{"", CmdBlank, "", "", true},
		{"   ", CmdBlank, "", "", true},
		{" \t \t", CmdBlank, "", "", true},

		{"IAM bob", CmdIAM, "bob", "", true},
		{"iam bob", CmdIAM, "bob", "", true},
		{"IaM Bob_42", CmdIAM, "Bob_42", "", true},
		{"  \tIAM \t bob \t ", CmdIAM, "bob", "", true},
		{"IAM bob s3cret", CmdIAM, "bob", "s3cret", true},
		{"iam \t bob \t s3cret \t", CmdIAM, "bob", "s3cret", true},
		{"IAM bob tok=en/+==", CmdIAM, "bob", "tok=en/+==", true},
		{"IAM bob tok extra", CmdIAM, "bob", "tok extra", false},
		{"IAM bad/name tok", CmdIAM, "bad/name", "tok", false},
		{"IAM", CmdIAM, "", "", false},
		{"IAM   ", CmdIAM, "", "", false},
		{"IAM bo-b", CmdIAM, "bo-b", "", true},
		{"IAM web-1.eu:8080", CmdIAM, "web-1.eu:8080", "", true},
		{"IAM bo/b", CmdIAM, "bo/b", "", false},
		{"IAM bo*", CmdIAM, "bo*", "", false},
		{"IAM bob\r", CmdIAM, "bob\r", "", false},
		{"IAM " + k64, CmdIAM, k64, "", true},
		{"IAM " + k65, CmdIAM, k65, "", false},
		{"IAM héllo", CmdIAM, "héllo", "", false},
		{"IAMbob", CmdUnknown, "IAMbob", "", false},

		{"LOG hello", CmdLOG, "hello", "", true},
		{"LOG", CmdLOG, "", "", true},
		{"LOG   ", CmdLOG, "", "", true},
		{"log hi", CmdLOG, "hi", "", true},
		{"Log hi", CmdLOG, "hi", "", true},
		{"lOG hi", CmdLOG, "hi", "", true},
		{"LOG \t hi there  \t", CmdLOG, "hi there", "", true},
		{"\t LOG a\tb  c", CmdLOG, "a\tb  c", "", true},
		{"LOG \x00\xff", CmdLOG, "\x00\xff", "", true},
		{"LOG  multiple   inner   spaces ", CmdLOG, "multiple   inner   spaces", "", true},
		{"LOG\thi", CmdLOG, "hi", "", true},
		{"LOGX foo", CmdUnknown, "LOGX", "", false},
		{"LO foo", CmdUnknown, "LO", "", false},

		{"SET k v", CmdSET, "k", "v", true},
		{"set k v", CmdSET, "k", "v", true},
		{"SET k v w ", CmdSET, "k", "v w", true},
		{"SET \t k \t v \t w \t", CmdSET, "k", "v \t w", true},
		{"SET k", CmdSET, "k", "", false},
		{"SET k   ", CmdSET, "k", "", false},
		{"SET", CmdSET, "", "", false},
		{"SET good-key.v1:x v", CmdSET, "good-key.v1:x", "v", true},
		{"SET bad/key v", CmdSET, "bad/key", "v", false},
		{"SET bad\x00key v", CmdSET, "bad\x00key", "v", false},
		{"SET " + k64 + " v", CmdSET, k64, "v", true},
		{"SET " + k65 + " v", CmdSET, k65, "v", false},
		{"SET temp_C 21.5 °C", CmdSET, "temp_C", "21.5 °C", true},

		{"CONT at main.go:12", CmdCONT, "at main.go:12", "", true},
		{"cont x", CmdCONT, "x", "", true},
		{"CoNt x", CmdCONT, "x", "", true},
		{"CONT", CmdCONT, "", "", true},
		{"CONT \t ", CmdCONT, "", "", true},
		{"CONT \t\tindented  text \t", CmdCONT, "indented  text", "", true},
		{" \tCONT\tx", CmdCONT, "x", "", true},
		{"CONTX y", CmdUnknown, "CONTX", "", false},
		{"CON y", CmdUnknown, "CON", "", false},
		{"C\x00NT y", CmdUnknown, "C\x00NT", "", false},
		{"CONT\x00 y", CmdUnknown, "CONT\x00", "", false},

		{"FOO bar", CmdUnknown, "FOO", "", false},
		{"  foo", CmdUnknown, "foo", "", false},
		{"\x00", CmdUnknown, "\x00", "", false},
		{"\r", CmdUnknown, "\r", "", false},
	}
	for _, tt := range tests {
		cmd, a1, a2, ok := ParseData([]byte(tt.line))
		if cmd != tt.cmd || string(a1) != tt.arg1 || string(a2) != tt.arg2 || ok != tt.ok {
			t.Errorf("ParseData(%q) = %v %q %q %v, want %v %q %q %v",
				tt.line, cmd, a1, a2, ok, tt.cmd, tt.arg1, tt.arg2, tt.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", false},
		{"a", true},
		{"Az09_", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"a b", false},
		{"a-b", true},
		{"a.b", true},
		{"a:b", true},
		{"-.:_", true},
		{"web-01.eu-west:2212", true},
		{"a/b", false},
		{"a*", false},
		{"a?", false},
		{"a=b", false},
		{"a\"b", false},
		{"a,b", false},
		{"a\tb", false},
		{"é", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := ValidName([]byte(tt.name)); got != tt.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

// Every byte value is in the name alphabet exactly when the spec's class
// [A-Za-z0-9_.:-] says so.
func TestValidNameBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("_.:-", rune(c))
		if got := ValidName([]byte{byte(c)}); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", byte(c), got, want)
		}
	}
}

func TestParseDataNoAllocs(t *testing.T) {
	lines := [][]byte{
		[]byte("LOG the quick brown fox jumps over the lazy dog"),
		[]byte("SET key some value"),
		[]byte("IAM worker_17"),
		[]byte("IAM worker_17 s3cret"),
		[]byte("CONT   at main.go:12 "),
		[]byte("WHAT is this"),
		[]byte("  "),
	}
	for _, l := range lines {
		if n := testing.AllocsPerRun(100, func() {
			ParseData(l)
			ValidName(l)
		}); n != 0 {
			t.Errorf("ParseData(%q): %v allocs", l, n)
		}
	}
}

func TestLOGMessage(t *testing.T) {
	for _, tc := range []struct {
		line string
		msg  string
		ok   bool
	}{
		{"LOG hello world", "hello world", true},
		{"log x", "x", true},
		{"LoG a\tb", "a\tb", true},
		{"LOG \xff\xfe", "\xff\xfe", true}, // UTF-8 is the caller's check
		{"LOG x\r", "x\r", true},           // as ParseData: a '\r' inside the line is a byte
		{"LOG", "", false},                 // ParseData's "LOG" alone: empty message
		{"LOG ", "", false},
		{"LOG  x", "", false}, // a run of blanks: ParseData skips them
		{"LOG\tx", "", false},
		{"LOG x ", "", false}, // trailing blank: ParseData trims it
		{"LOG x\t", "", false},
		{" LOG x", "", false},
		{"LOGX y", "", false},
		{"LOX y", "", false},
		{"SET k v", "", false},
		{"L\x00G x", "", false},
		{"l\xefg x", "", false}, // 0xEF|0x20 is not 'o'
	} {
		msg, ok := LOGMessage([]byte(tc.line))
		if ok != tc.ok || string(msg) != tc.msg {
			t.Errorf("LOGMessage(%q) = %q, %v; want %q, %v", tc.line, msg, ok, tc.msg, tc.ok)
		}
		if ok {
			if cmd, a1, _, _ := ParseData([]byte(tc.line)); cmd != CmdLOG || string(a1) != tc.msg {
				t.Errorf("ParseData(%q) = %v %q, LOGMessage says %q", tc.line, cmd, a1, msg)
			}
		}
	}
}
