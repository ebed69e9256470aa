package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/web"
)

// screenshotDir is where the browser tests write their screenshots with
// -screenshots (go test ./web -run Browser -screenshots); without the flag
// they go to the test's temporary directory, so a test run leaves the tree
// as it was.
const screenshotDir = "testdata/screenshots"

var saveScreenshots = flag.Bool("screenshots", false, "browser tests: write screenshots to web/"+screenshotDir)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium binary (apt-get install chromium): browser test skipped")
	return ""
}

// page is one headless Chromium tab on the status page.
type page struct {
	t   *testing.T
	ctx context.Context // bounded by the test's own deadline for the steps
	dir string          // where screenshots go

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions: each fails the test
}

// openPage starts Chromium with a width x height viewport (mobile: a phone
// with touch) and opens url. The browser ends with the test.
func openPage(t *testing.T, url string, width, height int64, mobile bool) *page {
	t.Helper()
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	var vp []chromedp.EmulateViewportOption
	if mobile {
		vp = append(vp, chromedp.EmulateMobile)
	}
	// The first action starts the browser, which lives as long as ctx: each
	// step is bounded instead (chromedp's rule).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, vp...)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: step, dir: t.TempDir()}
	if *saveScreenshots {
		p.dir = screenshotDir
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() {
				p.mu.Lock()
				p.exceptions = append(p.exceptions, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.exceptions {
			t.Errorf("JavaScript exception: %s", e)
		}
	})
	p.do("open the page", chromedp.Navigate(url))
	return p
}

// do runs steps, failing the test with what they were for.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// until is a step that waits for the JavaScript expression js to be true.
func until(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
}

// wait waits until js is true.
func (p *page) wait(what, js string) {
	p.t.Helper()
	p.do("wait for "+what+" ("+js+")", until(js))
}

// eval returns the value of the JavaScript expression js.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// screenshot saves the page (whole, or only the viewport) as name.png.
func (p *page) screenshot(name string, whole bool) {
	p.t.Helper()
	shoot := chromedp.CaptureScreenshot()
	if whole {
		shoot = chromedp.FullScreenshot(100) // quality 100 gives a PNG
	}
	png, err := chromedp.Run(p.ctx, shoot)
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Expressions over the page.
func tailHas(s string) string {
	return `document.getElementById("lines").textContent.includes(` + js(s) + `)`
}
func row(name string) string {
	return `document.querySelector('#clients tr[data-name=` + js(name) + `]')`
}
func rowText(name string) string { return `(` + row(name) + `?.textContent ?? "")` }
func badge(id string) string     { return `document.getElementById(` + js(id) + `).textContent` }

// lines returns the messages the live tail shows, oldest first.
func tailLines(p *page) []string {
	p.t.Helper()
	return eval[[]string](p, `[...document.querySelectorAll("#lines .line:not(.sys) .m")].map(e => e.textContent)`)
}

// closeAndWait closes c and waits until the server holds name as closed.
func closeAndWait(t *testing.T, srv *loop.Server, c net.Conn, name string) {
	t.Helper()
	c.Close()
	eventually(t, name+" closed", func() bool {
		ci, err := srv.ClientInfo(context.Background(), name)
		return err == nil && ci.Closed
	})
}

// logged waits until the newest entry of name is msg, so that what the page
// is checked for is held by the server first.
func logged(t *testing.T, srv *loop.Server, name, msg string) {
	t.Helper()
	eventually(t, name+" logged "+msg, func() bool {
		l, err := srv.ClientLog(context.Background(), name, loop.Query{})
		return err == nil && len(l) > 0 && l[len(l)-1].Message == msg
	})
}

// TestStatusPageInBrowser drives the status page in headless Chromium at
// desktop width, with several data clients: a closed client is shown as
// closed with its reason, the state column shows the status key, a search
// finds the line one client logged and its link opens that client, the
// merged tail shows stored lines and lines logged after the page opened,
// highlights errors, appends CONT lines to their entry, renders markup as
// text, and pause holds new lines back until resume; a closed client's
// details say why it went; a bad regex shows the server's error; a tail
// filter lets only matching lines through; dark mode follows the system.
func TestStatusPageInBrowser(t *testing.T) {
	chromium(t)
	srv, url := start(t, nil)
	web1, web2, db1 := client(t, srv, "web-1"), client(t, srv, "web-2"), client(t, srv, "db-1")
	crashy := client(t, srv, "crashy")
	send(t, web1, "LOG GET /index.html 200 3ms\nSET status degraded\nSET version 1.4.2\n")
	send(t, web2, "LOG GET /api/items 200 12ms\nLOG WARN slow upstream: 850ms\nSET status ok\n")
	send(t, db1, "LOG checkpoint complete\nLOG needle 42 found in index\nLOG vacuum done\n")
	send(t, crashy, "LOG about to crash\n")
	logged(t, srv, "db-1", "vacuum done")
	logged(t, srv, "crashy", "about to crash")
	closeAndWait(t, srv, crashy, "crashy")
	eventually(t, "web-2's state", func() bool {
		kv, err := srv.ClientState(context.Background(), "web-2")
		return err == nil && kv["status"] == "ok"
	})

	p := openPage(t, url+"/", 1280, 900, false)
	p.wait("the client list", row("db-1"))
	p.wait("crashy shown closed with its reason", row("crashy")+`.classList.contains("closed") && `+rowText("crashy")+`.includes("eof")`)
	p.wait("web-1's status in the state column", row("web-1")+`.querySelector("td.state").textContent === "degraded"`)
	p.wait("the tail live", badge("tail")+` === "live"`)
	p.wait("stored lines in the tail, closed clients' too", tailHas("needle 42 found")+` && `+tailHas("about to crash"))

	// Search across the fleet; the result links to its client.
	p.do("search",
		chromedp.SendKeys(chromedp.CSS("#q"), `needle \d+`),
		chromedp.Click(chromedp.CSS("#search button")),
		until(`document.querySelectorAll("#hits tr").length === 1`),
	)
	hit := eval[[]string](p, `[...document.querySelectorAll("#hits tr td")].map(e => e.textContent)`)
	if len(hit) != 3 || hit[1] != "db-1" || hit[2] != "needle 42 found in index" {
		t.Fatalf("search result cells %q, want time, db-1, the line", hit)
	}
	p.do("open the hit's client", chromedp.Click(chromedp.CSS("#hits button.link")))
	p.wait("db-1's details", badge("dname")+` === "db-1" && document.getElementById("log").textContent.includes("vacuum done")`)
	p.wait("db-1's details live", badge("dlive")+` === "live"`)
	p.wait("db-1 selected in the list", row("db-1")+`.classList.contains("sel")`)

	// A closed client's details: when and why it went, and its last lines.
	p.do("open the closed client", chromedp.Click(chromedp.CSS(`#clients tr[data-name="crashy"]`)))
	p.wait("crashy's details", badge("dname")+` === "crashy" && document.getElementById("log").textContent.includes("about to crash")`)
	p.wait("crashy's close reason", `(t => t.includes("closed") && t.includes("reasoneof"))(document.getElementById("info").textContent)`)
	p.do("back to db-1", chromedp.Click(chromedp.CSS(`#clients tr[data-name="db-1"]`)))
	p.wait("db-1's details again", badge("dname")+` === "db-1" && document.getElementById("log").textContent.includes("vacuum done")`)

	// Lines logged after the page opened, an error among them, a stack
	// trace by CONT, and markup that must stay text.
	send(t, web2, "LOG ERROR upstream refused after page opened\n")
	p.wait("a line logged after the page opened", tailHas("upstream refused after page opened"))
	p.wait("the error highlighted", `[...document.querySelectorAll("#lines .line.error .m")].some(e => e.textContent.includes("upstream refused"))`)
	send(t, web1, "LOG panic: boom\nCONT goroutine 1 [running]:\nCONT main.main()\n")
	p.wait("CONT lines appended to their entry", `[...document.querySelectorAll("#lines .line .m")].some(e => e.textContent === "panic: boom\ngoroutine 1 [running]:\nmain.main()")`)
	send(t, db1, "LOG <img src=x onerror=\"document.body.dataset.pwned=1\"><b>bold</b>\n")
	p.wait("markup shown as text", tailHas(`<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>`))
	p.wait("db-1's details live too", `document.getElementById("log").textContent.includes("<b>bold</b>")`)
	if n := eval[int](p, `document.querySelectorAll("#lines img, #lines b, #log img, #log b").length + (document.body.dataset.pwned ? 100 : 0)`); n != 0 {
		t.Fatalf("log data became markup: %d elements", n)
	}

	// Pause holds new lines back (the badge counts them), resume shows them.
	p.do("pause", chromedp.Click(chromedp.CSS("#pause")), until(badge("pause")+` === "Resume"`))
	send(t, db1, "LOG held back while paused\n")
	p.wait("the held line counted", badge("tail")+` === "paused · 1 new"`)
	if slices.ContainsFunc(tailLines(p), func(s string) bool { return strings.Contains(s, "held back") }) {
		t.Fatal("a line logged while paused is shown before resume")
	}
	p.do("resume", chromedp.Click(chromedp.CSS("#pause")))
	p.wait("the held line shown on resume", tailHas("held back while paused")+` && `+badge("tail")+` === "live"`)

	// A client that goes while the page is open is shown closed.
	send(t, web2, "SET status draining\n")
	p.wait("web-2's state from the event stream", row("web-2")+`.querySelector("td.state").textContent === "draining"`)
	closeAndWait(t, srv, web2, "web-2")
	p.wait("web-2 shown closed", row("web-2")+`.classList.contains("closed") && `+rowText("web-2")+`.includes("closed")`)
	p.wait("web-2's close in the tail", tailHas("disconnected: eof"))

	p.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	p.screenshot("desktop", true)
	p.do("dark mode", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	}), until(`getComputedStyle(document.body).backgroundColor === "rgb(17, 20, 24)"`))
	p.screenshot("desktop-dark", true)

	// A bad regex is the server's error, in search and in the tail filter;
	// a good tail filter restarts the tail with only matching lines.
	p.do("a bad search",
		chromedp.SetValue(chromedp.CSS("#q"), "("),
		chromedp.Click(chromedp.CSS("#search button")),
		until(`document.querySelector("#rsum .err")?.textContent.startsWith("usage:")`),
	)
	p.do("a bad tail filter", chromedp.SendKeys(chromedp.CSS("#tmatch"), "("),
		until(`document.getElementById("tail").className.includes("bad") && `+badge("tail")+`.startsWith("usage:")`))
	p.do("a tail filter",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("tmatch").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#tmatch"), "needle|vacuum"),
		until(badge("tail")+` === "live" && `+tailHas("vacuum done")),
	)
	if got := tailLines(p); !slices.Equal(got, []string{"needle 42 found in index", "vacuum done"}) {
		t.Fatalf("filtered tail shows %q", got)
	}
	// The line that does not match goes first: had it been sent, it would
	// be shown by the time the one after it is.
	send(t, db1, "LOG not this one\nLOG vacuum again\n")
	p.wait("a live line through the filter", tailHas("vacuum again"))
	if got := tailLines(p); !slices.Equal(got, []string{"needle 42 found in index", "vacuum done", "vacuum again"}) {
		t.Fatalf("filtered tail shows %q", got)
	}
}

