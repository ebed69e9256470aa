package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestIngestFastPath feeds the same bytes to two stores: one in reads of
// random sizes (whole lines go through the fast path, and messages that
// newer ones of the same read would evict are never pushed) and one a byte
// at a time (every line through the Framer, every message pushed). Rings,
// counters and state must end the same.
func TestIngestFastPath(t *testing.T) {
	for _, tc := range []struct {
		name             string
		buffer, bytesCap int
	}{
		{"default caps", 128, 1 << 20},
		{"few entries", 5, 1 << 20},
		{"entries above the pending list", 1000, 1 << 20},
		{"byte cap binds", 1000, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				input := randomTraffic(rng, 3000, 28+int(seed%2)*5000) // every other seed, one odd line in ~400
				cfg := testConfig()
				cfg.Buffer, cfg.BufferBytes, cfg.MaxLine, cfg.MaxKeys = tc.buffer, tc.bytesCap, 200, 8

				fast, fc := newTestClient(cfg)
				for rest := input; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(64<<10))
					fast.Ingest(fc, rest[:n], 1)
					rest = rest[n:]
				}
				slow, sc := newTestClient(cfg)
				for i := range input {
					slow.Ingest(sc, input[i:i+1], 1)
				}

				// Every message stored, in order: no cap binds this store.
				all := func() []string {
					c := cfg
					c.Buffer, c.BufferBytes = 1<<20, 1<<30
					st, d := newTestClient(c)
					st.Ingest(d, input, 1)
					return ringOf(d.Client())
				}()
				fd, sd := fc.Client(), sc.Client()
				got, want := ringOf(fd), ringOf(sd)
				for _, r := range [][]string{got, want} {
					if len(r) > len(all) || !slices.Equal(r, all[len(all)-len(r):]) {
						t.Fatalf("seed %d: a ring is not the newest messages without a gap: %.300q", seed, r)
					}
				}
				if tc.bytesCap < 1<<20 {
					// Under the byte cap, how many old entries fit depends on
					// where messages landed in the ring (it never splits one
					// across its end), and pushing fewer moves them. Both must
					// be the newest messages, within the cap.
					short, long := got, want
					if len(short) > len(long) {
						short, long = long, short
					}
					if !slices.Equal(short, long[len(long)-len(short):]) || fd.ring.Bytes() > tc.bytesCap {
						t.Fatalf("seed %d: fast path keeps %q, one line at a time %q", seed, got, want)
					}
					want = got
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d: rings differ: fast path keeps %d entries, one line at a time %d\nfast: %.200q\nslow: %.200q",
						seed, len(got), len(want), got, want)
				}
				if fast.tot != slow.tot ||
					fd.lines != sd.lines || fd.errors != sd.errors || fd.truncated != sd.truncated || fd.lastError != sd.lastError {
					t.Fatalf("seed %d: counters differ: fast %d/%d/%d %q, slow %d/%d/%d %q", seed,
						fd.lines, fd.errors, fd.truncated, fd.lastError, sd.lines, sd.errors, sd.truncated, sd.lastError)
				}
				if fmt.Sprint(fd.keys) != fmt.Sprint(sd.keys) {
					t.Fatalf("seed %d: keys differ: %v, %v", seed, fd.keys, sd.keys)
				}
				if fd.lines == 0 || fd.ring.Len() == 0 {
					t.Fatalf("seed %d: nothing stored", seed)
				}
			}
		})
	}
}

// testConfig is the server's default limits.
func testConfig() Config {
	return Config{Buffer: 128, BufferBytes: 1 << 20, MaxLine: 64 << 10, MaxKeys: 1024, WatchBuffer: 4 << 20, Log: zerolog.Nop()}
}

// newTestClient returns a store with one identified connection, "test".
func newTestClient(cfg Config) (*Store, *Conn) {
	st := New(cfg)
	c := st.NewConn(Peer{})
	if fatal := st.Ingest(&c, []byte("IAM test\n"), 1); fatal != "" {
		panic(fatal)
	}
	return st, &c
}

func ringOf(cl *Client) []string {
	var out []string
	cl.ring.Range(0, func(ts int64, msg []byte) bool {
		out = append(out, fmt.Sprint(ts, " ", string(msg)))
		return true
	})
	return out
}

// randomTraffic is mostly plain LOG lines, with every other kind of line
// the data port accepts or refuses mixed in: plain out of every plain+12
// lines are plain LOG lines.
func randomTraffic(rng *rand.Rand, lines, plain int) []byte {
	var b strings.Builder
	for i := range lines {
		msg := fmt.Sprintf("m%d-%s", i, strings.Repeat("x", rng.IntN(90)))
		eol := "\n"
		if rng.IntN(10) == 0 {
			eol = "\r\n"
		}
		switch k := rng.IntN(plain+12) - plain + 28; {
		case k < 28:
			b.WriteString("LOG " + msg)
		case k == 28:
			b.WriteString("log \t " + msg + " \t") // blanks the fast path leaves to ParseData
		case k == 29:
			b.WriteString("LOG " + msg + "\xff\xfe") // repaired
		case k == 30:
			b.WriteString("LOG " + strings.Repeat("y", 150) + "é") // valid UTF-8, not ASCII
		case k == 31:
			b.WriteString("LOG " + strings.Repeat("z", 300)) // longer than max-line
		case k == 32:
			b.WriteString("LOG " + strings.Repeat("z", 196) + "é") // cut inside a rune
		case k == 33:
			b.WriteString(fmt.Sprintf("SET k%d v%d", rng.IntN(12), i))
		case k == 34:
			b.WriteString("SET bad/key v")
		case k == 35:
			b.WriteString("IAM again")
		case k == 36:
			b.WriteString("WHAT " + msg)
		case k == 37:
			b.WriteString(" \t")
		case k == 38:
			b.WriteString("LOG")
		default:
			b.WriteString("LOG " + msg + "\r") // a '\r' kept inside the line
		}
		b.WriteString(eol)
	}
	return []byte(b.String())
}
