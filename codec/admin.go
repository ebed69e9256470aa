package codec

import (
	"errors"
	"strconv"
)

// AdminCmd identifies an admin request word.
type AdminCmd uint8

// The admin requests, in HELP order. AdminBlank is an empty (or all
// spaces/tabs) line, which callers ignore; AdminUnknown is any other word.
const (
	AdminBlank AdminCmd = iota
	AdminPING
	AdminHELP
	AdminNAMES
	AdminCLIENTS
	AdminCLIENT
	AdminLOG
	AdminSTATE
	AdminSTATS
	AdminDUMP
	AdminWATCH
	AdminFORMAT
	AdminQUIT
	AdminUnknown
)

// adminWords maps an upper-case word to its command; index order is HELP order.
var adminWords = [...]struct {
	word string
	cmd  AdminCmd
}{
	{"PING", AdminPING},
	{"HELP", AdminHELP},
	{"NAMES", AdminNAMES},
	{"CLIENTS", AdminCLIENTS},
	{"CLIENT", AdminCLIENT},
	{"LOG", AdminLOG},
	{"STATE", AdminSTATE},
	{"STATS", AdminSTATS},
	{"DUMP", AdminDUMP},
	{"WATCH", AdminWATCH},
	{"FORMAT", AdminFORMAT},
	{"QUIT", AdminQUIT},
}

// String returns the command's upper-case word ("BLANK", "UNKNOWN" for the
// two non-commands).
func (c AdminCmd) String() string {
	switch c {
	case AdminBlank:
		return "BLANK"
	case AdminUnknown:
		return "UNKNOWN"
	}
	for _, w := range adminWords {
		if w.cmd == c {
			return w.word
		}
	}
	return "AdminCmd(?)"
}

// Request is one parsed admin request.
type Request struct {
	Cmd   AdminCmd
	Word  string   // the command word as sent (for `ERR unknown command "<word>"`)
	Name  string   // CLIENT/LOG/STATE target
	N     int      // LOG count; -1 means all
	Names []string // WATCH filter (may be empty = all)
	JSON  bool     // FORMAT json (true) or text (false)
}

// AdminHelp is the list of admin commands with one-line descriptions, in HELP
// order (PING HELP NAMES CLIENTS CLIENT LOG STATE STATS DUMP WATCH FORMAT
// QUIT), one command per element, without line terminators. Treat it as
// read-only.
var AdminHelp = []string{
	"PING               - check the server answers",
	"HELP               - list the commands",
	"NAMES              - connected client names, sorted",
	"CLIENTS            - one line per connected client with its counters",
	"CLIENT <name>      - details and counters of one client",
	"LOG <name> [<n>]   - a client's newest n log entries (default all), oldest first",
	"STATE <name>       - a client's key/value state, sorted by key",
	"STATS              - server-wide counters and gauges",
	"DUMP               - every client's log and state as one JSON object",
	"WATCH [<name> ...] - stream events (READY, LOG, SET, CLOSE), only of the named clients if any",
	"FORMAT json|text   - switch this connection's reply format",
	"QUIT               - close the connection",
}

// Usage errors are shared values: they are returned on every bad request and
// their texts are the protocol.
var (
	errUsageClient = errors.New("usage: CLIENT <name>")
	errUsageState  = errors.New("usage: STATE <name>")
	errUsageLog    = errors.New("usage: LOG <name> [<n>]")
	errUsageFormat = errors.New("usage: FORMAT json|text")
)

