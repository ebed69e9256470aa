package query

import (
	"math/rand/v2"
	"testing"
	"time"
)

// AppendTime's integer path agrees with the time package on every
// boundary and on random instants; out of its range it falls back.
func TestAppendTime(t *testing.T) {
	ref := func(ms int64) string {
		return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	cases := []struct {
		ms   int64
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{1, "1970-01-01T00:00:00.001Z"},
		{86399999, "1970-01-01T23:59:59.999Z"},
		{1764000000000, "2025-11-24T16:00:00.000Z"},
		{951782400000, "2000-02-29T00:00:00.000Z"},     // leap day of a 400-year
		{4107542400000, "2100-03-01T00:00:00.000Z"},    // 2100 is not a leap year
		{94694399999, "1972-12-31T23:59:59.999Z"},      // end of a leap year
		{maxFastTime, "9999-12-31T23:59:59.999Z"},      // last of the fast path
		{maxFastTime + 1, "10000-01-01T00:00:00.000Z"}, // time package from here
		{-1, "1969-12-31T23:59:59.999Z"},
	}
	for _, tc := range cases {
		if got := string(AppendTime(nil, tc.ms)); got != tc.want || got != ref(tc.ms) {
			t.Errorf("AppendTime(%d) = %s, want %s (time package: %s)", tc.ms, got, tc.want, ref(tc.ms))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		ms := rng.Int64N(maxFastTime + 1)
		if got := string(AppendTime(nil, ms)); got != ref(ms) {
			t.Fatalf("AppendTime(%d) = %s, want %s", ms, got, ref(ms))
		}
	}
	var c Clock
	for _, ms := range []int64{5, 5, 6, maxFastTime + 1, 5} {
		if got := string(c.Append([]byte("x"), ms)); got != "x"+ref(ms) {
			t.Errorf("Clock.Append(%d) = %s, want x%s", ms, got, ref(ms))
		}
	}
	if got := string((*Clock)(nil).Append(nil, 7)); got != ref(7) {
		t.Errorf("nil Clock: %s", got)
	}
}
