package query

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// textSpecial marks the bytes AppendEscaped must look at: C0 controls but
// tab, backslash, DEL, and every byte >= 0x80 (which may start a C1 control
// or be invalid UTF-8). Everything else is copied as is.
var textSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = (c < 0x20 && c != '\t') || c == '\\' || c >= 0x7f
	}
	return t
}()

// AppendEscaped appends s for a text reply, so that it shows as one line and
// cannot drive the operator's terminal (SPEC §2):
//
//   - newline is written `\n`, carriage return `\r`; tab passes;
//   - every other C0 control (U+0000–U+001F) and DEL is written `\xHH`
//     (two lowercase hex digits), so ESC [31m becomes `\x1b[31m`;
//   - a C1 control (U+0080–U+009F, the bytes C2 80–C2 9F) is written
//     `\u00HH`, one escape per code point;
//   - a byte that is not part of valid UTF-8 is written `\xHH` (the store
//     repairs invalid UTF-8, so this is a last line of defence: a raw 0x9b is
//     CSI to an 8-bit terminal);
//   - a backslash is written `\\`, so the output is unambiguous: every `\` in
//     it starts one of the escapes above, and a message that contains the
//     text `\n` prints as `\\n`, not as an escaped newline.
//
// All other text, multi-byte UTF-8 included, is copied unchanged. When
// nothing needs escaping, which is the common case, it costs one scan and
// one copy and never allocates beyond growing dst.
func AppendEscaped[T string | []byte](dst []byte, s T) []byte {
	i := cleanPrefix(s, false)
	if i == len(s) {
		return append(dst, s...)
	}
	return appendEscapesFrom(dst, s, i, false)
}

// cleanPrefix is the length of the prefix of s that needs no escape, for
// AppendEscaped (json false) or AppendJSONString (json true). It looks at
// eight bytes at a time while none of them needs a closer look (a tab makes
// its word take the byte loop, which lets it pass in text).
func cleanPrefix[T string | []byte](s T, json bool) int {
	special := &textSpecial
	if json {
		special = &jsonSpecial
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		_ = s[i+7]
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if wordSpecial(w, json) {
			break
		}
	}
	for i < len(s) && !special[s[i]] {
		i++
	}
	return i
}

// SWAR constants: a byte of ones, a byte's high bit, in every byte.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// wordSpecial reports whether one of the eight bytes of w is below 0x20,
// a backslash, DEL or above it, or (json) a double quote: a superset of
// textSpecial and jsonSpecial. hasZero(x) = (x - lsb) &^ x & msb is exact
// about whether some byte of x is 0.
func wordSpecial(w uint64, json bool) bool {
	m := (w - 0x20*lsb) &^ w // a byte < 0x20 (or >= 0x80, caught below anyway)
	bs := w ^ '\\'*lsb
	del := w ^ 0x7f*lsb
	m |= (bs-lsb)&^bs | (del-lsb)&^del | w
	if json {
		q := w ^ '"'*lsb
		m |= (q - lsb) &^ q
	}
	return m&msb != 0
}

// appendEscapesFrom writes the escapes of AppendEscaped (json false) or
// AppendJSONString (json true) for s, whose prefix s[:i] needs none. The two
// differ only in the ASCII escapes and in how an invalid byte is written.
func appendEscapesFrom[T string | []byte](dst []byte, s T, i int, json bool) []byte {
	special := &textSpecial
	if json {
		special = &jsonSpecial
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if !special[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf && c != 0x7f {
			var r rune
			var size int
			if c >= 0xc2 && c <= 0xdf && i+1 < len(s) && s[i+1]&0xc0 == 0x80 {
				// Two bytes (Latin, Greek, Cyrillic, ..., and C1), decoded here.
				r, size = rune(c&0x1f)<<6|rune(s[i+1]&0x3f), 2
			} else {
				r, size = utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			}
			switch {
			case r == utf8.RuneError && size == 1 && json:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			case r <= 0x9f: // C1 control
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\\' || c == '"':
			dst = append(dst, '\\', c)
		case c == '\t':
			dst = append(dst, '\\', 't')
		case json:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// AppendToken appends s escaped as AppendEscaped does, as one token of a
// `key=value` text line (the CLIENTS line's close_reason, node): bare when
// it is not empty and holds no space, tab or double quote, else between
// double quotes with `"` written `\"`. This is the quoting admin requests
// accept (SPEC "Version 2 additions"), so `close_reason="error: line too
// long"` splits on spaces like every other field. After unquoting, the
// value still carries the text escapes of AppendEscaped.
func AppendToken[T string | []byte](dst []byte, s T) []byte {
	quote := len(s) == 0
	for i := 0; i < len(s) && !quote; i++ {
		quote = s[i] == ' ' || s[i] == '\t' || s[i] == '"'
	}
	if !quote {
		return AppendEscaped(dst, s)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = AppendEscaped(dst, s[start:i])
			dst = append(dst, '\\', '"')
			start = i + 1
		}
	}
	dst = AppendEscaped(dst, s[start:])
	return append(dst, '"')
}

// jsonSpecial marks the bytes AppendJSONString must look at: what JSON
// requires escaping (C0 controls, '"', '\\'), DEL, and every byte >= 0x80.
var jsonSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7f
	}
	return t
}()

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as in encoding/json, so a reply is valid JSON whatever reached the store.
// DEL and C1 controls (U+0080–U+009F), which JSON allows raw, are written
// as \u escapes: the decoded text is exactly s, and a JSON reply read on a
// terminal (FORMAT json over netcat, DUMP in text mode) cannot drive it.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	i := cleanPrefix(s, true)
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return append(appendEscapesFrom(dst, s, i, true), '"')
}
