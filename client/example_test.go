package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/logatron/logatron/client"
	"github.com/logatron/logatron/loop"
	"github.com/rs/zerolog"
)

// exampleServer starts a Logatron server in this process on a free
// loopback port, as a stand-in for `logatron` running elsewhere.
func exampleServer() *loop.Server {
	cfg := loop.DefaultConfig()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	srv, err := loop.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	return srv
}

// printLog waits until the server holds n entries of client name and
// prints them.
func printLog(srv *loop.Server, name string, n int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, _ := srv.ClientLog(context.Background(), name, loop.Query{})
		if len(es) >= n || time.Now().After(deadline) {
			for _, e := range es {
				fmt.Printf("%q\n", e.Message)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func Example() {
	srv := exampleServer()
	defer srv.Stop(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.DataAddr().String(), "worker_1")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Set("version", "1.4.2"); err != nil {
		log.Fatal(err)
	}
	c.Log("starting")
	c.Logf("listening on port %d", 8080)
	c.Log("panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d") // one entry
	c.Log("restarting")

	// Close sends what is still queued and returns once the server has
	// read it; the server keeps a client that has gone (-retain).
	if err := c.Close(ctx); err != nil {
		log.Fatal(err)
	}
	printLog(srv, "worker_1", 4)
	state, _ := srv.ClientState(context.Background(), "worker_1")
	fmt.Println(state)
	// Output:
	// "starting"
	// "listening on port 8080"
	// "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n/app/main.go:12 +0x1d"
	// "restarting"
	// map[version:1.4.2]
}

func ExampleNewHandler() {
	srv := exampleServer()
	defer srv.Stop(context.Background())
	c, err := client.Dial(context.Background(), srv.DataAddr().String(), "api")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())

	logger := slog.New(client.NewHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("request done", "method", "GET", "status", 200, "path", "/users/7")
	logger.With("request_id", "r-81").WithGroup("db").Debug("slow query", "table", "users", "took", 1200*time.Millisecond)
	logger.Warn("login failed", slog.Group("user", "id", 7, "name", "Ann Lee"))

	printLog(srv, "api", 3)
	// Output:
	// "INFO request done method=GET status=200 path=/users/7"
	// "DEBUG slow query request_id=r-81 db.table=users db.took=1.2s"
	// "WARN login failed user.id=7 user.name=\"Ann Lee\""
}

func ExampleNewWriter() {
	srv := exampleServer()
	defer srv.Stop(context.Background())
	c, err := client.Dial(context.Background(), srv.DataAddr().String(), "legacy")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	w := client.NewWriter(c)

	std := log.New(w, "legacy: ", 0) // the standard library's logger
	std.Printf("cache warmed in %s", 350*time.Millisecond)

	zl := zerolog.New(w) // zerolog (zap: zapcore.AddSync(w))
	zl.Error().Str("peer", "10.0.0.7").Msg("handshake failed")

	printLog(srv, "legacy", 2)
	// Output:
	// "legacy: cache warmed in 350ms"
	// "{\"level\":\"error\",\"peer\":\"10.0.0.7\",\"message\":\"handshake failed\"}"
}
