package loop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// envInt reads a test size from the environment, so that CI runs a short
// version and a person can run the full one (see README, Limits).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// dialFrom dials addr from 127.0.0.x: many short connections from one
// source address run out of ephemeral ports (TIME_WAIT).
func dialFrom(x int, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+x%200))}}
	return d.Dial("tcp", addr)
}

// TestChurn: connect-IAM-LOG-close cycles from 500 concurrent clients leave
// nothing behind that the settings do not keep. With -retain 0: no client,
// no goroutine, no descriptor, and the heap back within 10% of where it
// started. With retention and -retain-max 5000, cycling over 4x as many
// names: never more than 5,000 closed clients, and the heap within 10% of
// what 5,000 closed clients cost (measured first). LOGATRON_CHURN sets the
// number of cycles (200000 for the full run).
func TestChurn(t *testing.T) {
	cycles := envInt("LOGATRON_CHURN", 20000)
	const workers, retainMax = 500, 5000
	for _, tc := range []struct {
		name   string
		retain time.Duration
		names  int // distinct names cycled over; 0: every cycle a new one
	}{
		{"retain 0", 0, 0},
		{"retain-max 5000", time.Hour, 4 * retainMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			churn(t, cycles, workers, tc.retain, retainMax, tc.names)
		})
	}
}

func churn(t *testing.T, cycles, workers int, retain time.Duration, retainMax, names int) {
	s := wServer(t, func(c *Config) { c.Retain, c.RetainMax = retain, retainMax })
	addr := s.DataAddr().String()
	name := func(i int) int {
		if names > 0 {
			return i % names
		}
		return i
	}

	run := func(n, offset int) {
		t.Helper()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					c, err := dialFrom(w, addr)
					if err != nil {
						errs <- err
						return
					}
					_, err = fmt.Fprintf(c, "IAM churn%d\nLOG cycle %d\n", name(offset+i), i)
					if err == nil {
						// Half-close and wait for the server's close, so that
						// server and clients, sharing this process's
						// descriptors, never hold more than 500 of each.
						_ = c.(*net.TCPConn).CloseWrite()
						_, err = io.Copy(io.Discard, c)
					}
					c.Close()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	settle := func(clientsTotal uint64) {
		t.Helper()
		wUntil(t, "every cycle stored and closed", func() bool {
			st := wStats(t, s)
			return st.Clients == 0 && st.ClientsTotal == clientsTotal && st.LinesTotal == clientsTotal
		})
	}

	// liveHeap collects twice: sync.Pool contents (gnet pools buffers and
	// tasks) survive one collection as victims.
	liveHeap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// Closed connections stay referenced from the identify-timeout queue
	// until the next sweep (every 100 ms) drops them: wait for it.
	swept := func() {
		t.Helper()
		wUntil(t, "the identify queue swept", func() bool {
			n := -1
			_ = s.onLoop(context.Background(), func() { n = len(s.unidentified) - s.unidentHead })
			return n == 0
		})
	}
	// Warm-up: pools, maps and the runtime; with retention, exactly
	// retain-max closed clients, so the baseline is what they cost.
	warm := 2000
	if retain > 0 {
		warm = retainMax
	}
	run(warm, 0)
	settle(uint64(warm))
	swept()
	heap0, g0, fd0 := liveHeap(), ownGoroutines(), openFDs(t)

	start := time.Now()
	run(cycles, warm)
	settle(uint64(warm + cycles))
	t.Logf("%d cycles in %v", cycles, time.Since(start))

	wUntil(t, "goroutines back", func() bool { return ownGoroutines() <= g0 })
	wUntil(t, "descriptors back", func() bool { return openFDs(t) <= fd0 })
	swept()
	heap1 := liveHeap()
	st := wStats(t, s)
	t.Logf("heap %d -> %d bytes, goroutines %d, fds %d, closed clients %d, forgotten %d",
		heap0, heap1, g0, fd0, st.ClosedClients, st.ForgottenTotal)
	if float64(heap1) > float64(heap0)*1.10 {
		t.Errorf("heap grew from %d to %d bytes (over 10%%)", heap0, heap1)
	}
	wantClosed := 0
	if retain > 0 {
		wantClosed = min(retainMax, names)
	}
	if st.ClosedClients != wantClosed {
		t.Errorf("closed_clients %d, want %d", st.ClosedClients, wantClosed)
	}
	if st.RejectedTotal != 0 {
		t.Errorf("rejected_total %d", st.RejectedTotal)
	}
}

// TestStopUnderLoad: Stop while 5,000 clients log and a watcher streams
// returns within a second, closes every connection, and leaves no goroutine.
// (The command's SIGTERM path is tested in main_test.go.)
func TestStopUnderLoad(t *testing.T) {
	const clients = 5000
	cfg := DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}

	w, err := net.Dial("tcp", s.AdminAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wSend(t, w, "WATCH\n")
	watched := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, bufio.NewReader(w))
		watched <- n
	}()

	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := dialFrom(i, s.DataAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wSend(t, c, fmt.Sprintf("IAM load%d\n", i))
		conns[i] = c
	}
	wUntil(t, "all identified", func() bool { return wStats(t, s).Clients == clients })

	// Writers keep logging on every connection until their writes fail.
	var writers sync.WaitGroup
	for g := range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for {
				for i := g; i < clients; i += 8 {
					if _, err := io.WriteString(conns[i], "LOG steady load line\n"); err != nil {
						return
					}
				}
			}
		}()
	}
	wUntil(t, "lines flowing", func() bool { return wStats(t, s).LinesTotal > 50000 })

	if serverGoroutines() == "" {
		t.Fatal("the goroutine check sees no server goroutine while the server runs")
	}
	// The bound is the spec's second; the race detector slows the loop
	// several times over, so it gets five.
	limit := time.Second
	if raceEnabled {
		limit = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stopped in %v under load (race detector: %v)", time.Since(start), raceEnabled)

	// Every client connection is closed by the server: a read ends.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Fatalf("client %d still open after stop: %v", i, err)
		}
	}
	select {
	case <-watched:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher still open after stop")
	}
	writers.Wait()
	for _, c := range conns {
		c.Close()
	}
	w.Close()
	// gnet's worker pool keeps an idle goroutine for ten seconds after the
	// control connection was enrolled; it runs none of our code. What must
	// be gone is every goroutine of the server: the loop, the ticker, the
	// responders.
	wUntil(t, "server goroutines gone", func() bool { return serverGoroutines() == "" })
}

