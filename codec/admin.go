package codec

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// AdminCmd identifies an admin request word.
type AdminCmd uint8

// The admin requests, in HELP order. AdminBlank is an empty (or all
// spaces/tabs) line, which callers ignore; AdminUnknown is any other word.
// AdminCLUSTER is a Request's Cmd only when ParseAdmin rejects the request
// (a valid CLUSTER request carries its inner command, see Request.Cluster).
const (
	AdminBlank AdminCmd = iota
	AdminPING
	AdminHELP
	AdminAUTH
	AdminNAMES
	AdminCLIENTS
	AdminCLIENT
	AdminLOG
	AdminGREP
	AdminSTATE
	AdminSTATS
	AdminDUMP
	AdminWATCH
	AdminFORGET
	AdminCLUSTER
	AdminFORMAT
	AdminQUIT
	AdminUnknown
)

// adminSpec describes one admin command: its upper-case word, its syntax
// (the text of its usage error and the start of its HELP line), the rest of
// its HELP line, the option keys it takes, and whether CLUSTER runs it.
type adminSpec struct {
	word    string
	syntax  string
	help    string
	opts    []string
	cluster bool
}

// adminWords lists the commands in HELP order, which is AdminCmd order:
// adminWords[i] describes AdminCmd(i+1).
var adminWords = [...]adminSpec{
	{word: "PING", syntax: "PING", help: "check the server answers"},
	{word: "HELP", syntax: "HELP", help: `list the commands; <t>: RFC 3339, Unix ms or an age (10m); <glob>: * and ?; <regex>: Go RE2; "..." quotes a token`},
	{word: "AUTH", syntax: "AUTH <token>", help: "authenticate this connection, when the server requires it"},
	{word: "NAMES", syntax: "NAMES", help: "connected client names, sorted", cluster: true},
	{word: "CLIENTS", syntax: "CLIENTS [<glob>] [limit=<n>] [after=<name>] [closed=1|all=1]", help: "connected clients (closed=1: closed ones, all=1: both) whose name matches, sorted, with counters", opts: []string{"limit", "after", "closed", "all"}, cluster: true},
	{word: "CLIENT", syntax: "CLIENT <name>", help: "details and counters of one client", cluster: true},
	{word: "LOG", syntax: "LOG <name> [<n>] [since=<t>] [until=<t>] [match=<regex>]", help: "a client's newest n entries (default all) in the window that match, oldest first", opts: []string{"since", "until", "match"}, cluster: true},
	{word: "GREP", syntax: "GREP <regex> [clients=<glob>] [since=<t>] [until=<t>] [limit=<n>]", help: "every client's matching entries in time order, the newest limit (default 1000, max 100000)", opts: []string{"clients", "since", "until", "limit"}, cluster: true},
	{word: "STATE", syntax: "STATE <name>", help: "a client's key/value state, sorted by key", cluster: true},
	{word: "STATS", syntax: "STATS", help: "server-wide counters and gauges", cluster: true},
	{word: "DUMP", syntax: "DUMP", help: "every client's log and state as one JSON object"},
	{word: "WATCH", syntax: "WATCH [<glob> ...] [match=<regex>] [backlog=<n>]", help: "stream events (READY LOG CONT SET CLOSE) of matching clients; match= filters LOG; backlog= sends n stored entries first", opts: []string{"match", "backlog"}, cluster: true},
	{word: "FORGET", syntax: "FORGET <name>", help: "remove a closed client now"},
	{word: "CLUSTER", syntax: "CLUSTER NAMES|CLIENTS|CLIENT|LOG|STATE|GREP|STATS|WATCH ...", help: "run the request on every node, answers merged"},
	{word: "FORMAT", syntax: "FORMAT json|text", help: "switch this connection's reply format"},
	{word: "QUIT", syntax: "QUIT", help: "close the connection"},
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
	if w := adminWord(c); w != nil {
		return w.word
	}
	return "AdminCmd(?)"
}

// adminWord is c's row of adminWords, nil for the non-commands.
func adminWord(c AdminCmd) *adminSpec {
	if c > AdminBlank && c < AdminUnknown {
		return &adminWords[c-1]
	}
	return nil
}

// Limits of GREP's limit= option.
const (
	GrepDefaultLimit = 1000
	GrepMaxLimit     = 100000
)

