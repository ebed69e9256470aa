package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// adminConn is one connection to a server's query port: Logatron's admin
// port (and the comparison servers' copy of it), or Redis itself.
type adminConn struct {
	c     net.Conn      // nil for a raw connection (see probe)
	rw    io.ReadWriter // c, or the raw connection
	r     *bufio.Reader
	redis bool
}

func dialAdmin(addr string, redis bool, timeout time.Duration) (*adminConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &adminConn{c: c, rw: c, r: bufio.NewReaderSize(c, 64<<10), redis: redis}, nil
}

func (a *adminConn) Close() error { return a.c.Close() }

// errReply is a server's refusal of a request (an ERR line or a RESP error).
type errReply string

func (e errReply) Error() string { return string(e) }

// do sends one request line and reads its whole reply, calling fn (if not
// nil) for each data line (Logatron text replies) or once with the payload
// (Redis). It returns the number of data lines, or the payload's length for Redis.
func (a *adminConn) do(req string, timeout time.Duration, fn func([]byte)) (int, error) {
	if timeout > 0 && a.c != nil {
		_ = a.c.SetDeadline(time.Now().Add(timeout))
		defer a.c.SetDeadline(time.Time{})
	}
	if _, err := io.WriteString(a.rw, req+"\r\n"); err != nil {
		return 0, err
	}
	if a.redis {
		return a.readRESP(fn)
	}
	head, err := a.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	head = bytes.TrimRight(head, "\r\n")
	if rest, ok := bytes.CutPrefix(head, []byte("ERR ")); ok {
		return 0, errReply(rest)
	}
	rest, ok := bytes.CutPrefix(head, []byte("OK "))
	if !ok {
		return 0, fmt.Errorf("unexpected reply %q", truncate(head, 80))
	}
	n, err := strconv.Atoi(string(rest))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("unexpected reply %q", truncate(head, 80))
	}
	for i := 0; i < n; i++ {
		line, err := a.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A data line longer than the buffer: skip to its end.
			for err == bufio.ErrBufferFull {
				_, err = a.r.ReadSlice('\n')
			}
			line = nil
		}
		if err != nil {
			return i, err
		}
		if fn != nil && line != nil {
			fn(bytes.TrimRight(line, "\r\n"))
		}
	}
	return n, nil
}

// readRESP reads one Redis reply of the kinds PING, CLIENT LIST and INFO give.
func (a *adminConn) readRESP(fn func([]byte)) (int, error) {
	head, err := a.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	head = bytes.TrimRight(head, "\r\n")
	if len(head) == 0 {
		return 0, errors.New("empty RESP reply")
	}
	switch head[0] {
	case '+', ':':
		if fn != nil {
			fn(head[1:])
		}
		return 1, nil
	case '-':
		return 0, errReply(head[1:])
	case '$':
		n, err := strconv.Atoi(string(head[1:]))
		if err != nil {
			return 0, fmt.Errorf("bad RESP bulk length %q", head)
		}
		if n < 0 {
			return 0, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(a.r, buf); err != nil {
			return 0, err
		}
		if fn != nil {
			fn(buf[:n])
		}
		return n, nil
	}
	return 0, fmt.Errorf("unexpected RESP reply %q", truncate(head, 80))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// stats reads STATS (Logatron protocol) or INFO (Redis) as key → value.
func (a *adminConn) stats(timeout time.Duration) (map[string]string, error) {
	m := make(map[string]string, 24)
	add := func(line []byte) {
		k, v, _ := bytes.Cut(line, []byte(" "))
		m[string(k)] = string(v)
	}
	if a.redis {
		_, err := a.do("INFO", timeout, func(p []byte) {
			for _, line := range bytes.Split(p, []byte("\r\n")) {
				if k, v, ok := bytes.Cut(line, []byte(":")); ok {
					m[string(k)] = string(v)
				}
			}
		})
		return m, err
	}
	_, err := a.do("STATS", timeout, add)
	return m, err
}

func statInt(m map[string]string, k string) int64 {
	n, _ := strconv.ParseInt(m[k], 10, 64)
	return n
}

func statFloat(m map[string]string, k string) float64 {
	f, _ := strconv.ParseFloat(m[k], 64)
	return f
}

// Latency summarises one kind of admin request's reply times, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Errors int64   `json:"errors,omitempty"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	P999   float64 `json:"p999_ms"`
	Max    float64 `json:"max_ms"`
	Lines  int     `json:"reply_lines,omitempty"` // data lines in the last reply (CLIENTS: the clients listed)
	Note   string  `json:"note,omitempty"`
}

func (l Latency) String() string {
	if l.Count == 0 {
		if l.Note != "" {
			return l.Note
		}
		return "-"
	}
	return fmt.Sprintf("p50 %s p99 %s p99.9 %s max %s (n=%d)", fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max), l.Count)
}

func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3) // µs, 1µs..60s
}

func latencyOf(h *hdrhistogram.Histogram, errs int64, lines int, note string) Latency {
	us := func(v int64) float64 { return float64(v) / 1000 }
	l := Latency{Count: h.TotalCount(), Errors: errs, Lines: lines, Note: note}
	if l.Count > 0 {
		l.P50 = us(h.ValueAtQuantile(50))
		l.P99 = us(h.ValueAtQuantile(99))
		l.P999 = us(h.ValueAtQuantile(99.9))
		l.Max = us(h.Max())
	}
	return l
}

