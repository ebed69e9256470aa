package store

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"strings"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

// Tokens are the rules of a -tokens file: a client whose name matches a
// rule's glob may identify with that rule's token. The zero (nil) Tokens
// means tokens are not configured: any IAM is allowed.
type Tokens []tokenRule

type tokenRule struct {
	glob query.Glob
	hash [32]byte // of the token: compared in constant time, length included
}

// ParseTokens reads a tokens file: one rule per line, `<name-glob>
// <token>`; blank lines and lines starting with # are skipped. An empty
// file gives an empty, not nil, Tokens: every IAM is refused.
func ParseTokens(r io.Reader) (Tokens, error) {
	ts := Tokens{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokens line %d: want <name-glob> <token>", n)
		}
		if !codec.ValidName([]byte(strings.NewReplacer("*", "a", "?", "a").Replace(f[0]))) {
			return nil, fmt.Errorf("tokens line %d: %q is not a glob of names (1-64 of A-Z a-z 0-9 _ . : - with * and ?)", n, f[0])
		}
		ts = append(ts, tokenRule{glob: query.NewGlob(f[0]), hash: sha256.Sum256([]byte(f[1]))})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return ts, nil
}

// SameToken compares a given token with a wanted one in constant time:
// both are hashed first, so not even the length leaks through timing. The
// data port's tokens, the admin port's AUTH and HTTP's Bearer token all
// compare through it.
func SameToken(given, want []byte) bool {
	a, b := sha256.Sum256(given), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Allows reports whether token is the token of a rule whose glob matches
// name. Every matching rule is compared, in constant time, so the time
// taken says nothing about the token.
func (ts Tokens) Allows(name string, token []byte) bool {
	if token == nil {
		return false
	}
	h := sha256.Sum256(token)
	ok := 0
	for i := range ts {
		if ts[i].glob.Match(name) {
			ok |= subtle.ConstantTimeCompare(h[:], ts[i].hash[:])
		}
	}
	return ok == 1
}
