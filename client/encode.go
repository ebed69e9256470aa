package client

import (
	"strings"
	"unicode/utf8"
)

// nextLine splits s at its first '\n' into the line (with one '\r' just
// before the '\n' removed, so "\r\n" is a line break like "\n"), the rest,
// and whether a further line follows. A final '\n' does not start a further,
// empty line: "a\n" is the one line "a".
func nextLine(s string) (line, rest string, more bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, "", false
	}
	line, rest = s[:i], s[i+1:]
	line = strings.TrimSuffix(line, "\r")
	return line, rest, rest != ""
}

// appendText appends text and a line terminator. The server drops one '\r'
// just before the '\n', so a text that itself ends in '\r' is terminated by
// "\r\n": the server drops the added '\r' and stores the text's own.
func appendText(b []byte, text string) []byte {
	b = append(b, text...)
	if strings.HasSuffix(text, "\r") {
		b = append(b, '\r')
	}
	return append(b, '\n')
}

// appendItem appends the protocol lines for it: an entry is LOG and its
// first line, then CONT and each further line; a continuation is CONT for
// every line; a SET is one line. A '\n' in a text always ends a protocol
// line, so no text can inject a command. Each line of an entry is cut so
// that the protocol line fits in maxLine bytes, as the server would
// truncate it (Set refuses a SET that does not fit).
func appendItem(b []byte, it *item, maxLine int) []byte {
	word := "LOG "
	switch it.kind {
	case itemSet:
		b = append(b, "SET "...)
		b = append(b, it.key...)
		b = append(b, ' ')
		return appendText(b, it.text)
	case itemCont:
		word = "CONT "
	}
	text := it.text
	for {
		line, rest, more := nextLine(text)
		b = append(b, word...)
		b = appendText(b, cut(line, maxLine-len(word)))
		if !more {
			return b
		}
		text, word = rest, "CONT "
	}
}

// cut returns s cut to at most n bytes. When the cut would split a valid
// UTF-8 sequence, it is made before that sequence instead.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	j := n // the start of the sequence that holds byte n
	for j > 0 && j > n-utf8.UTFMax+1 && !utf8.RuneStart(s[j]) {
		j--
	}
	if j < n {
		if r, size := utf8.DecodeRuneInString(s[j:]); r != utf8.RuneError && j+size > n {
			return s[:j]
		}
	}
	return s[:n]
}
