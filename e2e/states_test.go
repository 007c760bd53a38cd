//go:build integration

package e2e

import (
	"context"
	"time"

	"testing"

	"go.temporal.io/sdk/converter"

	"fbchannel/workflows/contract"
)

// Issue 13, part 1: conversation states (on hold, wrap-up, offers; closing and
// reopening) through the HTTP API against Postgres, a Temporal dev server and
// the simulator.

// stPost posts to a conversation's state endpoint and requires 200 with status want.
func (st *stack) stPost(a agent, convID, action, want string, body any) {
	st.t.Helper()
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/"+action, a.Token, body, &out); code != 200 || out["status"] != want {
		st.t.Fatalf("%s %s: %d %v, want 200 %s", action, convID, code, out, want)
	}
}

// stStateEvent waits for conversation.state with the status, for the conversation.
func stStateEvent(t *testing.T, events *sse, convID, status string) {
	t.Helper()
	for {
		ev := events.next(t, "conversation.state", 30*time.Second)
		if ev.Data["conversation_id"] == convID && ev.Data["status"] == status {
			return
		}
	}
}

// stSearchStatus is what the Temporal UI shows as the workflow's ConversationStatus.
func stSearchStatus(workflowID string) string {
	d, err := temporalClient.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		return ""
	}
	var status string
	if p := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[contract.ConversationStatusKey.GetName()]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &status)
	}
	return status
}

// On hold: the agent's capacity is free at once (another conversation is assigned
// to the same agent), the conversation stays the agent's, and the customer's next
// message makes it active with that agent again. When the agent has no room, it
// waits for the workstream's hold-return timeout and is then routed again.
func TestHoldReleasesCapacityAndTheCustomerBringsItBack(t *testing.T) {
	st := newStack(t)
	const held, other = "3500000000000001", "3500000000000002"
	ch, a, events, conv1 := st.conversationOnNewPage("ann", 1, held, "my order is late")
	ws := st.rtWorkstreamID(ch)
	if got := st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"hold_return_s": 1}); got["hold_return_s"] != 1.0 {
		t.Fatalf("hold_return_s not saved: %v", got)
	}

	st.stPost(a, conv1, "hold", "on_hold", nil)
	stStateEvent(t, events, conv1, "on_hold")
	if c, _ := st.rtConversation(held); c.Status != "on_hold" || c.AgentID != a.ID {
		t.Fatalf("held conversation: %+v", c)
	}
	st.eventually("the Temporal UI shows on_hold", 30*time.Second, func() bool {
		return stSearchStatus(contract.ConversationWorkflowID(ch.PageID, held)) == "on_hold"
	})
	// Capacity 1, one conversation held: the next one is the same agent's.
	conv2 := st.customerAssigned(events, ch, other, "hello, question about billing")
	if c, _ := st.rtConversation(other); c.ID != conv2 || c.AgentID != a.ID {
		t.Fatalf("second conversation: %+v", c)
	}
	// Holding it again changes nothing; a waiting/closed one cannot be held.
	st.stPost(a, conv1, "hold", "on_hold", nil)

	// The customer writes while the agent has no room: it stays on hold, then the
	// hold-return timeout (1 s) routes it again; it waits in its queue.
	st.customerSays(ch, held, "are you there?", "")
	c := st.rtWait(held, "routed again after the hold-return timeout", func(c rtConv) bool { return c.Status == "waiting" })
	if c.AgentID != "" {
		t.Fatalf("routed-again conversation still has its agent: %+v", c)
	}
	stStateEvent(t, events, conv1, "waiting")

	// The agent's capacity frees: the routed conversation comes back to it; held
	// again, the customer's message now finds room and makes it active at once.
	st.rtClose(a, conv2)
	st.rtWait(held, "assigned again", assignedTo(a))
	st.stPost(a, conv1, "hold", "on_hold", nil)
	st.customerSays(ch, held, "still waiting for the parcel", "")
	st.rtWait(held, "active with the same agent", assignedTo(a))
	stStateEvent(t, events, conv1, "assigned")
	st.eventually("the Temporal UI shows assigned", 30*time.Second, func() bool {
		return stSearchStatus(contract.ConversationWorkflowID(ch.PageID, held)) == "assigned"
	})
	if st.rtLoad(a) != 1 {
		t.Fatalf("load %d after the held conversation came back, want 1", st.rtLoad(a))
	}
}

