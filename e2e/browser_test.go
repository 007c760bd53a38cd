//go:build integration

package e2e

// The browser tests drive headless Chromium with chromedp. Each test has a
// browser to itself while it runs (so tests run in parallel; browsers are
// reused between tests), and opens tabs in it; a tab reports what its pages
// say is broken (exceptions, console errors, CSP violations).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the tests drive: Debian's chromium-headless-shell
// (Chromium's "old" headless mode, no browser UI) when installed, else the full
// chromium in its headless mode. The full browser runs its own WebUI renderers
// and costs about 4 times the CPU for the same tests (53 against 14 CPU-seconds
// for three desk and supervisor tests), which on two cores slowed every other
// test of the run beside them.
var chromiumPath = func() string {
	for _, p := range []string{"/usr/bin/chromium-headless-shell", "/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/bin/chromium-headless-shell"
}()

// The window every page gets: the desk's reference size.
const viewportWidth, viewportHeight = 1366, 768

// commandTimeout bounds one command to the browser.
const commandTimeout = 30 * time.Second

type browser struct {
	t *testing.T
	// ctx is the first tab of the test's browser context; it lives as long
	// as the test, and the context with it.
	ctx context.Context

	mu       sync.Mutex
	problems []string // what the pages reported as broken
}

// tab is one page of the browser.
type tab struct {
	b   *browser
	ctx context.Context
}

// requireChromium skips the test on a machine without Chromium.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("headless Chromium is not installed (apt-get install -y chromium-headless-shell, or chromium)")
	}
}

// startBrowser gives the test a headless Chromium of its own for as long as it
// runs, in a browser context of its own (fresh cookies, storage and
// permissions, as a new profile would have). Start it after the servers it
// talks to, so that its tabs are closed (closing their connections) before
// they are.
//
// Browsers are kept between tests (browserPool): starting Chromium costs 2-3 s
// of CPU, 23 times per run. A browser runs one test at a time, so each test's
// tabs have the browser to themselves, as with a browser per test; sharing one
// browser between concurrent tests was tried and its runs were flaky.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireChromium(t)
	pb, err := browsers.take()
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := chromedp.NewContext(pb.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		cancel() // closes the test's tabs and disposes of its browser context
		// A failed test may have left the browser in a state no other test
		// should inherit; it costs one browser start to be sure.
		browsers.give(pb, !t.Failed())
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open the test's browser context: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// pooledBrowser is one running Chromium; ctx is its first tab.
type pooledBrowser struct {
	ctx   context.Context
	close func()
}

// browserPool holds the browsers not running a test. It grows to the number of
// browser tests that run at once (go test's -parallel) and is closed by
// TestMain.
type browserPool struct {
	mu   sync.Mutex
	idle []*pooledBrowser
}

var browsers browserPool

// take returns an idle browser that is still running, or starts one.
func (p *browserPool) take() (*pooledBrowser, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		pb := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if pb.ctx.Err() == nil {
			p.mu.Unlock()
			return pb, nil
		}
		pb.close() // it exited
	}
	p.mu.Unlock()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("autoplay-policy", "user-gesture-required"),
		chromedp.Flag("hide-scrollbars", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	pb := &pooledBrowser{ctx: ctx, close: func() {
		cancel() // closes the browser
		cancelAlloc()
	}}
	if err := chromedp.Do(ctx); err != nil {
		pb.close()
		return nil, err
	}
	return pb, nil
}

// give returns a browser after a test: to the pool when reuse is true, else
// it is closed. (take skips one that has exited since.)
func (p *browserPool) give(pb *pooledBrowser, reuse bool) {
	if !reuse {
		pb.close()
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, pb)
	p.mu.Unlock()
}

// closeAll closes the idle browsers: at the end of the run, when no test holds one.
func (p *browserPool) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pb := range idle {
		pb.close()
	}
}

