//go:build integration

package e2e

import (
	"strings"
	"testing"
	"time"
)

// In the desk: an offer shows with its countdown and the customer's first
// message; Accept makes the conversation the agent's; Hold puts it on hold, and
// the list shows the state.
func TestDeskOfferAcceptAndHoldInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 2)
	st.rtPatch("/api/v1/workstreams/"+st.rtWorkstreamID(ch), map[string]any{"offer": map[string]any{"auto_accept": false, "countdown_s": 120}})

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskObservers)
	tb.mustEval(`(() => { const s = document.querySelector("#presence"); s.value = "available"; s.dispatchEvent(new Event("change")); })()`, nil)
	st.eventually("agent available", 10*time.Second, func() bool {
		return st.count("agents", "id = $1 AND presence = 'available'", a.ID) == 1
	})

	const psid = "3500000000000041"
	st.customerSays(ch, psid, "Can I change my delivery address?", "")
	tb.waitFor("the offer", `!document.querySelector("#offer").hidden`, 30*time.Second)
	if body := tb.text("#offer-body"); !strings.Contains(body, "Can I change my delivery address?") {
		t.Fatalf("offer shows %q, want the customer's first message", body)
	}
	tb.waitFor("a running countdown", `/^1[01][0-9] s$/.test(document.querySelector("#offer-countdown").textContent)`, 5*time.Second)
	tb.click("#offer-accept")
	st.rtWait(psid, "accepted", assignedTo(a))
	tb.waitFor("the offer gone", `document.querySelector("#offer").hidden`, 10*time.Second)
	tb.waitFor("the conversation open with Hold", `!document.querySelector("#hold-conv").hidden`, 30*time.Second)

	tb.click("#hold-conv")
	st.rtWait(psid, "on hold", func(c rtConv) bool { return c.Status == "on_hold" && c.AgentID == a.ID })
	tb.waitFor("on hold in the list", `[...document.querySelectorAll("#conv-list .conv-item .pill")].some((p) => p.textContent === "on hold")`, 10*time.Second)
	tb.waitFor("End shown, Hold hidden", `document.querySelector("#hold-conv").hidden && !document.querySelector("#end-conv").hidden`, 10*time.Second)
	b.requireNoProblems()
}
