package client_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/logatron/logatron/client"
	"github.com/logatron/logatron/loop"
)

// benchServer is a server with the command line's defaults (a 128-entry
// ring per client), as `logatron` runs.
func benchServer(b *testing.B) *loop.Server {
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	return startConfig(b, cfg)
}

var msg64 = strings.Repeat("x", 64)

// BenchmarkLog is the caller's cost of Log with a live sender draining the
// queue to a server; dropped/op is the share the queue had to drop because
// the caller outran the network.
func BenchmarkLog(b *testing.B) {
	srv := benchServer(b)
	addr := srv.DataAddr().String()
	b.Run("goroutines=1", func(b *testing.B) {
		c := dial(b, addr, "bench_1")
		b.ReportAllocs()
		for b.Loop() {
			c.Log(msg64)
		}
		b.ReportMetric(float64(c.Dropped())/float64(b.N), "dropped/op")
	})
	b.Run("goroutines=8", func(b *testing.B) {
		c := dial(b, addr, "bench_8")
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Log(msg64)
			}
		})
		b.ReportMetric(float64(c.Dropped())/float64(b.N), "dropped/op")
	})
}

// BenchmarkEndToEnd: one client logs b.N 64-byte lines and closes; the
// time runs until Close has confirmed the server read them all, and the
// server's count is checked. "backpressure": the default queue, the caller
// waiting for room (WithBackpressure), so the rate is the pipeline's;
// "queue=all": a queue that takes every line at once, the caller never
// waiting, so the rate includes growing the queue to b.N entries.
func BenchmarkEndToEnd(b *testing.B) {
	srv := benchServer(b)
	for _, tc := range []struct {
		name string
		opts func(n int) []client.Option
	}{
		{"backpressure", func(int) []client.Option { return []client.Option{client.WithBackpressure()} }},
		{"queue=all", func(n int) []client.Option {
			return []client.Option{client.WithQueueSize(n + 1), client.WithQueueBytes(max(n*64, client.DefaultQueueBytes))}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			before, err := srv.Stats(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			c, err := client.Dial(context.Background(), srv.DataAddr().String(), "e2e", tc.opts(b.N)...)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				c.Log(msg64)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			after, err := srv.Stats(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if got := after.LinesTotal - before.LinesTotal; got != uint64(b.N) || c.Dropped() != 0 {
				b.Fatalf("server counted %d lines, want %d (dropped %d)", got, b.N, c.Dropped())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