// Problems returns what the pages reported as broken so far.
func (b *browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// requireNoProblems fails the test if a page reported anything broken: the
// last check of every browser test.
func (b *browser) requireNoProblems() {
	b.t.Helper()
	if p := b.Problems(); len(p) > 0 {
		b.t.Fatalf("the pages reported problems: %v", p)
	}
}

// watch records what a page reports as broken. It runs in the tab's event
// loop, so it only takes notes.
func (b *browser) watch(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			problem = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
		}
	case *cdplog.EventEntryAdded:
		// Network errors (the 401 of a signed-out page, a missing picture) are
		// expected; script errors and security (CSP) violations are not.
		e := ev.Entry
		if e.Level == cdplog.EntryLevelError && e.Source != cdplog.EntrySourceNetwork {
			problem = "log " + string(e.Source) + ": " + e.Text + " " + e.URL
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// newTab opens a page. initScript runs in every document before the page's own
// scripts (used to observe notifications and sounds).
func (b *browser) newTab(initScript string) *tab {
	b.t.Helper()
	return b.openTab(initScript)
}

// newIsolatedTab opens a page in a browser context of its own: its own cookies
// and storage, like a separate browser profile, so two agents can be signed in
// side by side.
func (b *browser) newIsolatedTab(initScript string) *tab {
	b.t.Helper()
	return b.openTab(initScript, chromedp.WithNewBrowserContext())
}

func (b *browser) openTab(initScript string, opts ...chromedp.ContextOption) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, append(opts, chromedp.WithListener(b.watch))...)
	b.t.Cleanup(cancel)
	// The first run opens the tab, whose events are read for as long as the
	// context of that run lives: the tab's own, never one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{b: b, ctx: ctx}
	steps := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(viewportWidth, viewportHeight)}
	if initScript != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: initScript})
			return err
		}))
	}
	tb.do("set up the tab", steps...)
	return tb
}

// do runs actions in the tab, failing the test on an error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, commandTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.b.t.Fatalf("%s: %v", what, err)
	}
}

// grantNotifications lets origin show system notifications without a prompt,
// in this tab's browser context.
func (tb *tab) grantNotifications(origin string) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, commandTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission:       &cdpbrowser.PermissionDescriptor{Name: "notifications"},
		Setting:          cdpbrowser.PermissionSettingGranted,
		Origin:           origin,
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
	})
	if err != nil {
		tb.b.t.Fatalf("grant notifications: %v", err)
	}
}

// navigate loads url and waits for its load event.
func (tb *tab) navigate(url string) {
	tb.b.t.Helper()
	tb.do("navigate "+url, chromedp.Navigate(url))
}

// eval runs an expression in the page (awaiting a promise) and decodes its
// value into out.
func (tb *tab) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(tb.ctx, commandTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("%s: %w", expr, err)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
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

// waitFor polls a boolean expression in the page until it holds. An exception
// (an element not there yet) counts as "not yet".
func (tb *tab) waitFor(what, expr string, timeout time.Duration) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+commandTimeout)
	defer cancel()
	predicate := `(() => { try { return !!(` + expr + `); } catch { return false; } })()`
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err == nil {
		return
	}
	if !errors.Is(err, chromedp.ErrPollingTimeout) {
		tb.b.t.Fatalf("waiting for %s: %v", what, err)
	}
	// Say why: the expression's own error, if it has one, and what the page shows.
	var ok bool
	evalErr := tb.eval("!!("+expr+")", &ok)
	var body string
	_ = tb.eval(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &body)
	tb.b.t.Fatalf("timed out waiting for %s (%v)\npage text:\n%s\nproblems: %v", what, evalErr, body, tb.b.Problems())
}

// signIn opens url, the desk or the admin console, and signs in with token.
func (tb *tab) signIn(url, token string) {
	tb.b.t.Helper()
	tb.navigate(url)
	tb.waitFor("the sign-in form", `!document.querySelector("#signin").hidden`, 10*time.Second)
	tb.typeInto("#token", token)
	tb.click("#signin-button")
}

// newDeskStack starts a desk test: it skips where there is no Chromium (before
// building anything), then builds a stack with a connected page and an agent
// of the page's default queue, with the name (which the desk shows) and the
// capacity given.
func newDeskStack(t *testing.T, name string, capacity int) (*stack, channel, agent) {
	t.Helper()
	requireChromium(t)
	st, ch := newPageStack(t)
	return st, ch, st.createAgent(name, capacity)
}

