package loop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logatron/logatron/query"
)

// An HTTP request sent to the admin port (a browser, or a forged
// cross-site request) is closed at once without a reply, and the admin port
// goes on answering others.
func TestAdminRefusesHTTP(t *testing.T) {
	s := wServer(t, nil)
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nNAMES\n",
		"Host: evil.example\r\nNAMES\r\n",
	} {
		c := wDial(t, s.AdminAddr())
		wSend(t, c, req)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if len(got) != 0 || (err != nil && !isReset(err)) {
			t.Errorf("%q: got %q, %v; want the connection closed without a reply", req, got, err)
		}
	}
	c := wDial(t, s.AdminAddr())
	wSend(t, c, "PING\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK 1") {
		t.Errorf("admin port after HTTP: %q %v", line, err)
	}
}

// alive checks that the server still serves a fresh client and the admin
// port, and that its heap stays under limit bytes.
func alive(t *testing.T, s *Server, limit uint64) {
	t.Helper()
	c := wDial(t, s.DataAddr())
	name := fmt.Sprintf("probe%d", time.Now().UnixNano())
	wSend(t, c, "IAM "+name+"\nLOG still here\n")
	wUntil(t, "probe stored", func() bool { l, err := s.Log(context.Background(), name, Query{}); return err == nil && l.Len() == 1 })
	c.Close()
	if st := wStats(t, s); st.HeapBytes > limit {
		t.Errorf("heap %d bytes, over %d", st.HeapBytes, limit)
	}
}

// writeMiB writes n MiB of b-bytes (no newline) to c, then returns.
func writeMiB(t *testing.T, c net.Conn, n int, b byte) error {
	t.Helper()
	chunk := bytes.Repeat([]byte{b}, 1<<20)
	for range n {
		if _, err := c.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

const heapBound = 64 << 20 // far below what buffering the abuse would cost

func TestAbuseHugeLineBeforeIAM(t *testing.T) {
	s := wServer(t, nil)
	c := wDial(t, s.DataAddr())
	go func() { _ = writeMiB(t, c, 100, 'A') }() // the server closes us long before 100 MiB
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "ERR line too long\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	alive(t, s, heapBound)
}

func TestAbuseHugeLineAfterIAM(t *testing.T) {
	s := wServer(t, nil)
	c := wDial(t, s.DataAddr())
	wSend(t, c, "IAM huge\nLOG ")
	if err := writeMiB(t, c, 100, 'B'); err != nil {
		t.Fatal(err)
	}
	wSend(t, c, "\nLOG after\n")
	wUntil(t, "both lines", func() bool { c, err := s.ClientInfo(context.Background(), "huge"); return err == nil && c.Lines == 2 })
	info, _ := s.ClientInfo(context.Background(), "huge")
	l, _ := s.Log(context.Background(), "huge", Query{})
	_, first := l.At(0)
	_, second := l.At(1)
	if info.Truncated != 1 || len(first) != DefaultConfig().MaxLine-len("LOG ") || string(second) != "after" {
		t.Errorf("truncated %d, first %d bytes, second %q", info.Truncated, len(first), second)
	}
	if info.Bytes != 100<<20+uint64(len("IAM huge\nLOG \nLOG after\n")) {
		t.Errorf("bytes %d", info.Bytes)
	}
	alive(t, s, heapBound)
}

func TestAbuseTrickle(t *testing.T) {
	s := wServer(t, nil)
	c := wDial(t, s.DataAddr())
	for _, b := range []byte("IAM trickle\r\nLOG one byte at a time\r\n") {
		wSend(t, c, string([]byte{b}))
	}
	wUntil(t, "trickled line", func() bool {
		l, err := s.Log(context.Background(), "trickle", Query{})
		return err == nil && l.Len() == 1
	})
	l, _ := s.Log(context.Background(), "trickle", Query{})
	if _, msg := l.At(0); string(msg) != "one byte at a time" {
		t.Errorf("stored %q", msg)
	}
}

func TestAbuseBinaryGarbage(t *testing.T) {
	s := wServer(t, nil)
	c := wDial(t, s.DataAddr())
	wSend(t, c, "IAM garbage\n")
	rnd := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 1<<20)
	for i := range junk {
		junk[i] = byte(rnd.UintN(256))
	}
	wSend(t, c, string(junk))
	wSend(t, c, "\nLOG nul\x00inside\nLOG cr\ralone\n")
	wUntil(t, "last lines", func() bool {
		l, err := s.Log(context.Background(), "garbage", Query{Last: 2})
		if err != nil || l.Len() < 2 {
			return false
		}
		_, msg := l.At(1)
		return string(msg) == "cr\ralone"
	})
	l, _ := s.Log(context.Background(), "garbage", Query{Last: 2})
	if _, msg := l.At(0); string(msg) != "nul\x00inside" {
		t.Errorf("NUL line stored as %q", msg)
	}
	// Every stored message is valid UTF-8 and every reply renders as JSON.
	var ds []query.Dump
	if err := s.dump(context.Background(), func(d []query.Dump) error { ds = append(ds, d...); return nil }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := query.WriteDump(&buf, query.JSON, ds); err != nil || !json.Valid(buf.Bytes()) {
		t.Errorf("dump is not valid JSON: %v", err)
	}
	all, _ := s.Log(context.Background(), "garbage", Query{})
	for i := range all.Len() {
		if _, msg := all.At(i); !utf8.Valid(msg) {
			t.Fatalf("entry %d is not valid UTF-8", i)
		}
	}
	alive(t, s, heapBound)
}

// Every line after IAM is counted once: as a LOG line, as an error, or as
// a SET that shows in the state. Nothing is lost silently.
func TestAbuseCountersAddUp(t *testing.T) {
	s := wServer(t, func(c *Config) { c.MaxKeys = 1024 })
	c := wDial(t, s.DataAddr())
	var b strings.Builder
	b.WriteString("IAM counted\n")
	b.WriteString(strings.Repeat("\n", 10000)) // blank lines: ignored
	logs, bad, sets := 0, 0, 0
	for i := range 100000 {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "SET key%d v%d\n", i, i) // 10,000 distinct keys: 1,024 fit
			sets++
		case 1:
			b.WriteString("BOGUS line\n")
			bad++
		default:
			fmt.Fprintf(&b, "log %d\n", i)
			logs++
		}
	}
	wSend(t, c, b.String())
	keysKept := 1024
	wantErrors := bad + sets - keysKept
	wUntil(t, "every line counted", func() bool {
		ci, err := s.ClientInfo(context.Background(), "counted")
		return err == nil && int(ci.Lines)+int(ci.Errors) == logs+wantErrors
	})
	ci, _ := s.ClientInfo(context.Background(), "counted")
	if int(ci.Lines) != logs || int(ci.Errors) != wantErrors || ci.Keys != keysKept || ci.Entries != DefaultConfig().Buffer {
		t.Errorf("lines %d (want %d), errors %d (want %d), keys %d, entries %d", ci.Lines, logs, ci.Errors, wantErrors, ci.Keys, ci.Entries)
	}
	if ci.Bytes != uint64(b.Len()) {
		t.Errorf("bytes %d, sent %d", ci.Bytes, b.Len())
	}
	if ci.LastError != `unknown command "BOGUS"` {
		t.Errorf("last_error %q", ci.LastError)
	}
	alive(t, s, heapBound)
}

