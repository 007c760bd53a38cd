package e2e

// A small Chrome DevTools Protocol client for the browser tests. It talks to
// headless Chromium over --remote-debugging-pipe (file descriptors 3 and 4,
// NUL-separated JSON), so it needs no WebSocket library and no new module.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	w       *os.File
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	// problems collects JavaScript exceptions, console errors and CSP violations.
	problems []string
	stderr   strings.Builder
}

// tab is one page target driven through a flattened session.
type tab struct {
	b       *browser
	session string
}

// requireChromium skips the test on a machine without Chromium.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("headless Chromium is not installed at " + chromiumPath + " (apt-get install -y chromium)")
	}
}

// startBrowser launches headless Chromium. Start it after the servers it talks
// to, so that it is stopped (closing its connections) before they are.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireChromium(t)
	cmdR, cmdW, err := os.Pipe() // we write commands, Chromium reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // Chromium writes fd 4, we read
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, w: cmdW, pending: map[int64]chan cdpMessage{}}
	b.cmd = exec.Command(chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
		"--mute-audio", "--autoplay-policy=user-gesture-required", "--hide-scrollbars",
		"--window-size=1366,768", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, outW}
	b.cmd.Stderr = &lockedWriter{b: b}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	outW.Close()
	go b.read(outR)
	t.Cleanup(func() {
		b.w.Close()
		done := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-done
		}
	})
	return b
}

type lockedWriter struct{ b *browser }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.b.stderr.Len() < 1<<16 {
		l.b.stderr.Write(p)
	}
	return len(p), nil
}

func (b *browser) read(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		b.event(m)
	}
}

