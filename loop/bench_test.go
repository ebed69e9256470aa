package loop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
	"github.com/panjf2000/gnet/v2"
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
			cfg := DefaultConfig()
			var st store
			st.init(&cfg)
			d := &dataConn{fr: codec.NewFramer(cfg.MaxLine)}
			st.ingest(d, []byte("IAM bench\n"), 1)
			// 64 lines per read is one write of a pipelining client; 960
			// lines (64 KiB) is a full read from a client that sends faster
			// than the loop takes.
			read := []byte(strings.Repeat("LOG "+tc.msg+"\n", tc.lines))
			for range 4 { // warm the ring and the scratch buffer
				st.ingest(d, read, 1)
			}
			b.SetBytes(int64(len(read) / tc.lines))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += tc.lines {
				st.ingest(d, read, int64(i))
			}
		})
	}
}

func TestStoreLOGDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	var st store
	st.init(&cfg)
	d := &dataConn{fr: codec.NewFramer(cfg.MaxLine)}
	st.ingest(d, []byte("IAM bench\n"), 1)
	read := []byte(strings.Repeat("LOG hello \xffworld, this is a message\n", 64))
	for range 4 {
		st.ingest(d, read, 1)
	}
	if n := testing.AllocsPerRun(100, func() { st.ingest(d, read, 2) }); n != 0 {
		t.Errorf("storing 64 LOG lines allocates %v times", n)
	}
	if d.lines != 64*105 || d.ring.Len() != cfg.Buffer {
		t.Errorf("lines %d, entries %d", d.lines, d.ring.Len())
	}
}

// BenchmarkIngest is one end-to-end loopback path: clients pipelining LOG
// lines over TCP into the server, with 0, 1 and 10 admin WATCH connections
// that read every event. One op is one line stored (confirmed from the
// store). lines/s is the figure to compare across sub-benchmarks.
func BenchmarkIngest(b *testing.B) {
	for _, watchers := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			benchIngest(b, 8, watchers)
		})
	}
}

func benchIngest(b *testing.B, clients, watchers int) {
	srv := startLocal(b, func(c *Config) {
		c.WatchBuffer = 1 << 30 // measure fan-out cost, not the drop rule
	})

	for i := range watchers {
		w, err := net.Dial("tcp", srv.AdminAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		if _, err := io.WriteString(w, "WATCH\n"); err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(w)
		if line, err := r.ReadString('\n'); err != nil || line != "OK stream\n" {
			b.Fatalf("watcher %d: %q %v", i, line, err)
		}
		go func() { _, _ = io.Copy(io.Discard, r) }()
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", srv.DataAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "IAM bench%d\n", i); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	batch := []byte(strings.Repeat("LOG "+strings.Repeat("m", 64)+"\n", 64))
	base, err := srv.Stats()
	if err != nil {
		b.Fatal(err)
	}
	per := (b.N + clients*64 - 1) / (clients * 64) // batches per client
	total := uint64(per * clients * 64)
	b.SetBytes(int64(len(batch) / 64))
	b.ResetTimer()
	start := time.Now()
	errs := make(chan error, clients)
	for _, c := range conns {
		go func() {
			for range per {
				if _, err := c.Write(batch); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	for {
		st, err := srv.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if st.LinesTotal-base.LinesTotal >= total {
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "lines/s")
	if st, _ := srv.Stats(); st.WatchersDroppedTotal != 0 {
		b.Errorf("%d watchers dropped", st.WatchersDroppedTotal)
	}
}

// startLocal starts a server on ports the kernel picks, for this package's
// own tests, and stops it when the test ends.
func startLocal(tb testing.TB, edit func(*Config)) *Server {
	cfg := DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// fakeConn is a gnet.Conn that knows only its peer's address: enough for
// building a store of many clients without sockets.
type fakeConn struct {
	gnet.Conn
	peer net.Addr
}

func (f fakeConn) RemoteAddr() net.Addr { return f.peer }

// storeOf returns a store of n identified clients holding entries lines each.
func storeOf(n, entries int) *store {
	cfg := DefaultConfig()
	st := &store{}
	st.init(&cfg)
	line := []byte("LOG " + strings.Repeat("x", 64) + "\n")
	for i := range n {
		c := fakeConn{peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10000 + i}}
		d := &dataConn{c: c, fr: codec.NewFramer(cfg.MaxLine), v4: packV4(c.peer)}
		st.ingest(d, fmt.Appendf(nil, "IAM client%d\n", i), 1795484223217+int64(i/100))
		for range entries {
			st.ingest(d, line, 1795484223217)
		}
	}
	return st
}

// BenchmarkClients10k measures a CLIENTS reply over 10,000 clients: "loop"
// is what the event loop spends (the copy), "reply" everything the
// responder then does (addresses, sort, render). One op is one reply.
func BenchmarkClients10k(b *testing.B) {
	st := storeOf(10000, 0)
	b.Run("loop", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			st.infos()
		}
	})
	b.Run("reply", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			cs, peers := st.infos()
			fillAddrs(cs, peers)
			_ = query.AppendClients(nil, query.Text, sortInfos(cs))
		}
	})
}

// BenchmarkDump10k measures what a DUMP of 10,000 clients holding 128
// entries of 64 bytes costs the loop (the copy only).
func BenchmarkDump10k(b *testing.B) {
	st := storeOf(10000, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		st.dump()
	}
}
