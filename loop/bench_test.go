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
)

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
	base, err := srv.Stats(context.Background())
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
		st, err := srv.Stats(context.Background())
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
	if st, _ := srv.Stats(context.Background()); st.WatchersDroppedTotal != 0 {
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
