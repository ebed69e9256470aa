package loop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestWallClockStepBack: with the wall clock an hour behind (as after a
// step back; the test steps the server's wall clock, since the machine's
// cannot be), entries are stamped an hour back and an admin "since=1m"
// window counts from the stepped clock too, while the identify timeout and
// retention still count real time.
func TestWallClockStepBack(t *testing.T) {
	const (
		step    = -time.Hour
		timeout = 300 * time.Millisecond
		slack   = 2 * time.Second // a shared machine's scheduling, and the 100 ms sweep
	)
	cfg := DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	cfg.IdentTimeout, cfg.Retain = timeout, timeout
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.wall = func() time.Time { return time.Now().Add(step) }
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	ctx := context.Background()

	// A connection that never identifies is closed at the timeout, not an
	// hour later.
	opened := time.Now() // the server's timer starts after this
	silent := wDial(t, s.DataAddr())
	silent.SetReadDeadline(time.Now().Add(timeout + slack))
	b, err := io.ReadAll(silent)
	if took := time.Since(opened); string(b) != "ERR identify timeout\n" || took < timeout || took > timeout+slack {
		t.Fatalf("silent connection: read %q (%v) after %v, want ERR identify timeout after %v", b, err, took, timeout)
	}

	// Entries carry the stepped clock; since=1m selects by it.
	bob := wDial(t, s.DataAddr())
	wSend(t, bob, "IAM bob\nLOG hello\n")
	wUntil(t, "bob's line", func() bool {
		l, err := s.ClientLog(ctx, "bob", Query{})
		return err == nil && len(l) == 1
	})
	l, _ := s.ClientLog(ctx, "bob", Query{})
	if behind := time.Since(l[0].Time); behind < -step-time.Minute || behind > -step+time.Minute {
		t.Errorf("entry stamped %v, %v before now: want about %v", l[0].Time, behind, -step)
	}
	a := wDial(t, s.AdminAddr())
	wSend(t, a, "LOG bob since=1m\n")
	r := bufio.NewReader(a)
	if head, err := r.ReadString('\n'); head != "OK 1\n" {
		t.Errorf("LOG bob since=1m: %q (%v), want the one entry", head, err)
	} else if line, _ := r.ReadString('\n'); !strings.HasSuffix(line, " hello\n") {
		t.Errorf("LOG bob since=1m: entry %q", line)
	}

	// Retention: the closed client is forgotten after Retain of real time.
	bob.Close()
	closed := time.Now()
	wUntil(t, "bob forgotten", func() bool {
		_, err := s.ClientInfo(ctx, "bob")
		var gone *NoSuchClientError
		return errors.As(err, &gone)
	})
	if took := time.Since(closed); took > timeout+slack {
		t.Errorf("bob was forgotten %v after closing, want about %v", took, timeout)
	}
}
