package loop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logatron/logatron/loop"
)

// fill connects n clients named name(i) concurrently (a few dialers at a
// time) and has each send IAM and then lines(i) in one write. It waits until
// the server has taken every line (wantLines in all) and returns the open
// connections; it fails the test if any connection fails.
func fill(t *testing.T, srv *loop.Server, n int, name func(int) string, lines func(int) string, wantLines int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				c, err := net.Dial("tcp", srv.DataAddr().String())
				if err != nil {
					errs <- err
					continue
				}
				conns[i] = c
				if _, err := io.WriteString(c, "IAM "+name(i)+"\n"+lines(i)); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every line", func() (bool, string) {
		st, err := srv.Stats(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return st.Clients == n && st.LinesTotal == uint64(wantLines),
			fmt.Sprintf("clients %d of %d, lines %d of %d", st.Clients, n, st.LinesTotal, wantLines)
	})
	return conns
}

// halfClosed opens an admin connection with a small receive buffer (so the
// server cannot hand the kernel a large reply at once), sends requests,
// half-closes, and reads everything until the server closes.
func halfClosed(t *testing.T, srv *loop.Server, requests string) []byte {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192) })
		if err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", srv.AdminAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	if _, err := io.WriteString(c, requests); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the replies to %q: %v after %d bytes", requests, err, len(b))
	}
	return b
}

// replyReader splits a byte stream of text replies.
type replyReader struct {
	t *testing.T
	r *bufio.Reader
}

func (rr *replyReader) line() string {
	rr.t.Helper()
	s, err := rr.r.ReadString('\n')
	if err != nil {
		rr.t.Fatalf("reply cut short: %v (%d bytes of a last line)", err, len(s))
	}
	return strings.TrimSuffix(s, "\n")
}

// ok reads an "OK <n>" reply and returns its data lines.
func (rr *replyReader) ok() []string {
	rr.t.Helper()
	head := rr.line()
	n, err := strconv.Atoi(strings.TrimPrefix(head, "OK "))
	if !strings.HasPrefix(head, "OK ") || err != nil {
		rr.t.Fatalf("reply head %.100q, want OK <n>", head)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = rr.line()
	}
	return out
}

func (rr *replyReader) eof() {
	rr.t.Helper()
	if rest, _ := io.ReadAll(rr.r); len(rest) != 0 {
		rr.t.Errorf("%d unexpected bytes after the replies: %.100q", len(rest), rest)
	}
}

