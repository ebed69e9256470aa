package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// goServer is the comparison's goroutine-per-connection server: the obvious
// design, written with the standard library only (net, bufio, a
// mutex-protected map). It speaks the same data protocol with the same ring
// semantics, and answers PING, STATS, NAMES, CLIENTS and LOG <name> [<n>]
// on its admin port in Logatron's text format. It does not allocate per
// line once a client's ring has filled: each slot's message buffer is reused.
type goServer struct {
	buffer, bufferBytes, maxLine, maxKeys, maxClients int
	identTimeout                                      time.Duration
	started                                           time.Time

	data, admin net.Listener
	conns       atomic.Int64

	mu      sync.Mutex // guards clients, open and the closed* totals
	clients map[string]*goClient
	open    map[net.Conn]struct{}

	closedLines, closedBytes, closedErrors, closedTrunc uint64
	clientsTotal, rejectedTotal, adminConns             atomic.Int64
}

// goClient is one identified client; mu guards everything below it.
type goClient struct {
	name, addr  string
	connectedAt int64

	mu                              sync.Mutex
	ring                            []goEntry
	head, n, ringBytes              int
	keys                            map[string]string
	lines, bytes, errors, truncated uint64
	lastError                       string
}

type goEntry struct {
	ts  int64
	msg []byte
}

func newGoServer(maxClients int) *goServer {
	return &goServer{
		buffer: 128, bufferBytes: 1 << 20, maxLine: 64 << 10, maxKeys: 1024, maxClients: maxClients,
		identTimeout: 10 * time.Second, started: time.Now(),
		clients: make(map[string]*goClient), open: make(map[net.Conn]struct{}),
	}
}

// listen binds both ports and serves them in the background.
func (s *goServer) listen(dataAddr, adminAddr string) error {
	var err error
	if s.data, err = net.Listen("tcp", dataAddr); err != nil {
		return err
	}
	if s.admin, err = net.Listen("tcp", adminAddr); err != nil {
		_ = s.data.Close()
		return err
	}
	go acceptLoop(s.data, s.serveData)
	go acceptLoop(s.admin, func(c net.Conn) { serveAdmin(c, s.answer, &s.adminConns) })
	return nil
}

func (s *goServer) close() {
	_ = s.data.Close()
	_ = s.admin.Close()
	s.mu.Lock()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
}

// acceptLoop accepts until the listener closes, backing off on errors such
// as EMFILE.
func acceptLoop(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}

func (s *goServer) serveData(c net.Conn) {
	defer c.Close()
	if s.conns.Add(1) > int64(s.maxClients) {
		s.conns.Add(-1)
		s.rejectedTotal.Add(1)
		_, _ = io.WriteString(c, "ERR too many clients\n")
		return
	}
	defer s.conns.Add(-1)
	s.mu.Lock()
	s.open[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
	}()

	r := bufio.NewReaderSize(c, 4096)
	var cl *goClient
	var long []byte // a line longer than the reader's buffer, being assembled
	var scratch []byte
	now := time.Now().UnixMilli()
	_ = c.SetReadDeadline(time.Now().Add(s.identTimeout))
	defer func() {
		if cl != nil {
			s.remove(cl)
		}
	}()
	for {
		if r.Buffered() == 0 {
			now = 0 // the next read gets a new receive time
		}
		frag, err := r.ReadSlice('\n')
		if now == 0 {
			now = time.Now().UnixMilli()
		}
		var line []byte
		over := false
		switch {
		case err == bufio.ErrBufferFull:
			if len(long) <= s.maxLine {
				long = append(long, frag...)
			}
			if cl != nil {
				cl.mu.Lock()
				cl.bytes += uint64(len(frag))
				cl.mu.Unlock()
			}
			continue
		case err != nil:
			var ne net.Error
			if cl == nil && errors.As(err, &ne) && ne.Timeout() {
				s.rejectedTotal.Add(1)
				_, _ = io.WriteString(c, "ERR identify timeout\n")
			}
			return
		case len(long) > 0:
			line = append(long, frag...)
			long = long[:0]
		default:
			line = frag
		}
		n := len(frag) // bytes on the wire not yet counted
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		if len(line) > s.maxLine {
			line, over = line[:s.maxLine], true
		}
		if cl == nil {
			if over {
				s.rejectedTotal.Add(1)
				_, _ = io.WriteString(c, "ERR line too long\n")
				return
			}
			word, rest := splitWord(line)
			if len(word) == 0 {
				continue
			}
			name := rest
			if !bytes.EqualFold(word, []byte("IAM")) || !validName(name) {
				s.rejectedTotal.Add(1)
				_, _ = io.WriteString(c, "ERR expected IAM <name>\n")
				return
			}
			cl = &goClient{name: string(name), addr: c.RemoteAddr().String(), connectedAt: now, bytes: uint64(n)}
			s.mu.Lock()
			_, taken := s.clients[cl.name]
			if !taken {
				s.clients[cl.name] = cl
			}
			s.mu.Unlock()
			if taken {
				s.rejectedTotal.Add(1)
				_, _ = io.WriteString(c, "ERR name in use: "+cl.name+"\n")
				cl = nil
				return
			}
			s.clientsTotal.Add(1)
			_ = c.SetReadDeadline(time.Time{})
			continue
		}
		scratch = s.command(cl, line, n, over, now, scratch)
	}
}