// signInDesk signs a in to the desk of the starter at base and waits until
// the desk shows a's name.
func (tb *tab) signInDesk(base string, a agent) {
	tb.b.t.Helper()
	tb.signIn(base+"/desk", a.Token)
	tb.waitFor(a.Name+"'s desk", fmt.Sprintf(`!document.querySelector("#app").hidden && document.querySelector("#me-name").textContent === %q`, a.Name), 10*time.Second)
}

// openDesk opens a tab in a browser context of its own (its own cookies, as
// on a machine of its own, so that agents can sit side by side), with
// initScript run in every document, and signs a in to the stack's desk.
func (st *stack) openDesk(b *browser, a agent, initScript string) *tab {
	st.t.Helper()
	tb := b.newIsolatedTab(initScript)
	tb.signInDesk(st.api.URL, a)
	return tb
}

// markDocument sets window.__sameDocument in the page: a reload would wipe
// it, so a wait that requires it proves that what it saw arrived live.
func (tb *tab) markDocument() {
	tb.b.t.Helper()
	tb.mustEval(`window.__sameDocument = true`, nil)
}

// click presses and releases the left mouse button on the middle of an element,
// as a person would (a trusted event, so it counts as a user gesture). Like a
// person it waits, up to actionTimeout, until the element is there, visible,
// still (not moved by a layout that is still settling) and not covered.
func (tb *tab) click(selector string) {
	tb.b.t.Helper()
	x, y := tb.actionPoint(selector)
	tb.do("click "+selector, chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.MouseClickXY(x, y))
}

// actionTimeout bounds how long click waits for its element.
const actionTimeout = 10 * time.Second

// actionPoint scrolls an element into view and returns the middle of it once
// it stays in the same place for two frames and is what a click there hits.
func (tb *tab) actionPoint(selector string) (x, y float64) {
	tb.b.t.Helper()
	var r struct {
		X, Y  float64
		Found bool
	}
	tb.mustEval(fmt.Sprintf(`(async (selector, timeout) => {
		const frame = () => new Promise((done) => { requestAnimationFrame(done); setTimeout(done, 100); });
		const deadline = performance.now() + timeout;
		let last = null;
		while (performance.now() < deadline) {
			const el = document.querySelector(selector);
			if (el) {
				el.scrollIntoView({block: "center"});
				const b = el.getBoundingClientRect();
				const x = b.left + b.width / 2, y = b.top + b.height / 2;
				const hit = b.width > 0 && b.height > 0 ? document.elementFromPoint(x, y) : null;
				const ours = hit && (el.contains(hit) || (hit.closest("label") && hit.closest("label").control === el));
				if (ours && last && last.x === x && last.y === y) return {found: true, x, y};
				last = ours ? {x, y} : null;
			}
			await frame();
		}
		return {found: false};
	})(%q, %d)`, selector, actionTimeout.Milliseconds()), &r)
	if !r.Found {
		tb.b.t.Fatalf("no visible %s to act on (waited %v)\nproblems: %v", selector, actionTimeout, tb.b.Problems())
	}
	return r.X, r.Y
}

// typeInto focuses a field, as a click or Tab would, and types text into it
// (inserted as by an input method: no key events, so an Enter in the text
// sends nothing). It focuses rather than clicks: a click aims at a point, and a
// form that is still being laid out can move another field there.
func (tb *tab) typeInto(selector, text string) {
	tb.b.t.Helper()
	var focused bool
	tb.mustEval(fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false;
		el.scrollIntoView({block: "center"}); el.focus(); return document.activeElement === el; })()`, selector), &focused)
	if !focused {
		tb.b.t.Fatalf("type into %s: no such field, or it cannot take the focus\nproblems: %v", selector, tb.b.Problems())
	}
	tb.do("type into "+selector, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// screenshot saves a PNG of the viewport, or of the whole page when full.
func (tb *tab) screenshot(path string, full bool) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, commandTimeout)
	defer cancel()
	params := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng}
	if full {
		var size struct{ W, H float64 }
		tb.mustEval(`({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})`, &size)
		beyond := true
		params.CaptureBeyondViewport = &beyond
		params.Clip = &page.Viewport{X: 0, Y: 0, Width: size.W, Height: size.H, Scale: 1}
	}
	shot, err := chromedp.Call(ctx, page.CaptureScreenshot, params)
	if err != nil {
		tb.b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
	tb.b.t.Logf("screenshot: %s", path)
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