// Wrap-up that blocks ("always"): the ended conversation keeps the agent's
// capacity until the agent finishes it; the next customer waits (another agent
// who becomes available takes it). With "never", new work comes at once.
func TestWrapUpBlocksCapacityUntilFinishedOrNever(t *testing.T) {
	st := newStack(t)
	ch, a, events, conv1 := st.conversationOnNewPage("ann", 1, "3500000000000011", "hi")
	ws := st.rtWorkstreamID(ch)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"wrap_up": map[string]any{"block": "always"}})

	st.stPost(a, conv1, "end", "wrap_up", map[string]any{"disposition": "resolved"})
	stStateEvent(t, events, conv1, "wrap_up")
	st.eventually("the wrap-up's workflow shows wrap_up", 30*time.Second, func() bool {
		return stSearchStatus(contract.WrapUpWorkflowID(conv1)) == "wrap_up"
	})
	// The customer writes during wrap-up: a new conversation, as after a close.
	st.customerSays(ch, "3500000000000011", "one more thing", "")
	next := st.rtWait("3500000000000011", "a new conversation", func(c rtConv) bool { return c.ID != conv1 && c.Status == "waiting" })
	b := st.createAgent("bob", 1)
	st.setPresence(b, "available")
	if c := st.rtWait("3500000000000011", "assigned to bob", func(c rtConv) bool { return c.Status == "assigned" }); c.ID != next.ID || c.AgentID != b.ID {
		t.Fatalf("while ann wraps up, the new conversation went to %s (ann is %s)", c.AgentID, a.ID)
	}
	st.stPost(a, conv1, "wrap-up/finish", "closed", map[string]any{"note": "refund issued"})
	var disposition, reason string
	if err := st.db.QueryRow(`SELECT disposition, close_reason FROM conversations WHERE id = $1 AND wrap_up_ended_at IS NOT NULL`, conv1).
		Scan(&disposition, &reason); err != nil || disposition != "resolved" || reason != "agent_closed" {
		t.Fatalf("finished wrap-up: %q %q %v", disposition, reason, err)
	}
	st.eventually("the wrap-up's workflow shows closed", 30*time.Second, func() bool {
		return stSearchStatus(contract.WrapUpWorkflowID(conv1)) == "closed"
	})
	// Finished: ann has room again.
	conv3 := st.customerAssigned(events, ch, "3500000000000012", "hello")

	// "never": ending frees ann at once, the wrap-up goes on.
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"wrap_up": map[string]any{"block": "never"}})
	st.stPost(a, conv3, "end", "wrap_up", nil)
	conv4 := st.customerAssigned(events, ch, "3500000000000013", "hello again")
	if c, _ := st.rtConversation("3500000000000013"); c.ID != conv4 || c.AgentID != a.ID {
		t.Fatalf("with wrap-up never, the new conversation: %+v", c)
	}
	// No wrap-up: end closes.
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"wrap_up": nil})
	st.stPost(a, conv4, "end", "closed", nil)

	var bad map[string]any
	if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, map[string]any{"wrap_up": map[string]any{"block": "seconds"}}, &bad); code != 400 {
		t.Fatalf("wrap_up seconds without seconds: %d %v", code, bad)
	}
}

// stOffered waits for the conversation.offered event of convID ("" any) on one
// of the streams and answers whose it was.
func stOffered(t *testing.T, streams map[string]*sse, convID string) (agentID, gotConv string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for id, s := range streams {
			select {
			case ev := <-s.events:
				if ev.Name == "conversation.offered" && (convID == "" || ev.Data["conversation_id"] == convID) {
					if ev.Data["expires_at"] == nil || ev.Data["first_message"] == "" {
						t.Fatalf("offer without expires_at or first message: %v", ev.Data)
					}
					return id, ev.Data["conversation_id"].(string)
				}
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no conversation.offered for %q", convID)
	return "", ""
}

// Offer mode: the first agent offered declines, the next lets the countdown run
// out, the third accepts; the conversation is assigned exactly once (agent event
// log), and each offer's end is logged with its outcome.
func TestOfferDeclineExpireAccept(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"offer": map[string]any{"auto_accept": false, "countdown_s": 2}})
	agents := map[string]agent{}
	streams := map[string]*sse{}
	for _, name := range []string{"ann", "bob", "cyd"} {
		a, events := st.availableAgent(name, 1)
		agents[a.ID], streams[a.ID] = a, events
	}
	st.customerSays(ch, "3500000000000021", "where is my parcel?", "")
	first, conv := stOffered(t, streams, "")
	if c, _ := st.rtConversation("3500000000000021"); c.Status != "offered" || c.AgentID != first {
		t.Fatalf("offered conversation: %+v", c)
	}
	// Not the agent's until accepted: no consultant can be invited into it.
	other := agents[first]
	for id, a := range agents {
		if id != first {
			other = a
		}
	}
	var refused map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", agents[first].Token, map[string]string{"agent_id": other.ID}, &refused); code != 409 || errorCode(refused) != "offer_not_accepted" {
		t.Fatalf("consult on an offered conversation: %d %v", code, refused)
	}
	if n := st.count("conversation_consults", "conversation_id = $1", conv); n != 0 {
		t.Fatalf("%d consults on an offered conversation", n)
	}
	st.stPost(agents[first], conv, "decline", "waiting", nil)
	var gone map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/accept", agents[first].Token, nil, &gone); code != 409 || errorCode(gone) != "offer_gone" {
		t.Fatalf("accepting a declined offer: %d %v", code, gone)
	}
	second, _ := stOffered(t, streams, conv)
	if second == first {
		t.Fatalf("the decliner was offered the conversation again before the others")
	}
	// The second agent lets the countdown (2 s) run out: the third is offered it.
	third, _ := stOffered(t, streams, conv)
	if third == first || third == second {
		t.Fatalf("after the countdown ran out the offer went to %s (first %s, second %s)", third, first, second)
	}
	var accepted map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/accept", agents[third].Token, nil, &accepted); code != 200 || accepted["status"] != "assigned" {
		t.Fatalf("accept: %d %v", code, accepted)
	}
	st.rtWait("3500000000000021", "active with the third agent", assignedTo(agents[third]))

	if n := st.count("agent_events", "name = 'conversation.assigned' AND conversation_id = $1", conv); n != 1 {
		t.Fatalf("conversation.assigned %d times in the agent event log, want exactly once", n)
	}
	for who, outcome := range map[string]string{first: "declined", second: "expired", third: "accepted"} {
		if n := st.count("agent_events", "name = 'conversation.offer_ended' AND conversation_id = $1 AND agent_id = $2 AND data->>'outcome' = $3",
			conv, who, outcome); n != 1 {
			t.Fatalf("offer_ended %s for %s: %d events, want 1", outcome, who, n)
		}
	}
}

