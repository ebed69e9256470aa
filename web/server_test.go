package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
	"github.com/rs/zerolog"
)

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key
// to dir, and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "logatron test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, pool
}

// With a certificate the API, the WebSocket and the event stream are served
// over TLS only.
func TestTLS(t *testing.T) {
	cert, key, pool := selfSigned(t, t.TempDir())
	srv, url := startWeb(t, nil, web.Options{CertFile: cert, KeyFile: key})
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()

	if status, body := getWith(t, hc, url+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz over TLS: %d %q", status, body)
	}
	resp, err := hc.Get(url + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.ProtoMajor != 1 {
		t.Errorf("stats: TLS %v, protocol %s; want TLS, HTTP/1.1", resp.TLS != nil, resp.Proto)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(url, "https")+"/api/watch?client=bob", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	eventually(t, "watcher registered", func() bool { s, _ := srv.Stats(context.Background()); return s.Watchers == 1 })
	client(t, srv, "bob")
	if _, msg, err := ws.Read(ctx); err != nil || !bytes.Contains(msg, []byte(`"event":"ready"`)) {
		t.Errorf("wss: %s, %v", msg, err)
	}

	if status, _ := getTail(t, hc, url, "", nil); status != 200 {
		t.Errorf("event stream over TLS: status %d", status)
	}

	// Plain HTTP to the TLS port is refused, not served.
	plain := "http" + strings.TrimPrefix(url, "https")
	if status, _ := get(t, plain+"/api/stats"); status != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: status %d, want 400", status)
	}
}

func TestNewServerRejectsBadTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newLoop(t, nil)
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"cert without key", cert, "", "both -http-cert and -http-key"},
		{"key without cert", "", key, "both -http-cert and -http-key"},
		{"missing file", filepath.Join(dir, "nope.pem"), key, "no such file"},
		{"not PEM", cert, garbage, "load certificate"},
		{"swapped", key, cert, "load certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := web.NewServer(srv, web.Options{CertFile: tc.cert, KeyFile: tc.key})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Keep-alive connections left idle are closed after IdleTimeout, so clients
// that hold every connection slot idle cannot lock others out: with all of
// MaxConns taken by idle connections, a new request waits in the backlog
// and is served once the server has closed them.
func TestIdleKeepAliveClosed(t *testing.T) {
	const maxConns, idle = 64, 2 * time.Second
	_, url := startWeb(t, nil, web.Options{MaxConns: maxConns, IdleTimeout: idle})
	began := time.Now()
	closed := make(chan time.Duration, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range maxConns {
		c, resp := rawHeader(t, url, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
		defer c.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("connection %d: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
		_ = c.SetDeadline(time.Now().Add(idle + 10*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The reply was read through another bufio.Reader; what is
			// left on the connection is its end: the server's close.
			_, _ = io.Copy(io.Discard, resp.Body)
			_, err := c.Read(make([]byte, 1))
			if err == io.EOF {
				closed <- time.Since(began)
			}
		}()
	}
	setup := time.Since(began)
	if setup > idle/2 {
		t.Fatalf("opening %d connections took %v: too slow to tell waiting from idle closing", maxConns, setup)
	}

	// This one waits in the listen backlog until a slot frees.
	c, resp := rawHeader(t, url, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	served := time.Since(began)
	c.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new request: status %d", resp.StatusCode)
	}
	if served < idle {
		t.Errorf("new request served after %v, before any idle connection could be closed (%v): the connection cap is not in force", served, idle)
	}
	for i := range maxConns {
		select {
		case at := <-closed:
			if at < idle {
				t.Errorf("an idle connection closed after %v, before IdleTimeout %v", at, idle)
			}
		case <-time.After(idle + 10*time.Second):
			t.Fatalf("only %d of %d idle connections were closed by the server", i, maxConns)
		}
	}
}

// gate is a log writer that blocks every line containing marker until
// opened: the loop logs on its own goroutine, so a blocked log line stalls it.
type gate struct {
	marker string
	hit    chan struct{} // closed at the first blocked line
	open   chan struct{}
	once   sync.Once
}

func (g *gate) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(g.marker)) {
		g.once.Do(func() { close(g.hit) })
		<-g.open
	}
	return len(p), nil
}

// /healthz answers 200 only while the event loop answers within a second:
// 503 when it has stopped, and when it is stalled (here: its log write
// blocks), then 200 again once it goes on.
func TestHealthz(t *testing.T) {
	t.Run("stopped", func(t *testing.T) {
		srv, url := start(t, nil)
		if status, body := get(t, url+"/healthz"); status != 200 || body != "ok\n" {
			t.Fatalf("running: %d %q", status, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if status, body := get(t, url+"/healthz"); status != 503 {
			t.Errorf("stopped: %d %q, want 503", status, body)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		g := &gate{marker: "rejected connection", hit: make(chan struct{}), open: make(chan struct{})}
		srv, url := start(t, func(c *loop.Config) { c.Log = zerolog.New(g) })
		var opened sync.Once
		release := func() { opened.Do(func() { close(g.open) }) }
		t.Cleanup(release) // before the server stops

		if status, _ := get(t, url+"/healthz"); status != 200 {
			t.Fatalf("running: %d", status)
		}
		// A connection that does not identify is rejected, and the loop logs it.
		c, err := net.Dial("tcp", srv.DataAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "HELLO\n")
		select {
		case <-g.hit:
		case <-time.After(5 * time.Second):
			t.Fatal("the loop never logged the rejection: cannot stall it this way")
		}
		asked := time.Now()
		status, body := get(t, url+"/healthz")
		took := time.Since(asked)
		if status != 503 || took > 3*time.Second {
			t.Errorf("stalled: %d %q after %v; want 503 within about a second", status, body, took)
		}
		release()
		eventually(t, "healthy again", func() bool { s, _ := get(t, url+"/healthz"); return s == 200 })
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "ERR") {
			t.Errorf("rejected client got %q, %v", line, err)
		}
	})
}