// prober measures admin PING and CLIENTS latency while a load runs, each on
// its own connection so that a long CLIENTS reply does not delay a PING.
//
// It runs in a child process (`bench probe`) when it can: in the load
// generator's own process, its goroutines would wait behind the busy
// writers for the Go scheduler, and measure that instead of the server.
// Like an operator's netcat, the child is scheduled by the kernel alone.
type prober struct {
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	ping, clients Latency

	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// probeExec is the command that runs `bench probe`: this executable, as
// `<exe> bench probe ...`. Main sets it; tests and embedders leave it empty
// to probe in-process.
var probeExec []string

func startProber(addr string, redis bool, pingEvery, clientsEvery time.Duration) *prober {
	if len(probeExec) > 0 {
		if p, err := startProbeChild(addr, redis, pingEvery, clientsEvery); err == nil {
			return p
		}
	}
	return startProbeHere(addr, redis, pingEvery, clientsEvery)
}

func startProbeHere(addr string, redis bool, pingEvery, clientsEvery time.Duration) *prober {
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{cancel: cancel}
	clientsReq := "CLIENTS"
	if redis {
		clientsReq = "CLIENT LIST"
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.ping = probe(ctx, addr, redis, "PING", pingEvery) }()
	go func() { defer p.wg.Done(); p.clients = probe(ctx, addr, redis, clientsReq, clientsEvery) }()
	return p
}

func startProbeChild(addr string, redis bool, pingEvery, clientsEvery time.Duration) (*prober, error) {
	args := append(slices.Clone(probeExec[1:]), "probe", "-admin", addr, "-ping-every", pingEvery.String(),
		"-clients-every", clientsEvery.String())
	if redis {
		args = append(args, "-redis")
	}
	cmd := exec.Command(probeExec[0], args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "GOMAXPROCS=4") // a P for each probe thread, whatever the cores
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &prober{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("bench probe did not start: %q %v", line, err)
	}
	return p, nil
}

// stop ends the probes and returns PING's and CLIENTS' latencies.
func (p *prober) stop() (ping, clients Latency) {
	if p.cmd != nil {
		_ = p.stdin.Close()
		var r probeResult
		got := make(chan error, 1)
		go func() { got <- json.NewDecoder(p.out).Decode(&r) }()
		var err error
		select {
		case err = <-got:
		case <-time.After(10 * time.Second):
			err = errors.New("no answer within 10 s")
			_ = p.cmd.Process.Kill()
		}
		_ = p.cmd.Wait()
		if err != nil {
			note := "probe failed: " + err.Error()
			return Latency{Note: note}, Latency{Note: note}
		}
		return r.Ping, r.Clients
	}
	p.cancel()
	p.wg.Wait()
	return p.ping, p.clients
}

type probeResult struct {
	Ping    Latency `json:"ping"`
	Clients Latency `json:"clients"`
}

// mainProbe is `bench probe`: it probes until its standard input closes,
// then prints the latencies as JSON.
func mainProbe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logatron bench probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", "127.0.0.1:2213", "admin address")
	redis := fs.Bool("redis", false, "the server is Redis")
	pingEvery := fs.Duration("ping-every", 10*time.Millisecond, "PING interval")
	clientsEvery := fs.Duration("clients-every", 250*time.Millisecond, "CLIENTS interval")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	p := startProbeHere(*addr, *redis, *pingEvery, *clientsEvery)
	fmt.Fprintln(stdout, "ready")
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(eof) }()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	var r probeResult
	r.Ping, r.Clients = p.stop()
	return json.NewEncoder(stdout).Encode(r)
}

// probe sends req every interval until ctx ends. Latencies are recorded
// with HdrHistogram's correction for coordinated omission: a reply that
// took several intervals also counts the probes it held back.
//
// It works as an operator's netcat would: one OS thread doing blocking
// write and read system calls, so that the kernel wakes it directly when
// the reply arrives and the Go
// scheduler plays no part in the time measured.
//
// (In the load generator's process, a goroutine's wake-up waits for the busy
// writers; even in a process of its own, under full CPU, a netpoller
// wake-up was seen to add tens of milliseconds that a blocking read does not.)
func probe(ctx context.Context, addr string, redis bool, req string, every time.Duration) Latency {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := newHist()
	var errs int64
	lines := 0
	rc, err := dialRaw(addr)
	if err != nil {
		return Latency{Note: "cannot connect: " + err.Error()}
	}
	a := &adminConn{rw: rc, r: bufio.NewReaderSize(rc, 64<<10), redis: redis}
	defer rc.Close()
	stop := context.AfterFunc(ctx, rc.shutdown) // unblocks a read the server never answers
	defer stop()
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		// The wait between requests may go through the Go scheduler: only
		// the request's own time is measured.
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		} else {
			next = time.Now() // late: start again from now, the correction covers the gap
		}
		if ctx.Err() != nil {
			return latencyOf(h, errs, lines, "")
		}
		start := time.Now()
		n, err := a.do(req, 0, nil)
		el := time.Since(start)
		var er errReply
		switch {
		case errors.As(err, &er):
			// The server does not know this request (the ceiling server has no CLIENTS).
			return Latency{Note: "n/a (" + string(er) + ")"}
		case err != nil:
			if ctx.Err() != nil {
				return latencyOf(h, errs, lines, "")
			}
			errs++
			return latencyOf(h, errs, lines, "connection failed: "+err.Error())
		}
		lines = n
		_ = h.RecordCorrectedValue(max(1, el.Microseconds()), every.Microseconds())
	}
}

// rawConn is a TCP connection on a blocking socket, used with plain
// read and write system calls.
type rawConn struct{ fd int }

func dialRaw(addr string) (*rawConn, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	return &rawConn{fd: fd}, nil
}

func (c *rawConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (c *rawConn) shutdown()    { _ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR) }
func (c *rawConn) Close() error { return syscall.Close(c.fd) }