// TestLargeRepliesHalfClosed: a multi-megabyte DUMP, CLIENTS, and pipelined
// requests, read whole through a connection the client half-closed right
// after writing its requests (printf 'DUMP\n' | nc -N).
func TestLargeRepliesHalfClosed(t *testing.T) {
	const clients, entries, msgSize = 200, 64, 1024
	srv := startServer(t, nil)
	name := func(i int) string { return fmt.Sprintf("client_%03d_", i) + strings.Repeat("n", 64-11) }
	msg := func(c, e int) string {
		head := fmt.Sprintf("c%03d e%03d \u00e9 \"q\" ", c, e)
		return head + strings.Repeat(string(rune('a'+(c+e)%26)), msgSize-len(head))
	}
	fill(t, srv, clients, name, func(c int) string {
		var b strings.Builder
		for e := range entries {
			b.WriteString("LOG " + msg(c, e) + "\n")
		}
		b.WriteString("SET idx " + strconv.Itoa(c) + "\n")
		return b.String()
	}, clients*entries)
	names := make([]string, clients)
	for i := range names {
		names[i] = name(i)
	}

	checkDump := func(t *testing.T, line []byte) {
		t.Helper()
		if len(line) < 8<<20 {
			t.Errorf("DUMP is %d bytes, want a multi-megabyte reply", len(line))
		}
		var dump map[string]struct {
			ConnectedAt int64             `json:"connectedAt"`
			Log         [][2]any          `json:"log"`
			State       map[string]string `json:"state"`
		}
		if err := json.Unmarshal(line, &dump); err != nil {
			t.Fatalf("DUMP (%d bytes) is not valid JSON: %v", len(line), err)
		}
		if len(dump) != clients {
			t.Fatalf("DUMP has %d clients, want %d", len(dump), clients)
		}
		for c, n := range names {
			d := dump[n]
			if len(d.Log) != entries {
				t.Fatalf("%s: %d entries, want %d", n, len(d.Log), entries)
			}
			for e, entry := range d.Log {
				if entry[1] != msg(c, e) {
					t.Fatalf("%s entry %d = %.40q..., want %.40q...", n, e, entry[1], msg(c, e))
				}
			}
			if d.State["idx"] != strconv.Itoa(c) {
				t.Errorf("%s state = %v", n, d.State)
			}
		}
	}
	checkClients := func(t *testing.T, lines []string) {
		t.Helper()
		if len(lines) != clients {
			t.Fatalf("CLIENTS has %d lines, want %d", len(lines), clients)
		}
		for i, l := range lines {
			want := fmt.Sprintf(" entries=%d keys=1 lines=%d ", entries, entries)
			if !strings.HasPrefix(l, names[i]+" connected_at=") || !strings.Contains(l, want) {
				t.Fatalf("CLIENTS line %d = %q, want %s ...%s...", i, l, names[i], want)
			}
		}
	}

	t.Run("DUMP text", func(t *testing.T) {
		b := halfClosed(t, srv, "DUMP\n")
		rr := &replyReader{t, bufio.NewReaderSize(bytes.NewReader(b), 1<<16)}
		lines := rr.ok()
		if len(lines) != 1 {
			t.Fatalf("DUMP: %d data lines, want 1", len(lines))
		}
		checkDump(t, []byte(lines[0]))
		rr.eof()
	})
	t.Run("DUMP json", func(t *testing.T) {
		b := halfClosed(t, srv, "FORMAT json\nDUMP\n")
		first, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok || string(first) != `{"ok":true}` {
			t.Fatalf("FORMAT json: %.100q", first)
		}
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok || len(after) != 0 {
			t.Fatalf("DUMP in JSON is not exactly one line (%d bytes after it; ended: %v)", len(after), ok)
		}
		checkDump(t, line)
	})
	t.Run("CLIENTS text", func(t *testing.T) {
		b := halfClosed(t, srv, "CLIENTS\n")
		rr := &replyReader{t, bufio.NewReader(bytes.NewReader(b))}
		checkClients(t, rr.ok())
		rr.eof()
	})
	t.Run("pipelined", func(t *testing.T) {
		b := halfClosed(t, srv, "DUMP\nNAMES\nCLIENTS\nPING\nFORMAT json\nNAMES\n")
		rr := &replyReader{t, bufio.NewReaderSize(bytes.NewReader(b), 1<<16)}
		dump := rr.ok()
		if len(dump) != 1 {
			t.Fatalf("DUMP: %d data lines", len(dump))
		}
		checkDump(t, []byte(dump[0]))
		if got := rr.ok(); !slices.Equal(got, names) {
			t.Errorf("NAMES: %d names, want %d in order", len(got), len(names))
		}
		checkClients(t, rr.ok())
		if got := rr.ok(); !slices.Equal(got, []string{"PONG"}) {
			t.Errorf("PING: %q", got)
		}
		if got := rr.line(); got != `{"ok":true}` {
			t.Errorf("FORMAT json: %q", got)
		}
		var got []string
		if err := json.Unmarshal([]byte(rr.line()), &got); err != nil || !slices.Equal(got, names) {
			t.Errorf("NAMES in JSON: %d names (%v)", len(got), err)
		}
		rr.eof()
	})
}

