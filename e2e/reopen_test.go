//go:build integration

package e2e

import (
	"testing"
	"time"
)

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
