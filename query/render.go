package query

import (
	"io"
	"slices"
	"strconv"
)

// Each Append function appends one whole reply, terminator included, in the
// given format: in text "OK <n>\n" and n data lines, in JSON exactly one line.
// None of them bounds its output: the caller bounds what it copies into a
// snapshot (the store's own caps bound every snapshot).

// AppendError appends an error reply. reason is what follows "ERR ".
func AppendError(dst []byte, f Format, reason string) []byte {
	if f == JSON {
		dst = append(dst, `{"error":`...)
		dst = AppendJSONString(dst, reason)
		return append(dst, "}\n"...)
	}
	dst = append(dst, "ERR "...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}

func appendOK(dst []byte, n int) []byte {
	dst = append(dst, "OK "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// AppendDone appends the reply to FORMAT and QUIT: "OK 0" or {"ok":true}.
func AppendDone(dst []byte, f Format) []byte {
	if f == JSON {
		return append(dst, "{\"ok\":true}\n"...)
	}
	return appendOK(dst, 0)
}

// AppendStreamStart appends the reply that opens a WATCH stream.
func AppendStreamStart(dst []byte, f Format) []byte {
	if f == JSON {
		return append(dst, "{\"stream\":true}\n"...)
	}
	return append(dst, "OK stream\n"...)
}

// AppendPong appends the reply to PING.
func AppendPong(dst []byte, f Format) []byte {
	if f == JSON {
		return append(dst, "\"PONG\"\n"...)
	}
	return append(appendOK(dst, 1), "PONG\n"...)
}

// AppendStrings appends a list of lines (NAMES, HELP): one per data line in
// text, a JSON array of strings in JSON.
func AppendStrings(dst []byte, f Format, lines []string) []byte {
	if f == JSON {
		dst = append(dst, '[')
		for i, s := range lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, s)
		}
		return append(dst, "]\n"...)
	}
	dst = appendOK(dst, len(lines))
	for _, s := range lines {
		dst = append(dst, s...)
		dst = append(dst, '\n')
	}
	return dst
}

// AppendClients appends the reply to CLIENTS; cs must be sorted by name.
func AppendClients(dst []byte, f Format, cs []ClientInfo) []byte {
	if f == JSON {
		dst = slices.Grow(dst, len(cs)*200)
		dst = append(dst, '[')
		for i := range cs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendClientJSON(dst, &cs[i])
		}
		return append(dst, "]\n"...)
	}
	dst = slices.Grow(dst, len(cs)*160) // a typical line, so the reply is not copied while it grows
	dst = appendOK(dst, len(cs))
	var clock Clock // clients that connected together share the text of their millisecond
	for i := range cs {
		c := &cs[i]
		dst = append(dst, c.Name...)
		dst = append(dst, " connected_at="...)
		dst = clock.Append(dst, c.ConnectedAt)
		dst = append(dst, " addr="...)
		dst = append(dst, textValue(c.Addr)...)
		dst = append(dst, " entries="...)
		dst = strconv.AppendInt(dst, int64(c.Entries), 10)
		dst = append(dst, " keys="...)
		dst = strconv.AppendInt(dst, int64(c.Keys), 10)
		dst = append(dst, " lines="...)
		dst = strconv.AppendUint(dst, c.Lines, 10)
		dst = append(dst, " bytes="...)
		dst = strconv.AppendUint(dst, c.Bytes, 10)
		dst = append(dst, " errors="...)
		dst = strconv.AppendUint(dst, c.Errors, 10)
		dst = append(dst, '\n')
	}
	return dst
}

// AppendClient appends the reply to CLIENT <name>.
func AppendClient(dst []byte, f Format, c *ClientInfo) []byte {
	if f == JSON {
		return append(appendClientJSON(dst, c), '\n')
	}
	dst = appendOK(dst, 10)
	kv := func(k, v string) {
		dst = append(dst, k...)
		dst = append(dst, ' ')
		dst = append(dst, textValue(v)...)
		dst = append(dst, '\n')
	}
	kv("name", c.Name)
	kv("connected_at", string(AppendTime(nil, c.ConnectedAt)))
	kv("addr", c.Addr)
	kv("entries", strconv.Itoa(c.Entries))
	kv("keys", strconv.Itoa(c.Keys))
	kv("lines", strconv.FormatUint(c.Lines, 10))
	kv("bytes", strconv.FormatUint(c.Bytes, 10))
	kv("truncated", strconv.FormatUint(c.Truncated, 10))
	kv("errors", strconv.FormatUint(c.Errors, 10))
	kv("last_error", c.LastError)
	return dst
}

