package loop

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestDumpArena: a DUMP (here through Clients) copies each step into one
// arena and gives a client that does not fit arrays of its own. Clients
// of every shape, in name order: a step that ends past its budget (a, b),
// one larger than what is left (b), entries past the arena's (f, whose
// bytes fit), none (d). Every entry must come back exactly.
func TestDumpArena(t *testing.T) {
	s := wServer(t, func(c *Config) {
		c.Buffer, c.BufferBytes = 100_000, 4<<20
	})
	type shape struct {
		name  string
		lines int
		pad   int
	}
	shapes := []shape{
		{"a", 900, 1000},
		{"b", 3000, 1000},
		{"c", 10, 10},
		{"d", 0, 0},
		{"e", 2000, 500},
		{"f", 70_000, 0},
		{"g", 5, 100},
	}
	msg := func(sh shape, i int) string { return fmt.Sprintf("%s%d%s", sh.name, i, strings.Repeat("x", sh.pad)) }
	for _, sh := range shapes {
		c := wDial(t, s.DataAddr())
		var b strings.Builder
		fmt.Fprintf(&b, "IAM %s\n", sh.name)
		for i := range sh.lines {
			fmt.Fprintf(&b, "LOG %s\n", msg(sh, i))
		}
		wSend(t, c, b.String())
		wUntil(t, sh.name+"'s lines stored", func() bool {
			ci, err := s.ClientInfo(context.Background(), sh.name)
			return err == nil && ci.Lines == uint64(sh.lines)
		})
	}
	all, err := s.Clients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shapes {
		cl, ok := all[sh.name]
		if !ok {
			t.Errorf("%s: not in the dump", sh.name)
			continue
		}
		if len(cl.Log) != sh.lines {
			t.Errorf("%s: %d entries, want %d", sh.name, len(cl.Log), sh.lines)
			continue
		}
		for i, e := range cl.Log {
			if want := msg(sh, i); e.Message != want {
				t.Errorf("%s: entry %d is %.20q, want %.20q", sh.name, i, e.Message, want)
				break
			}
		}
	}
}