// Request is one parsed admin request. Fields a command does not take keep
// their zero value, except N (-1) and Limit (see below).
type Request struct {
	Cmd  AdminCmd
	Word string // the command word as sent (for `ERR unknown command "<word>"`)

	// Cluster is set for "CLUSTER <request>": Cmd and the fields below
	// describe the inner request, to be run on every node; Inner is its text
	// (the line after the CLUSTER word, blanks trimmed) for forwarding.
	Cluster bool
	Inner   string

	Name  string   // CLIENT/LOG/STATE/FORGET target
	Token string   // AUTH token
	N     int      // LOG count; -1 means all
	Names []string // WATCH globs (nil = every client)
	JSON  bool     // FORMAT json (true) or text (false)

	// Match is the compiled regex of LOG/WATCH match= and of GREP's
	// pattern; nil means everything matches (no option, or an empty regex).
	Match *regexp.Regexp
	// Since and Until bound LOG and GREP entries (since <= ts <= until);
	// unset means unbounded. Resolve them with Window when the query runs.
	Since, Until Time
	// Glob is CLIENTS's [<glob>] or GREP's clients=; "" means every client.
	Glob string
	// Limit is GREP's limit= (default GrepDefaultLimit, 0 to GrepMaxLimit;
	// 0 selects nothing) or CLIENTS's limit= (default -1, no limit; 0
	// selects nothing).
	Limit   int
	After   string // CLIENTS after=: list only names sorting after it
	Closed  bool   // CLIENTS closed=1: closed clients only
	All     bool   // CLIENTS all=1: connected and closed clients
	Backlog int    // WATCH backlog=: stored entries to send first, per client
}

// AdminHelp is the list of admin commands with one-line descriptions, in HELP
// order (PING HELP AUTH NAMES CLIENTS CLIENT LOG GREP STATE STATS DUMP WATCH
// FORGET CLUSTER FORMAT QUIT), one command per element, each "<syntax> -
// <description>", without line terminators. Treat it as read-only.
var AdminHelp = func() []string {
	out := make([]string, len(adminWords))
	for i, w := range adminWords {
		out[i] = w.syntax + " - " + w.help
	}
	return out
}()

// Usage errors are shared values: they are returned on every bad request and
// their texts are the protocol. usageErr[c] is "usage: " and c's syntax.
var (
	usageErr = func() (e [AdminUnknown]error) {
		for i, w := range adminWords {
			e[i+1] = errors.New("usage: " + w.syntax)
		}
		return e
	}()
	// errUsageLog is LOG's error for a bad <name> [<n>] part: the short
	// syntax, as it was before LOG took options.
	errUsageLog = errors.New("usage: LOG <name> [<n>]")
)

// UsageError is the admin protocol's `usage: <syntax>` error of cmd.
func UsageError(cmd AdminCmd) error { return usageErr[cmd] }

// ParseAdmin parses one admin request line (terminator already removed). The
// returned error's text is exactly what follows "ERR " in the reply:
//
//   - unknown word: `unknown command "<word>"`, the word as sent except that
//     invalid UTF-8 is replaced by U+FFFD so the reply stays valid UTF-8
//     (Request.Word keeps the raw bytes)
//   - LOG without a name, with more than two arguments, or with an n that is
//     not a non-negative decimal integer fitting in an int:
//     `usage: LOG <name> [<n>]`
//   - CLUSTER without a request, or with one it cannot run cluster-wide:
//     `usage: CLUSTER NAMES|CLIENTS|CLIENT|LOG|STATE|GREP|STATS|WATCH ...`
//   - a bad regex (GREP's pattern, match=): `usage: bad regex: <reason>`
//   - a bad since=/until=: `usage: bad time "<t>": use RFC 3339, Unix epoch
//     ms or a duration ago (90s, 10m, 2h)`
//   - any other wrong request: `usage: ` and the command's syntax (the HELP
//     line's first part), e.g. `usage: CLIENT <name>`, `usage: PING`,
//     `usage: FORMAT json|text`. That covers a wrong number of arguments,
//     an unknown or repeated option, a bad number (limit= over GrepMaxLimit
//     for GREP), a flag other than 1, 0, true or false, closed=1 with
//     all=1, and an
//     unterminated quote.
//
// The command word is a plain token, ASCII case-insensitive. The tokens
// after it are separated by runs of spaces/tabs, and any part of a token may
// be double-quoted, with `\"` and `\\` the only escapes (a backslash before
// any other byte stays, so `"\d+ ms"` is the regex \d+ ms). Options are
// key=value tokens whose key (ASCII letters, case-insensitive) is written
// unquoted; the value may be quoted (match="connection refused"); options
// may come in any order, before or after positional arguments. A token whose
// '=' is quoted is positional (GREP "user=bob"). Commands that take no
// options (AUTH, CLIENT, STATE, FORGET, FORMAT) read every token as
// positional, so a token may contain '='.
//
// Names and globs are only tokens here: an invalid name is simply "no such
// client" later. Regexes are compiled here, once per request (see
// CompileRegex); times are kept unresolved (see Window). Request.Cmd and
// Word are set even when an error is returned.
//
// It allocates (a few strings per request, the compiled regex); callers
// bound the line length (the spec's 4096 bytes) so the work per request is
// bounded.
func ParseAdmin(line []byte) (Request, error) {
	req := Request{N: -1}
	i := skipBlanks(line, 0)
	if i == len(line) {
		req.Cmd = AdminBlank
		return req, nil
	}
	j := tokenEnd(line, i)
	word, rest := line[i:j], line[j:]
	req.Word = string(word)
	req.Cmd = lookupAdmin(word)
	switch req.Cmd {
	case AdminUnknown:
		return req, errors.New(`unknown command "` + string(AppendValidUTF8(nil, word)) + `"`)
	case AdminCLUSTER:
		k := skipBlanks(rest, 0)
		e := tokenEnd(rest, k)
		inner := lookupAdmin(rest[k:e])
		if w := adminWord(inner); w == nil || !w.cluster {
			return req, usageErr[AdminCLUSTER]
		}
		req.Cmd, req.Cluster, req.Inner = inner, true, string(trimBlanksRight(rest[k:]))
		rest = rest[e:]
	}
	switch req.Cmd {
	case AdminGREP:
		req.Limit = GrepDefaultLimit
	case AdminCLIENTS:
		req.Limit = -1
	}
	args, err := splitArgs(rest)
	if err != nil {
		return req, usageErr[req.Cmd]
	}
	return req, req.parseArgs(args)
}

