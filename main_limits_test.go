package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Process-level limit tests: the server runs as its own process with its
// default limits, as in production, and the clients are real TCP
// connections from this process.

// rawLog is everything the server wrote to stderr, kept whole so that a
// panic or a race report cannot be missed (proc.logs drops lines nobody reads).
type rawLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *rawLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *rawLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCapture runs bin with args, collects its JSON log lines and keeps
// its raw stderr.
func startCapture(t *testing.T, bin string, args ...string) (*proc, *rawLog) {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...))
}

// startCmd is startCapture for a command made by the caller (environment).
func startCmd(t *testing.T, cmd *exec.Cmd) (*proc, *rawLog) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	raw := &rawLog{}
	p := &proc{t: t, cmd: cmd, logs: make(chan map[string]any, 1000), done: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(io.TeeReader(stderr, raw))
		s.Buffer(make([]byte, 64<<10), 4<<20)
		for s.Scan() {
			var m map[string]any
			if err := json.Unmarshal(s.Bytes(), &m); err != nil {
				m = map[string]any{"not_json": s.Text()}
			}
			select {
			case p.logs <- m:
			default: // nobody is reading the log any more
			}
		}
		_, _ = io.Copy(raw, stderr) // after a line too long for the scanner
		p.err = cmd.Wait()
		close(p.done)
	}()
	p.killAtEnd()
	return p, raw
}

// killAtEnd kills the process at the end of the test if it is still running.
func (p *proc) killAtEnd() {
	p.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// listeningWithMax waits for the "listening" line and returns the data and
// admin addresses and max_clients.
func (p *proc) listeningWithMax() (data, admin string, maxClients int) {
	p.t.Helper()
	m := p.waitLog("listening")
	data, _ = m["data"].(string)
	admin, _ = m["admin"].(string)
	mc, _ := m["max_clients"].(float64)
	if data == "" || admin == "" || mc < 1 || mc != float64(int(mc)) {
		p.t.Fatalf("listening line without data, admin and max_clients: %v", m)
	}
	return data, admin, int(mc)
}

// sourceDialer spreads connections over 127.0.0.2-127.0.0.250 so that tens
// of thousands of them do not exhaust one address's ephemeral ports.
func sourceDialer(i int) *net.Dialer {
	return &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%249))},
		Timeout:   10 * time.Second,
	}
}

