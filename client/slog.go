package client

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Handler is a log/slog Handler that logs each record as one entry, on one
// readable line:
//
//	LEVEL message key=value group.key=value key2="value with spaces"
//
// for example `INFO request done method=GET status=200 user.id=7`. The
// time is left out: the server stamps each entry when it arrives. A value
// is quoted when it is empty or has a space, tab, '"', '=' or line break;
// inside quotes only '"' and '\' are escaped. Line breaks in the message
// or a value are kept, so a multi-line message or value (a stack trace) is
// one entry of several lines (LOG + CONT). Groups prefix their keys
// (`group.key`); an empty group is left out and a group with an empty key
// is inlined. Times are RFC 3339 with milliseconds, durations as
// time.Duration prints them, errors by their Error text, other values as
// fmt's %+v. HandlerOptions.Level filters (default Info), AddSource adds
// `source=file:line`, and ReplaceAttr applies to the level, message,
// source and every attribute, as slog's own handlers do (the time is never
// rendered, so it is not passed).
type Handler struct {
	c      *Client
	opts   slog.HandlerOptions
	attrs  string   // attributes from WithAttrs, rendered, each with a leading space
	prefix string   // the open groups as a key prefix: "g1.g2."
	groups []string // the open groups, for ReplaceAttr
}

// NewHandler returns a Handler that logs to c. opts may be nil.
func NewHandler(c *Client, opts *slog.HandlerOptions) *Handler {
	h := &Handler{c: c}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled reports whether level is at least HandlerOptions.Level (default Info).
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return level >= min
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Handle renders r and queues it with Log; it never blocks on the network.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = h.appendBuiltin(b, slog.Any(slog.LevelKey, r.Level), r.Level.String())
	b = h.appendBuiltin(b, slog.String(slog.MessageKey, r.Message), r.Message)
	if h.opts.AddSource && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		b = h.appendAttr(b, "", nil, slog.String(slog.SourceKey, f.File+":"+strconv.Itoa(f.Line)))
	}
	b = append(b, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		b = h.appendAttr(b, h.prefix, h.groups, a)
		return true
	})
	h.c.Log(string(b))
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
	return nil
}

// appendBuiltin appends the level or the message, bare: text, or what
// ReplaceAttr made of it.
func (h *Handler) appendBuiltin(b []byte, a slog.Attr, text string) []byte {
	if h.opts.ReplaceAttr != nil {
		a = h.opts.ReplaceAttr(nil, a)
		if a.Key == "" {
			return b
		}
		text = valueText(a.Value.Resolve())
	}
	if text == "" {
		return b
	}
	if len(b) > 0 {
		b = append(b, ' ')
	}
	return append(b, text...)
}

// WithAttrs returns a Handler whose entries carry attrs after the message.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	var b []byte
	for _, a := range attrs {
		b = h.appendAttr(b, h.prefix, h.groups, a)
	}
	h2.attrs = h.attrs + string(b)
	return &h2
}

// WithGroup returns a Handler that puts later attributes in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	h2.groups = append(h.groups[:len(h.groups):len(h.groups)], name)
	return &h2
}

// appendAttr appends " key=value", or the group's attributes.
func (h *Handler) appendAttr(b []byte, prefix string, groups []string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if h.opts.ReplaceAttr != nil && a.Value.Kind() != slog.KindGroup {
		a = h.opts.ReplaceAttr(groups, a)
		a.Value = a.Value.Resolve()
	}
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		sub := a.Value.Group()
		if a.Key != "" {
			prefix += a.Key + "."
			groups = append(groups[:len(groups):len(groups)], a.Key)
		}
		for _, s := range sub {
			b = h.appendAttr(b, prefix, groups, s)
		}
		return b
	}
	b = append(b, ' ')
	b = appendMaybeQuoted(b, prefix+a.Key)
	b = append(b, '=')
	return appendMaybeQuoted(b, valueText(a.Value))
}

// valueText renders a resolved, non-group value.
func valueText(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindTime:
		return v.Time().Format("2006-01-02T15:04:05.000Z07:00")
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case encoding.TextMarshaler:
			if t, err := x.MarshalText(); err == nil {
				return string(t)
			}
		}
		return fmt.Sprintf("%+v", v.Any())
	}
	return v.String() // numbers and bools as strconv formats them
}

func needsQuote(s string) bool {
	return s == "" || strings.ContainsAny(s, " \t\"=\n\r")
}

// appendMaybeQuoted appends s, in double quotes with '"' and '\' escaped
// when needsQuote; line breaks stay, so a multi-line value is multi-line.
func appendMaybeQuoted(b []byte, s string) []byte {
	if !needsQuote(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
