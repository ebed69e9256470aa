package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/logatron/logatron/client"
)

const sendUsage = `usage: logatron send -name <name> [flags] < input

Reads standard input and sends each line to a Logatron server as one log
entry of client <name>. A line that starts with a space or a tab, or that
matches -multiline, continues the entry before it (it is sent as CONT), so
a stack trace is one entry. The server trims each line's leading and
trailing spaces and tabs. A line longer than 64 KiB (the server's default
-max-line) is cut to it.

The connection is made in the background and remade whenever it is lost
(with backoff), sending the name and the -set keys again. While connected,
reading waits for the server when the queue is full; while not connected,
the oldest queued lines are dropped once the queue is full.

Exits 0 once input has ended and the server has confirmed everything;
1 if something was dropped or could not be delivered within -timeout
after the end of input; 2 on a usage error.

Examples:
  myapp 2>&1 | logatron send -name myapp -set version=1.4.2
  go run ./cmd/worker 2>&1 | logatron send -name worker \
      -multiline '^($|goroutine |\S+\(.*\)$|created by )'   # Go panics as one entry

flags:
`

// setFlags collects -set key=value flags in order.
type setFlags [][2]string

func (s *setFlags) String() string { return "" }

func (s *setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", v)
	}
	*s = append(*s, [2]string{k, val})
	return nil
}

// runSend is `logatron send`; it returns the exit code.
func runSend(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("logatron send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, sendUsage)
		fs.PrintDefaults()
	}
	name := fs.String("name", "", "client name (required): 1-64 of A-Z a-z 0-9 _ . : -")
	addr := fs.String("addr", "127.0.0.1:2212", "server data address, host:port")
	token := fs.String("token", "", "token sent after the name, for a server started with -tokens")
	var sets setFlags
	fs.Var(&sets, "set", "key=value to set before sending (repeatable; sent again on each reconnect)")
	multiline := fs.String("multiline", "", "regular expression (RE2): a line that matches continues the entry before it")
	timeout := fs.Duration("timeout", 10*time.Second, "after input ends, how long delivery may take before giving up")
	queue := fs.Int("queue", client.DefaultQueueSize, "lines held while the server cannot be reached; the oldest are dropped beyond it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "logatron send: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *name == "":
		return usage("-name is required")
	case *timeout <= 0:
		return usage("-timeout must be positive, got %s", *timeout)
	case *queue < 1:
		return usage("-queue must be at least 1, got %d", *queue)
	}
	var cont *regexp.Regexp
	if *multiline != "" {
		var err error
		if cont, err = regexp.Compile(*multiline); err != nil {
			return usage("bad -multiline: %v", err)
		}
	}

	opts := []client.Option{
		client.WithoutWait(),
		client.WithBackpressure(),
		client.WithQueueSize(*queue),
		client.WithToken(*token),
		client.WithErrorHandler(func(err error) { fmt.Fprintln(stderr, "logatron send:", err) }),
	}
	c, err := client.Dial(context.Background(), *addr, *name, opts...)
	if err != nil {
		return usage("%v", err)
	}
	for _, kv := range sets {
		if err := c.Set(kv[0], kv[1]); err != nil {
			_ = c.Close(canceled())
			return usage("-set %s=%s: %v", kv[0], kv[1], err)
		}
	}

	readErr := sendLines(c, stdin, cont)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	code := 0
	if err := c.Close(ctx); err != nil {
		fmt.Fprintf(stderr, "logatron send: could not deliver everything to %s within %s after the end of input: %v\n", *addr, *timeout, err)
		code = 1
	}
	if d := c.Dropped(); d > 0 {
		fmt.Fprintf(stderr, "logatron send: %d entries dropped while the server could not be reached (the queue holds %d; see -queue)\n", d, *queue)
		code = 1
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "logatron send: reading input: %v\n", readErr)
		code = 1
	}
	return code
}

// canceled is a context that has already ended, to close without waiting.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// sendLines sends r line by line until it ends: LOG for a line that starts
// an entry, CONT for one that continues it. A final line without a newline
// is sent too. A line longer than the max line is cut (the rest of it is
// read and discarded). It returns a read error other than the end of input.
func sendLines(c *client.Client, r io.Reader, cont *regexp.Regexp) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) <= client.DefaultMaxLine { // keep one byte more: Log cuts on a UTF-8 boundary
			line = append(line, chunk[:min(len(chunk), client.DefaultMaxLine+2-len(line))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			if text != "" && (text[0] == ' ' || text[0] == '\t') || cont != nil && cont.MatchString(text) {
				c.Cont(text)
			} else {
				c.Log(text)
			}
		}
		line = line[:0]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
