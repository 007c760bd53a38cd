//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"fbchannel/activities"
)

// conversationPath is GET /api/v1/conversations/{id}: the desk's read of one
// conversation; messagesPath is POST .../messages, a reply.
var (
	conversationPath = regexp.MustCompile(`^/api/v1/conversations/[^/]+$`)
	messagesPath     = regexp.MustCompile(`^/api/v1/conversations/[^/]+/messages$`)
)

// statusObserver records the message.status events the page receives.
const statusObserver = `
window.__statuses = [];
window.EventSource = class extends window.EventSource {
  constructor(url, opts) {
    super(url, opts);
    this.addEventListener("message.status", (e) => window.__statuses.push(JSON.parse(e.data)));
  }
};`

// holdOnce answers the first request that matches, once armed, only when
// released: it is served at once (what it reads or does happens now), and its
// answer is kept back.
type holdOnce struct {
	armed   atomic.Bool
	match   func(*http.Request) bool
	held    chan struct{}
	release chan struct{}
}

func newHoldOnce(match func(*http.Request) bool) *holdOnce {
	return &holdOnce{match: match, held: make(chan struct{}, 1), release: make(chan struct{})}
}

func (o *holdOnce) wrap(h http.Handler, stop <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.match(r) || !o.armed.CompareAndSwap(true, false) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		o.held <- struct{}{}
		select {
		case <-o.release:
		case <-stop:
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// A reply whose send is answered after the desk read its conversation again
// (the customer wrote while it was being sent) is marked sent, and shown once.
// The read replaces the desk's copy of the conversation: the send's answer
// must land on the bubble shown, whether the read was made before the reply
// was stored (it lacks the reply) or after (it holds the reply's row, not
// yet sent). Under load the first left the reply "Sending…" for good
// (TestDeskInBrowser's "the reply marked sent": its status event came first,
// the answer found a replaced conversation and redrew nothing); here the
// read, the send and its answer are held so that each order always happens.
func TestDeskReplyAnsweredAfterARereadInBrowser(t *testing.T) {
	requireChromium(t)
	const first, second = "Let me check that order for you.", "It left the warehouse on Tuesday."
	sendHeld := make(chan struct{}, 1)
	sendRelease := make(chan struct{})
	stop := make(chan struct{})
	read := newHoldOnce(func(r *http.Request) bool {
		return r.Method == http.MethodGet && conversationPath.MatchString(r.URL.Path)
	})
	answer := newHoldOnce(func(r *http.Request) bool { return r.Method == http.MethodPost && messagesPath.MatchString(r.URL.Path) })
	st, ch := newPageStack(t, func(st *stack) {
		st.activityHooks = func(a *activities.Activities) {
			// Facebook has the reply; the answer to the desk waits for the test.
			a.AfterSendHook = func(ctx context.Context, messageID, _ string) error {
				var text string
				_ = st.db.QueryRowContext(ctx, `SELECT text FROM messages WHERE id = $1`, messageID).Scan(&text)
				if text != second {
					return nil
				}
				sendHeld <- struct{}{}
				select {
				case <-sendRelease:
				case <-stop:
				case <-ctx.Done():
					return ctx.Err()
				}
				return nil
			}
		}
		st.wrapHandler = func(h http.Handler) http.Handler { return read.wrap(answer.wrap(h, stop), stop) }
	})
	t.Cleanup(func() { close(stop) })
	waitHeld := func(what string, c chan struct{}) { t.Helper(); waitSignal(t, what, c) }
	a := st.createAgent("Ada Lovelace", 2)
	jane := st.customerProfile("2900000000000301", "Jane", "Cooper", "en_US")

	b := startBrowser(t)
	tb := st.openDesk(b, a, statusObserver)
	tb.mustEval(`(() => { const s = document.querySelector("#presence"); s.value = "available"; s.dispatchEvent(new Event("change")); })()`, nil)
	st.eventually("agent available", 10*time.Second, func() bool {
		return st.count("agents", "id = $1 AND presence = 'available'", a.ID) == 1
	})
	st.customerSays(ch, jane, "Where is my order?", "")
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "Where is my order?")`, 15*time.Second)

	// customerWrites: the customer writes and the desk shows it; then it reads
	// the conversation again (which marks it read), noticed by waitReread.
	var since float64
	customerWrites := func(text string) {
		t.Helper()
		tb.mustEval(`performance.now()`, &since)
		st.customerSays(ch, jane, text, "")
		tb.waitFor("the live message", fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === %q)`, text), 15*time.Second)
	}
	waitReread := func() {
		t.Helper()
		tb.waitFor("the conversation read again", fmt.Sprintf(`performance.getEntriesByType("resource").some(e => e.startTime > %f && new RegExp(%q).test(new URL(e.name).pathname))`,
			since, conversationPath.String()), 15*time.Second)
	}
	shownOnceAndSent := func(reply string) {
		t.Helper()
		bubbles := fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.out")].filter(m => m.querySelector(".text").textContent === %q)`, reply)
		tb.waitFor("the reply marked sent", bubbles+`.some(m => m.querySelector(".msg-status").dataset.status === "sent")`, 15*time.Second)
		var n int
		tb.mustEval(bubbles+`.length`, &n)
		if n != 1 {
			t.Fatalf("the reply %q shows %d times, want once", reply, n)
		}
	}

	// 1. The read is made before the reply is stored and answered while the
	// send is not; the reply's status event comes before the send's answer.
	read.armed.Store(true)
	customerWrites("It was due on Monday.")
	waitHeld("the desk's read", read.held)
	answer.armed.Store(true)
	tb.typeInto("#reply", first)
	tb.click("#send")
	waitHeld("the first reply's send", answer.held)
	close(read.release)
	waitReread()
	tb.waitFor("the reply's status event", `window.__statuses.some(s => s.status === "sent")`, 15*time.Second)
	close(answer.release)
	shownOnceAndSent(first)

	// 2. The read is made once the reply is stored, and answered before the
	// send is: the read holds the reply's row, still sending.
	tb.typeInto("#reply", second)
	tb.click("#send")
	waitHeld("the second reply's send", sendHeld)
	customerWrites("Thanks, I'll wait.")
	waitReread()
	sendRelease <- struct{}{}
	shownOnceAndSent(second)
	b.requireNoProblems()
}

