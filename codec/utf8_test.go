package codec

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendValidUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"hello", "hello"},
		{"héllo wörld €𝄞", "héllo wörld €𝄞"},
		{"\uFFFD", "\uFFFD"},
		{"a\xffb", "a\uFFFDb"},
		{"a\xff\xfe\xfdb", "a\uFFFDb"},
		{"\xff", "\uFFFD"},
		{"\xff\xff\xff\xff", "\uFFFD"},
		{"\xe2\x82", "\uFFFD"},   // truncated €
		{"\xe2\x82a", "\uFFFDa"}, // truncated € then ASCII
		{"\xe2\x82\xe2\x82\xac", "\uFFFD€"},
		{"\xed\xa0\x80", "\uFFFD"},     // surrogate
		{"\xc0\x80", "\uFFFD"},         // overlong NUL
		{"\xf4\x90\x80\x80", "\uFFFD"}, // above U+10FFFF
		{"€\x80€", "€\uFFFD€"},
		{"\xff\uFFFD\xff", "\uFFFD\uFFFD\uFFFD"}, // a real U+FFFD separates runs
		{"a\x00b", "a\x00b"},
	}
	for _, tt := range tests {
		got := AppendValidUTF8([]byte("pre:"), []byte(tt.in))
		if string(got) != "pre:"+tt.want {
			t.Errorf("AppendValidUTF8(%q) = %q, want %q", tt.in, got[4:], tt.want)
		}
		if !utf8.Valid(got) {
			t.Errorf("AppendValidUTF8(%q) invalid output", tt.in)
		}
		if len(got)-4 > 2*len(tt.in)+1 {
			t.Errorf("AppendValidUTF8(%q) grew to %d bytes, documented bound %d", tt.in, len(got)-4, 2*len(tt.in)+1)
		}
	}
}

func TestAppendValidUTF8NoAllocs(t *testing.T) {
	for _, in := range []string{"plain ascii message", "a\xffb\xfe\xfdc\xe2\x82"} {
		p := []byte(in)
		dst := make([]byte, 0, 2*len(p)+1)
		if n := testing.AllocsPerRun(100, func() { AppendValidUTF8(dst[:0], p) }); n != 0 {
			t.Errorf("AppendValidUTF8(%q): %v allocs", in, n)
		}
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"", 0, ""},
		{"aé", 2, "a"}, // é is 2 bytes
		{"aé", 3, "aé"},
		{"a€", 2, "a"}, // € is 3 bytes
		{"a€", 3, "a"},
		{"a€", 4, "a€"},
		{"a𝄞", 2, "a"}, // 𝄞 is 4 bytes
		{"a𝄞", 4, "a"},
		{"a𝄞b", 5, "a𝄞"},
		{"€€", 4, "€"},
		{"€", 1, ""},
		{"ab\xff\xff", 3, "ab\xff"},                 // invalid: cut anywhere
		{"\x80\x80\x80\x80\x80", 3, "\x80\x80\x80"}, // all continuation bytes
		{"a\xe2\x82b", 2, "a\xe2"},                  // truncated sequence is not valid: any cut is fine
		{"\xff\xff\xff", 2, "\xff\xff"},
		// An incomplete sequence at the very end is a Framer cut: dropped.
		{"a\xe2\x82", 10, "a"},
		{"a\xe2\x82", 3, "a"},
		{"a\xf0\x9f\x8c", 4, "a"},
		{"a\xe2", 2, "a"},
		{"\xe2", 1, ""},
		{"a\xf0\x9f\x8c", 3, "a"},
		// ...but complete invalid bytes at the end are kept.
		{"a\xff", 10, "a\xff"},
		{"a\x80", 2, "a\x80"},
		{"a\xe2\x82\xff", 10, "a\xe2\x82\xff"},
		{"a\xc2", 2, "a"},
		{"a\xc0", 2, "a\xc0"},         // 0xC0 never starts a valid sequence
		{"a\xed\xa0", 3, "a\xed\xa0"}, // nor does ED A0 (a surrogate)
	}
	for _, tt := range tests {
		got := TruncateUTF8([]byte(tt.in), tt.n)
		if string(got) != tt.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestTruncateUTF8Valid: on valid text the cut is always on a rune boundary
// and as long as possible.
func TestTruncateUTF8Valid(t *testing.T) {
	s := []byte("aé€𝄞b€é𝄞𝄞x")
	for n := 0; n <= len(s)+1; n++ {
		got := TruncateUTF8(s, n)
		if !utf8.Valid(got) || len(got) > n && n >= 0 {
			t.Fatalf("n=%d: %q", n, got)
		}
		if len(got) < len(s) && len(got)+utf8.RuneLen([]rune(string(s[len(got):]))[0]) <= n {
			t.Fatalf("n=%d: %q is not the longest prefix", n, got)
		}
	}
}

func TestValidUTF8MatchesStdlib(t *testing.T) {
	ascii := strings.Repeat("log line 0123456789 ", 10)
	cases := []string{"", "a", ascii, "é", "\xff", "\xe2\x82", "\xe2\x82\xac"}
	// A non-ASCII byte at every position of a 100-byte ASCII line, valid and not.
	for i := 0; i < 100; i++ {
		cases = append(cases, ascii[:i]+"€"+ascii[i:100], ascii[:i]+"\xff"+ascii[i:100], ascii[:i]+"\xe2\x82"+ascii[i:100])
	}
	for _, c := range cases {
		if got, want := ValidUTF8([]byte(c)), utf8.Valid([]byte(c)); got != want {
			t.Errorf("ValidUTF8(%q) = %v, want %v", c, got, want)
		}
	}
}

func BenchmarkValidUTF8(b *testing.B) {
	line := []byte(strings.Repeat("x", 64))
	b.Run("ours-64B", func(b *testing.B) {
		for range b.N {
			ValidUTF8(line)
		}
	})
	b.Run("stdlib-64B", func(b *testing.B) {
		for range b.N {
			utf8.Valid(line)
		}
	})
}
