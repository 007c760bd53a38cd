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

// conversationPath is GET /api/v1/conversations/{id}: the desk's read of one conversation.
var conversationPath = regexp.MustCompile(`^/api/v1/conversations/[^/]+$`)

// A reply whose send is answered after the desk read its conversation again
// (the customer wrote while it was being sent) is marked sent, and shown once.
// The read replaces the desk's copy of the conversation: the send's answer
// must land on the bubble shown, whether the read was made before the reply
// was stored (it lacks the reply) or after (it holds the reply's row, not
// yet sent). Under load the first left the reply "Sending…" for good
// (TestDeskInBrowser's "the reply marked sent"); here the send and the read
// are held so that each order always happens.
func TestDeskReplyAnsweredAfterARereadInBrowser(t *testing.T) {
	requireChromium(t)
	replies := map[string]bool{"Let me check that order for you.": true, "It left the warehouse on Tuesday.": true}
	sendHeld := make(chan struct{}, 2)
	sendRelease := make(chan struct{})
	readHeld := make(chan struct{}, 1)
	readRelease := make(chan struct{})
	var holdRead atomic.Bool
	stop := make(chan struct{})
	st, ch := newPageStack(t, func(st *stack) {
		st.activityHooks = func(a *activities.Activities) {
			// Facebook has the reply; the answer to the desk waits for the test.
			a.AfterSendHook = func(ctx context.Context, messageID, _ string) error {
				var text string
				_ = st.db.QueryRowContext(ctx, `SELECT text FROM messages WHERE id = $1`, messageID).Scan(&text)
				if !replies[text] {
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
		// A read of the conversation, once asked for: made at once, answered
		// when the test says.
		st.wrapHandler = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || !conversationPath.MatchString(r.URL.Path) || !holdRead.CompareAndSwap(true, false) {
					h.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				readHeld <- struct{}{}
				select {
				case <-readRelease:
				case <-stop:
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
			})
		}
	})
	t.Cleanup(func() { close(stop) })
	waitHeld := func(what string, c chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never happened", what)
		}
	}
	a := st.createAgent("Ada Lovelace", 2)
	jane := st.customerProfile("2900000000000301", "Jane", "Cooper", "en_US")

	b := startBrowser(t)
	tb := st.openDesk(b, a, "")
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

	// 1. The read is made before the reply is stored, and answered while it is
	// being sent: the read lacks it.
	holdRead.Store(true)
	customerWrites("It was due on Monday.")
	waitHeld("the desk's read", readHeld)
	tb.typeInto("#reply", "Let me check that order for you.")
	tb.click("#send")
	waitHeld("the first reply's send", sendHeld)
	close(readRelease)
	waitReread()
	sendRelease <- struct{}{}
	shownOnceAndSent("Let me check that order for you.")

	// 2. The read is made once the reply is stored, and answered before the
	// send is: the read holds the reply's row, still sending.
	tb.typeInto("#reply", "It left the warehouse on Tuesday.")
	tb.click("#send")
	waitHeld("the second reply's send", sendHeld)
	customerWrites("Thanks, I'll wait.")
	waitReread()
	sendRelease <- struct{}{}
	shownOnceAndSent("It left the warehouse on Tuesday.")
	b.requireNoProblems()
}
