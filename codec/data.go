package codec

import "encoding/binary"

// Cmd identifies a data-port command.
type Cmd uint8

// The data-port commands. CmdBlank is a line that is empty or holds only
// spaces and tabs; CmdUnknown is any other word, including a known word with
// extra characters glued on ("LOGX", "IAMbob").
const (
	CmdBlank Cmd = iota
	CmdIAM
	CmdLOG
	CmdSET
	CmdUnknown
)

// String returns the command's upper-case word, for logs and tests.
func (c Cmd) String() string {
	switch c {
	case CmdBlank:
		return "BLANK"
	case CmdIAM:
		return "IAM"
	case CmdLOG:
		return "LOG"
	case CmdSET:
		return "SET"
	case CmdUnknown:
		return "UNKNOWN"
	}
	return "Cmd(?)"
}

// MaxNameLen is the longest client name or SET key ValidName accepts.
const MaxNameLen = 64

// nameByte marks the bytes allowed in names and keys; a table lookup keeps
// ValidName branch-light on the hot path.
var nameByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'] = true
	return t
}()

// ValidName reports whether b is 1–64 bytes of [A-Za-z0-9_], the form of
// client names and SET keys. It does not allocate and looks at no more than
// 65 bytes, however long b is.
func ValidName(b []byte) bool {
	if len(b) == 0 || len(b) > MaxNameLen {
		return false
	}
	for _, c := range b {
		if !nameByte[c] {
			return false
		}
	}
	return true
}

// ParseData parses one data-port line (terminator already removed).
//
// Leading spaces/tabs before the command word are skipped; tokens are
// separated by runs of spaces or tabs; the command word is ASCII
// case-insensitive. The results alias line and are valid as long as it is.
//
//   - CmdBlank: the line is empty or only spaces/tabs; ok is true.
//   - CmdIAM: arg1 is the rest of the line with leading and trailing
//     spaces/tabs trimmed, so "IAM bob extra" gives "bob extra"; ok reports
//     ValidName(arg1).
//   - CmdLOG: arg1 is the message: the rest of the line after the whole run
//     of spaces/tabs that follows the word, trailing spaces/tabs trimmed. It
//     may be empty ("LOG" alone). ok is true.
//   - CmdSET: arg1 is the key (next token) and arg2 the value, the rest of the
//     line after the run of spaces/tabs following the key, trailing
//     spaces/tabs trimmed. ok reports ValidName(key) and a non-empty value.
//   - CmdUnknown: arg1 is the command word as sent; ok is false.
//
// Bytes are not checked for UTF-8 validity here (see AppendValidUTF8). ParseData
// does not allocate and runs in time linear in len(line).
func ParseData(line []byte) (cmd Cmd, arg1, arg2 []byte, ok bool) {
	i := skipBlanks(line, 0)
	if i == len(line) {
		return CmdBlank, nil, nil, true
	}
	j := tokenEnd(line, i)
	word, rest := line[i:j], line[j:]
	if len(word) == 3 {
		switch {
		case is3(word, 'l', 'o', 'g'):
			return CmdLOG, trimBlanksRight(rest[skipBlanks(rest, 0):]), nil, true
		case is3(word, 's', 'e', 't'):
			k := skipBlanks(rest, 0)
			e := tokenEnd(rest, k)
			key := rest[k:e]
			val := trimBlanksRight(rest[skipBlanks(rest, e):])
			return CmdSET, key, val, len(val) > 0 && ValidName(key)
		case is3(word, 'i', 'a', 'm'):
			name := trimBlanksRight(rest[skipBlanks(rest, 0):])
			return CmdIAM, name, nil, ValidName(name)
		}
	}
	return CmdUnknown, word, nil, false
}

// LOGMessage is ParseData's fast path for the line logging clients send
// most: "LOG <message>" with the word in any case, one space after it, and a
// message that neither starts nor ends with a space or tab. For such a line
// it returns the message (aliasing line) and true, exactly what ParseData
// would return as arg1; for any other line it returns false and the caller
// uses ParseData. It does not allocate and reads only the first five and the
// last byte of line.
func LOGMessage(line []byte) (msg []byte, ok bool) {
	n := len(line)
	if n < 5 || isBlank(line[4]) || isBlank(line[n-1]) {
		return nil, false
	}
	// Or-ing 0x20 folds the three letters to lower case (see is3) and leaves
	// the fourth byte, which must be exactly a space, unmasked.
	const logSpace = 'l' | 'o'<<8 | 'g'<<16 | ' '<<24
	if binary.LittleEndian.Uint32(line)|0x00202020 != logSpace {
		return nil, false
	}
	return line[4:], true
}

// is3 compares a 3-byte word with a lower-case ASCII word, ignoring case.
// Or-ing 0x20 only folds letters onto themselves here because the targets are
// letters: for a letter c, b|0x20 == c exactly when b is c or its upper case.
func is3(w []byte, a, b, c byte) bool {
	return w[0]|0x20 == a && w[1]|0x20 == b && w[2]|0x20 == c
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func skipBlanks(b []byte, i int) int {
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return i
}

func tokenEnd(b []byte, i int) int {
	for i < len(b) && !isBlank(b[i]) {
		i++
	}
	return i
}

func trimBlanksRight(b []byte) []byte {
	n := len(b)
	for n > 0 && isBlank(b[n-1]) {
		n--
	}
	return b[:n]
}