// openClients dials n data connections with workers goroutines, each
// sending "IAM <prefix><i>\n". Connections are closed at the end of the test.
func openClients(t *testing.T, addr, prefix string, n, workers int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	err := inParallel(n, workers, func(i int) error {
		c, err := sourceDialer(i).Dial("tcp", addr)
		if err == nil {
			conns[i] = c
			_, err = fmt.Fprintf(c, "IAM %s%d\n", prefix, i)
		}
		if err != nil {
			return fmt.Errorf("client %s%d: %w", prefix, i, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// inParallel calls do for 0 to n-1 from workers goroutines and returns
// the first error; once one has failed, no further call starts.
func inParallel(n, workers int, do func(i int) error) error {
	var (
		next     atomic.Int64
		failed   atomic.Bool
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// admin is one admin connection and its reader.
type admin struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialAdmin(t *testing.T, addr string) *admin {
	t.Helper()
	c := dial(t, addr)
	return &admin{t: t, c: c, r: bufio.NewReader(c)}
}

func (a *admin) stats() map[string]int64 {
	a.t.Helper()
	out := map[string]int64{}
	for k, v := range kv(ask(a.t, a.c, a.r, "STATS")) {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// waitStats polls STATS until ok accepts it, failing after within.
func (a *admin) waitStats(what string, within time.Duration, ok func(map[string]int64) bool) map[string]int64 {
	a.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := a.stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within %s; last STATS %v", what, within, s)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	return len(ents)
}

// closedByPeer reports whether err is how a read ends on a connection the
// server closed: EOF (nil from io.ReadAll) or a reset.
func closedByPeer(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// readRefusal reads what the server sends a connection it refuses: it must
// be exactly want, then the close.
func readRefusal(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if string(b) != want || err != nil {
		t.Fatalf("connection over the ceiling read %q (then %v), want %q and EOF", b, err, want)
	}
}

// TestConnectionCeiling fills a server running with its default max-clients
// (derived from the open-file limit) to the ceiling: the next client gets
// "ERR too many clients", the admin port still answers, freed places can be
// taken again, and SIGTERM still ends it in a second.
func TestConnectionCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("opens as many connections as the open-file limit allows")
	}
	p, raw := startCapture(t, binary(t), loopbackArgs...)
	dataAddr, adminAddr, maxClients := p.listeningWithMax()

	// This process holds every client plus: the one over the ceiling, the
	// admin connection, and what it has open already (runtime, pipes).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(openFDs(t) + maxClients + 2 + 16); need > lim.Cur {
		t.Skipf("the server's max_clients is %d; holding them needs about %d descriptors here, the limit is %d", maxClients, need, lim.Cur)
	}
	t.Logf("max_clients %d (this process's open-file limit %d)", maxClients, lim.Cur)

	a := dialAdmin(t, adminAddr)
	began := time.Now()
	conns := openClients(t, dataAddr, "c", maxClients, 64)
	dialled := time.Since(began)
	a.waitStats("all clients identified", 60*time.Second, func(s map[string]int64) bool {
		return s["clients"] == int64(maxClients)
	})
	t.Logf("%d clients connected in %v, all identified in %v", maxClients, dialled.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	// One more: the error line, then the close.
	readRefusal(t, dial(t, dataAddr), "ERR too many clients\n")
	if m := p.waitLog("rejected connection"); m["reason"] != "too many clients" {
		t.Errorf("rejection logged as %v, want reason \"too many clients\"", m)
	}
	// A client that sends IAM at once still reads the line; the server
	// closes with its IAM unread, so the close may come as a reset.
	eager := dial(t, dataAddr)
	write(t, eager, "IAM eager\n")
	eager.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(eager); string(b) != "ERR too many clients\n" || !closedByPeer(err) {
		t.Errorf("client sending IAM over the ceiling read %q (then %v), want \"ERR too many clients\\n\" and the close", b, err)
	}

	// The admin port still answers, and counts right.
	if got := ask(t, a.c, a.r, "PING"); len(got) != 1 || got[0] != "PONG" {
		t.Fatalf("PING at the ceiling: %q", got)
	}
	s := a.stats()
	if s["clients"] != int64(maxClients) || s["rejected_total"] != 2 || s["clients_total"] != int64(maxClients) {
		t.Errorf("STATS at the ceiling: clients=%d rejected_total=%d clients_total=%d, want %d, 2, %d",
			s["clients"], s["rejected_total"], s["clients_total"], maxClients, maxClients)
	}
	if mc, ok := s["max_clients"]; ok && mc != int64(maxClients) {
		t.Errorf("STATS max_clients = %d, logged %d", mc, maxClients)
	}
	select {
	case <-p.done:
		t.Fatalf("server exited at the ceiling (%v):\n%s", p.err, raw)
	default:
	}

	// Free 100 places: they can be taken again, and the ceiling still holds.
	const freed = 100
	for _, c := range conns[:freed] {
		c.Close()
	}
	a.waitStats("freed places", 10*time.Second, func(s map[string]int64) bool {
		return s["clients"] == int64(maxClients-freed)
	})
	openClients(t, dataAddr, "r", freed, 8)
	a.waitStats("freed places taken again", 10*time.Second, func(s map[string]int64) bool {
		return s["clients"] == int64(maxClients)
	})
	if info := kv(ask(t, a.c, a.r, fmt.Sprintf("CLIENT r%d", freed-1))); info["name"] != fmt.Sprintf("r%d", freed-1) {
		t.Errorf("a client that took a freed place is not known: %v", info)
	}
	readRefusal(t, dial(t, dataAddr), "ERR too many clients\n")
	if s := a.stats(); s["rejected_total"] != 3 || s["clients"] != int64(maxClients) || s["clients_total"] != int64(maxClients+freed) {
		t.Errorf("after refilling: rejected_total=%d clients=%d clients_total=%d, want 3, %d, %d", s["rejected_total"], s["clients"], s["clients_total"], maxClients, maxClients+freed)
	}

	// SIGTERM with the server full.
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.exitCode(10 * time.Second)
	took := time.Since(sent)
	t.Logf("SIGTERM with %d connections open: exit %d in %v", maxClients, code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d, want 0; log:\n%s", code, tail(raw.String(), 20))
	}
	if took > time.Second {
		t.Errorf("took %v to exit, want under 1 s", took)
	}
	// Every connection still open here was closed by the server.
	deadline := time.Now().Add(5 * time.Second)
	open := 0
	for _, c := range conns[freed:] {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d client connections not closed after the server exited", open)
	}
	if out := raw.String(); strings.Contains(out, "panic") || strings.Contains(out, "DATA RACE") {
		t.Errorf("server stderr reports a panic or race:\n%s", out)
	}
}

// TestSIGTERMUnderLoad: 5,000 clients logging and a watcher streaming; on
// SIGTERM the process exits 0 within a second and every connection sees
// its close. Each write carries 4 LOG lines; LOGATRON_SIGTERM_BATCH sets
// another count (1000, about 37 KB a write, makes the stop slower).
func TestSIGTERMUnderLoad(t *testing.T) {
	const (
		clients = 5000
		writers = 8
	)
	// The plain build: a race-detector build of the server is several
	// times slower, so under this load it can answer neither STATS in time
	// nor the one-second stop. The loop package's TestStopUnderLoad runs
	// the same shutdown path in-process under -race.
	args := loopbackArgs
	n := linesPerWrite(t)
	if n > 4 {
		// Bursts this large outrun a 4 MiB watch buffer on two cores:
		// keep the watcher, which is not what this test is about.
		args = append(args[:len(args):len(args)], "-watch-buffer", "256MiB")
	}
	p, raw := startCapture(t, binary(t), args...)
	dataAddr, adminAddr := p.listening()
	a := dialAdmin(t, adminAddr)

	// The watcher reads the whole stream, counting bytes.
	w := dial(t, adminAddr)
	write(t, w, "WATCH\n")
	wr := bufio.NewReader(w)
	w.SetReadDeadline(time.Now().Add(10 * time.Second))
	if head, err := wr.ReadString('\n'); head != "OK stream\n" {
		t.Fatalf("WATCH: %q, %v", head, err)
	}
	w.SetReadDeadline(time.Time{})
	var watched atomic.Int64
	watchEnd := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := wr.Read(buf)
			watched.Add(int64(n))
			if err != nil {
				watchEnd <- err
				return
			}
		}
	}()

	conns := openClients(t, dataAddr, "w", clients, 64)
	a.waitStats("all clients identified", 30*time.Second, func(s map[string]int64) bool {
		return s["clients"] == clients
	})

	// Each client connection has a reader: the server sends nothing on the
	// data port, so a read ends only when the connection does.
	type ending struct {
		i    int
		got  int
		err  error
		when time.Time
	}
	ends := make(chan ending, clients)
	for i, c := range conns {
		go func() {
			b, err := io.ReadAll(c)
			ends <- ending{i, len(b), err, time.Now()}
		}()
	}

	// Writers cycle over the connections until the server goes away.
	var (
		signalled   atomic.Bool
		earlyErr    atomic.Value
		wg          sync.WaitGroup
		batch       = strings.Repeat("LOG steady load line under shutdown\n", n)
		stopWriters = make(chan struct{})
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				for i := g; i < clients; i += writers {
					select {
					case <-stopWriters:
						return
					default:
					}
					if _, err := io.WriteString(conns[i], batch); err != nil {
						if !signalled.Load() {
							earlyErr.CompareAndSwap(nil, fmt.Errorf("client w%d: write before SIGTERM: %w", i, err))
						}
						return
					}
				}
			}
		}()
	}
	defer func() {
		close(stopWriters)
		for _, c := range conns {
			c.SetWriteDeadline(time.Now())
		}
		wg.Wait()
	}()

	var last int64
	a.waitStats("lines climbing past 50,000", 30*time.Second, func(s map[string]int64) bool {
		climbing := s["lines_total"] > last
		last = s["lines_total"]
		return climbing && last > 50000
	})
	s := a.stats()
	if s["watchers"] != 1 || s["watchers_dropped_total"] != 0 || s["clients"] != clients {
		t.Fatalf("before SIGTERM: watchers=%d dropped=%d clients=%d, want 1, 0, %d", s["watchers"], s["watchers_dropped_total"], s["clients"], clients)
	}
	if err, _ := earlyErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if watched.Load() == 0 {
		t.Fatal("the watcher received nothing while clients were logging")
	}

	signalled.Store(true)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.exitCode(10 * time.Second)
	took := time.Since(sent)
	t.Logf("SIGTERM at lines_total %d with %d clients logging and a watcher: exit %d in %v", last, clients, code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d, want 0; log:\n%s", code, tail(raw.String(), 20))
	}
	if took > time.Second {
		t.Errorf("took %v to exit, want under 1 s; log:\n%s", took, tail(raw.String(), 20))
	}

	// Every connection ends within a few seconds: EOF or reset.
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		c.SetWriteDeadline(deadline) // writers blocked on a full buffer end too
	}
	w.SetReadDeadline(deadline)
	a.c.SetReadDeadline(deadline)
	var notClosed, sentData int
	var lastEnd time.Time
	for range clients {
		e := <-ends
		if !closedByPeer(e.err) {
			if notClosed++; notClosed <= 5 {
				t.Errorf("client w%d: read ended with %v, want EOF or reset", e.i, e.err)
			}
		}
		if e.got > 0 {
			sentData++
		}
		if e.when.After(lastEnd) {
			lastEnd = e.when
		}
	}
	if notClosed > 0 {
		t.Errorf("%d of %d client connections not closed by the server", notClosed, clients)
	}
	if sentData > 0 {
		t.Errorf("the server sent data to %d clients on the data port", sentData)
	}
	t.Logf("last client connection saw its close %v after the signal", lastEnd.Sub(sent).Round(time.Millisecond))
	if err := <-watchEnd; !closedByPeer(err) {
		t.Errorf("watcher: read ended with %v, want EOF or reset", err)
	}
	if _, err := io.ReadAll(a.r); !closedByPeer(err) {
		t.Errorf("admin connection: read ended with %v, want EOF or reset", err)
	}
	t.Logf("the watcher received %d bytes", watched.Load())

	out := raw.String()
	if strings.Contains(out, "panic") || strings.Contains(out, "DATA RACE") {
		t.Errorf("server stderr reports a panic or race:\n%s", out)
	}
	if !strings.Contains(out, `"message":"stopping"`) {
		t.Errorf("no \"stopping\" log line:\n%s", tail(out, 20))
	}
}

// linesPerWrite is how many LOG lines TestSIGTERMUnderLoad's writers send
// in one write: 4, or LOGATRON_SIGTERM_BATCH.
func linesPerWrite(t *testing.T) int {
	v := os.Getenv("LOGATRON_SIGTERM_BATCH")
	if v == "" {
		return 4
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("LOGATRON_SIGTERM_BATCH=%q: want a positive count of lines", v)
	}
	t.Logf("%d LOG lines a write", n)
	return n
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startPiped runs the server with its stderr the write end of a new pipe
// holding pipeSize bytes (0: the system's default), reads its log until
// the "listening" line, and returns the process, its data and admin
// addresses and both ends of the pipe, still open (closed at the end of
// the test).
func startPiped(t *testing.T, pipeSize int, args ...string) (p *proc, data, admin string, r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() }) // after the process is gone: cleanups run last first
	if pipeSize > 0 {
		if _, err := unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, pipeSize); err != nil {
			t.Skipf("cannot set the pipe's size: %v", err)
		}
	}
	cmd := exec.Command(binary(t), args...)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p = &proc{t: t, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	p.killAtEnd()

	type addrs struct{ data, admin string }
	found := make(chan addrs, 1)
	go func() {
		defer close(found)
		s := bufio.NewScanner(r)
		for s.Scan() {
			var m map[string]any
			if json.Unmarshal(s.Bytes(), &m) == nil && m["message"] == "listening" {
				d, _ := m["data"].(string)
				a, _ := m["admin"].(string)
				found <- addrs{d, a}
				return // from here on nobody reads the pipe
			}
		}
	}()
	select {
	case a, ok := <-found:
		if !ok || a.data == "" || a.admin == "" {
			t.Fatalf("no listening line with data and admin addresses (%v)", a)
		}
		return p, a.data, a.admin, r, w
	case <-time.After(20 * time.Second):
		t.Fatal("no listening line within 20 s")
	}
	return
}

// fillPipe writes into w until the pipe is full (TIOCINQ, the bytes a read
// would find, reaches the pipe's size), so that every later write
// to it blocks. The write goes on in the background until r closes.
func fillPipe(t *testing.T, r, w *os.File) {
	t.Helper()
	size, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = w.Write(make([]byte, 4*size)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipe holds %d of %d bytes after 10 s", n, size)
		}
		time.Sleep(time.Millisecond) // polling the pipe's fill
	}
}

// badConnects opens n data connections with workers goroutines, each
// sending a line that is not IAM, and checks that each is refused: every
// refusal is a "rejected connection" log line.
func badConnects(t *testing.T, addr string, n, workers int) {
	t.Helper()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		bad   int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= n {
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if stop {
					return // one failure says it: do not wait out the rest
				}
				err := func() error {
					c, err := net.DialTimeout("tcp", addr, 10*time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.WriteString(c, "HELLO\n"); err != nil {
						return err
					}
					b, err := io.ReadAll(c)
					if want := "ERR expected IAM <name>\n"; string(b) != want {
						return fmt.Errorf("read %q (then %v), want %q", b, err, want)
					}
					return nil
				}()
				if err != nil {
					mu.Lock()
					if bad++; first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("%d bad connections not refused as they should be; first: %v", bad, first)
	}
}

// stopsInASecond sends SIGTERM and checks that the process exits 0 within
// a second.
func (p *proc) stopsInASecond() {
	p.t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	code := p.exitCode(10 * time.Second)
	took := time.Since(sent)
	p.t.Logf("SIGTERM: exit %d in %v", code, took.Round(time.Millisecond))
	if code != 0 {
		p.t.Errorf("exit code %d, want 0", code)
	}
	if took > time.Second {
		p.t.Errorf("took %v to exit, want under 1 s", took)
	}
}

// TestStderrGone: the server's stderr is a pipe whose reader has exited;
// connections it rejects (each one a log line) must not end it with
// SIGPIPE: it goes on answering and stops cleanly.
func TestStderrGone(t *testing.T) {
	p, dataAddr, adminAddr, r, w := startPiped(t, 0, loopbackArgs...)
	r.Close()
	w.Close() // the server holds the only write end
	badConnects(t, dataAddr, 50, 4)
	a := dialAdmin(t, adminAddr)
	if got := ask(t, a.c, a.r, "PING"); len(got) != 1 || got[0] != "PONG" {
		t.Fatalf("PING with stderr gone: %q", got)
	}
	if s := a.stats(); s["rejected_total"] != 50 {
		t.Errorf("rejected_total = %d, want 50", s["rejected_total"])
	}
	p.stopsInASecond()
}

// TestStderrStalled: the server's stderr is a full pipe nobody reads; 1,000
// rejected connections (each one a log line) must not stall the event
// loop: every one is refused, PING is answered at once, and SIGTERM still
// ends the process in a second.
func TestStderrStalled(t *testing.T) {
	p, dataAddr, adminAddr, r, w := startPiped(t, 4096, loopbackArgs...)
	fillPipe(t, r, w)
	badConnects(t, dataAddr, 1000, 16)
	a := dialAdmin(t, adminAddr)
	began := time.Now()
	if got := ask(t, a.c, a.r, "PING"); len(got) != 1 || got[0] != "PONG" {
		t.Fatalf("PING with stderr stalled: %q", got)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("PING took %v with stderr stalled, want well under a second", took)
	}
	if s := a.stats(); s["rejected_total"] != 1000 {
		t.Errorf("rejected_total = %d, want 1000", s["rejected_total"])
	}
	if n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err != nil || n < 4096 {
		t.Fatalf("the pipe was not full through the test: holds %d bytes (%v)", n, err)
	}
	p.stopsInASecond()
}
