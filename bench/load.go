package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// srcShare is the most connections -src 0 opens from one source address.
// The kernel picks a connection's ephemeral port by scanning for one not yet
// used towards the same address and port, so from a single source address
// each connect costs more than the last: 19,000 connections take seconds of
// the generator's own kernel time, which would be charged to the server.
// Spreading them over 127.0.0.x keeps each scan short, and lifts the limit
// of about 28,000 connections (the ephemeral port range) to one port.
const srcShare = 4000

// LoadConfig is one run of the load generator.
type LoadConfig struct {
	Data     string        // data address
	Admin    string        // admin address (Logatron protocol); for Redis, the data address is used
	Proto    string        // protoLogatron or protoRedis
	Conns    int           // connections
	Lines    int           // lines per connection (0: until Duration)
	Duration time.Duration // sending time when Lines is 0; the idle time in Hold mode
	Size     int           // message bytes per line
	Pipeline int           // lines per write
	Rate     float64       // total lines per second over all connections; 0: as fast as possible
	SetShare float64       // share of SET lines, 0..1
	Src      int           // source addresses 127.0.0.1..127.0.0.<Src>; 0: one per 4,000 connections
	Hold     bool          // after sending, stay connected and idle for Duration (or until cancelled)
	// HoldProbe, with Hold: no admin probe runs until the hold's end, when the
	// server's RSS and STATS are read; then the probes run for HoldProbe.
	// 0: the probes run from the first line sent to the hold's end.
	HoldProbe time.Duration
	Prefix    string // client name prefix
	Pid       int    // server process id, to read its RSS (0: not read)

	ConfirmTimeout  time.Duration // longest wait for the server to confirm lines and clients
	DialConcurrency int           // connections being opened at once
	PingEvery       time.Duration // admin PING interval while the load runs
	ClientsEvery    time.Duration // admin CLIENTS interval while the load runs
	Progress        io.Writer     // where the live progress line goes (nil: none)

	// Hooks for the harness, called on the generator's goroutine.
	OnIdentified func() // every connection identified; sending starts next
	OnStored     func() // every line confirmed stored (before any hold)
}

func (c *LoadConfig) defaults() error {
	if c.Proto == "" {
		c.Proto = protoLogatron
	}
	if c.Proto != protoLogatron && c.Proto != protoRedis {
		return fmt.Errorf("unknown protocol %q", c.Proto)
	}
	if c.Conns < 1 {
		return errors.New("-c must be at least 1")
	}
	if c.Lines < 0 || c.Size < 0 || c.Rate < 0 || c.Src < 0 {
		return errors.New("-n, -d, -rate and -src must not be negative")
	}
	if c.Pipeline < 1 {
		c.Pipeline = 1
	}
	if c.SetShare < 0 || c.SetShare > 1 {
		return errors.New("-set must be between 0 and 1")
	}
	if !c.Hold && c.Lines == 0 && c.Duration <= 0 {
		return errors.New("give -n (lines per connection) or -duration")
	}
	if c.Prefix == "" {
		c.Prefix = "b" + strconv.FormatInt(time.Now().UnixNano()%(36*36*36*36*36*36), 36) + "_"
	}
	if len(c.Prefix)+len(strconv.Itoa(c.Conns)) > 64 {
		return errors.New("-prefix is too long: names are at most 64 characters")
	}
	for _, r := range c.Prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("-prefix %q: names are made of A-Z, a-z, 0-9 and _", c.Prefix)
		}
	}
	if c.Src == 0 && c.Conns > srcShare {
		c.Src = (c.Conns + srcShare - 1) / srcShare
	}
	if c.Src > 254 {
		return errors.New("-src is at most 254 (127.0.0.1 to 127.0.0.254)")
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = 60 * time.Second
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 256
	}
	if c.PingEvery <= 0 {
		c.PingEvery = 10 * time.Millisecond
	}
	if c.ClientsEvery <= 0 {
		c.ClientsEvery = 250 * time.Millisecond
	}
	if c.Admin == "" || c.Proto == protoRedis {
		c.Admin = c.Data
	}
	return nil
}

