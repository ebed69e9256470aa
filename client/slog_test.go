package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/logatron/logatron/client"
)

// token is a slog.LogValuer: the handler must log what it resolves to.
type token string

func (token) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// TestHandler: records render as documented on Handler, one entry each.
func TestHandler(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	at := time.Date(2026, 11, 24, 0, 36, 25, 123456789, time.UTC)
	for i, tc := range []struct {
		name string
		opts *slog.HandlerOptions
		log  func(l *slog.Logger)
		want []string
	}{
		{"attributes", nil, func(l *slog.Logger) {
			l.Info("request done", "method", "GET", "status", 200, "ok", true, "ratio", 0.25)
		}, []string{"INFO request done method=GET status=200 ok=true ratio=0.25"}},
		{"quoting", nil, func(l *slog.Logger) {
			l.Warn("odd values", "space", "a b", "empty", "", "quote", `say "hi"`, "eq", "a=b", "backslash", `c:\x`)
		}, []string{`WARN odd values space="a b" empty="" quote="say \"hi\"" eq="a=b" backslash=c:\x`}},
		{"quoted backslash", nil, func(l *slog.Logger) { l.Info("m", "path", `c:\program files`) },
			[]string{`INFO m path="c:\\program files"`}},
		{"levels", nil, func(l *slog.Logger) { l.Error("failed"); l.Log(context.Background(), slog.LevelInfo+2, "custom") },
			[]string{"ERROR failed", "INFO+2 custom"}},
		{"group", nil, func(l *slog.Logger) {
			l.Info("login", slog.Group("user", "id", 7, "name", "Ann Lee"), "after", 1)
		}, []string{`INFO login user.id=7 user.name="Ann Lee" after=1`}},
		{"nested and empty groups", nil, func(l *slog.Logger) {
			l.Info("m", slog.Group("a", slog.Group("b", "c", 1)), slog.Group("empty"), slog.Group("", "inline", 2))
		}, []string{"INFO m a.b.c=1 inline=2"}},
		{"WithAttrs and WithGroup", nil, func(l *slog.Logger) {
			l.With("svc", "api").WithGroup("req").With("id", 9).WithGroup("").Info("m", "path", "/x", slog.Group("h", "k", "v"))
		}, []string{"INFO m svc=api req.id=9 req.path=/x req.h.k=v"}},
		{"WithGroup without attributes", nil, func(l *slog.Logger) { l.WithGroup("g").Info("m") }, []string{"INFO m"}},
		{"values", nil, func(l *slog.Logger) {
			l.Info("m", "err", errors.New("disk full"), "took", 1500*time.Millisecond, "at", at,
				"tok", token("s3cret"), "list", []int{1, 2}, slog.Attr{})
		}, []string{`INFO m err="disk full" took=1.5s at=2026-11-24T00:36:25.123Z tok=REDACTED list="[1 2]"`}},
		{"level filter default", nil, func(l *slog.Logger) { l.Debug("hidden"); l.Info("shown") }, []string{"INFO shown"}},
		{"level filter debug", &slog.HandlerOptions{Level: slog.LevelDebug}, func(l *slog.Logger) { l.Debug("shown") }, []string{"DEBUG shown"}},
		{"level filter warn", &slog.HandlerOptions{Level: slog.LevelWarn}, func(l *slog.Logger) { l.Info("hidden"); l.Warn("shown") }, []string{"WARN shown"}},
		{"multi-line message and value", nil, func(l *slog.Logger) {
			l.Error("panic: boom\ngoroutine 1", "stack", "main.main()\n\tmain.go:12")
		}, []string{"ERROR panic: boom\ngoroutine 1 stack=\"main.main()\nmain.go:12\""}},
		{"ReplaceAttr", &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch {
			case a.Key == slog.LevelKey:
				return slog.String(a.Key, "LVL-"+a.Value.String())
			case a.Key == "secret":
				return slog.Attr{}
			case len(groups) > 0 && a.Key == "id":
				return slog.Int("ident", int(a.Value.Int64()))
			}
			return a
		}}, func(l *slog.Logger) { l.Info("m", "secret", "x", slog.Group("g", "id", 1), "id", 2) },
			[]string{"LVL-INFO m g.ident=1 id=2"}},
		{"AddSource", &slog.HandlerOptions{AddSource: true}, func(l *slog.Logger) { l.Info("m") },
			[]string{`^INFO m source=/.*/client/slog_test\.go:\d+$`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("slog_%d", i)
			c := dial(t, srv.DataAddr().String(), name)
			l := slog.New(client.NewHandler(c, tc.opts))
			tc.log(l)
			got := untilEnd(t, c, srv, name)
			if w := tc.want[0]; w[0] == '^' {
				if len(got) != 1 || !regexp.MustCompile(w).MatchString(got[0]) {
					t.Fatalf("got %q, want one entry matching %s", got, w)
				}
				return
			}
			equal(t, "log", got, tc.want)
		})
	}
}
