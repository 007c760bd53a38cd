//go:build integration

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// deskRequest sends a request with the given cookies and headers and decodes a
// JSON answer.
func (st *stack) deskRequest(method, path string, cookies []*http.Cookie, header map[string]string, body any) (*http.Response, map[string]any) {
	st.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, st.api.URL+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			st.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp, out
}

// wantError checks the contract's error shape and code.
func wantError(t *testing.T, what string, resp *http.Response, body map[string]any, status int, code string) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if resp.StatusCode != status || e == nil || e["code"] != code || msg == "" {
		t.Fatalf("%s: %d %v, want %d with error code %q and a message", what, resp.StatusCode, body, status, code)
	}
}

func cookieNamed(cookies []*http.Cookie, name string) *http.Cookie {
	for _, c := range cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Signing in to the desk sets an HttpOnly SameSite=Strict session cookie and a
// readable anti-CSRF cookie; cookie-authenticated reads work, writes need the
// X-CSRF-Token header; bearer tokens work exactly as before.
func TestDeskSessionCookieAuth(t *testing.T) {
	st, ch := newPageStack(t)
	a := st.createAgent("ada", 2)

	// The pages are served with a strict CSP.
	resp, _ := st.deskRequest("GET", "/desk", nil, nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /desk: %d %v", resp.StatusCode, resp.Header)
	}
	for _, p := range []string{"/admin", "/desk/assets/desk.js", "/desk/assets/common.js", "/desk/assets/admin.js", "/desk/assets/desk.css"} {
		if resp, _ := st.deskRequest("GET", p, nil, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := st.deskRequest("GET", "/desk/assets/nope.js", nil, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("missing asset: %d", resp.StatusCode)
	}

	// Wrong, missing and badly sent credentials.
	resp, body := st.deskRequest("POST", "/desk/session", nil, nil, map[string]string{"token": "agt_wrong"})
	wantError(t, "wrong token", resp, body, 401, "unauthorized")
	if len(resp.Cookies()) != 0 {
		t.Fatalf("a refused sign-in set cookies: %v", resp.Cookies())
	}
	resp, body = st.deskRequest("POST", "/desk/session", nil, nil, map[string]string{})
	wantError(t, "missing token", resp, body, 401, "unauthorized")
	resp, body = st.deskRequest("GET", "/api/v1/me/conversations", nil, nil, nil)
	wantError(t, "no credentials", resp, body, 401, "unauthorized")
	resp, body = st.deskRequest("GET", "/api/v1/me/conversations", []*http.Cookie{{Name: "fbc_session", Value: "agt_forged"}}, nil, nil)
	wantError(t, "forged session cookie", resp, body, 401, "unauthorized")
	req, _ := http.NewRequest("POST", st.api.URL+"/desk/session", strings.NewReader("token="+a.Token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 415 {
		t.Fatalf("form-encoded sign-in (login CSRF): %v %v", err, resp)
	}

	// Sign in.
	resp, body = st.deskRequest("POST", "/desk/session", nil, nil, map[string]string{"token": a.Token})
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d %v", resp.StatusCode, body)
	}
	if me, _ := body["agent"].(map[string]any); me["id"] != a.ID {
		t.Fatalf("sign in answer: %v", body)
	}
	session := cookieNamed(resp.Cookies(), "fbc_session")
	csrf := cookieNamed(resp.Cookies(), "fbc_csrf")
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Secure || session.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", session)
	}
	if csrf == nil || csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/" || len(csrf.Value) < 40 {
		t.Fatalf("csrf cookie: %+v", csrf)
	}
	cookies := []*http.Cookie{session, csrf}

	// Cookie-authenticated reads need no CSRF header.
	resp, body = st.deskRequest("GET", "/desk/session", cookies, nil, nil)
	if me, _ := body["agent"].(map[string]any); resp.StatusCode != 200 || me["id"] != a.ID {
		t.Fatalf("GET /desk/session: %d %v", resp.StatusCode, body)
	}
	if resp, _ := st.deskRequest("GET", "/api/v1/me/conversations", cookies, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("cookie GET conversations: %d", resp.StatusCode)
	}

	// Cookie-authenticated writes need X-CSRF-Token equal to the fbc_csrf cookie.
	presence := map[string]string{"status": "available"}
	resp, body = st.deskRequest("PUT", "/api/v1/me/presence", cookies, nil, presence)
	wantError(t, "cookie PUT without CSRF header", resp, body, 403, "csrf_failed")
	resp, body = st.deskRequest("PUT", "/api/v1/me/presence", cookies, map[string]string{"X-CSRF-Token": "nope"}, presence)
	wantError(t, "cookie PUT with a wrong CSRF header", resp, body, 403, "csrf_failed")
	// A planted pair (cookie and header alike, but not minted for this session) fails too.
	planted := "AAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	resp, body = st.deskRequest("PUT", "/api/v1/me/presence", []*http.Cookie{session, {Name: "fbc_csrf", Value: planted}},
		map[string]string{"X-CSRF-Token": planted}, presence)
	wantError(t, "cookie PUT with a planted CSRF pair", resp, body, 403, "csrf_failed")
	resp, body = st.deskRequest("PUT", "/api/v1/me/presence", cookies, map[string]string{"X-CSRF-Token": csrf.Value, "Sec-Fetch-Site": "cross-site"}, presence)
	wantError(t, "cross-site cookie PUT", resp, body, 403, "csrf_failed")
	if n := st.count("agents", "id = $1 AND presence = 'available'", a.ID); n != 0 {
		t.Fatalf("a refused request changed presence")
	}
	withCSRF := map[string]string{"X-CSRF-Token": csrf.Value}
	if resp, body := st.deskRequest("PUT", "/api/v1/me/presence", cookies, withCSRF, presence); resp.StatusCode != 200 {
		t.Fatalf("cookie PUT with CSRF header: %d %v", resp.StatusCode, body)
	}

	// A conversation: a cookie POST of a reply is refused without the header and
	// sends nothing; with it, the reply reaches the Send API.
	events := st.openEvents(a, "")
	convID := st.customerAssigned(events, ch, "2900000000000101", "Hello from the desk test")
	reply := map[string]string{"text": "Hi, how can I help?"}
	resp, body = st.deskRequest("POST", "/api/v1/conversations/"+convID+"/messages", cookies, nil, reply)
	wantError(t, "cookie POST without CSRF header", resp, body, 403, "csrf_failed")
	if n := len(st.sim.Requests("/messages")); n != 0 {
		t.Fatalf("a refused reply was sent (%d Send API calls)", n)
	}
	resp, body = st.deskRequest("POST", "/api/v1/conversations/"+convID+"/messages", cookies, withCSRF, reply)
	if resp.StatusCode != 201 || body["status"] != "sent" {
		t.Fatalf("cookie POST with CSRF header: %d %v", resp.StatusCode, body)
	}
	if sends := st.sim.Requests("/messages"); len(sends) != 1 {
		t.Fatalf("Send API calls: %d, want 1", len(sends))
	}

	// Bearer tokens keep working, with no CSRF header, and win over a cookie.
	if code := st.call("PUT", "/api/v1/me/presence", a.Token, map[string]string{"status": "busy"}, nil); code != 200 {
		t.Fatalf("bearer PUT: %d", code)
	}
	var conv map[string]any
	if code := st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv); code != 200 || conv["id"] != convID {
		t.Fatalf("bearer GET: %d", code)
	}
	resp, body = st.deskRequest("GET", "/api/v1/me/conversations", cookies, map[string]string{"Authorization": "Bearer agt_wrong"}, nil)
	wantError(t, "wrong bearer with a valid cookie", resp, body, 401, "unauthorized")

	// The SSE stream works with the cookie alone (that is what EventSource sends).
	sreq, _ := http.NewRequest("GET", st.api.URL+"/api/v1/me/events", nil)
	sreq.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil || sresp.StatusCode != 200 || !strings.HasPrefix(sresp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("cookie SSE: %v %v", err, sresp)
	}
	sresp.Body.Close()

	// Sign out clears both cookies.
	resp, _ = st.deskRequest("DELETE", "/desk/session", cookies, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	for _, name := range []string{"fbc_session", "fbc_csrf"} {
		if c := cookieNamed(resp.Cookies(), name); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("sign out did not clear %s: %+v", name, c)
		}
	}

	// Cookies are Secure when the service is published over HTTPS.
	srv := st.server(temporalClient)
	srv.PublicBaseURL = "https://desk.example.com"
	rec := httptest.NewRecorder()
	sreq = httptest.NewRequest("POST", "/desk/session", strings.NewReader(`{"token":"`+a.Token+`"}`))
	sreq.Header.Set("Content-Type", "application/json")
	srv.Handler().ServeHTTP(rec, sreq)
	secure := rec.Result().Cookies()
	if rec.Code != 200 || len(secure) != 2 || !secure[0].Secure || !secure[1].Secure {
		t.Fatalf("https sign-in: %d %v", rec.Code, secure)
	}
}

