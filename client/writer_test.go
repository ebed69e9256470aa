package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/logatron/logatron/client"
	"github.com/rs/zerolog"
)

// TestWriter: each line written is one entry, however the writes split it.
func TestWriter(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	for i, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line", []string{"hello\n"}, []string{"hello"}},
		{"lines in one write", []string{"a\nb\nc\n"}, []string{"a", "b", "c"}},
		{"line split over writes", []string{"hel", "lo wo", "rld\nnext\n"}, []string{"hello world", "next"}},
		{"CRLF", []string{"a\r\n", "b\r", "\n"}, []string{"a", "b"}},
		{"lone CR kept", []string{"50%\r100%\r\n"}, []string{"50%\r100%"}},
		{"empty line", []string{"a\n\nb\n"}, []string{"a", "", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("writer_%d", i)
			c := dial(t, srv.DataAddr().String(), name)
			w := client.NewWriter(c)
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			equal(t, "log", untilEnd(t, c, srv, name), tc.want)
		})
	}
	t.Run("partial line waits for Close", func(t *testing.T) {
		c := dial(t, srv.DataAddr().String(), "writer_partial")
		w := client.NewWriter(c)
		fmt.Fprint(w, "a\npart")
		fmt.Fprint(w, "ial")
		c.Log("logged before Close")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		equal(t, "log", untilEnd(t, c, srv, "writer_partial"), []string{"a", "logged before Close", "partial"})
	})
}

// TestWriterLoggers: log.Logger and zerolog write through the Writer, one
// entry per record.
func TestWriterLoggers(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	c := dial(t, srv.DataAddr().String(), "loggers")
	w := client.NewWriter(c)
	std := log.New(w, "std: ", 0)
	std.Printf("served %d requests", 3)
	std.Print("no newline given") // log.Logger adds it
	zl := zerolog.New(w)
	zl.Info().Str("method", "GET").Int("status", 200).Msg("request done")
	equal(t, "log", messages(t, srv, "loggers", 3), []string{
		"std: served 3 requests",
		"std: no newline given",
		`{"level":"info","method":"GET","status":200,"message":"request done"}`,
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("late\n")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}
