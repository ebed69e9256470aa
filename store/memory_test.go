package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMaxMemory: whatever clients send, the store's bytes stay within
// max-memory after every read; closed clients are forgotten first (oldest
// closed first), then the largest clients lose their oldest entries, and
// every client keeps its newest entry.
func TestMaxMemory(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMemory, cfg.Retain, cfg.RetainMax = 4<<20, time.Hour, 1000
	st := New(cfg)
	line := []byte("LOG " + strings.Repeat("x", 1000) + "\n")
	read := []byte(strings.Repeat(string(line), 64))
	conns := make([]Conn, 40)
	for i := range conns {
		conns[i] = st.NewConn(Peer{})
		st.Ingest(&conns[i], fmt.Appendf(nil, "IAM c%d\nSET k %s\n", i, strings.Repeat("v", 100)), 1)
	}
	// Two closed clients holding entries: they go first.
	for i := range 2 {
		st.Ingest(&conns[i], read, 2)
		st.Close(&conns[i], "eof", 2, time.Duration(i))
	}
	if st.Closed() != 2 {
		t.Fatalf("closed %d", st.Closed())
	}
	for round := range 20 {
		for i := 2; i < len(conns); i++ {
			st.Ingest(&conns[i], read, int64(3+round))
			if st.Bytes() > cfg.MaxMemory {
				t.Fatalf("round %d client %d: store holds %d bytes, max-memory %d", round, i, st.Bytes(), cfg.MaxMemory)
			}
		}
	}
	if st.Closed() != 0 || st.tot.Forgotten != 2 || st.tot.Evicted == 0 {
		t.Errorf("closed %d, forgotten %d, evicted %d: closed clients must go first, then entries", st.Closed(), st.tot.Forgotten, st.tot.Evicted)
	}
	var sum int64
	for _, cl := range st.byName {
		sum += int64(cl.ring.Footprint() + cl.stateBytes)
		if cl.ring.Len() == 0 {
			t.Errorf("%s lost every entry", cl.name)
		}
	}
	if sum != st.Bytes() {
		t.Errorf("accounted %d bytes, held %d", st.Bytes(), sum)
	}
}

// TestMaxStateBytes: a SET past max-state-bytes (counted after UTF-8
// repair, which can triple a value) is an error and changes nothing.
func TestMaxStateBytes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStateBytes = 100
	st, c := newTestClient(cfg)
	st.Ingest(c, []byte("SET a "+strings.Repeat("v", 94)+"\n"), 1)
	st.Ingest(c, []byte("SET b "+strings.Repeat("\xffa", 2)+"\n"), 1) // 4 bytes fit, but repaired they are 8
	cl := c.Client()
	if len(cl.keys) != 1 || cl.errors != 1 || cl.lastError != "state too large: max-state-bytes is 100" {
		t.Errorf("keys %v, errors %d, last %q", len(cl.keys), cl.errors, cl.lastError)
	}
	st.Ingest(c, []byte("SET a short\n"), 1)
	st.Ingest(c, []byte("SET b "+strings.Repeat("w", 80)+"\n"), 1)
	if len(cl.keys) != 2 || cl.stateBytes != 1+5+1+80 {
		t.Errorf("after shrinking a: keys %d, state bytes %d", len(cl.keys), cl.stateBytes)
	}
}
