package cluster

import (
	"fmt"
	"testing"

	"github.com/logatron/logatron/query"
)

func TestDecodeTuples(t *testing.T) {
	cases := []struct {
		in   string
		strs int
		want string // each tuple as ts|s1|s2;
		ok   bool
	}{
		{`[]`, 1, ``, true},
		{" [ ] \n", 1, ``, true},
		{`[[1,"a"],[2,"b c"]]`, 1, `1|a;2|b c;`, true},
		{`[[-5,"x","y"]]`, 2, `-5|x|y;`, true},
		{`[[1,"q\"uote\\ \n \u00e9 \ud83d\ude00"]]`, 1, "1|q\"uote\\ \n é 😀;", true},
		{` [ [ 1 , "a" ] , [ 2 , "b" ] ] `, 1, `1|a;2|b;`, true},
		{`[[1,"a"]`, 1, ``, false},
		{`[[1,"a"],]`, 1, ``, false},
		{`[[1,"a","b"]]`, 1, ``, false},
		{`[[1]]`, 1, ``, false},
		{`[["1","a"]]`, 1, ``, false},
		{`[[1.5,"a"]]`, 1, ``, false},
		{`[[1,"a]]`, 1, ``, false},
		{"[[1,\"a\x01\"]]", 1, ``, false},
		{`[[1,"\x"]]`, 1, ``, false},
		{`[[1,"a"]] x`, 1, ``, false},
		{`{}`, 1, ``, false},
		{``, 1, ``, false},
	}
	for _, c := range cases {
		got := ""
		err := decodeTuples([]byte(c.in), c.strs, func(ts int64, s [][]byte) {
			got += fmt.Sprint(ts)
			for _, x := range s {
				got += "|" + string(x)
			}
			got += ";"
		})
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("%q: %q %v, want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	// What the query package renders comes back exactly.
	hits := []query.Hit{{TS: 1, Name: "a.b", Msg: []byte("tab\there \"q\" \\ \x00 \u2028 é")}, {TS: 2, Name: "c", Msg: []byte("")}}
	var back []query.Hit
	err := decodeTuples(query.AppendGrep(nil, query.JSON, hits), 2, func(ts int64, s [][]byte) {
		back = append(back, query.Hit{TS: ts, Name: string(s[0]), Msg: append([]byte(nil), s[1]...)})
	})
	if err != nil || len(back) != 2 {
		t.Fatal(err, back)
	}
	for i := range hits {
		if back[i].TS != hits[i].TS || back[i].Name != hits[i].Name || string(back[i].Msg) != string(hits[i].Msg) {
			t.Errorf("hit %d: %+v, want %+v", i, back[i], hits[i])
		}
	}
}