// TestStatusPagePhone checks the page at a phone's width: nothing wider than
// the screen, a closed client greyed, and a tap on a client brings its
// details into view.
func TestStatusPagePhone(t *testing.T) {
	chromium(t)
	srv, url := start(t, nil)
	for _, name := range []string{"sensor-1", "sensor-2", "pump.west:7"} {
		c := client(t, srv, name)
		send(t, c, "LOG reading 21.5C\nSET status nominal\n")
		logged(t, srv, name, "reading 21.5C")
	}
	gone := client(t, srv, "sensor-3")
	send(t, gone, "LOG FATAL battery critical: shutting down\n")
	logged(t, srv, "sensor-3", "FATAL battery critical: shutting down")
	closeAndWait(t, srv, gone, "sensor-3")

	p := openPage(t, url+"/", 390, 844, true)
	p.wait("the client list", row("sensor-3")+`?.classList.contains("closed")`)
	p.wait("the tail live", badge("tail")+` === "live" && `+tailHas("battery critical"))
	// Nothing sticks out to the right of the 390px screen (a wide element
	// would also make a mobile browser zoom the layout out).
	if wide := eval[[]string](p, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391 && !e.closest(".scroll, .lines")).map(e => e.tagName + "#" + e.id + "." + e.className)`); len(wide) > 0 {
		t.Errorf("wider than the screen: %q", wide)
	}
	p.screenshot("phone", false)
	p.do("tap a client", chromedp.Tap(chromedp.CSS(`#clients tr[data-name="sensor-2"]`)))
	// Scrolled so that the details start at the top of the screen, or as far
	// as the page goes.
	p.wait("its details scrolled into view", badge("dname")+` === "sensor-2" && scrollY > 0 && (t => t > -2 && t < innerHeight / 4)(document.getElementById("detail").getBoundingClientRect().top)`)
	p.wait("its last lines", `document.getElementById("log").textContent.includes("reading 21.5C") && document.getElementById("state").textContent.includes("nominal")`)
	p.screenshot("phone-details", false)
}

