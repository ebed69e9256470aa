package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium binary (apt-get install chromium): browser test skipped")
	return ""
}

// TestStatusPageInBrowser drives the status page in headless Chromium at
// phone width: the client connected during the test is listed, clicking it
// shows its log, and a line logged afterwards arrives over the WebSocket.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	srv, url := start(t, nil)
	bob := client(t, srv, "bob")
	send(t, bob, "LOG first line\nSET mode auto\n")
	eventually(t, "bob's state", func() bool {
		kv, err := srv.ClientState(context.Background(), "bob")
		return err == nil && kv["mode"] == "auto"
	})

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
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	// The first Run starts the browser, which lives as long as ctx: bound
	// each step instead (chromedp's rule), with the test's own deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	row := chromedp.CSS(`#clients tr[data-name="bob"]`)
	until := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))
	}
	err := chromedp.Do(step,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(row),
		chromedp.Click(row),
		until(`document.getElementById("log").textContent.includes("first line")`),
		until(`document.getElementById("state").textContent.includes("auto")`),
		until(`document.getElementById("tail").textContent === "live"`),
	)
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	send(t, bob, "LOG arrived live\n")
	if err := chromedp.Do(step, until(`document.getElementById("log").textContent.includes("arrived live")`)); err != nil {
		t.Fatalf("live tail: %v", err)
	}
	shot, err := chromedp.Run(step, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if dir := os.Getenv("LOGATRON_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "status-page.png"), shot, 0o644)
	}
}