// avatarServer serves a generated profile picture, so the desk shows a real one.
func avatarServer(t *testing.T) *httptest.Server {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	bg := color.RGBA{0x8e, 0xb8, 0xe5, 0xff}
	skin := color.RGBA{0xf1, 0xc2, 0x9c, 0xff}
	shirt := color.RGBA{0x2f, 0x4a, 0x7a, 0xff}
	hair := color.RGBA{0x4a, 0x2f, 0x22, 0xff}
	for y := 0; y < 96; y++ {
		for x := 0; x < 96; x++ {
			c := bg
			dx, dy := x-48, y-40
			switch {
			case dx*dx+(y-100)*(y-100) < 42*42:
				c = shirt
			case dx*dx+dy*dy < 19*19 && y < 33:
				c = hair
			case dx*dx+dy*dy < 18*18:
				c = skin
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deskObservers records system notifications and alert sounds in the page.
const deskObservers = `
window.__notified = [];
window.__beeps = 0;
if (window.Notification) {
  let N = window.Notification;
  if (N.permission === "denied") {
    // Chromium's headless shell has no notification service: its
    // Notification.permission stays "denied" whatever the test granted, though
    // navigator.permissions reports the grant. This stand-in takes the
    // permission from there and shows nothing; the desk's code runs as in a
    // browser that shows notifications.
    let state = "default";
    const from = s => { state = s.state === "prompt" ? "default" : s.state; };
    navigator.permissions.query({name: "notifications"}).then(s => { from(s); s.onchange = () => from(s); });
    N = class { static get permission() { return state; } static requestPermission(cb) { if (cb) cb(state); return Promise.resolve(state); } };
  }
  window.Notification = new Proxy(N, {construct(target, args) { window.__notified.push(args[0] + ": " + ((args[1] || {}).body || "")); return Reflect.construct(target, args); }});
}
if (window.AudioContext) {
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__beeps++; return create.call(this); };
}`

// An agent works a conversation in a real browser: signs in on the desk page,
// goes available, is alerted to a new customer, reads the transcript live,
// replies, and the reply reaches the Send API.
func TestDeskInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 3)
	pics := avatarServer(t)
	jane := "2900000000000201"
	st.sim.RegisterProfile(jane, simulator.ProfileData{FirstName: "Jane", LastName: "Cooper", ProfilePic: pics.URL + "/jane.png", Locale: "en_US"})
	marcus := st.customerProfile("2900000000000202", "Marcus", "Lee", "en_GB")

	b := startBrowser(t)
	tb := b.newTab(deskObservers)
	tb.grantNotifications(st.api.URL)
	tb.navigate(st.api.URL + "/desk")
	tb.waitFor("the sign-in form", `!document.querySelector("#signin").hidden`, 10*time.Second)
	shots := screenshotDir(t)
	tb.screenshot(filepath.Join(shots, "desk-signin.png"), false)

	// A wrong token is refused on the page.
	tb.typeInto("#token", "agt_not-a-real-token")
	tb.click("#signin-button")
	tb.waitFor("the sign-in error", `!document.querySelector("#signin-error").hidden`, 10*time.Second)
	if msg := tb.text("#signin-error"); !strings.Contains(msg, "not valid") {
		t.Fatalf("sign-in error: %q", msg)
	}
	tb.mustEval(`document.querySelector("#token").value = ""`, nil)

	tb.typeInto("#token", a.Token)
	tb.click("#signin-button")
	tb.waitFor("the desk", `!document.querySelector("#app").hidden && document.querySelector("#me-name").textContent === "Ada Lovelace"`, 10*time.Second)
	var cookie string
	tb.mustEval(`document.cookie`, &cookie)
	if strings.Contains(cookie, "fbc_session") || strings.Contains(cookie, a.Token) || !strings.Contains(cookie, "fbc_csrf=") {
		t.Fatalf("page script sees cookies %q: the session cookie must be HttpOnly, the CSRF one readable", cookie)
	}

	// Presence through the selector.
	tb.mustEval(`(() => { const s = document.querySelector("#presence"); s.value = "available"; s.dispatchEvent(new Event("change")); })()`, nil)
	st.eventually("agent available", 10*time.Second, func() bool {
		return st.count("agents", "id = $1 AND presence = 'available'", a.ID) == 1
	})

	// A customer writes: the conversation appears, with an alert, a notification and a sound.
	st.customerSays(ch, jane, "Hi! My order #1042 still hasn't arrived. It's been 9 days 😕", "")
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.waitFor("the assignment alert", `document.querySelector(".toast-assign")`, 5*time.Second)
	var notified []string
	tb.mustEval(`window.__notified`, &notified)
	var beeps int
	tb.mustEval(`window.__beeps`, &beeps)
	if len(notified) != 1 || !strings.HasPrefix(notified[0], "New conversation") || beeps != 1 {
		t.Fatalf("alerts: notifications %v, beeps %d", notified, beeps)
	}
	tb.waitFor("an unread badge", `document.querySelector("#conv-list .conv-item .badge")`, 5*time.Second)

	// Open it: the transcript, the customer's name and picture, the window.
	tb.click("#conv-list .conv-item")
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("order #1042"))`, 10*time.Second)
	tb.waitFor("the customer's name", `document.querySelector("#conv-name").textContent === "Jane Cooper"`, 15*time.Second)
	tb.waitFor("the customer's picture", `document.querySelector("#cust-avatar img") && document.querySelector("#cust-avatar img").naturalWidth === 96`, 10*time.Second)
	if ws := tb.text("#window-state"); !strings.Contains(ws, "left in the 24-hour window") {
		t.Fatalf("window state: %q", ws)
	}
	if n := tb.text("#conv-list .conv-item .badge"); n != "" {
		t.Fatalf("unread badge stays after opening: %q", n)
	}

	// Live: the customer writes again while the agent looks; a second customer arrives.
	st.customerSays(ch, jane, "The tracking page just says \"label created\".", "")
	tb.waitFor("the live message", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("label created"))`, 15*time.Second)
	st.customerSays(ch, marcus, "Hello, can I change my delivery address?", "")
	tb.waitFor("the second conversation with one unread", `[...document.querySelectorAll("#conv-list .conv-item")].some(li => li.querySelector(".badge") && li.querySelector(".badge").textContent === "1")`, 30*time.Second)

	// Reply.
	reply := "Sorry about that, Jane! I've asked the warehouse — you'll get an update today."
	tb.typeInto("#reply", reply)
	tb.click("#send")
	tb.waitFor("the reply marked sent", fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.out")].some(m => m.querySelector(".text").textContent === %q && ["sent","delivered","read"].includes(m.querySelector(".msg-status").dataset.status))`, reply), 45*time.Second)
	sends := st.sim.Requests("/messages")
	if len(sends) != 1 {
		t.Fatalf("Send API calls: %d, want 1", len(sends))
	}
	recipient, _ := sends[0].Body["recipient"].(map[string]any)
	message, _ := sends[0].Body["message"].(map[string]any)
	if recipient["id"] != jane || message["text"] != reply {
		t.Fatalf("Send API call: %v", sends[0].Body)
	}
	var left string
	tb.mustEval(`document.querySelector("#reply").value`, &left)
	if v := left; v != "" {
		t.Fatalf("reply box not cleared: %q", v)
	}

	// Customer text is shown as text, never as markup.
	st.customerSays(ch, jane, `<img src=x onerror="document.title='pwned'"><b>bold?</b>`, "")
	tb.waitFor("the markup shown as text", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("<b>bold?</b>"))`, 15*time.Second)
	var injected bool
	tb.mustEval(`document.title === "pwned" || !!document.querySelector("#messages b, #messages img[src='x']")`, &injected)
	if injected {
		t.Fatal("customer text was rendered as HTML")
	}

	tb.waitFor("the customer's pictures in the transcript", `[...document.querySelectorAll("#messages .msg.in .avatar")].every(a => a.classList.contains("has-img"))`, 10*time.Second)
	tb.screenshot(filepath.Join(shots, "desk-1366x768.png"), false)

	// A send Facebook refuses shows its reason inline.
	// The fault lasts until cleared: the composer's typing indicator goes to the
	// same endpoint and may meet it first.
	fault := simFault551()
	fault.Times = 0
	st.sim.AddFault(fault)
	tb.typeInto("#reply", "Are you still there?")
	tb.click("#send")
	tb.waitFor("the failed reply with its reason", `[...document.querySelectorAll("#messages .msg.out.failed")].some(m => m.querySelector(".text").textContent === "Are you still there?" && m.querySelector(".msg-error").textContent.length > 20)`, 20*time.Second)
	st.sim.ClearFaults()
	tb.waitFor("the send error", `!document.querySelector("#send-error").hidden`, 5*time.Second)

	// Close: the reply box is disabled and says why; reopen gives it back.
	tb.click("#close-conv")
	tb.waitFor("the conversation closed", `document.querySelector("#conv-status").textContent === "closed" && document.querySelector("#reply").disabled && document.querySelector("#window-state").textContent.includes("closed") && !document.querySelector("#reopen-conv").hidden`, 20*time.Second)
	tb.screenshot(filepath.Join(shots, "desk-closed.png"), false)
	tb.click("#reopen-conv")
	tb.waitFor("the conversation reopened", `document.querySelector("#conv-status").textContent === "assigned" && !document.querySelector("#reply").disabled`, 20*time.Second)
	b.requireNoProblems()
}

// The admin console connects an app and a page (showing provisioning, the
// callback URL and verify token) and creates an agent whose token is shown once.
func TestDeskAdminConsoleInBrowser(t *testing.T) {
	requireChromium(t)
	st := newStack(t)
	b := startBrowser(t)
	appID, secret, pageID, pageToken := "app-"+randomHex(4), "secret-"+randomHex(16), fmt.Sprint(100000000000000+time.Now().UnixNano()%899999999999), "EAAB"+randomHex(20)
	st.sim.RegisterApp(appID, secret)
	st.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "Acme Support", AccessToken: pageToken, AppID: appID})

	tb := b.newTab("")
	tb.signIn(st.api.URL+"/admin", "wrong-admin-token")
	tb.waitFor("the sign-in error", `document.querySelector("#signin-error").textContent.includes("not valid")`, 10*time.Second)
	tb.mustEval(`document.querySelector("#token").value = ""`, nil)
	tb.typeInto("#token", st.adminToken)
	tb.click("#signin-button")
	tb.waitFor("the console", `!document.querySelector("#app").hidden`, 10*time.Second)

	tb.typeInto("#acc-name", "Acme")
	tb.typeInto("#acc-app-id", appID)
	tb.typeInto("#acc-app-secret", secret)
	tb.click("#account-form button[type=submit]")
	tb.waitFor("the account and its workstreams", `!document.querySelector("#account-view").hidden && document.querySelector("#account-name").textContent === "Acme" &&
		document.querySelector("#workstreams .section-title")`, 10*time.Second)

	tb.typeInto("#page-name", "Acme Support")
	tb.typeInto("#page-id", pageID)
	tb.typeInto("#page-token", pageToken)
	tb.click("#page-form button[type=submit]")
	tb.waitFor("the page card", `document.querySelector(".page-card")`, 10*time.Second)
	tb.waitFor("the page active", `document.querySelector(".page-card .pill").textContent === "active"`, 30*time.Second)
	var fields []string
	tb.mustEval(`[...document.querySelectorAll(".page-card .copy-field input")].map(i => i.value)`, &fields)
	if len(fields) != 2 || !strings.HasPrefix(fields[0], st.api.URL+"/webhooks/facebook/") || len(fields[1]) < 16 {
		t.Fatalf("callback URL and verify token: %v", fields)
	}
	tb.click(`.page-card button[data-copy="Callback URL"]`)
	tb.waitFor("copy feedback", `document.querySelector('.page-card button[data-copy="Callback URL"]').textContent !== "Copy"`, 5*time.Second)

	tb.typeInto("#agent-name", "Grace Hopper")
	tb.typeInto("#agent-email", "grace@example.com")
	tb.click("#agent-form button[type=submit]")
	tb.waitFor("the agent token", `document.querySelector("#agent-token .copy-field input") && document.querySelector("#agent-token .copy-field input").value.startsWith("agt_")`, 10*time.Second)
	var token string
	tb.mustEval(`document.querySelector("#agent-token .copy-field input").value`, &token)
	if code := st.call("GET", "/api/v1/me/conversations", token, nil, nil); code != 200 {
		t.Fatalf("the shown agent token does not work: %d", code)
	}
	tb.mustEval(`window.scrollTo(0, 0)`, nil)
	tb.screenshot(filepath.Join(screenshotDir(t), "admin-1366x768.png"), false)
	tb.screenshot(filepath.Join(screenshotDir(t), "admin-full.png"), true)
	b.requireNoProblems()
}
