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
	CmdCONT
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
	case CmdCONT:
		return "CONT"
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
	for _, c := range "_.:-" {
		t[c] = true
	}
	return t
}()

// ValidName reports whether b is 1–64 bytes of [A-Za-z0-9_.:-], the form of
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
//   - CmdIAM: arg1 is the name, the first token after the word (empty when
//     there is none), and arg2 the rest of the line after the run of
//     spaces/tabs following the name, trailing spaces/tabs trimmed: the
//     token, or nil when the line has no more than a name. ok reports
//     ValidName(arg1) and that arg2 is at most one token. So cmd == CmdIAM
//     with ok false is an IAM line whose name is missing or breaks the rule,
//     or that has more than a name and a token ("IAM bob tok extra"): callers
//     answer it with "invalid name", and anything that is not CmdIAM (before
//     identification) with "expected IAM <name>".
//   - CmdLOG: arg1 is the message: the rest of the line after the whole run
//     of spaces/tabs that follows the word, trailing spaces/tabs trimmed. It
//     may be empty ("LOG" alone). ok is true.
//   - CmdCONT: arg1 is the text to append to the newest entry, trimmed
//     exactly as LOG's message; it may be empty. ok is true.
//   - CmdSET: arg1 is the key (next token) and arg2 the value, the rest of the
//     line after the run of spaces/tabs following the key, trailing
//     spaces/tabs trimmed. ok reports ValidName(key) and a non-empty value;
//     callers count ok false as a malformed SET.
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
	switch len(word) {
	case 3:
		switch {
		case is3(word, 'l', 'o', 'g'):
			return CmdLOG, restText(rest), nil, true
		case is3(word, 's', 'e', 't'):
			key, val := firstAndRest(rest)
			return CmdSET, key, val, len(val) > 0 && ValidName(key)
		case is3(word, 'i', 'a', 'm'):
			name, token := firstAndRest(rest)
			if len(token) == 0 {
				token = nil
			}
			return CmdIAM, name, token, ValidName(name) && tokenEnd(token, 0) == len(token)
		}
	case 4:
		if is3(word, 'c', 'o', 'n') && word[3]|0x20 == 't' {
			return CmdCONT, restText(rest), nil, true
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

// restText is the text argument of LOG and CONT: rest (what follows the
// command word) after its leading run of spaces/tabs, trailing ones trimmed.
func restText(rest []byte) []byte {
	return trimBlanksRight(rest[skipBlanks(rest, 0):])
}

// firstAndRest splits what follows a command word into its first token and
// the text after the run of spaces/tabs that follows that token, trailing
// spaces/tabs trimmed (SET's key and value, IAM's name and token).
func firstAndRest(rest []byte) (first, tail []byte) {
	k := skipBlanks(rest, 0)
	e := tokenEnd(rest, k)
	return rest[k:e], trimBlanksRight(rest[skipBlanks(rest, e):])
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