// ParseAdmin parses one admin request line (terminator already removed). The
// returned error's text is exactly what follows "ERR " in the reply:
//
//   - unknown word: `unknown command "<word>"`, the word as sent except that
//     invalid UTF-8 is replaced by U+FFFD so the reply stays valid UTF-8
//     (Request.Word keeps the raw bytes)
//   - CLIENT/STATE without exactly one name: `usage: CLIENT <name>` /
//     `usage: STATE <name>`
//   - LOG without a name, with more than two arguments, or with an n that is
//     not a non-negative decimal integer fitting in an int:
//     `usage: LOG <name> [<n>]`
//   - FORMAT with anything but one argument json or text (case-insensitive):
//     `usage: FORMAT json|text`
//   - PING/HELP/NAMES/CLIENTS/STATS/DUMP/QUIT with arguments: `usage: <WORD>`
//
// WATCH takes zero or more names. Names are only tokens here; an invalid name
// is simply "no such client" later. Command words are ASCII case-insensitive
// and tokens are separated by runs of spaces/tabs. Request.Cmd and Word are
// set even when an error is returned; N is -1 unless LOG gave a count.
//
// It allocates (a few strings per request); callers bound the line length
// (the spec's 4096 bytes) so the work per request is bounded.
func ParseAdmin(line []byte) (Request, error) {
	req := Request{N: -1}
	fields := splitBlanks(line)
	if len(fields) == 0 {
		req.Cmd = AdminBlank
		return req, nil
	}
	word, args := fields[0], fields[1:]
	req.Word = string(word)
	req.Cmd = AdminUnknown
	for _, w := range adminWords {
		if asciiEqualFold(word, w.word) {
			req.Cmd = w.cmd
			break
		}
	}
	switch req.Cmd {
	case AdminUnknown:
		return req, errors.New(`unknown command "` + string(AppendValidUTF8(nil, word)) + `"`)
	case AdminCLIENT, AdminSTATE:
		if len(args) != 1 {
			if req.Cmd == AdminCLIENT {
				return req, errUsageClient
			}
			return req, errUsageState
		}
		req.Name = string(args[0])
	case AdminLOG:
		if len(args) < 1 || len(args) > 2 {
			return req, errUsageLog
		}
		req.Name = string(args[0])
		if len(args) == 2 {
			n, ok := parseCount(args[1])
			if !ok {
				return req, errUsageLog
			}
			req.N = n
		}
	case AdminFORMAT:
		if len(args) != 1 {
			return req, errUsageFormat
		}
		switch a := args[0]; {
		case asciiEqualFold(a, "json"):
			req.JSON = true
		case asciiEqualFold(a, "text"):
			req.JSON = false
		default:
			return req, errUsageFormat
		}
	case AdminWATCH:
		if len(args) > 0 {
			req.Names = make([]string, len(args))
			for i, a := range args {
				req.Names[i] = string(a)
			}
		}
	default:
		if len(args) != 0 {
			return req, errors.New("usage: " + req.Cmd.String())
		}
	}
	return req, nil
}

// parseCount accepts only plain decimal digits: strconv.Atoi alone would also
// take "+5" and "-0", which the usage line does not promise.
func parseCount(b []byte) (int, bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(string(b))
	return n, err == nil
}

// splitBlanks splits on runs of spaces and tabs only; bytes.Fields would also
// split on other Unicode spaces, which the protocol treats as name bytes.
func splitBlanks(b []byte) [][]byte {
	var out [][]byte
	for i := skipBlanks(b, 0); i < len(b); i = skipBlanks(b, i) {
		j := tokenEnd(b, i)
		out = append(out, b[i:j])
		i = j
	}
	return out
}

// asciiEqualFold compares b with the upper- or lower-case ASCII word w,
// ignoring ASCII case only: strings.EqualFold would also let Unicode folds
// such as U+017F (long s) or U+212A (Kelvin sign) spell a command word.
func asciiEqualFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], w[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// httpMethods are the request methods that mark a line as HTTP.
var httpMethods = []string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

// LooksLikeHTTP reports whether an admin line is an HTTP request line
// ("GET / HTTP/1.1") or header ("Host: …"). A browser or a forged
// cross-site request can reach a loopback admin port; like Redis, the
// server closes such a connection at once instead of answering it line by
// line.
func LooksLikeHTTP(line []byte) bool {
	fields := splitBlanks(line)
	if len(fields) == 0 {
		return false
	}
	if len(fields[0]) >= 5 && asciiEqualFold(fields[0][:5], "host:") {
		return true
	}
	if len(fields) != 3 || len(fields[2]) < 5 || !asciiEqualFold(fields[2][:5], "http/") {
		return false
	}
	for _, m := range httpMethods {
		if asciiEqualFold(fields[0], m) {
			return true
		}
	}
	return false
}