// serverGoroutines returns the stacks of goroutines running the server's
// or gnet's event-loop code, other than this test's.
func serverGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") {
			continue
		}
		for _, mark := range []string{"logatron/loop.", "gnet/v2.(*eventloop)", "gnet/v2.(*engine)", "gnet/v2.run"} {
			if strings.Contains(g, mark) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

func rssBytes(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestSoak runs a steady load (200 clients, 20,000 lines/s, one SET in ten)
// with two watchers attached, sampling RSS every second; after a warm-up
// (a fifth of the run, at least 3 s), RSS must stay flat (within 10% + 8 MiB of its
// first sample after warm-up). LOGATRON_SOAK sets the length (10m for the
// long run); CI runs 5 s. Server and clients share this process, so the
// figure is an upper bound for the server.
func TestSoak(t *testing.T) {
	length, err := time.ParseDuration(os.Getenv("LOGATRON_SOAK"))
	if err != nil || length <= 0 {
		length = 5 * time.Second
	}
	const clients, rate = 200, 20000
	s := wServer(t, nil)
	for range 2 {
		w := wDial(t, s.AdminAddr())
		wSend(t, w, "WATCH\n")
		go func() { _, _ = io.Copy(io.Discard, w) }()
	}
	wUntil(t, "watchers", func() bool { return wStats(t, s).Watchers == 2 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i := range clients {
		c := wDial(t, s.DataAddr())
		wSend(t, c, fmt.Sprintf("IAM soak%d\n", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			per := rate / clients / 10 // lines per client per tick
			n := 0
			var b []byte
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				b = b[:0]
				for range per {
					if n%10 == 0 {
						b = fmt.Appendf(b, "SET k%d %d\n", n%50, n)
					} else {
						b = fmt.Appendf(b, "LOG soak line %d with some payload to store\n", n)
						sent.Add(1)
					}
					n++
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
	}

	var samples []uint64
	tick := time.NewTicker(time.Second)
	end := time.After(length)
loop:
	for {
		select {
		case <-tick.C:
			samples = append(samples, rssBytes(t))
		case <-end:
			break loop
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	wUntil(t, "every line stored", func() bool { return wStats(t, s).LinesTotal == uint64(sent.Load()) })
	st := wStats(t, s)
	if st.WatchersDroppedTotal != 0 || st.Watchers != 2 {
		t.Errorf("watchers %d, dropped %d", st.Watchers, st.WatchersDroppedTotal)
	}
	warm := max(len(samples)/5, 3) // the rings fill in the first seconds
	if warm >= len(samples) {
		t.Fatalf("only %d samples", len(samples))
	}
	base, peak := samples[warm], uint64(0)
	for _, v := range samples[warm:] {
		peak = max(peak, v)
	}
	t.Logf("%v soak: %d lines, RSS after warm-up %.1f MiB, peak %.1f MiB, last %.1f MiB, gc_cpu_fraction %.4f",
		length, sent.Load(), float64(base)/(1<<20), float64(peak)/(1<<20), float64(samples[len(samples)-1])/(1<<20), st.GCCPUFraction)
	if raceEnabled {
		t.Log("race detector on: its shadow memory is in RSS, so RSS is not checked")
		return
	}
	if float64(peak) > float64(base)*1.10+8<<20 {
		t.Errorf("RSS grew from %d to %d bytes after warm-up", base, peak)
	}
}

// ownGoroutines counts the goroutines other than the idle workers of
// gnet's goroutine pool (ants), which enrolls accepted connections: the
// pool keeps a worker up to 20 s after a burst, which is not a leak.
func ownGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("github.com/panjf2000/ants/")) {
			n++
		}
	}
	return n
}