// TestStatusPagePaging pages through 25 clients ten at a time (each exactly
// once), filters names by a glob, and checks that the page asks the server
// for one page at a time, never for every client.
func TestStatusPagePaging(t *testing.T) {
	chromium(t)
	srv, url := start(t, nil)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("node-%02d", i)
		want = append(want, name)
		client(t, srv, name)
	}
	eventually(t, "25 clients", func() bool {
		names, err := srv.ClientNames(context.Background())
		return err == nil && len(names) == 25
	})

	p := openPage(t, url+"/?limit=10", 1280, 900, false)
	names := `[...document.querySelectorAll("#clients tr")].map(e => e.dataset.name)`
	var seen []string
	for i, size := range []int{10, 10, 5} {
		first := want[i*10]
		p.wait(fmt.Sprintf("page %d", i+1), fmt.Sprintf(`document.querySelectorAll("#clients tr").length === %d && %s[0] === %s`, size, names, js(first)))
		seen = append(seen, eval[[]string](p, names)...)
		last := i == 2
		if disabled := eval[bool](p, `document.getElementById("next").disabled`); disabled != last {
			t.Fatalf("page %d: next disabled %v", i+1, disabled)
		}
		if !last {
			p.do("next page", chromedp.Click(chromedp.CSS("#next")))
		}
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("pages showed %q, want each of %q once in order", seen, want)
	}
	p.do("previous page", chromedp.Click(chromedp.CSS("#prev")))
	p.wait("page 2 again", names+`[0] === "node-10"`)

	p.do("filter", chromedp.SendKeys(chromedp.CSS("#filter"), "node-1*"))
	p.wait("filtered list", names+`.join() === "node-10,node-11,node-12,node-13,node-14,node-15,node-16,node-17,node-18,node-19"`)
	p.wait("the tail follows the filter", badge("tailscope")+` === "clients node-1*"`)
	urls := eval[[]string](p, `performance.getEntriesByType("resource").map(e => e.name).filter(u => new URL(u).pathname.endsWith("/api/clients"))`)
	if len(urls) == 0 {
		t.Fatal("no /api/clients request seen")
	}
	for _, u := range urls {
		if !strings.Contains(u, "limit=11") {
			t.Errorf("client list fetched without a page limit: %s", u)
		}
	}
}

