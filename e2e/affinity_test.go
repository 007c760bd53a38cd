//go:build integration

package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"fbchannel/workflows/contract"
)

// Issue 15, parts 3 and 4: preferred agents and affinity, and the conversation
// timeouts, through the HTTP API against Postgres, a Temporal dev server and the
// simulator. (Their timers are also tested with time skipping in workflows.)

// A customer who returns within 7 days is assigned to the agent of their last
// conversation while that agent has room, although another agent has been idle
// longer; when that agent has no room, the conversation waits wait_s for it and
// then goes to someone else.
func TestAffinityReturningCustomerGoesToPreviousAgentThenAnotherAfterTheWait(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"affinity": map[string]any{"days": 7, "wait_s": 3, "fallback": "wait"}})
	amy, amyEvents := st.availableAgent("amy", 1)
	ben := st.createAgent("ben", 2)

	// Both customers meet amy first (ben is away).
	const x, w = "3500000000000001", "3500000000000002"
	st.rtClose(amy, st.customerAssigned(amyEvents, ch, x, "hello"))
	st.rtClose(amy, st.customerAssigned(amyEvents, ch, w, "hello"))

	// ben is available and has been idle longest: without affinity he is next.
	st.setPresence(ben, "available")
	if _, err := st.db.Exec(`UPDATE agents SET last_assigned_at = now() - interval '1 hour' WHERE id = $1`, ben.ID); err != nil {
		t.Fatal(err)
	}
	st.customerSays(ch, x, "it's me again", "")
	back := st.rtWait(x, "assigned", func(c rtConv) bool { return c.Status == "assigned" })
	if back.AgentID != amy.ID {
		t.Fatalf("returning customer assigned to %s, want the previous agent amy %s", back.AgentID, amy.ID)
	}

	// amy is full now: w's conversation waits for her, then goes to ben.
	st.customerSays(ch, w, "me too", "")
	later := st.rtWait(w, "assigned", func(c rtConv) bool { return c.Status == "assigned" })
	if later.AgentID != ben.ID {
		t.Fatalf("returning customer of a full agent assigned to %s, want ben %s", later.AgentID, ben.ID)
	}
	var waited float64
	if err := st.db.QueryRow(`SELECT extract(epoch FROM assigned_at - enqueued_at) FROM conversations WHERE id = $1`, later.ID).Scan(&waited); err != nil {
		t.Fatal(err)
	}
	if waited < 3 {
		t.Fatalf("assigned %.1f s after queueing, want after the 3 s wait for amy", waited)
	}
}

// The rules are validated: unknown agents, more than three, repeats and negative
// numbers answer 400 and change nothing; valid ones are shown as saved.
func TestAffinityAndTimeoutSettingsAreValidated(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	a, b := st.createAgent("amy", 1), st.createAgent("ben", 1)
	c, d := st.createAgent("cem", 1), st.createAgent("dia", 1)

	saved := st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{
		"affinity": map[string]any{"days": 7, "wait_s": 30, "fallback": "wait"},
		"timeouts": map[string]any{"customer_s": 600, "agent_remind_s": 60, "agent_reoffer_s": 120},
	})
	wantRules := `map[days:7 fallback:wait wait_s:30] map[agent_remind_s:60 agent_reoffer_s:120 customer_s:600]`
	if got := fmt.Sprint(saved["affinity"], " ", saved["timeouts"]); got != wantRules {
		t.Fatalf("saved rules %s, want %s", got, wantRules)
	}
	for _, body := range []map[string]any{
		{"affinity": map[string]any{"days": -1}},
		{"affinity": map[string]any{"wait_s": -5}},
		{"affinity": map[string]any{"fallback": "later"}},
		{"affinity": map[string]any{"dayz": 3}},
		{"timeouts": map[string]any{"customer_s": -1}},
		{"timeouts": map[string]any{"agent_reoffer_s": 30}}, // not after the reminder at 60
		{"timeouts": nil},
	} {
		var out map[string]any
		if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, body, &out); code != 400 || errorCode(out) == "" || errorMessage(out) == "" {
			t.Fatalf("PATCH %v: %d %v, want 400 with an error", body, code, out)
		}
	}
	var now map[string]any
	st.call("GET", "/api/v1/workstreams/"+ws, st.adminToken, nil, &now)
	if got := fmt.Sprint(now["affinity"], " ", now["timeouts"]); got != wantRules {
		t.Fatalf("rules after refused changes %s, want %s", got, wantRules)
	}

	var contact map[string]any
	if code := st.call("POST", "/api/v1/contacts", st.adminToken, map[string]any{"name": "Ada", "preferred_agents": []string{b.ID, a.ID}}, &contact); code != 201 {
		t.Fatalf("create contact: %d %v", code, contact)
	}
	want := fmt.Sprint([]any{b.ID, a.ID})
	if got := fmt.Sprint(contact["preferred_agents"]); got != want {
		t.Fatalf("preferred agents %s, want %s (ranked as given)", got, want)
	}
	id := contact["id"].(string)
	for _, agents := range [][]string{
		{a.ID, b.ID, c.ID, d.ID},                 // more than three
		{a.ID, a.ID},                             // twice
		{"00000000-0000-0000-0000-000000000001"}, // no such agent
		{"amy"},
	} {
		var out map[string]any
		if code := st.call("PATCH", "/api/v1/contacts/"+id, st.adminToken, map[string]any{"preferred_agents": agents}, &out); code != 400 || errorCode(out) == "" {
			t.Fatalf("preferred_agents %v: %d %v, want 400", agents, code, out)
		}
	}
	st.call("GET", "/api/v1/contacts/"+id, st.adminToken, nil, &contact)
	if got := fmt.Sprint(contact["preferred_agents"]); got != want {
		t.Fatalf("preferred agents after refused changes %s, want %s", got, want)
	}
}