// lookupAdmin returns the command a word names, AdminUnknown for none.
func lookupAdmin(word []byte) AdminCmd {
	for i, w := range adminWords {
		if asciiEqualFold(word, w.word) {
			return AdminCmd(i + 1)
		}
	}
	return AdminUnknown
}

// parseArgs fills r from the tokens after the command word.
func (r *Request) parseArgs(args []arg) error {
	usage := usageErr[r.Cmd]
	w := adminWord(r.Cmd)
	var pos, seen []string
	for _, a := range args {
		if !a.isOpt() || w.opts == nil {
			pos = append(pos, a.text)
			continue
		}
		key, val := a.keyValue()
		if !slices.Contains(w.opts, key) || slices.Contains(seen, key) {
			return usage
		}
		seen = append(seen, key)
		if err := r.option(key, val); err != nil {
			return err
		}
	}
	switch r.Cmd {
	case AdminCLIENT, AdminSTATE, AdminFORGET:
		if len(pos) != 1 {
			return usage
		}
		r.Name = pos[0]
	case AdminAUTH:
		if len(pos) != 1 {
			return usage
		}
		r.Token = pos[0]
	case AdminLOG:
		if len(pos) < 1 || len(pos) > 2 {
			return errUsageLog
		}
		r.Name = pos[0]
		if len(pos) == 2 {
			n, ok := parseCount(pos[1])
			if !ok {
				return errUsageLog
			}
			r.N = n
		}
	case AdminGREP:
		if len(pos) != 1 {
			return usage
		}
		return r.setMatch(pos[0])
	case AdminCLIENTS:
		if len(pos) > 1 || r.Closed && r.All {
			return usage
		}
		if len(pos) == 1 {
			r.Glob = pos[0]
		}
	case AdminWATCH:
		if len(pos) > 0 {
			r.Names = pos
		}
	case AdminFORMAT:
		if len(pos) != 1 {
			return usage
		}
		switch a := pos[0]; {
		case asciiEqualFold([]byte(a), "json"):
			r.JSON = true
		case asciiEqualFold([]byte(a), "text"):
			r.JSON = false
		default:
			return usage
		}
	default:
		if len(pos) != 0 {
			return usage
		}
	}
	return nil
}

// option applies one key=value option the command takes.
func (r *Request) option(key, val string) error {
	ok := true
	switch key {
	case "since", "until":
		t, err := ParseTime(val)
		if err != nil {
			return errors.New("usage: " + err.Error())
		}
		if key == "since" {
			r.Since = t
		} else {
			r.Until = t
		}
	case "match":
		return r.setMatch(val)
	case "clients":
		r.Glob = val
	case "after":
		r.After = val
	case "limit":
		r.Limit, ok = parseCount(val)
		ok = ok && (r.Cmd != AdminGREP || r.Limit <= GrepMaxLimit)
	case "backlog":
		r.Backlog, ok = parseCount(val)
	case "closed":
		r.Closed, ok = parseFlag(val)
	case "all":
		r.All, ok = parseFlag(val)
	}
	if !ok {
		return usageErr[r.Cmd]
	}
	return nil
}

// setMatch compiles a request's regex into Match; the empty regex, which
// matches everything, leaves Match nil so no entry is run through it.
func (r *Request) setMatch(s string) error {
	if s == "" {
		return nil
	}
	re, err := CompileRegex(s)
	if err != nil {
		return errors.New("usage: " + err.Error())
	}
	r.Match = re
	return nil
}

// parseFlag reads a flag option's value: 1 or true, 0 or false.
func parseFlag(s string) (on, ok bool) {
	switch strings.ToLower(s) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// parseCount accepts only plain decimal digits: strconv.Atoi alone would also
// take "+5" and "-0", which the usage line does not promise.
func parseCount(s string) (int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
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
