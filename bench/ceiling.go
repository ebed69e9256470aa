package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// ceiling is the comparison's upper bound: a gnet server on one event loop
// that reads every byte and only counts newlines, so it shows what one loop
// can take in at all. Each connection's first line counts as its IAM (an
// identified client); every other line counts towards lines_total. Its
// admin port (PING, STATS) is served by ordinary goroutines.
type ceiling struct {
	gnet.BuiltinEventEngine
	eng     gnet.Engine
	started time.Time
	booted  chan struct{}
	done    chan error
	admin   net.Listener

	clients, clientsTotal, lines, bytes, adminConns atomic.Int64
}

type ceilConn struct{ identified bool }

// readSize is how much the ceiling reads from a socket at a time. It must
// equal what Logatron's own event loop reads (the gnet.WithReadBufferCap
// option in loop/server.go, 256 KiB), so that the ceiling stays the bound
// of the same loop: change the two together.
const readSize = 256 << 10

func (h *ceiling) OnBoot(eng gnet.Engine) gnet.Action {
	h.eng = eng
	close(h.booted)
	return gnet.None
}

func (h *ceiling) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&ceilConn{})
	return nil, gnet.None
}

func (h *ceiling) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	n := int64(bytes.Count(buf, []byte{'\n'}))
	h.bytes.Add(int64(len(buf)))
	if n == 0 {
		return gnet.None
	}
	if cc := c.Context().(*ceilConn); !cc.identified {
		cc.identified = true
		n--
		h.clients.Add(1)
		h.clientsTotal.Add(1)
	}
	if n > 0 {
		h.lines.Add(n)
	}
	return gnet.None
}

func (h *ceiling) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cc, ok := c.Context().(*ceilConn); ok && cc.identified {
		h.clients.Add(-1)
	}
	return gnet.None
}

// startCeiling serves the data port on one gnet event loop and the admin
// port on goroutines.
func startCeiling(dataAddr, adminAddr string) (*ceiling, error) {
	h := &ceiling{started: time.Now(), booted: make(chan struct{}), done: make(chan error, 1)}
	var err error
	if h.admin, err = net.Listen("tcp", adminAddr); err != nil {
		return nil, err
	}
	go func() {
		h.done <- gnet.Run(h, "tcp://"+dataAddr, gnet.WithMulticore(false), gnet.WithNumEventLoop(1), gnet.WithReuseAddr(true),
			gnet.WithReadBufferCap(readSize),
			gnet.WithLogLevel(logging.ErrorLevel))
	}()
	select {
	case <-h.booted:
	case err := <-h.done:
		_ = h.admin.Close()
		return nil, fmt.Errorf("ceiling: %v", err)
	}
	go acceptLoop(h.admin, func(c net.Conn) { serveAdmin(c, h.answer, &h.adminConns) })
	return h, nil
}

func (h *ceiling) stop() {
	_ = h.admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.eng.Stop(ctx)
}

func (h *ceiling) answer(w *bufio.Writer, word string, _ []string) {
	if word != "STATS" {
		w.WriteString("ERR unknown command " + strconv.Quote(word) + "\n")
		return
	}
	writeStats(w, h.started, []kv{
		{"clients", h.clients.Load()}, {"clients_total", h.clientsTotal.Load()},
		{"lines_total", h.lines.Load()}, {"bytes_total", h.bytes.Load()},
		{"admin_connections", h.adminConns.Load()},
	})
}