// Customer non-response: the agent answered and the customer stays silent for
// customer_s: the conversation closes with the customer_timeout message.
func TestCustomerNonResponseClosesTheConversationWithTheMessage(t *testing.T) {
	st, ch := newPageStack(t)
	st.rtPatch("/api/v1/workstreams/"+st.rtWorkstreamID(ch), map[string]any{"timeouts": map[string]any{"customer_s": 2}})
	amy, events := st.availableAgent("amy", 2)
	conv := st.customerAssigned(events, ch, "3500000000000011", "my order is late")
	st.agentSends(amy, conv, "Could you send me the order number?")

	closed := events.next(t, "conversation.closed", 30*time.Second)
	if closed.Data["conversation_id"] != conv || closed.Data["reason"] != "customer_timeout" {
		t.Fatalf("closed event %v, want conversation %s closed for customer_timeout", closed.Data, conv)
	}
	var text string
	if err := st.db.QueryRow(`SELECT text FROM messages WHERE conversation_id = $1 AND direction = 'outbound' ORDER BY created_at DESC LIMIT 1`, conv).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "We have not heard back from you, so we closed this conversation. Write to us again any time." {
		t.Fatalf("last message %q, want the customer_timeout message", text)
	}
	// The timeout was a durable timer of the conversation's run, named for the
	// Temporal UI.
	if got := st.timerSummaries(contract.ConversationWorkflowID(ch.PageID, "3500000000000011"), conv); !slices.Contains(got, "customer_timeout") {
		t.Fatalf("timers of the run %v, want one named customer_timeout", got)
	}
}

// Agent non-response: the customer waits unanswered: the agent is reminded after
// agent_remind_s, and after agent_reoffer_s the conversation goes back to the
// queue and to the other agent.
func TestAgentNonResponseRemindsThenRequeuesToAnotherAgent(t *testing.T) {
	st, ch := newPageStack(t)
	st.rtPatch("/api/v1/workstreams/"+st.rtWorkstreamID(ch), map[string]any{"timeouts": map[string]any{"agent_remind_s": 1, "agent_reoffer_s": 3}})
	_, slowEvents := st.availableAgent("slow", 1)
	conv := st.customerAssigned(slowEvents, ch, "3500000000000021", "hello?")
	other, otherEvents := st.availableAgent("other", 1)

	reminder := slowEvents.next(t, "conversation.reminder", 30*time.Second)
	if reminder.Data["conversation_id"] != conv {
		t.Fatalf("reminder %v, want one about %s", reminder.Data, conv)
	}
	gone := slowEvents.next(t, "conversation.transferred", 30*time.Second)
	if gone.Data["conversation_id"] != conv || gone.Data["reason"] != "agent_no_response" {
		t.Fatalf("slow agent told %v, want conversation %s taken back for agent_no_response", gone.Data, conv)
	}
	if got := otherEvents.next(t, "conversation.assigned", 30*time.Second).Data["conversation_id"]; got != conv {
		t.Fatalf("other agent assigned %v, want %s", got, conv)
	}
	st.rtWait("3500000000000021", "assigned to the other agent", assignedTo(other))
}

