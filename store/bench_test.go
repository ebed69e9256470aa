package store

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/logatron/logatron/query"
)

// BenchmarkStoreLOG is the whole data-port path for LOG lines but the
// socket: framing, parsing, UTF-8 check, ring push. One op is one line.
func BenchmarkStoreLOG(b *testing.B) {
	for _, tc := range []struct {
		name  string
		msg   string
		lines int // per read
	}{
		{"64B", strings.Repeat("x", 64), 64},
		{"64B-read64KiB", strings.Repeat("x", 64), 960},
		{"64B-invalid-utf8", strings.Repeat("x", 60) + "\xff\xfe\xfd\xfc", 64},
		{"1KiB", strings.Repeat("y", 1024), 64},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st, d := newTestClient(testConfig())
			// 64 lines per read is one write of a pipelining client; 960
			// lines (64 KiB) is a full read from a client that sends faster
			// than the loop takes.
			read := []byte(strings.Repeat("LOG "+tc.msg+"\n", tc.lines))
			for range 4 { // warm the ring and the scratch buffer
				st.Ingest(d, read, 1)
			}
			b.SetBytes(int64(len(read) / tc.lines))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += tc.lines {
				st.Ingest(d, read, int64(i))
			}
		})
	}
}

func TestStoreLOGDoesNotAllocate(t *testing.T) {
	cfg := testConfig()
	st, d := newTestClient(cfg)
	read := []byte(strings.Repeat("LOG hello \xffworld, this is a message\n", 64))
	for range 4 {
		st.Ingest(d, read, 1)
	}
	if n := testing.AllocsPerRun(100, func() { st.Ingest(d, read, 2) }); n != 0 {
		t.Errorf("storing 64 LOG lines allocates %v times", n)
	}
	if cl := d.Client(); cl.lines != 64*105 || cl.ring.Len() != cfg.Buffer {
		t.Errorf("lines %d, entries %d", cl.lines, cl.ring.Len())
	}
}

// storeOf returns a store of n identified clients holding entries lines each.
func storeOf(n, entries int) *Store {
	st := New(testConfig())
	line := []byte("LOG " + strings.Repeat("x", 64) + "\n")
	for i := range n {
		c := st.NewConn(PeerOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10000 + i}))
		d := &c
		st.Ingest(d, fmt.Appendf(nil, "IAM client%d\n", i), 1795484223217+int64(i/100))
		for range entries {
			st.Ingest(d, line, 1795484223217)
		}
	}
	return st
}

// infos copies every connected client's identity and counters, in name
// order, a thousand clients per step, as the server's CLIENTS does.
func infos(st *Store) ([]query.ClientInfo, []Peer) {
	cs, peers := make([]query.ClientInfo, 0, st.Connected()), make([]Peer, 0, st.Connected())
	f, c := NewFilter("", Connected), Cursor{}
	for !c.Done {
		st.Scan(&c, &f, 1000, func(cl *Client) bool {
			cs = append(cs, cl.Info())
			peers = append(peers, cl.peer)
			return true
		})
	}
	return cs, peers
}

// BenchmarkClients10k measures a CLIENTS reply over 10,000 clients: "loop"
// is what the event loop spends (the copies, in ten steps), "reply"
// everything the responder then does too (addresses, render). One op is
// one reply.
func BenchmarkClients10k(b *testing.B) {
	st := storeOf(10000, 0)
	b.Run("loop", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			infos(st)
		}
	})
	b.Run("reply", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			cs, peers := infos(st)
			FillAddrs(cs, peers)
			_ = query.AppendClients(nil, query.Text, cs)
		}
	})
}

// BenchmarkDump10k measures what a DUMP of 10,000 clients holding 128
// entries of 64 bytes costs the loop: the copies, each step's into the
// same arrays. One op is the whole store.
func BenchmarkDump10k(b *testing.B) {
	st := storeOf(10000, 128)
	ds := make([]query.Dump, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f, c := NewFilter("", All), Cursor{}
		for !c.Done {
			k := 0
			st.Scan(&c, &f, len(ds), func(cl *Client) bool {
				cl.DumpInto(&ds[k])
				k++
				return true
			})
		}
	}
}

// BenchmarkStoreCONT is a stack trace sent line by line: one LOG and 39
// CONT lines per read, so most lines extend the newest entry in place. One
// op is one line.
func BenchmarkStoreCONT(b *testing.B) {
	st, d := newTestClient(testConfig())
	var trace strings.Builder
	trace.WriteString("LOG panic: runtime error: index out of range [3] with length 3\n")
	for i := range 39 {
		fmt.Fprintf(&trace, "CONT main.worker%d(0xc000012345, 0x3)\n", i)
	}
	read := []byte(trace.String())
	for range 200 { // warm the ring and the store's buffers
		st.Ingest(d, read, 1)
	}
	b.SetBytes(int64(len(read) / 40))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 40 {
		st.Ingest(d, read, int64(i))
	}
}

func TestStoreCONTDoesNotAllocate(t *testing.T) {
	st, d := newTestClient(testConfig())
	read := []byte("LOG first line of a trace\n" + strings.Repeat("CONT \tat frame(0x1234)\n", 20))
	for range 200 {
		st.Ingest(d, read, 1)
	}
	if n := testing.AllocsPerRun(100, func() { st.Ingest(d, read, 2) }); n != 0 {
		t.Errorf("storing a LOG and 20 CONT lines allocates %v times", n)
	}
}
