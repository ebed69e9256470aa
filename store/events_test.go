package store

import (
	"bytes"
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