// The affinity and the timeouts are edited in the admin console: a refused value
// (a re-offer before the reminder) is shown inline on its field and saves
// nothing; the corrected form saves only what changed.
func TestDeskAdminAffinityAndTimeoutsInBrowser(t *testing.T) {
	parallel(t)
	st, ws, _, tb := workstreamInAdmin(t)
	tb.waitFor("the rules as stored", `!document.querySelector("#workstream-view").hidden && document.querySelector("#ws-affinity-days").value === "0" &&
		document.querySelector("#ws-affinity-fallback").value === "route" && document.querySelector("#ws-timeout-reoffer").value === "0"`, 10*time.Second)

	tb.fill("#ws-affinity-days", "7", "#ws-affinity-fallback", "wait", "#ws-affinity-wait", "30",
		"#ws-timeout-customer", "600", "#ws-timeout-remind", "120", "#ws-timeout-reoffer", "60")
	tb.saveWorkstreamRefused("agent_reoffer_s must be longer", "#ws-timeout-reoffer")
	if w := st.getWorkstream(ws); fmt.Sprint(w["affinity"], w["timeouts"]) != "map[days:0 fallback:route wait_s:0] map[agent_remind_s:0 agent_reoffer_s:0 customer_s:0]" {
		t.Fatalf("a refused change was saved: %v %v", w["affinity"], w["timeouts"])
	}

	tb.setField("#ws-timeout-reoffer", "300")
	tb.saveWorkstream("the rules saved", "")
	if w := st.getWorkstream(ws); fmt.Sprint(w["affinity"], w["timeouts"]) != "map[days:7 fallback:wait wait_s:30] map[agent_remind_s:120 agent_reoffer_s:300 customer_s:600]" {
		t.Fatalf("after saving: %v %v", w["affinity"], w["timeouts"])
	}
}

// The desk shows the reminder: a customer has waited unanswered for the
// workstream's agent_remind_s.
func TestDeskRemindsTheAgentOfAWaitingCustomerInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 2)
	st.rtPatch("/api/v1/workstreams/"+st.workstreamOf(ch), map[string]any{"timeouts": map[string]any{"agent_remind_s": 2}})

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskObservers)
	st.setPresence(a, "available")
	st.customerSays(ch, "3500000000000031", "hello? anyone?", "")
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.waitFor("the reminder", `[...document.querySelectorAll("#toasts .toast")].some(e => e.textContent.includes("Waiting for your answer"))`, 30*time.Second)
}

// A contact's preferred agents, ranked: the customer linked to the contact goes to
// the first who is available with room, though another agent has been idle longer.
func TestAffinityPreferredAgentsOfTheContactAreRanked(t *testing.T) {
	st, ch := newPageStack(t)
	amy, amyEvents := st.availableAgent("amy", 2)
	ben := st.createAgent("ben", 2)
	cem := st.createAgent("cem", 2)
	var contact map[string]any
	if code := st.call("POST", "/api/v1/contacts", st.adminToken, map[string]any{"name": "Ada", "preferred_agents": []string{ben.ID, cem.ID}}, &contact); code != 201 {
		t.Fatalf("create contact: %d %v", code, contact)
	}
	const psid = "3500000000000041"
	first := st.customerAssigned(amyEvents, ch, psid, "hello")
	if code := st.call("POST", "/api/v1/conversations/"+first+"/contact", amy.Token, map[string]any{"contact_id": contact["id"]}, nil); code != 200 {
		t.Fatalf("link the customer: %d", code)
	}
	st.rtClose(amy, first)
	idleLongest := func(a agent) {
		if _, err := st.db.Exec(`UPDATE agents SET last_assigned_at = now() - interval '1 hour' WHERE id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Both preferred agents available: the first ranked.
	st.setPresence(ben, "available")
	st.setPresence(cem, "available")
	idleLongest(amy)
	st.customerSays(ch, psid, "me again", "")
	if c := st.rtWait(psid, "assigned", func(c rtConv) bool { return c.Status == "assigned" && c.ID != first }); c.AgentID != ben.ID {
		t.Fatalf("assigned to %s, want the first preferred agent ben %s", c.AgentID, ben.ID)
	}
	second, _ := st.rtConversation(psid)
	st.rtClose(ben, second.ID)

	// The first away: the second ranked.
	st.setPresence(ben, "away")
	idleLongest(amy)
	st.customerSays(ch, psid, "and again", "")
	if c := st.rtWait(psid, "assigned", func(c rtConv) bool { return c.Status == "assigned" && c.ID != second.ID }); c.AgentID != cem.ID {
		t.Fatalf("assigned to %s, want the second preferred agent cem %s", c.AgentID, cem.ID)
	}
}
