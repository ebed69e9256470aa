package codec

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// replacement is U+FFFD encoded, appended in place of invalid input.
const replacement = "\uFFFD"

// AppendValidUTF8 appends p to dst with every run of invalid UTF-8 bytes
// replaced by one U+FFFD, and returns the extended slice. When p is valid it
// is appended unchanged; an encoded U+FFFD already in p counts as valid.
//
// The output may be longer than p: each invalid run (at least one byte)
// becomes three bytes, so it is at most 2*len(p)+1 bytes. Callers that must
// not allocate should reserve that much in dst; AppendValidUTF8 itself does
// not allocate when dst has room. Callers on a hot path should test
// utf8.Valid first and skip the call for valid text, the common case. Time is
// linear in len(p).
func AppendValidUTF8(dst, p []byte) []byte {
	start := 0     // first byte of the valid run not yet appended
	inBad := false // the byte before i was invalid: extend that run, one U+FFFD for all
	for i := 0; i < len(p); {
		if c := p[i]; c < utf8.RuneSelf {
			i++
			inBad = false
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			inBad = false
			continue
		}
		dst = append(dst, p[start:i]...)
		if !inBad {
			dst = append(dst, replacement...)
			inBad = true
		}
		i++
		start = i
	}
	return append(dst, p[start:]...)
}

// TruncateUTF8 returns the longest prefix of p of at most n bytes that does
// not end in the middle of a valid UTF-8 sequence. n <= 0 yields an empty
// prefix; the result aliases p.
//
// If p ends with an incomplete sequence (a valid start whose remaining bytes
// are missing) that the prefix would keep any of, it is dropped too, even
// when n >= len(p): that is what a long line cut by Framer at maxLine looks
// like, its remaining bytes discarded, so TruncateUTF8(line, maxLine) always
// cuts on a boundary. Such a tail is invalid UTF-8 either way, and
// AppendValidUTF8 would only turn it into U+FFFD.
//
// Where the bytes around the cut are otherwise invalid UTF-8, it cuts at n:
// splitting garbage loses nothing AppendValidUTF8 would not replace anyway.
// It looks at no more than four bytes, so it costs O(1) whatever len(p) is.
func TruncateUTF8(p []byte, n int) []byte {
	if n <= 0 {
		return p[:0]
	}
	if n > len(p) {
		n = len(p)
	}
	// Only the last three bytes before the cut can start a sequence that
	// crosses it.
	for j := n - 1; j >= 0 && j > n-utf8.UTFMax; j-- {
		if !utf8.RuneStart(p[j]) {
			continue
		}
		// FullRune is false only for a valid start whose bytes run out at
		// the end of p (invalid bytes count as complete one-byte errors):
		// keeping any of it would leave a cut sequence behind.
		if !utf8.FullRune(p[j:]) {
			return p[:j]
		}
		r, size := utf8.DecodeRune(p[j:])
		if j+size > n && (r != utf8.RuneError || size > 1) {
			return p[:j]
		}
		return p[:n]
	}
	return p[:n]
}

// ValidUTF8 is utf8.Valid with a faster path for ASCII, which is what most
// log lines are: it looks at 32 bytes per step and calls utf8.Valid only
// from the first byte that is not ASCII.
func ValidUTF8(p []byte) bool {
	n := asciiPrefix(p)
	return n == len(p) || utf8.Valid(p[n:])
}

// asciiPrefix returns the index of the first byte of p that is not ASCII,
// or len(p).
func asciiPrefix(p []byte) int {
	const hi = 0x8080808080808080
	i := 0
	for ; len(p)-i >= 32; i += 32 {
		q := p[i : i+32]
		if (binary.LittleEndian.Uint64(q)|binary.LittleEndian.Uint64(q[8:])|
			binary.LittleEndian.Uint64(q[16:])|binary.LittleEndian.Uint64(q[24:]))&hi != 0 {
			break
		}
	}
	for ; len(p)-i >= 8; i += 8 {
		if w := binary.LittleEndian.Uint64(p[i:]) & hi; w != 0 {
			return i + bits.TrailingZeros64(w)/8
		}
	}
	for ; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			return i
		}
	}
	return i
}