// Three offers missed in a row set the agent away, and the agent is told why.
func TestThreeMissedOffersSetTheAgentAway(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"offer": map[string]any{"auto_accept": false, "countdown_s": 1, "missed_to_away": 3}})
	a, events := st.availableAgent("ann", 1)
	st.customerSays(ch, "3500000000000031", "hello?", "")
	ev := events.next(t, "presence.changed", 60*time.Second)
	if ev.Data["status"] != "away" || ev.Data["reason"] != "missed_offers" || ev.Data["message"] == "" {
		t.Fatalf("presence.changed: %v", ev.Data)
	}
	if n := st.count("agents", "id = $1 AND presence = 'away'", a.ID); n != 1 {
		t.Fatalf("agent not away after three missed offers")
	}
	if n := st.count("agent_events", "name = 'conversation.offer_ended' AND agent_id = $1 AND data->>'outcome' = 'expired'", a.ID); n != 3 {
		t.Fatalf("%d expired offers before away, want 3", n)
	}
	st.rtWait("3500000000000031", "waiting in its queue", func(c rtConv) bool { return c.Status == "waiting" && c.AgentID == "" })
}

// Close with a disposition, reopen by the same (available) agent, reply again;
// reopened while the agent is away, it waits for the next available agent; the
// customer's next conversation shows the earlier one, which can no longer be reopened.
func TestCloseReopenAndPreviousConversations(t *testing.T) {
	st := newStack(t)
	psid := "2900000000000060"
	ch, a, events, convID := st.conversationOnNewPage("jo", 2, psid, "my order")

	if code := st.call("POST", "/api/v1/conversations/"+convID+"/close", a.Token, map[string]string{"disposition": "resolved"}, nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	if ev := events.next(t, "conversation.closed", 10*time.Second); ev.Data["disposition"] != "resolved" {
		t.Fatalf("closed event: %v", ev.Data)
	}
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/reopen", a.Token, nil, &out); code != 200 || out["status"] != "assigned" {
		t.Fatalf("reopen: %d %v", code, out)
	}
	if ev := events.next(t, "conversation.assigned", 10*time.Second); ev.Data["conversation_id"] != convID {
		t.Fatalf("reopen announced another conversation: %v", ev.Data)
	}
	out = st.agentSends(a, convID, "reopened to add one thing")

	// Closed again; the agent goes away; reopening hands it to the next agent.
	st.agentCloses(a, convID)
	events.next(t, "conversation.closed", 10*time.Second)
	st.setPresence(a, "away")
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/reopen", a.Token, nil, &out); code != 200 || out["status"] != "waiting" {
		t.Fatalf("reopen while away: %d %v", code, out)
	}
	b := st.createAgent("kim", 1)
	bEvents := st.openEvents(b, "")
	st.setPresence(b, "available")
	if ev := bEvents.next(t, "conversation.assigned", 30*time.Second); ev.Data["conversation_id"] != convID {
		t.Fatalf("next agent got: %v", ev.Data)
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/close", b.Token, nil, nil); code != 200 {
		t.Fatalf("close by the next agent: %d", code)
	}
	bEvents.next(t, "conversation.closed", 10*time.Second)

	// The customer writes again: a new conversation, showing the earlier one.
	next := st.customerAssigned(bEvents, ch, psid, "me again")
	if next == convID {
		t.Fatalf("the customer's new message reopened the old conversation")
	}
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+next, b.Token, nil, &conv)
	prev, _ := conv["previous_conversations"].([]any)
	if len(prev) != 1 || prev[0].(map[string]any)["id"] != convID || prev[0].(map[string]any)["last_message"] == "" {
		t.Fatalf("previous conversations: %v", conv["previous_conversations"])
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/reopen", b.Token, nil, &out); code != 409 {
		t.Fatalf("reopen with a newer conversation open: %d %v, want 409", code, out)
	}
}