// splitWord returns the first word and the rest after the run of blanks
// that follows it, trailing blanks trimmed.
func splitWord(line []byte) (word, rest []byte) {
	line = bytes.TrimRight(bytes.TrimLeft(line, " \t"), " \t")
	i := bytes.IndexAny(line, " \t")
	if i < 0 {
		return line, nil
	}
	return line[:i], bytes.TrimLeft(line[i:], " \t")
}

func validName(b []byte) bool {
	if len(b) < 1 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// command handles one line of an identified client; n is its bytes on the
// wire not yet counted.
func (s *goServer) command(cl *goClient, line []byte, n int, over bool, now int64, scratch []byte) []byte {
	word, rest := splitWord(line)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.bytes += uint64(n)
	switch {
	case len(word) == 0:
	case bytes.EqualFold(word, []byte("LOG")):
		cl.lines++
		if over {
			cl.truncated++
			// Cut on a UTF-8 boundary: drop a last rune left incomplete.
			i := len(rest) - 1
			for i > 0 && i > len(rest)-4 && !utf8.RuneStart(rest[i]) {
				i--
			}
			if i >= 0 && !utf8.FullRune(rest[i:]) {
				rest = rest[:i]
			}
		}
		if !utf8.Valid(rest) {
			scratch = append(scratch[:0], bytes.ToValidUTF8(rest, []byte("\uFFFD"))...)
			rest = scratch
		}
		cl.push(now, rest, s.buffer, s.bufferBytes)
	case bytes.EqualFold(word, []byte("SET")):
		key, val := splitWord(rest)
		switch {
		case over:
			cl.fail("line too long: SET rejected")
		case !validName(key) || len(val) == 0:
			cl.fail("usage: SET <key> <value>")
		default:
			if cl.keys == nil {
				cl.keys = make(map[string]string)
			}
			if _, ok := cl.keys[string(key)]; !ok && len(cl.keys) >= s.maxKeys {
				cl.fail("too many keys")
				break
			}
			cl.keys[string(key)] = string(bytes.ToValidUTF8(val, []byte("\uFFFD")))
		}
	case bytes.EqualFold(word, []byte("IAM")):
		cl.fail("already identified as " + cl.name)
	default:
		cl.fail("unknown command " + strconv.Quote(string(word)))
	}
	return scratch
}

func (cl *goClient) fail(reason string) {
	cl.errors++
	cl.lastError = reason
}

// push appends to the ring, dropping the oldest entries past buffer entries
// or bufferBytes message bytes. cl.mu is held.
func (cl *goClient) push(ts int64, msg []byte, buffer, bufferBytes int) {
	if cl.ring == nil {
		cl.ring = make([]goEntry, buffer)
	}
	if cl.n == buffer {
		cl.drop()
	}
	for cl.n > 0 && cl.ringBytes+len(msg) > bufferBytes {
		cl.drop()
	}
	e := &cl.ring[(cl.head+cl.n)%buffer]
	e.ts = ts
	e.msg = append(e.msg[:0], msg...)
	cl.n++
	cl.ringBytes += len(msg)
}

func (cl *goClient) drop() {
	cl.ringBytes -= len(cl.ring[cl.head].msg)
	cl.head = (cl.head + 1) % len(cl.ring)
	cl.n--
}

func (s *goServer) remove(cl *goClient) {
	s.mu.Lock()
	delete(s.clients, cl.name)
	cl.mu.Lock()
	s.closedLines += cl.lines
	s.closedBytes += cl.bytes
	s.closedErrors += cl.errors
	s.closedTrunc += cl.truncated
	cl.ring, cl.keys = nil, nil
	cl.mu.Unlock()
	s.mu.Unlock()
}

// snapshot copies the clients, sorted by name.
func (s *goServer) snapshot() []*goClient {
	s.mu.Lock()
	cs := make([]*goClient, 0, len(s.clients))
	for _, cl := range s.clients {
		cs = append(cs, cl)
	}
	s.mu.Unlock()
	slices.SortFunc(cs, func(a, b *goClient) int { return compareStrings(a.name, b.name) })
	return cs
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// answer renders one admin request in Logatron's text format.
func (s *goServer) answer(w *bufio.Writer, word string, args []string) {
	switch word {
	case "STATS":
		s.mu.Lock()
		lines, byts, errs, trunc := s.closedLines, s.closedBytes, s.closedErrors, s.closedTrunc
		clients := len(s.clients)
		for _, cl := range s.clients {
			cl.mu.Lock()
			lines += cl.lines
			byts += cl.bytes
			errs += cl.errors
			trunc += cl.truncated
			cl.mu.Unlock()
		}
		s.mu.Unlock()
		writeStats(w, s.started, []kv{
			{"clients", int64(clients)}, {"clients_total", s.clientsTotal.Load()},
			{"rejected_total", s.rejectedTotal.Load()}, {"lines_total", int64(lines)},
			{"bytes_total", int64(byts)}, {"errors_total", int64(errs)},
			{"truncated_total", int64(trunc)}, {"admin_connections", s.adminConns.Load()},
		})
	case "NAMES":
		cs := s.snapshot()
		writeHead(w, len(cs))
		for _, cl := range cs {
			w.WriteString(cl.name)
			w.WriteByte('\n')
		}
	case "CLIENTS":
		cs := s.snapshot()
		writeHead(w, len(cs))
		var b []byte
		for _, cl := range cs {
			cl.mu.Lock()
			b = append(b[:0], cl.name...)
			b = append(b, " connected_at="...)
			b = appendTime(b, cl.connectedAt)
			b = append(b, " addr="...)
			b = append(b, cl.addr...)
			b = appendKV(b, "entries", uint64(cl.n))
			b = appendKV(b, "keys", uint64(len(cl.keys)))
			b = appendKV(b, "lines", cl.lines)
			b = appendKV(b, "bytes", cl.bytes)
			b = appendKV(b, "errors", cl.errors)
			cl.mu.Unlock()
			b = append(b, '\n')
			w.Write(b)
		}
	case "LOG":
		if len(args) < 1 {
			w.WriteString("ERR usage: LOG <name> [<n>]\n")
			return
		}
		s.mu.Lock()
		cl := s.clients[args[0]]
		s.mu.Unlock()
		if cl == nil {
			w.WriteString("ERR no such client: " + args[0] + "\n")
			return
		}
		cl.mu.Lock()
		defer cl.mu.Unlock()
		n := cl.n
		if len(args) > 1 {
			if v, err := strconv.Atoi(args[1]); err == nil && v >= 0 {
				n = min(n, v)
			}
		}
		writeHead(w, n)
		var b []byte
		for i := cl.n - n; i < cl.n; i++ {
			e := &cl.ring[(cl.head+i)%len(cl.ring)]
			b = appendTime(b[:0], e.ts)
			b = append(b, ' ')
			b = append(b, e.msg...)
			b = append(b, '\n')
			w.Write(b)
		}
	default:
		w.WriteString("ERR unknown command " + strconv.Quote(word) + "\n")
	}
}

func appendKV(b []byte, k string, v uint64) []byte {
	b = append(b, ' ')
	b = append(b, k...)
	b = append(b, '=')
	return strconv.AppendUint(b, v, 10)
}

func appendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

func writeHead(w *bufio.Writer, n int) {
	w.WriteString("OK ")
	w.WriteString(strconv.Itoa(n))
	w.WriteByte('\n')
}

type kv struct {
	k string
	v int64
}

// writeStats writes a STATS reply: the given counters, plus uptime and the
// Go runtime's heap and GC share, as Logatron reports them.
func writeStats(w *bufio.Writer, started time.Time, fields []kv) {
	heap, gc := runtimeFigures()
	writeHead(w, len(fields)+4)
	w.WriteString("version bench\n")
	w.WriteString("uptime_s " + strconv.FormatInt(int64(time.Since(started).Seconds()), 10) + "\n")
	for _, f := range fields {
		w.WriteString(f.k + " " + strconv.FormatInt(f.v, 10) + "\n")
	}
	w.WriteString("heap_bytes " + strconv.FormatUint(heap, 10) + "\n")
	w.WriteString("gc_cpu_fraction " + strconv.FormatFloat(gc, 'f', 6, 64) + "\n")
}

// serveAdmin serves one admin connection: one request per line, PING and
// QUIT here, the rest through answer.
func serveAdmin(c net.Conn, answer func(w *bufio.Writer, word string, args []string), count *atomic.Int64) {
	count.Add(1)
	defer count.Add(-1)
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriterSize(c, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			_ = w.Flush()
			return
		}
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		word := string(bytes.ToUpper(f[0]))
		args := make([]string, 0, len(f)-1)
		for _, a := range f[1:] {
			args = append(args, string(a))
		}
		switch word {
		case "PING":
			w.WriteString("OK 1\nPONG\n")
		case "QUIT":
			_ = w.Flush()
			return
		default:
			answer(w, word, args)
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}