// TestManyClients: 5,000 clients connect, identify and log at once while
// the admin port keeps answering.
func TestManyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections")
	}
	const clients, perClient = 5000, 4
	srv := startServer(t, nil)
	name := func(i int) string { return fmt.Sprintf("c%05d_", i) + strings.Repeat("x", 64-7) }

	// The pinger asks PING over and over until told to stop; each reply must
	// come within its deadline.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var pings atomic.Int64
	pingErr := make(chan error, 1)
	var pinged sync.WaitGroup
	pinged.Go(func() {
		a, err := net.Dial("tcp", srv.AdminAddr().String())
		if err != nil {
			pingErr <- err
			return
		}
		defer a.Close()
		r := bufio.NewReader(a)
		for ctx.Err() == nil {
			a.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(a, "PING\n"); err != nil {
				pingErr <- err
				return
			}
			l1, err1 := r.ReadString('\n')
			l2, err2 := r.ReadString('\n')
			if err1 != nil || err2 != nil || l1 != "OK 1\n" || l2 != "PONG\n" {
				pingErr <- fmt.Errorf("PING %d: %q %q %v %v", pings.Load(), l1, l2, err1, err2)
				return
			}
			pings.Add(1)
		}
	})
	pingOK := func() {
		t.Helper()
		select {
		case err := <-pingErr:
			t.Fatalf("the admin port stopped answering: %v", err)
		default:
		}
	}
	eventually(t, 10*time.Second, "a first PING answered", func() (bool, string) { pingOK(); return pings.Load() > 0, "" })
	before := pings.Load()

	var want strings.Builder
	for i := range perClient {
		want.WriteString("LOG line " + strconv.Itoa(i) + "\n")
	}
	conns := fill(t, srv, clients, name, func(int) string { return want.String() }, clients*perClient)
	pingOK()
	during := pings.Load()
	if during <= before {
		t.Errorf("no PING answered while the clients connected and logged (%d before, %d after)", before, during)
	}
	stop()
	pinged.Wait()
	pingOK()
	t.Logf("%d PINGs answered while %d clients connected and logged", during-before, clients)

	a := dialAdmin(t, srv)
	st := a.stats()
	if st["lines_total"] != strconv.Itoa(clients*perClient) || st["clients"] != strconv.Itoa(clients) || st["clients_total"] != strconv.Itoa(clients) {
		t.Errorf("STATS: lines_total=%s clients=%s clients_total=%s, want %d, %d, %d",
			st["lines_total"], st["clients"], st["clients_total"], clients*perClient, clients, clients)
	}
	wantNames := make([]string, clients)
	for i := range wantNames {
		wantNames[i] = name(i)
	}
	if got := a.text("NAMES"); !slices.Equal(got, wantNames) {
		t.Errorf("NAMES: %d names, want the %d sent, sorted", len(got), clients)
	}
	rr := &replyReader{t, bufio.NewReader(bytes.NewReader(halfClosed(t, srv, "CLIENTS\n")))}
	lines := rr.ok()
	if len(lines) != clients {
		t.Fatalf("CLIENTS: %d lines, want %d", len(lines), clients)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, wantNames[i]+" ") || !strings.Contains(l, fmt.Sprintf(" entries=%d keys=0 lines=%d ", perClient, perClient)) {
			t.Fatalf("CLIENTS line %d = %q", i, l)
		}
	}
	rr.eof()

	// All leave: every name is freed.
	for _, c := range conns {
		c.Close()
	}
	eventually(t, 30*time.Second, "every client to go", func() (bool, string) {
		st := a.stats()
		return st["clients"] == "0", "clients=" + st["clients"]
	})
}