// A connection reset mid-line, and a half-close after a partial line, both
// close the client with their reason; the partial line is not stored (a
// line ends with \n); the name is free, and taking it resumes the client.
func TestAbuseResetAndHalfClose(t *testing.T) {
	s := wServer(t, nil)
	for _, tc := range []struct {
		name, reason string
		end          func(*net.TCPConn)
	}{
		{"reset", "reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }},
		{"halfclose", "eof", func(c *net.TCPConn) { _ = c.CloseWrite() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wDial(t, s.DataAddr()).(*net.TCPConn)
			wSend(t, c, "IAM "+tc.name+"\nLOG whole\nLOG part")
			wUntil(t, "first line", func() bool {
				l, err := s.Log(context.Background(), tc.name, Query{})
				return err == nil && l.Len() == 1
			})
			tc.end(c)
			wUntil(t, "client closed", func() bool { ci, err := s.ClientInfo(context.Background(), tc.name); return err == nil && ci.Closed })
			if ci, _ := s.ClientInfo(context.Background(), tc.name); ci.CloseReason != tc.reason || ci.Entries != 1 {
				t.Errorf("closed with reason %q and %d entries, want %q and 1", ci.CloseReason, ci.Entries, tc.reason)
			}
			again := wDial(t, s.DataAddr())
			wSend(t, again, "IAM "+tc.name+"\n")
			wUntil(t, "name reused", func() bool { ci, err := s.ClientInfo(context.Background(), tc.name); return err == nil && !ci.Closed })
			if ci, _ := s.ClientInfo(context.Background(), tc.name); ci.Reconnects != 1 || ci.Entries != 1 {
				t.Errorf("resumed with %d reconnects and %d entries, want 1 and 1", ci.Reconnects, ci.Entries)
			}
		})
	}
	alive(t, s, heapBound)
}

// An admin client that sends requests and never reads the replies is cut
// off once it owes 64 KiB of requests, and its responder gives up after
// write-timeout; memory stays bounded and others are served.
func TestAbuseAdminNeverReads(t *testing.T) {
	s := wServer(t, func(c *Config) { c.WriteTimeout = 500 * time.Millisecond })
	bulk := wDial(t, s.DataAddr())
	wSend(t, bulk, "IAM bulk\n"+strings.Repeat("LOG "+strings.Repeat("d", 1000)+"\n", 128))
	wUntil(t, "ring full", func() bool {
		c, err := s.ClientInfo(context.Background(), "bulk")
		return err == nil && c.Entries == 128
	})

	c := wDial(t, s.AdminAddr())
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	req := []byte(strings.Repeat("LOG bulk\n", 1000))
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, err = c.Write(req)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			err = nil // our send buffer is full: the server stopped reading us, or will close
			if st := wStats(t, s); st.AdminConnections == 0 {
				break
			}
		}
	}
	wUntil(t, "admin connection closed", func() bool { return wStats(t, s).AdminConnections == 0 })
	alive(t, s, heapBound)
}

// SET with 100,000 distinct keys: max-keys holds, the rest are counted as
// errors, and memory stays bounded.
func TestAbuseManyKeys(t *testing.T) {
	s := wServer(t, nil)
	c := wDial(t, s.DataAddr())
	var b strings.Builder
	b.WriteString("IAM keys\n")
	for i := range 100000 {
		fmt.Fprintf(&b, "SET k%d v\n", i)
	}
	wSend(t, c, b.String())
	keep := DefaultConfig().MaxKeys
	wUntil(t, "every SET counted", func() bool {
		ci, err := s.ClientInfo(context.Background(), "keys")
		return err == nil && ci.Keys+int(ci.Errors) == 100000
	})
	ci, _ := s.ClientInfo(context.Background(), "keys")
	if ci.Keys != keep || int(ci.Errors) != 100000-keep {
		t.Errorf("keys %d, errors %d; want %d and %d", ci.Keys, ci.Errors, keep, 100000-keep)
	}
	alive(t, s, heapBound)
}
