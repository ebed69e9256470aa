package loop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAdminBetweenDataReads keeps data clients sending flat out and asks
// the admin port at the same time, until at least one request was taken
// between data reads by pollAdmin rather than by gnet's round. Every reply
// must be whole and in order whichever way its request was read, and once
// the admin connections are gone the second epoll set must be gone too.
func TestAdminBetweenDataReads(t *testing.T) {
	srv := startLocal(t, nil)

	stop := make(chan struct{})
	var senders sync.WaitGroup
	batch := []byte(strings.Repeat("LOG "+strings.Repeat("m", 64)+"\n", 256))
	for i := range 4 {
		c, err := net.Dial("tcp", srv.DataAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "IAM flood%d\n", i); err != nil {
			t.Fatal(err)
		}
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(batch); err != nil {
					return
				}
			}
		}()
	}
	defer func() { close(stop); senders.Wait() }()

	pollReads := func() (n uint64, admins int, ep int) {
		if err := srv.onLoop(context.Background(), func() { n, admins, ep = srv.apoll.reads, srv.admins, srv.apoll.ep }); err != nil {
			t.Fatal(err)
		}
		return
	}

	a, err := net.Dial("tcp", srv.AdminAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(a)
	deadline := time.Now().Add(20 * time.Second)
	requests := 0
	for {
		// Pipelined: both replies must come back, in order.
		if _, err := io.WriteString(a, "PING\nSTATS\n"); err != nil {
			t.Fatal(err)
		}
		if got := readReply(t, r); len(got) != 1 || got[0] != "PONG" {
			t.Fatalf("PING: %q", got)
		}
		if got := readReply(t, r); len(got) < 5 || !strings.HasPrefix(got[0], "version ") {
			t.Fatalf("STATS: %q", got)
		}
		requests++
		if n, _, _ := pollReads(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests under load, none read between data reads", requests)
		}
	}
	a.Close()
	for {
		_, admins, ep := pollReads()
		if admins == 0 {
			if ep != -1 {
				t.Fatalf("no admin connection open, but the admin epoll set is still open (fd %d)", ep)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("admin connection not closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// readReply reads one "OK <n>" reply and its n lines.
func readReply(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	head, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(head, "OK "), "\n"))
	if err != nil {
		t.Fatalf("reply head %q", head)
	}
	lines := make([]string, n)
	for i := range lines {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = strings.TrimSuffix(l, "\n")
	}
	return lines
}
