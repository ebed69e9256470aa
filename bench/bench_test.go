package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for `logatron bench ...`: compare
// re-executes os.Executable() with "bench serve" (the comparison servers)
// and load runs "bench probe" (the admin latency probe).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		if err := Main(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			os.Exit(1) // Main printed why
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// buildLogatron builds the real server from the module root.
func buildLogatron(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "logatron")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build logatron: %v\n%s", err, out)
	}
	return bin
}

// TestCompareSmoke is CI's harness smoke run: loads a, b and d at a tiny
// scale against logatron, the goroutine server and the ceiling. It asserts
// that every server stored lines, not how fast.
func TestCompareSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	bin := buildLogatron(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := Main([]string{"compare", "-scale", "0.001", "-loads", "a,b,d", "-redis", "off",
		"-repeat", "1", "-out", out, "-logatron", bin}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, load := range []string{"a", "b", "d"} {
		for _, srv := range []string{"logatron", "goroutine", "ceiling"} {
			s := find(&rep, load, srv)
			switch {
			case s == nil:
				t.Errorf("load %s: no row for %s", load, srv)
			case s.Stored <= 0:
				t.Errorf("load %s, %s: stored %d lines", load, srv, s.Stored)
			case s.Err != "":
				t.Errorf("load %s, %s: %s", load, srv, s.Err)
			}
		}
	}
	if s := find(&rep, "d", "logatron"); s != nil && s.PerClientBytes <= 0 {
		t.Errorf("load d: no RSS per client for logatron: %+v", s)
	}
	for _, srv := range []string{"logatron", "goroutine", "ceiling"} {
		if !strings.Contains(stdout.String(), srv) {
			t.Errorf("the table has no %s row", srv)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "connections (log scale)", "logatron", "goroutine", "ceiling", "<path"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("chart.svg lacks %q", want)
		}
	}
}

// startGoServer runs the goroutine server in-process on free ports.
func startGoServer(t *testing.T) *goServer {
	t.Helper()
	s := newGoServer(100)
	s.identTimeout = 500 * time.Millisecond
	if err := s.listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func adminLines(t *testing.T, addr, req string) []string {
	t.Helper()
	a, err := dialAdmin(addr, false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out []string
	if _, err := a.do(req, 2*time.Second, func(l []byte) { out = append(out, string(l)) }); err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	return out
}

func TestGoServerProtocol(t *testing.T) {
	s := startGoServer(t)
	c, err := net.Dial("tcp", s.data.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "iam alice\r\n  \n")
	for i := 0; i < 130; i++ {
		fmt.Fprintf(c, "LOG \t m%d  \n", i)
	}
	fmt.Fprintf(c, "SET color  dark blue \nFOO bar\nLOG\n")
	admin := s.admin.Addr().String()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := statsOf(t, admin)
		if st["lines_total"] == "131" || time.Now().After(deadline) {
			if st["lines_total"] != "131" || st["clients"] != "1" || st["errors_total"] != "1" {
				t.Fatalf("STATS: %v", st)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	log := adminLines(t, admin, "LOG alice 3")
	if len(log) != 3 || !strings.HasSuffix(log[0], " m128") || !strings.HasSuffix(log[1], " m129") || !strings.HasSuffix(log[2], "Z ") {
		t.Errorf("LOG alice 3: %q", log)
	}
	cl := adminLines(t, admin, "CLIENTS")
	if len(cl) != 1 || !strings.HasPrefix(cl[0], "alice connected_at=") || !strings.Contains(cl[0], " entries=128 keys=1 lines=131 ") {
		t.Errorf("CLIENTS: %q", cl)
	}

	// Name in use, and a first line that is not IAM.
	for _, tc := range []struct{ send, want string }{
		{"IAM alice\n", "ERR name in use: alice\n"},
		{"LOG x\n", "ERR expected IAM <name>\n"},
		{"", "ERR identify timeout\n"},
	} {
		c2, err := net.Dial("tcp", s.data.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c2, tc.send)
		_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, _ := bufio.NewReader(c2).ReadString('\n')
		c2.Close()
		if got != tc.want {
			t.Errorf("after %q: got %q, want %q", tc.send, got, tc.want)
		}
	}
}

func statsOf(t *testing.T, addr string) map[string]string {
	t.Helper()
	a, err := dialAdmin(addr, false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.stats(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLoadAgainstGoServer runs the generator in-process, with SET lines, a
// rate limit and pipelining, and checks what it reports.
func TestLoadAgainstGoServer(t *testing.T) {
	s := startGoServer(t)
	res, err := RunLoad(context.Background(), LoadConfig{
		Data: s.data.Addr().String(), Admin: s.admin.Addr().String(),
		Conns: 20, Lines: 50, Size: 10, Pipeline: 8, SetShare: 0.25, Rate: 5000, Src: 3,
		PingEvery: 5 * time.Millisecond, ClientsEvery: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Identified != 20 || !res.Confirmed || res.LinesSent != 1000 {
		t.Fatalf("result: %+v", res)
	}
	// Per connection: 6 writes of 8 lines (6 LOG, 2 SET), then 2 LOG lines.
	if res.LogSent != 760 || res.Stored != 760 {
		t.Errorf("LOG lines: sent %d, stored %d; want 760", res.LogSent, res.Stored)
	}
	if res.SendS < 0.15 {
		t.Errorf("1000 lines at 5000/s took %.3f s", res.SendS)
	}
	if res.Ping.Count == 0 || res.Clients.Count == 0 || res.Clients.Lines != 20 {
		t.Errorf("admin probes: ping %+v clients %+v", res.Ping, res.Clients)
	}
	st := statsOf(t, s.admin.Addr().String())
	if st["errors_total"] != "0" || st["lines_total"] != "760" {
		t.Errorf("STATS after the load: %v", st)
	}
}

func TestBatch(t *testing.T) {
	b := logatronBatch(4, 3, 0.5)
	buf, logs := b.prefix(4)
	if string(buf) != "LOG abc\nSET k1 abc\nLOG abc\nSET k3 abc\n" || logs != 2 {
		t.Errorf("batch: %q, %d LOG", buf, logs)
	}
	if buf, logs := b.prefix(1); string(buf) != "LOG abc\n" || logs != 1 {
		t.Errorf("prefix(1): %q %d", buf, logs)
	}
	r := redisBatch("n", 1, 2, 0)
	if got := string(r.buf); got != "*7\r\n$4\r\nXADD\r\n$5\r\nlog:n\r\n$6\r\nMAXLEN\r\n$3\r\n128\r\n$1\r\n*\r\n$1\r\nm\r\n$2\r\nab\r\n" {
		t.Errorf("redis batch: %q", got)
	}
	var kinds []byte
	err := readReplies(bufio.NewReader(strings.NewReader("$15\r\n1700000000000-0\r\n:1\r\n-ERR x\r\n+OK\r\n")), func(k byte, _ []byte) { kinds = append(kinds, k) })
	if string(kinds) != "$:-+" || err == nil {
		t.Errorf("replies %q, %v", kinds, err)
	}
}

func TestChart(t *testing.T) {
	rep := &Report{Machine: map[string]string{"cpus": "2", "cpu": "x<y"}, Servers: []string{"logatron", "goroutine"},
		Loads: []loadDef{{ID: "a", Conns: 100, Chart: true}, {ID: "b", Conns: 1000, Chart: true}, {ID: "f", Conns: 10000, Chart: true}}}
	for i, id := range []string{"a", "b", "f"} {
		rep.Summary = append(rep.Summary, Summary{Load: id, Server: "logatron", LinesPerSec: float64(5e6 - i*1e6)},
			Summary{Load: id, Server: "goroutine", LinesPerSec: float64(3e6 - i*5e5)})
	}
	svg := string(chartSVG(rep))
	for _, want := range []string{">100<", ">1,000<", ">10,000<", "connections (log scale)", "lines stored per second (millions)", "x&lt;y", ">logatron<", ">goroutine<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Count(svg, "<path") != 2 {
		t.Errorf("want 2 series")
	}
}
