package loop

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
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