// TestStatusPageAdminToken runs the page against a server with an admin
// token: it asks for the token, says so when it is wrong, and with the right
// one lists clients and follows the tail over the WebSocket (?token=).
func TestStatusPageAdminToken(t *testing.T) {
	chromium(t)
	const token = "s3cret-admin-token"
	srv, url := startWeb(t, nil, web.Options{AdminToken: token})
	alice := client(t, srv, "alice")
	send(t, alice, "LOG hello from alice\n")
	logged(t, srv, "alice", "hello from alice")

	p := openPage(t, url+"/", 1280, 900, false)
	p.do("the token prompt", chromedp.WaitVisible(chromedp.CSS("#token")))
	p.screenshot("token-prompt", false)
	p.do("a wrong token",
		chromedp.SendKeys(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(chromedp.CSS("#auth button")),
		until(`!document.getElementById("autherr").hidden && `+badge("autherr")+`.includes("refused")`),
	)
	p.do("the right token",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#auth button")),
		until(row("alice")+` !== null && document.getElementById("auth").hidden`),
	)
	p.wait("the tail live", badge("tail")+` === "live" && `+tailHas("hello from alice"))
	send(t, alice, "LOG after unlocking\n")
	p.wait("a live line", tailHas("after unlocking"))
	if got := eval[string](p, `sessionStorage.getItem("logatron.token")`); got != token {
		t.Fatalf("session storage holds %q", got)
	}
}

// TestStatusPageTailReconnects stops the HTTP server under an open page and
// starts it again on the same address: the tail says it is reconnecting,
// comes back by itself, and shows the line logged while it was away exactly
// once, with no line shown twice.
func TestStatusPageTailReconnects(t *testing.T) {
	chromium(t)
	srv := newLoop(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	stop := serveUntil(t, srv, ln)
	bob := client(t, srv, "bob")
	for i := range 3 {
		send(t, bob, fmt.Sprintf("LOG before %d\n", i))
	}
	logged(t, srv, "bob", "before 2")

	p := openPage(t, "http://"+addr+"/", 1280, 900, false)
	p.wait("the tail live", badge("tail")+` === "live" && `+tailHas("before 2"))
	stop()
	p.wait("the tail reconnecting", badge("tail")+`.startsWith("reconnecting")`)
	send(t, bob, "LOG while away\n")
	logged(t, srv, "bob", "while away")
	var ln2 net.Listener
	eventually(t, "the address free again", func() bool {
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	})
	serveUntil(t, srv, ln2)
	p.wait("the tail back with the missed line", badge("tail")+` === "live" && `+tailHas("while away"))
	send(t, bob, "LOG after return\n")
	p.wait("a line after the return", tailHas("after return"))
	got := tailLines(p)
	wantLines := []string{"before 0", "before 1", "before 2", "while away", "after return"}
	if !slices.Equal(got, wantLines) {
		t.Fatalf("tail shows %q, want %q", got, wantLines)
	}
}

// serveUntil serves srv's HTTP API on ln and returns a func that stops it
// (also called when the test ends).
func serveUntil(t *testing.T, srv *loop.Server, ln net.Listener) (stop func()) {
	t.Helper()
	hs, err := web.NewServer(srv, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = hs.Close()
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestStatusPageTailBounded floods the tail: it keeps the newest lines
// only, and what more than that arrives while paused is counted and said.
func TestStatusPageTailBounded(t *testing.T) {
	chromium(t)
	const max = 1000 // TAIL_MAX in index.html
	srv, url := start(t, nil)
	flood := client(t, srv, "flood")
	eventually(t, "flood connected", func() bool {
		_, err := srv.ClientInfo(context.Background(), "flood")
		return err == nil
	})
	p := openPage(t, url+"/", 1280, 900, false)
	p.wait("the tail live", badge("tail")+` === "live"`)
	lines := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "LOG %s %04d\n", prefix, i)
		}
		return b.String()
	}
	count := `document.querySelectorAll("#lines .line").length`
	first := `document.querySelector("#lines .line .m").textContent`

	send(t, flood, lines("live", 1200))
	p.wait("the last line", tailHas("live 1199"))
	if n := eval[int](p, count); n != max {
		t.Fatalf("tail keeps %d lines, want %d", n, max)
	}
	if got := eval[string](p, first); got != "live 0200" {
		t.Fatalf("oldest line kept %q, want live 0200", got)
	}

	p.do("pause", chromedp.Click(chromedp.CSS("#pause")))
	send(t, flood, lines("held", 1100))
	p.wait("1100 held", badge("tail")+` === "paused · 1100 new"`)
	p.do("resume", chromedp.Click(chromedp.CSS("#pause")), until(tailHas("held 1099")))
	if n := eval[int](p, count); n != max {
		t.Fatalf("tail keeps %d lines after resume, want %d", n, max)
	}
	if got := eval[string](p, first); got != "101 lines not shown: more than 1000 came while paused" {
		t.Fatalf("oldest line after resume %q, want the note of what was dropped", got)
	}
	if got := eval[string](p, `document.querySelectorAll("#lines .line .m")[1].textContent`); got != "held 0101" {
		t.Fatalf("oldest held line shown %q, want held 0101", got)
	}
}