// waitSignal waits for what c says happened, failing the test after 30 s.
func waitSignal(t *testing.T, what string, c chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never happened", what)
	}
}

// startLate starts serving the first request that matches, once armed, only
// when released (an event stream: what it reads first is read then).
type startLate struct {
	armed   atomic.Bool
	match   func(*http.Request) bool
	held    chan struct{}
	release chan struct{}
}

func (o *startLate) wrap(h http.Handler, stop <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.match(r) && o.armed.CompareAndSwap(true, false) {
			o.held <- struct{}{}
			select {
			case <-o.release:
			case <-stop:
			}
		}
		h.ServeHTTP(w, r)
	})
}

// A conversation given to an agent while the desk is loading shows on it. The
// desk reads its list and opens its event stream side by side, and a fresh
// stream starts at the newest event. Given after the list's read started, it
// came only as conversation.assigned, which the older answer then wiped out
// (under load: TestSupervisorFloorInBrowser's "the conversation on Bob's
// desk"); given after the read but before the stream started, it came in
// neither. Here the first read is held until the event has been drawn, then
// the stream's start is held until any read of the list made before it is
// done and the reassignment made.
func TestDeskListAnsweredAfterAnAssignmentInBrowser(t *testing.T) {
	requireChromium(t)
	stop := make(chan struct{})
	list := newHoldOnce(func(r *http.Request) bool {
		return r.Method == http.MethodGet && r.URL.Path == "/api/v1/me/conversations"
	})
	stream := &startLate{match: func(r *http.Request) bool { return r.URL.Path == "/api/v1/me/events" },
		held: make(chan struct{}, 1), release: make(chan struct{})}
	st, ch := newPageStack(t, func(st *stack) {
		st.wrapHandler = func(h http.Handler) http.Handler { return stream.wrap(list.wrap(h, stop), stop) }
	})
	t.Cleanup(func() { close(stop) })
	waitHeld := func(what string, c chan struct{}) { t.Helper(); waitSignal(t, what, c) }
	amy := st.createAgent("Amy Pond", 2)
	bob := st.createAgent("Bob Ross", 2)
	st.setPresence(bob, "busy")
	sue := st.makeSupervisor("Sue Storm", ch.QueueID)
	st.setPresence(amy, "available")
	st.customerSays(ch, "2900000000000421", "Is anyone there?", "")
	var conv string
	st.eventually("the conversation assigned to Amy", 20*time.Second, func() bool {
		return st.db.QueryRow(`SELECT id FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, amy.ID).Scan(&conv) == nil
	})

	b := startBrowser(t)
	list.armed.Store(true)
	tb := st.openDesk(b, bob, `
window.__assigned = [];
window.EventSource = class extends window.EventSource {
  constructor(url, opts) {
    super(url, opts);
    this.addEventListener("open", () => (window.__streamOpen = true));
    this.addEventListener("conversation.assigned", (e) => window.__assigned.push(JSON.parse(e.data).conversation_id));
  }
};
window.__listReads = 0;
const fetch0 = window.fetch;
window.fetch = (url, opts) => {
  if (String(url) !== "/api/v1/me/conversations") return fetch0(url, opts);
  window.__listReads++;
  return fetch0(url, opts).finally(() => window.__listReads--);
};`)
	waitHeld("the desk's read of its list", list.held)
	tb.waitFor("the desk's event stream", `window.__streamOpen === true`, 15*time.Second)
	reassign := func(to agent) {
		t.Helper()
		if code := st.call("POST", "/api/v1/supervisor/conversations/"+conv+"/reassign", sue.Token, map[string]any{"agent_id": to.ID}, nil); code != 200 {
			t.Fatalf("reassign: %d", code)
		}
	}
	reassign(bob)
	item := fmt.Sprintf(`document.querySelector('#conv-list .conv-item[data-id=%q]') !== null`, conv)
	tb.waitFor("the assignment drawn", fmt.Sprintf(`window.__assigned.includes(%q) && `, conv)+item, 15*time.Second)
	close(list.release)
	tb.waitFor("the list's answer", `performance.getEntriesByType("resource").some(e => new URL(e.name).pathname === "/api/v1/me/conversations")`, 15*time.Second)
	var shown bool
	tb.mustEval(`new Promise((done) => setTimeout(() => done(`+item+`), 500))`, &shown)
	if !shown {
		t.Fatal("the list read before the assignment took the conversation off Bob's desk")
	}

	// Back to Amy; Bob's desk loads again and reads its list, and the stream
	// starts only after the conversation is his again.
	reassign(amy)
	stream.armed.Store(true)
	tb.navigate(st.api.URL + "/desk")
	waitHeld("the desk's event stream", stream.held)
	// No read of the list on its way: one made before the stream started is done.
	tb.waitFor("the desk loaded, no read of its list on its way", fmt.Sprintf(`document.querySelector("#me-name").textContent === %q && window.__listReads === 0`, bob.Name), 15*time.Second)
	reassign(bob)
	close(stream.release)
	tb.waitFor("the conversation on Bob's desk", `window.__streamOpen === true && `+item, 15*time.Second)
	b.requireNoProblems()
}
