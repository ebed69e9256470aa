package web

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/logatron/logatron/store"
)

// loopbackHost reports whether a request's Host names the loopback
// interface: localhost, any 127.x.y.z, or ::1 (IPv4-mapped forms too), with
// or without a port. A request with no Host at all (HTTP/1.0) passes:
// browsers always send one, so DNS rebinding cannot produce it.
func loopbackHost(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// open reports whether a route is served without the admin token: the
// health check, and the status page, which holds no data and asks for it.
func open(r *http.Request) bool {
	return r.URL.Path == "/healthz" || r.URL.Path == "/"
}

// authorized reports whether r may be served: no admin token is set, the
// route is open, or r carries the token ("Authorization: Bearer <token>",
// else "?token=<token>"). Both sides are hashed before the constant-time
// comparison so that not even the token's length leaks through timing.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.AdminToken == "" || open(r) {
		return true
	}
	got, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		q := r.URL.Query()
		if !q.Has("token") {
			return false
		}
		got = q.Get("token")
	}
	return store.SameToken([]byte(got), []byte(s.opts.AdminToken))
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// sameOrigin reports whether r may open a stream: it has no Origin header
// (curl, scripts), or its Origin's host:port is the request's Host, compared
// case-insensitively. This is the rule coder/websocket's Accept applies, so
// the WebSocket and the event stream refuse the same requests.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
