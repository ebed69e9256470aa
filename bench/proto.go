package bench

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

// Protocols a load can speak.
const (
	protoLogatron = "logatron" // IAM/LOG/SET lines; confirmed through admin STATS
	protoRedis    = "redis"    // RESP XADD; confirmed by counting replies
)

// batch is the pre-built bytes of up to P lines that one write sends, so
// that sending allocates nothing: a write of k lines sends buf[:ends[k-1]].
type batch struct {
	buf  []byte
	ends []int // ends[i]: end of line i in buf
	logs []int // logs[k]: LOG (stored) lines among the first k lines
}

// prefix returns the bytes of the first k lines and how many of them are LOG lines.
func (b *batch) prefix(k int) ([]byte, int) {
	if k <= 0 {
		return nil, 0
	}
	return b.buf[:b.ends[k-1]], b.logs[k]
}

// message is a d-byte printable message.
func message(d int) []byte {
	m := make([]byte, d)
	for i := range m {
		m[i] = 'a' + byte(i%26)
	}
	return m
}

// isSet tells whether line j of a batch is a SET line, so that the share
// of SET lines is set, spread evenly.
func isSet(j int, share float64) bool {
	return share > 0 && int(float64(j+1)*share) > int(float64(j)*share)
}

// logatronBatch builds P Logatron data lines: "LOG <msg>" and, for the SET
// share, "SET k<j%16> <msg>". It is the same for every connection.
func logatronBatch(p, d int, setShare float64) *batch {
	msg := message(d)
	b := &batch{logs: make([]int, p+1)}
	for j := 0; j < p; j++ {
		set := isSet(j, setShare)
		if set {
			b.buf = append(b.buf, "SET k"...)
			b.buf = strconv.AppendInt(b.buf, int64(j%16), 10)
			b.buf = append(b.buf, ' ')
		} else {
			b.buf = append(b.buf, "LOG "...)
		}
		b.buf = append(b.buf, msg...)
		b.buf = append(b.buf, '\n')
		b.ends = append(b.ends, len(b.buf))
		b.logs[j+1] = b.logs[j]
		if !set {
			b.logs[j+1]++
		}
	}
	return b
}

// appendRESP appends one RESP command (an array of bulk strings).
func appendRESP(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, "\r\n"...)
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, "\r\n"...)
		dst = append(dst, a...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// redisBatch builds P Redis commands for client name: XADD log:<name>
// MAXLEN 128 * m <msg>, and for the SET share HSET state:<name> k<j> <msg>.
func redisBatch(name string, p, d int, setShare float64) *batch {
	msg := message(d)
	logKey := []byte("log:" + name)
	stateKey := []byte("state:" + name)
	b := &batch{logs: make([]int, p+1)}
	for j := 0; j < p; j++ {
		set := isSet(j, setShare)
		if set {
			b.buf = appendRESP(b.buf, []byte("HSET"), stateKey, []byte("k"+strconv.Itoa(j%16)), msg)
		} else {
			b.buf = appendRESP(b.buf, []byte("XADD"), logKey, []byte("MAXLEN"), []byte("128"), []byte("*"), []byte("m"), msg)
		}
		b.ends = append(b.ends, len(b.buf))
		b.logs[j+1] = b.logs[j]
		if !set {
			b.logs[j+1]++
		}
	}
	return b
}

func logatronHello(name string) []byte { return []byte("IAM " + name + "\n") }

func redisHello(name string) []byte {
	return appendRESP(nil, []byte("CLIENT"), []byte("SETNAME"), []byte(name))
}

// readReplies reads RESP replies until r fails, adding each to the
// counters through add (called once per reply, so it can publish progress).
func readReplies(r *bufio.Reader, add func(kind byte, errMsg []byte)) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) < 3 {
			return errors.New("short RESP line")
		}
		switch line[0] {
		case '$':
			n, err := strconv.Atoi(string(bytes.TrimRight(line[1:], "\r\n")))
			if err != nil {
				return errors.New("bad RESP bulk length")
			}
			if n >= 0 {
				if _, err := r.Discard(n + 2); err != nil {
					return err
				}
			}
			add('$', nil)
		case '-':
			add('-', bytes.TrimRight(line[1:], "\r\n"))
		case '+', ':':
			add(line[0], nil)
		default:
			return errors.New("unexpected RESP reply")
		}
	}
}
