package cluster

import (
	"strings"

	"github.com/logatron/logatron/codec"
)

// The NATS subjects of a Logatron cluster. Every subject starts with
// "logatron."; node and client names are one token each, escaped by
// Token.
//
//	logatron.events.<node>.<client>   one event of a client held by node (payload: a WATCH JSON line with "node")
//	logatron.presence.<node>          a node's heartbeat (payload: {"node":..,"interval_ms":..}, "bye":true when it leaves)
//	logatron.req.<CMD>                a CLUSTER request, answered by every node on the reply subject
//
// So `nats sub 'logatron.events.n1.>'` follows every client of node n1,
// `nats sub 'logatron.events.*.web%2E1'` the client web.1 wherever it is.
const (
	prefix          = "logatron."
	eventsPrefix    = prefix + "events."
	presencePrefix  = prefix + "presence."
	reqPrefix       = prefix + "req."
	allEvents       = eventsPrefix + ">"
	allPresence     = presencePrefix + "*"
	allRequests     = reqPrefix + "*"
	escapeByte      = '%'
	upperHex        = "0123456789ABCDEF"
	maxTokenEscapes = 3 // bytes an escaped byte takes
)

// Token escapes a node or client name into one NATS subject token. A name
// may hold '.', which would split the token; '*' and '>' (wildcards),
// '%' (the escape byte itself), spaces and control bytes cannot occur in a
// valid name but are escaped too, so any string maps to one token and
// back. Each such byte becomes '%' and two upper-case hex digits: "web.1"
// is "web%2E1". Every other byte stays as it is.
func Token(name string) string {
	n := 0
	for i := 0; i < len(name); i++ {
		if needsEscape(name[i]) {
			n++
		}
	}
	if n == 0 && name != "" {
		return name
	}
	if name == "" {
		return "%" // an empty token is not allowed; "" is never a valid name
	}
	var b strings.Builder
	b.Grow(len(name) + n*(maxTokenEscapes-1))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !needsEscape(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(escapeByte)
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

func needsEscape(c byte) bool {
	return c == '.' || c == '*' || c == '>' || c == escapeByte || c <= ' ' || c >= 0x7f
}

// Untoken reverses Token; ok is false for a token Token cannot have made.
func Untoken(tok string) (name string, ok bool) {
	if !strings.Contains(tok, "%") {
		return tok, tok != ""
	}
	if tok == "%" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != escapeByte {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return "", false
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// EventSubject is the subject of the events of client on node.
func EventSubject(node, client string) string {
	return eventsPrefix + Token(node) + "." + Token(client)
}

// ValidNode reports whether name is a valid node name: the client-name
// rule, 1-64 of A-Z a-z 0-9 _ . : -.
func ValidNode(name string) bool { return codec.ValidName([]byte(name)) }
