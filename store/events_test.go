package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/logatron/logatron/query"
)

// TestWatcherKeepsUpWithOneLongRead: one read of ReadSize bytes of short
// LOG lines renders more events than watch-buffer. A watcher whose reader
// keeps draining must not be dropped for it, and must get every event.
func TestWatcherKeepsUpWithOneLongRead(t *testing.T) {
	cfg := testConfig()
	st := New(cfg)
	c := st.NewConn(Peer{})
	d := &c
	st.Ingest(d, []byte("IAM "+strings.Repeat("n", 40)+"\n"), 1)

	wake := make(chan struct{}, 1)
	stream := NewStream("", wake, nil, nil)
	st.WatchStream(stream, query.JSON, &WatchFilter{}, nil)
	got := make(chan int)
	stop := make(chan struct{})
	go func() { // the reader: takes whatever is owed until told to stop and drained
		n := 0
		var spare []byte
		for {
			b, err := stream.Take(spare)
			if err != nil {
				got <- -1
				return
			}
			if b != nil {
				n += bytes.Count(b, []byte{'\n'})
				spare = b
				continue
			}
			select {
			case <-wake:
			case <-stop:
				if b, _ := stream.Take(spare); b != nil {
					n += bytes.Count(b, []byte{'\n'})
				}
				got <- n
				return
			}
		}
	}()

	lines := (256 << 10) / len("LOG x\n") // one read of the server's largest size
	read := bytes.Repeat([]byte("LOG x\n"), lines)
	if perEvent := len(query.AppendEvent(nil, query.JSON, new(query.Clock), 1764000000000, EventLog, strings.Repeat("n", 40), []byte("x"), nil)); lines*perEvent <= cfg.WatchBuffer {
		t.Fatalf("the read's events (%d x %d B) fit in watch-buffer: the test tests nothing", lines, perEvent)
	}
	st.Ingest(d, read, 1764000000000)
	st.Watch.Flush()
	close(stop)
	if n := <-got; n != lines || st.Watch.dropped != 0 {
		t.Fatalf("reader got %d of %d events; watchers dropped: %d", n, lines, st.Watch.dropped)
	}
}

// TestBacklogFitsHalfWatchBuffer: a WATCH backlog larger than half of
// watch-buffer is cut to its newest entries that fit, in time order, and
// the watcher is not dropped for it.
func TestBacklogFitsHalfWatchBuffer(t *testing.T) {
	cfg := testConfig()
	cfg.WatchBuffer = 4096
	st := New(cfg)
	for i := range 3 {
		c := st.NewConn(Peer{})
		read := fmt.Appendf(nil, "IAM c%d\n", i)
		for k := range 100 {
			read = fmt.Appendf(read, "LOG c%d line %03d\n", i, k)
		}
		st.Ingest(&c, read, int64(1000+i))
	}
	stream := NewStream("", nil, nil, nil)
	st.WatchStream(stream, query.Text, &WatchFilter{Backlog: 100}, []byte("OK stream\n"))
	out, err := stream.Take(nil)
	if err != nil {
		t.Fatalf("the watcher was dropped: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if lines[0] != "OK stream" || len(out) > cfg.WatchBuffer/2+len("OK stream\n") || len(lines) < 10 {
		t.Fatalf("%d bytes, %d lines, first %q", len(out), len(lines), lines[0])
	}
	// The newest entries that fit: the last line is c2's newest, and the
	// lines run in time order without a gap.
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "LOG c2 c2 line 099") {
		t.Errorf("last backlog line %q, want c2's newest", last)
	}
	for i := 2; i < len(lines); i++ {
		if lines[i] < lines[i-1] { // time, then name, then ring order: all ascending as text here
			t.Errorf("backlog not in order at %d: %q after %q", i, lines[i], lines[i-1])
		}
	}
	if st.Watch.Dropped() != 0 {
		t.Error("the watcher was counted as dropped")
	}
}
