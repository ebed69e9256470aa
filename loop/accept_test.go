package loop

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPendingAcceptsBounded: while the loop is held up, the data port's
// acceptor takes at most maxPending connections (and one more in its hand,
// one with the reaper); the rest wait in the kernel's accept queue, where
// the peer's connect has succeeded and its lines wait. Once the loop runs
// again every client is served.
func TestPendingAcceptsBounded(t *testing.T) {
	const clients = maxPending + 150
	s := wServer(t, nil)
	hold, held := make(chan struct{}), make(chan struct{})
	go func() {
		// The loop runs this and is held up until hold is closed; onLoop
		// gives up waiting after apiTimeout, the loop does not.
		_ = s.onLoop(context.Background(), func() { close(held); <-hold })
	}()
	<-held
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer release()

	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = wDial(t, s.DataAddr())
		wSend(t, conns[i], fmt.Sprintf("IAM c%03d\nLOG waited\n", i))
	}
	// Accepted: maxPending in pending, one in the acceptor's hand, one
	// with the reaper. The rest are the listener's accept queue.
	want := clients - (maxPending + 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := acceptQueue(s.DataAddr().Port)
		if err != nil {
			t.Skipf("cannot read the accept queue: %v", err)
		}
		if q == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue %d with the loop held, want %d (%d connections, %d pending at most)", q, want, clients, maxPending)
		}
		time.Sleep(5 * time.Millisecond) // polling the kernel's count
	}
	release()
	wUntil(t, "every client served", func() bool {
		st, err := s.Stats(context.Background())
		return err == nil && st.Clients == clients && st.LinesTotal == clients
	})
}

// acceptQueue is how many connections wait in the accept queue of the
// IPv4 listener on port: for a listening socket, /proc/net/tcp's rx_queue.
func acceptQueue(port int) (int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[3] != "0A" || !strings.HasSuffix(fs[1], fmt.Sprintf(":%04X", port)) {
			continue
		}
		_, rx, _ := strings.Cut(fs[4], ":")
		n, err := strconv.ParseInt(rx, 16, 64)
		return int(n), err
	}
	return 0, fmt.Errorf("no listener on port %d in /proc/net/tcp", port)
}