// AppendClientJSON appends c as the JSON object of CLIENT, with no newline.
func appendClientJSON(dst []byte, c *ClientInfo) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendJSONString(dst, c.Name)
	dst = append(dst, `,"connectedAt":`...)
	dst = strconv.AppendInt(dst, c.ConnectedAt, 10)
	dst = append(dst, `,"addr":`...)
	dst = AppendJSONString(dst, c.Addr)
	dst = append(dst, `,"entries":`...)
	dst = strconv.AppendInt(dst, int64(c.Entries), 10)
	dst = append(dst, `,"keys":`...)
	dst = strconv.AppendInt(dst, int64(c.Keys), 10)
	dst = append(dst, `,"lines":`...)
	dst = strconv.AppendUint(dst, c.Lines, 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendUint(dst, c.Bytes, 10)
	dst = append(dst, `,"truncated":`...)
	dst = strconv.AppendUint(dst, c.Truncated, 10)
	dst = append(dst, `,"errors":`...)
	dst = strconv.AppendUint(dst, c.Errors, 10)
	dst = append(dst, `,"lastError":`...)
	dst = AppendJSONString(dst, c.LastError)
	return append(dst, '}')
}

// AppendLog appends the reply to LOG <name> [<n>].
func AppendLog(dst []byte, f Format, l *Log) []byte {
	if f == JSON {
		return append(appendLogJSON(dst, l), '\n')
	}
	dst = appendOK(dst, l.Len())
	for i := 0; i < l.Len(); i++ {
		ts, msg := l.At(i)
		dst = AppendTime(dst, ts)
		dst = append(dst, ' ')
		dst = append(dst, msg...)
		dst = append(dst, '\n')
	}
	return dst
}

func appendLogJSON(dst []byte, l *Log) []byte {
	dst = append(dst, '[')
	for i := 0; i < l.Len(); i++ {
		ts, msg := l.At(i)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, ',')
		dst = AppendJSONString(dst, msg)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// AppendState appends the reply to STATE <name>; kvs must be sorted by key.
func AppendState(dst []byte, f Format, kvs []KV) []byte {
	if f == JSON {
		return append(appendStateJSON(dst, kvs), '\n')
	}
	dst = appendOK(dst, len(kvs))
	for _, kv := range kvs {
		dst = append(dst, kv.Key...)
		dst = append(dst, ' ')
		dst = append(dst, kv.Value...)
		dst = append(dst, '\n')
	}
	return dst
}

func appendStateJSON(dst []byte, kvs []KV) []byte {
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, kv.Key)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, kv.Value)
	}
	return append(dst, '}')
}

// AppendStats appends the reply to STATS.
func AppendStats(dst []byte, f Format, s *Stats) []byte {
	fields := s.Fields()
	if f == JSON {
		dst = append(dst, '{')
		for i, fl := range fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, fl.Name)
			dst = append(dst, ':')
			if fl.Numeric {
				dst = append(dst, fl.Value...)
			} else {
				dst = AppendJSONString(dst, fl.Value)
			}
		}
		return append(dst, "}\n"...)
	}
	dst = appendOK(dst, len(fields))
	for _, fl := range fields {
		dst = append(dst, fl.Name...)
		dst = append(dst, ' ')
		dst = append(dst, textValue(fl.Value)...)
		dst = append(dst, '\n')
	}
	return dst
}

// WriteDump writes the reply to DUMP (in text "OK 1" and one line of JSON;
// in JSON the line alone) to w, one client at a time, so that a dump of
// every client is never held whole in memory as text. ds must be sorted by
// name.
func WriteDump(w io.Writer, f Format, ds []Dump) error {
	const flushAt = 64 << 10
	buf := make([]byte, 0, flushAt+4096)
	if f == Text {
		buf = appendOK(buf, 1)
	}
	buf = append(buf, '{')
	for i := range ds {
		d := &ds[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONString(buf, d.Name)
		buf = append(buf, `:{"connectedAt":`...)
		buf = strconv.AppendInt(buf, d.ConnectedAt, 10)
		buf = append(buf, `,"log":`...)
		buf = appendLogJSON(buf, &d.Log)
		buf = append(buf, `,"state":`...)
		buf = appendStateJSON(buf, d.State)
		buf = append(buf, '}')
		if len(buf) >= flushAt {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, "}\n"...)
	_, err := w.Write(buf)
	return err
}