// event records what a page reports as broken.
func (b *browser) event(m cdpMessage) {
	var problem string
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		_ = json.Unmarshal(m.Params, &p)
		problem = "exception: " + p.ExceptionDetails.Text + " " + p.ExceptionDetails.Exception.Description
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.Type == "error" || p.Type == "assert" {
			var parts []string
			for _, a := range p.Args {
				parts = append(parts, fmt.Sprint(a.Value, a.Description))
			}
			problem = "console." + p.Type + ": " + strings.Join(parts, " ")
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Source string `json:"source"`
				Level  string `json:"level"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(m.Params, &p)
		// Network errors (the 401 of a signed-out page, a missing picture) are
		// expected; script errors and security (CSP) violations are not.
		if p.Entry.Level == "error" && p.Entry.Source != "network" {
			problem = "log " + p.Entry.Source + ": " + p.Entry.Text + " " + p.Entry.URL
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// call sends one command and waits for its answer.
func (b *browser) call(session, method string, params any, result any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	if _, err := b.w.Write(append(msg, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: the browser went away: %s", method, b.stderrText())
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: no answer in 30s", method)
	}
}

func (b *browser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

func (b *browser) must(session, method string, params any, result any) {
	b.t.Helper()
	if err := b.call(session, method, params, result); err != nil {
		b.t.Fatal(err)
	}
}

// Problems returns what the pages reported as broken so far.
func (b *browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// newTab opens a 1366x768 page. initScript runs in every document before the
// page's own scripts (used to observe notifications and sounds).
func (b *browser) newTab(initScript string) *tab {
	b.t.Helper()
	return b.newTabIn("", initScript)
}

// newContext creates a browser context: its own cookies and storage, like a
// separate browser profile, so two agents can be signed in side by side.
func (b *browser) newContext() string {
	b.t.Helper()
	var out struct {
		BrowserContextID string `json:"browserContextId"`
	}
	b.must("", "Target.createBrowserContext", map[string]any{"disposeOnDetach": true}, &out)
	return out.BrowserContextID
}

// newTabIn is newTab in a browser context ("" is the default one).
func (b *browser) newTabIn(browserContext, initScript string) *tab {
	b.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	params := map[string]any{"url": "about:blank"}
	if browserContext != "" {
		params["browserContextId"] = browserContext
	}
	b.must("", "Target.createTarget", params, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.must("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	tb := &tab{b: b, session: att.SessionID}
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		b.must(tb.session, m, nil, nil)
	}
	b.must(tb.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": false}, nil)
	if initScript != "" {
		b.must(tb.session, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": initScript}, nil)
	}
	return tb
}

func (tb *tab) navigate(url string) {
	tb.b.t.Helper()
	var out struct {
		ErrorText string `json:"errorText"`
	}
	tb.b.must(tb.session, "Page.navigate", map[string]any{"url": url}, &out)
	if out.ErrorText != "" {
		tb.b.t.Fatalf("navigate %s: %s", url, out.ErrorText)
	}
}

// eval runs an expression in the page and decodes its value into out.
func (tb *tab) eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := tb.b.call(tb.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

func (tb *tab) mustEval(expr string, out any) {
	tb.b.t.Helper()
	if err := tb.eval(expr, out); err != nil {
		tb.b.t.Fatal(err)
	}
}

func (tb *tab) text(selector string) string {
	tb.b.t.Helper()
	var s string
	tb.mustEval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector), &s)
	return s
}

// waitFor polls a boolean expression until it holds.
func (tb *tab) waitFor(what, expr string, timeout time.Duration) {
	tb.b.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		var ok bool
		if lastErr = tb.eval("!!("+expr+")", &ok); lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			_ = tb.eval(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &body)
			tb.b.t.Fatalf("timed out waiting for %s (%v)\npage text:\n%s\nproblems: %v", what, lastErr, body, tb.b.Problems())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click presses and releases the left mouse button on the middle of an element,
// as a person would (a trusted event, so it counts as a user gesture).
func (tb *tab) click(selector string) {
	tb.b.t.Helper()
	var r struct {
		X, Y  float64
		Found bool
	}
	tb.mustEval(fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return {found: false};
		el.scrollIntoView({block: "center"}); const b = el.getBoundingClientRect();
		return {found: b.width > 0 && b.height > 0, x: b.left + b.width / 2, y: b.top + b.height / 2}; })()`, selector), &r)
	if !r.Found {
		tb.b.t.Fatalf("click: no visible %s", selector)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		tb.b.must(tb.session, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": r.X, "y": r.Y, "button": "left", "clickCount": 1}, nil)
	}
}

// typeInto clicks an input and types text into it.
func (tb *tab) typeInto(selector, text string) {
	tb.b.t.Helper()
	tb.click(selector)
	tb.b.must(tb.session, "Input.insertText", map[string]any{"text": text}, nil)
}

// screenshot saves a PNG of the viewport, or of the whole page when full.
func (tb *tab) screenshot(path string, full bool) {
	tb.b.t.Helper()
	var out struct {
		Data string `json:"data"`
	}
	params := map[string]any{"format": "png"}
	if full {
		var size struct{ W, H float64 }
		tb.mustEval(`({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})`, &size)
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": size.W, "height": size.H, "scale": 1}
	}
	tb.b.must(tb.session, "Page.captureScreenshot", params, &out)
	png, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil {
		tb.b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
	tb.b.t.Logf("screenshot: %s", path)
}

// grantNotifications lets origin show system notifications without a prompt.
func (b *browser) grantNotifications(origin string) {
	b.t.Helper()
	b.grantNotificationsIn("", origin)
}

// grantNotificationsIn is grantNotifications in a browser context ("" is the default one).
func (b *browser) grantNotificationsIn(browserContext, origin string) {
	b.t.Helper()
	params := map[string]any{"origin": origin, "permissions": []string{"notifications"}}
	if browserContext != "" {
		params["browserContextId"] = browserContext
	}
	b.must("", "Browser.grantPermissions", params, nil)
}

// screenshotDir is DESK_SCREENSHOT_DIR when set (to keep the pictures), else a
// temporary directory removed with the test.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("DESK_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