// TestGoAPIConcurrent calls the Go API from many goroutines while clients
// log, and checks every answer is a consistent copy.
func TestGoAPIConcurrent(t *testing.T) {
	const writers, minBatches, batch, buffer, minCalls = 6, 20, 25, 16, 300
	srv := startServer(t, func(c *loop.Config) { c.Buffer = buffer })
	clients := make([]*dataClient, writers)
	for i := range clients {
		clients[i] = connect(t, srv, "w"+strconv.Itoa(i))
	}
	names := make([]string, writers)
	for i, c := range clients {
		names[i] = c.name
	}

	// checkLog: consecutive numbers, oldest first, at most buffer entries.
	checkLog := func(l []loop.Entry) error {
		if len(l) > buffer {
			return fmt.Errorf("%d entries, cap %d", len(l), buffer)
		}
		for i := range l {
			n, err := strconv.Atoi(l[i].Message)
			if err != nil {
				return fmt.Errorf("entry %q", l[i].Message)
			}
			if i > 0 {
				prev, _ := strconv.Atoi(l[i-1].Message)
				if n != prev+1 || l[i].Time.Before(l[i-1].Time) {
					return fmt.Errorf("entries %d then %d", prev, n)
				}
			}
		}
		return nil
	}

	done := make(chan struct{})
	errc := make(chan error, 64)
	report := func(err error) { // keeps the first 64 errors, never blocks
		select {
		case errc <- err:
		default:
		}
	}
	const readerCount = 8
	var readers sync.WaitGroup
	var readersDone atomic.Int32 // readers that made minCalls calls
	for range readerCount {
		readers.Go(func() {
			lastSeen := map[string]int{}
			for calls := 0; ; calls++ {
				if calls == minCalls {
					readersDone.Add(1)
				}
				select {
				case <-done:
					return
				default:
				}
				n := names[calls%len(names)]
				switch calls % 5 {
				case 0:
					got, err := srv.ClientNames(context.Background())
					if err != nil || !slices.Equal(got, names) {
						report(fmt.Errorf("ClientNames = %q, %v", got, err))
					}
				case 1:
					all, err := srv.Clients(context.Background())
					if err != nil || len(all) != len(names) {
						report(fmt.Errorf("Clients: %d, %v", len(all), err))
						continue
					}
					for name, c := range all {
						if err := checkLog(c.Log); err != nil {
							report(fmt.Errorf("Clients()[%s].Log: %v", name, err))
						}
						// One snapshot: "SET n k" follows "LOG k", so the
						// state is the last entry's number or the one before.
						if len(c.Log) > 0 {
							last, _ := strconv.Atoi(c.Log[len(c.Log)-1].Message)
							if v := c.State["n"]; v != strconv.Itoa(last) && v != strconv.Itoa(last-1) {
								report(fmt.Errorf("Clients()[%s]: state n=%s with last entry %d", name, v, last))
							}
						}
						if c.ConnectedAt.IsZero() {
							report(fmt.Errorf("Clients()[%s] has no ConnectedAt", name))
						}
					}
				case 2:
					l, err := srv.ClientLog(context.Background(), n, loop.Query{})
					if err == nil {
						err = checkLog(l)
					}
					if err != nil {
						report(fmt.Errorf("ClientLog(%s): %v", n, err))
					}
				case 3:
					st, err := srv.ClientState(context.Background(), n)
					if err != nil {
						report(fmt.Errorf("ClientState(%s): %v", n, err))
						continue
					}
					if v, ok := st["n"]; ok {
						x, _ := strconv.Atoi(v)
						if x < lastSeen[n] {
							report(fmt.Errorf("ClientState(%s) went back from %d to %d", n, lastSeen[n], x))
						}
						lastSeen[n] = x
					}
				case 4:
					for _, call := range []func() error{
						func() error { _, err := srv.ClientLog(context.Background(), "nobody", loop.Query{}); return err },
						func() error { _, err := srv.ClientState(context.Background(), "nobody"); return err },
					} {
						err := call()
						nsc, ok := err.(*loop.NoSuchClientError)
						if !ok || nsc.Name != "nobody" || err.Error() != "no such client: nobody" {
							report(fmt.Errorf("unknown name: %#v", err))
						}
					}
				}
			}
		})
	}

	// Writers log until every reader has made its calls, so the two overlap.
	totals := make([]int, writers)
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() {
			n := 0
			defer func() { totals[w] = n }()
			for i := 0; i < minBatches || readersDone.Load() < readerCount; i++ {
				var b strings.Builder
				for range batch {
					fmt.Fprintf(&b, "LOG %d\nSET n %d\n", n, n)
					n++
				}
				if _, err := io.WriteString(c.conn, b.String()); err != nil {
					report(err)
					return
				}
				c.sent += b.Len() // read only after wg.Wait
				// Wait for the batch to be taken (itself an API call), so
				// the loop is never far behind and the readers' calls come
				// between batches.
				for deadline := time.Now().Add(replyTimeout); ; {
					info, err := srv.ClientInfo(context.Background(), c.name)
					if err == nil && info.Bytes == uint64(c.sent) {
						break
					}
					if err != nil || time.Now().After(deadline) {
						report(fmt.Errorf("%s: batch %d not taken: %v", c.name, i, err))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		c.sync()
	}
	close(done)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	// Final state, derived from what was sent.
	for w, n := range names {
		total := totals[w]
		l, err := srv.ClientLog(context.Background(), n, loop.Query{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range l {
			got = append(got, e.Message)
		}
		var want []string
		for i := total - buffer; i < total; i++ {
			want = append(want, strconv.Itoa(i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: log %q, want %q", n, got, want)
		}
		st, _ := srv.ClientState(context.Background(), n)
		if st["n"] != strconv.Itoa(total-1) {
			t.Errorf("%s: state %v", n, st)
		}
	}
}

// TestGoAPIWithoutRunningServer: the Go API answers ErrNotRunning, within
// its timeout, on a server never started and on one stopped; it never
// blocks for ever.
func TestGoAPIWithoutRunningServer(t *testing.T) {
	calls := func(srv *loop.Server) map[string]func() error {
		return map[string]func() error{
			"ClientNames": func() error { _, err := srv.ClientNames(context.Background()); return err },
			"Clients":     func() error { _, err := srv.Clients(context.Background()); return err },
			"ClientLog":   func() error { _, err := srv.ClientLog(context.Background(), "bob", loop.Query{}); return err },
			"ClientState": func() error { _, err := srv.ClientState(context.Background(), "bob"); return err },
		}
	}
	check := func(t *testing.T, srv *loop.Server, within time.Duration) {
		t.Helper()
		type result struct {
			name string
			err  error
		}
		fns := calls(srv)
		results := make(chan result, len(fns))
		for name, fn := range fns {
			go func() { results <- result{name, fn()} }()
		}
		timeout := time.After(within)
		for range fns {
			select {
			case r := <-results:
				if !errors.Is(r.err, loop.ErrNotRunning) {
					t.Errorf("%s: %v, want ErrNotRunning", r.name, r.err)
				}
			case <-timeout:
				t.Fatalf("the Go API blocked for over %s", within)
			}
		}
	}
	t.Run("never started", func(t *testing.T) {
		cfg := loop.DefaultConfig()
		cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
		srv, err := loop.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		check(t, srv, 2*time.Second)
	})
	t.Run("stopped", func(t *testing.T) {
		srv := startServer(t, nil)
		connect(t, srv, "bob")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		check(t, srv, 2*time.Second)
	})
}