// LoadResult is what one run measured. Rates are server-confirmed: lines
// divided by the time from the first write to the moment the server's
// STATS (or, for Redis, its replies) showed every line stored.
type LoadResult struct {
	Proto        string  `json:"proto"`
	Data         string  `json:"data"`
	Conns        int     `json:"connections"`
	Identified   int     `json:"identified"`
	ConnectS     float64 `json:"connect_identify_s"`
	LinesPerConn int     `json:"lines_per_connection,omitempty"`
	Size         int     `json:"message_bytes"`
	Pipeline     int     `json:"pipeline"`
	Rate         float64 `json:"rate_limit,omitempty"`
	SetShare     float64 `json:"set_share,omitempty"`
	Src          int     `json:"source_addresses,omitempty"`
	Hold         bool    `json:"hold,omitempty"`

	LinesSent   int64   `json:"lines_sent"`
	LogSent     int64   `json:"log_lines_sent"`
	BytesSent   int64   `json:"bytes_sent"`
	Stored      int64   `json:"lines_stored"` // LOG lines the server confirms
	Confirmed   bool    `json:"confirmed"`    // Stored reached LogSent within the timeout
	SendS       float64 `json:"send_s"`       // first write to last write
	StoreS      float64 `json:"store_s"`      // first write to the confirmation
	LinesPerSec float64 `json:"lines_per_s"`
	MBPerSec    float64 `json:"mb_per_s"`

	Ping    Latency `json:"admin_ping"`
	Clients Latency `json:"admin_clients"`

	RSSBytes      int64   `json:"server_rss_bytes,omitempty"`
	HeapBytes     int64   `json:"server_heap_bytes,omitempty"`
	GCCPUFraction float64 `json:"server_gc_cpu_fraction,omitempty"`
	ClientsAtEnd  int64   `json:"clients_at_end"`

	Errors     int64  `json:"errors,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// counters are shared by the connections' goroutines.
type counters struct {
	dialed, identified   atomic.Int64
	lines, logs, bytes   atomic.Int64
	replies, replyErrors atomic.Int64 // Redis replies to XADD (stored) and errors
	errs                 atomic.Int64
	errOnce              sync.Once
	firstErr             string
}

func (k *counters) fail(err error) {
	k.errs.Add(1)
	k.errOnce.Do(func() { k.firstErr = err.Error() })
}

// RunLoad runs one load against a server and reports what it measured.
// Cancelling ctx stops sending (or holding) and reports what was done.
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if lim := raiseOpenFiles(); lim != 0 && uint64(cfg.Conns)+64 > lim {
		return nil, fmt.Errorf("%w: -c %d needs more file descriptors than this process may open (%d): run several load processes", ErrUsage, cfg.Conns, lim)
	}
	redis := cfg.Proto == protoRedis
	res := &LoadResult{Proto: cfg.Proto, Data: cfg.Data, Conns: cfg.Conns, LinesPerConn: cfg.Lines, Size: cfg.Size,
		Pipeline: cfg.Pipeline, Rate: cfg.Rate, SetShare: cfg.SetShare, Src: cfg.Src, Hold: cfg.Hold}

	ctl, err := dialAdmin(cfg.Admin, redis, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", cfg.Admin, err)
	}
	defer ctl.Close()
	var base map[string]string
	if !redis {
		if base, err = ctl.stats(10 * time.Second); err != nil {
			return nil, fmt.Errorf("admin STATS: %w", err)
		}
	}
	baseLines, baseClients := statInt(base, "lines_total"), statInt(base, "clients")

	k := &counters{}
	names := make([]string, cfg.Conns)
	for i := range names {
		names[i] = cfg.Prefix + strconv.Itoa(i)
	}
	conns := make([]net.Conn, cfg.Conns)
	defer closeAll(conns)

	// Live progress.
	var phase atomic.Value
	phase.Store("connecting")
	var storedNow atomic.Int64
	monCtx, monStop := context.WithCancel(ctx)
	defer monStop()
	var monWG sync.WaitGroup
	if cfg.Progress != nil {
		monWG.Add(1)
		go func() {
			defer monWG.Done()
			progress(monCtx, cfg, redis, k, &phase, &storedNow, baseLines)
		}()
	}
	defer func() {
		monStop()
		monWG.Wait()
	}()

	// Phase 1: connect and identify every connection.
	start := time.Now()
	dialAll(ctx, cfg, names, conns, k, redis)
	okConns := int(k.dialed.Load())
	if redis {
		res.Identified = int(k.identified.Load())
	} else {
		deadline := time.Now().Add(cfg.ConfirmTimeout)
		for {
			st, err := ctl.stats(10 * time.Second)
			if err != nil {
				return nil, fmt.Errorf("admin STATS: %w", err)
			}
			res.Identified = int(statInt(st, "clients") - baseClients)
			if res.Identified >= okConns || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	res.ConnectS = time.Since(start).Seconds()
	if okConns == 0 {
		res.Errors, res.FirstError = k.errs.Load(), k.firstErr
		return res, fmt.Errorf("no connection could be opened: %s", k.firstErr)
	}

	// Phase 2: send.
	if cfg.OnIdentified != nil {
		cfg.OnIdentified()
	}
	// With HoldProbe the admin probes wait until the memory has been read:
	// a CLIENTS reply over 10,000 clients is garbage that would grow the heap.
	quiet := cfg.Hold && cfg.HoldProbe > 0
	var pr *prober
	if !quiet {
		pr = startProber(cfg.Admin, redis, cfg.PingEvery, cfg.ClientsEvery)
	}
	phase.Store("sending")
	var readers sync.WaitGroup
	if redis {
		for _, c := range conns {
			if c != nil {
				readers.Add(1)
				go func() { defer readers.Done(); countReplies(c, k) }()
			}
		}
	}
	t0 := time.Now()
	sendAll(ctx, cfg, names, conns, k, redis)
	res.SendS = time.Since(t0).Seconds()

	// Phase 3: wait until the server confirms every LOG line.
	phase.Store("confirming")
	want := k.logs.Load()
	deadline := time.Now().Add(cfg.ConfirmTimeout)
	for {
		var got int64
		if redis {
			got = k.replies.Load()
		} else {
			st, err := ctl.stats(10 * time.Second)
			if err != nil {
				k.fail(fmt.Errorf("admin STATS: %w", err))
				break
			}
			got = statInt(st, "lines_total") - baseLines
		}
		res.Stored = got
		storedNow.Store(got)
		if got >= want {
			res.Confirmed = true
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	res.StoreS = time.Since(t0).Seconds()
	if cfg.OnStored != nil {
		cfg.OnStored()
	}
	res.LinesSent, res.LogSent, res.BytesSent = k.lines.Load(), k.logs.Load(), k.bytes.Load()
	if res.StoreS > 0 && res.Stored > 0 {
		// SET lines are not counted by lines_total; those sent before the last
		// LOG line were handled before it, so the rate covers all lines.
		stored := float64(res.Stored) + float64(res.LinesSent-res.LogSent)
		res.LinesPerSec = stored / res.StoreS
		res.MBPerSec = float64(res.BytesSent) * min(1, float64(res.Stored)/float64(max(1, res.LogSent))) / res.StoreS / 1e6
	}

	// Phase 4: hold.
	if cfg.Hold {
		phase.Store("holding")
		if cfg.Duration > 0 {
			t := time.NewTimer(cfg.Duration)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		} else {
			<-ctx.Done()
		}
	}
	if pr != nil {
		res.Ping, res.Clients = pr.stop()
	}
	if cfg.Pid > 0 {
		if rss, err := procRSS(cfg.Pid); err == nil {
			res.RSSBytes = rss
		}
	}
	if st, err := ctl.stats(10 * time.Second); err == nil {
		if redis {
			res.ClientsAtEnd = statInt(st, "connected_clients") - 1 // less our own
			res.HeapBytes = statInt(st, "used_memory")
		} else {
			res.ClientsAtEnd = statInt(st, "clients") - baseClients
			res.HeapBytes = statInt(st, "heap_bytes")
			res.GCCPUFraction = statFloat(st, "gc_cpu_fraction")
		}
	}
	if quiet && ctx.Err() == nil {
		phase.Store("probing")
		pr = startProber(cfg.Admin, redis, cfg.PingEvery, cfg.ClientsEvery)
		t := time.NewTimer(cfg.HoldProbe)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		res.Ping, res.Clients = pr.stop()
	}
	res.Errors, res.FirstError = k.errs.Load()+k.replyErrors.Load(), k.firstErr
	monStop()
	monWG.Wait()
	if cfg.Progress != nil {
		fmt.Fprint(cfg.Progress, "\r\033[K")
	}
	closeAll(conns)
	readers.Wait()
	return res, nil
}

// closeAll closes the connections with a reset (SO_LINGER 0): a run opens
// tens of thousands, and TIME_WAIT would hold their ports for a minute.
func closeAll(conns []net.Conn) {
	for i, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		conns[i] = nil
	}
}

// dialAll opens every connection, DialConcurrency at a time, and sends each
// its hello (IAM, or CLIENT SETNAME for Redis, whose +OK it waits for).
func dialAll(ctx context.Context, cfg LoadConfig, names []string, conns []net.Conn, k *counters, redis bool) {
	sem := make(chan struct{}, cfg.DialConcurrency)
	var wg sync.WaitGroup
	for i := range conns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d := net.Dialer{Timeout: 10 * time.Second}
			if cfg.Src > 0 {
				d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%cfg.Src))}
				// Let connect() pick the port for the whole 4-tuple, not bind():
				// otherwise each source address gives out each port only once.
				d.Control = func(_, _ string, rc syscall.RawConn) error {
					var serr error
					err := rc.Control(func(fd uintptr) {
						serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
					})
					if err != nil {
						return err
					}
					return serr
				}
			}
			c, err := d.DialContext(ctx, "tcp", cfg.Data)
			if err != nil {
				if errors.Is(err, syscall.EADDRNOTAVAIL) {
					err = fmt.Errorf("%w (out of ephemeral ports: sockets in TIME_WAIT hold them for a minute after a run; wait, spread connections with -src, or widen net.ipv4.ip_local_port_range)", err)
				}
				k.fail(err)
				return
			}
			var hello []byte
			if redis {
				hello = redisHello(names[i])
			} else {
				hello = logatronHello(names[i])
			}
			if _, err := c.Write(hello); err != nil {
				k.fail(err)
				_ = c.Close()
				return
			}
			if redis {
				_ = c.SetReadDeadline(time.Now().Add(cfg.ConfirmTimeout))
				var b [64]byte
				n, err := io.ReadAtLeast(c, b[:], 5)
				_ = c.SetReadDeadline(time.Time{})
				if err != nil || string(b[:n]) != "+OK\r\n" {
					if err == nil {
						err = fmt.Errorf("CLIENT SETNAME: %q", b[:n])
					}
					k.fail(err)
					_ = c.Close()
					return
				}
				k.identified.Add(1)
			}
			conns[i] = c
			k.dialed.Add(1)
		}()
	}
	wg.Wait()
}

// countReplies reads one Redis connection's replies until it closes.
func countReplies(c net.Conn, k *counters) {
	r := bufio.NewReaderSize(c, 16<<10)
	_ = readReplies(r, func(kind byte, msg []byte) {
		switch kind {
		case '$':
			k.replies.Add(1)
		case '-':
			k.replyErrors.Add(1)
			k.errOnce.Do(func() { k.firstErr = "redis: " + string(msg) })
		}
	})
}

// sendAll sends every connection's lines: as fast as each connection goes
// (one goroutine per connection), or paced to cfg.Rate.
func sendAll(ctx context.Context, cfg LoadConfig, names []string, conns []net.Conn, k *counters, redis bool) {
	var shared *batch
	if !redis {
		shared = logatronBatch(cfg.Pipeline, cfg.Size, cfg.SetShare)
	}
	batchFor := func(i int) *batch {
		if redis {
			return redisBatch(names[i], cfg.Pipeline, cfg.Size, cfg.SetShare)
		}
		return shared
	}
	if cfg.Lines == 0 && cfg.Hold {
		return
	}
	var deadline time.Time
	if cfg.Duration > 0 && !cfg.Hold {
		deadline = time.Now().Add(cfg.Duration)
	}
	// Cancelling unblocks writes.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			for _, c := range conns {
				if c != nil {
					_ = c.SetWriteDeadline(time.Now())
				}
			}
		case <-stop:
		}
	}()
	if cfg.Rate > 0 {
		sendPaced(ctx, cfg, conns, batchFor, deadline, k)
		return
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := batchFor(i)
			sent := 0
			for cfg.Lines == 0 || sent < cfg.Lines {
				if !deadline.IsZero() && time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				n := cfg.Pipeline
				if cfg.Lines > 0 {
					n = min(n, cfg.Lines-sent)
				}
				buf, logs := b.prefix(n)
				if _, err := c.Write(buf); err != nil {
					if ctx.Err() == nil {
						k.fail(writeError(c, err))
					}
					return
				}
				sent += n
				k.lines.Add(int64(n))
				k.logs.Add(int64(logs))
				k.bytes.Add(int64(len(buf)))
			}
		}()
	}
	wg.Wait()
}

// writeError adds to a failed write the server's ERR line, if it sent one.
func writeError(c net.Conn, err error) error {
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [256]byte
	if n, _ := c.Read(b[:]); n > 0 {
		return fmt.Errorf("%w (server said %q)", err, b[:n])
	}
	return err
}

// sendPaced sends at cfg.Rate lines per second in all: each connection
// writes Pipeline lines every Pipeline/(Rate/Conns) seconds, the
// connections' writes spread evenly over that interval. A few goroutines
// each own a share of the connections and visit them in the order they are due.
func sendPaced(ctx context.Context, cfg LoadConfig, conns []net.Conn, batchFor func(int) *batch, deadline time.Time, k *counters) {
	live := make([]int, 0, len(conns))
	for i, c := range conns {
		if c != nil {
			live = append(live, i)
		}
	}
	perConn := cfg.Rate / float64(len(live))
	interval := time.Duration(float64(cfg.Pipeline) / perConn * float64(time.Second))
	workers := min(len(live), 4*runtime.GOMAXPROCS(0))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		// Worker w owns connections w, w+workers, ...: in phase order.
		var mine []int
		for j := w; j < len(live); j += workers {
			mine = append(mine, j)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			type slot struct {
				c    net.Conn
				b    *batch
				next time.Time
				sent int
				done bool
			}
			slots := make([]slot, len(mine))
			for s, j := range mine {
				i := live[j]
				phase := time.Duration(float64(interval) * float64(j) / float64(len(live)))
				slots[s] = slot{c: conns[i], b: batchFor(i), next: start.Add(phase)}
			}
			left := len(slots)
			for cur := 0; left > 0; cur = (cur + 1) % len(slots) {
				s := &slots[cur]
				if s.done {
					continue
				}
				if !deadline.IsZero() && s.next.After(deadline) {
					s.done = true
					left--
					continue
				}
				if d := time.Until(s.next); d > 0 {
					// Sleep at least a millisecond and then send all that
					// came due: a wake-up per write would cost more than the write.
					t := time.NewTimer(max(d, time.Millisecond))
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				if ctx.Err() != nil {
					return
				}
				n := cfg.Pipeline
				if cfg.Lines > 0 {
					n = min(n, cfg.Lines-s.sent)
				}
				buf, logs := s.b.prefix(n)
				if _, err := s.c.Write(buf); err != nil {
					if ctx.Err() == nil {
						k.fail(writeError(s.c, err))
					}
					s.done = true
					left--
					continue
				}
				s.sent += n
				k.lines.Add(int64(n))
				k.logs.Add(int64(logs))
				k.bytes.Add(int64(len(buf)))
				s.next = s.next.Add(interval)
				if cfg.Lines > 0 && s.sent >= cfg.Lines {
					s.done = true
					left--
				}
			}
		}()
	}
	wg.Wait()
}

// progress prints a live line: connected, lines/s (confirmed by the
// server), stored so far.
func progress(ctx context.Context, cfg LoadConfig, redis bool, k *counters, phase *atomic.Value, storedNow *atomic.Int64, baseLines int64) {
	var mon *adminConn
	if !redis {
		mon, _ = dialAdmin(cfg.Admin, false, 5*time.Second)
		if mon != nil {
			defer mon.Close()
		}
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	lastT, lastStored := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stored := storedNow.Load()
		if redis {
			stored = k.replies.Load()
		} else if mon != nil {
			if st, err := mon.stats(2 * time.Second); err == nil {
				stored = statInt(st, "lines_total") - baseLines
			}
		}
		now := time.Now()
		rate := float64(stored-lastStored) / now.Sub(lastT).Seconds()
		lastT, lastStored = now, stored
		fmt.Fprintf(cfg.Progress, "\r\033[K%-10s connected %d/%d  sent %s  stored %s  %s lines/s",
			phase.Load(), k.dialed.Load(), cfg.Conns, human(float64(k.lines.Load())), human(float64(stored)), human(rate))
	}
}

// human formats a count with k/M/G.
func human(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
