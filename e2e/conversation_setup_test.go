//go:build integration

package e2e

import "time"

// availableAgent creates an agent, makes it available and opens its event stream,
// the way most tests meet their first conversation.
func (st *stack) availableAgent(name string, capacity int) (agent, *sse) {
	st.t.Helper()
	a := st.createAgent(name, capacity)
	st.setPresence(a, "available")
	return a, st.openEvents(a, "")
}

// customerAssigned has the customer say text and waits, on events, for the
// conversation to be assigned; it returns the conversation's id.
func (st *stack) customerAssigned(events *sse, ch channel, psid, text string) string {
	st.t.Helper()
	st.customerSays(ch, psid, text, "")
	return events.next(st.t, "conversation.assigned", 30*time.Second).Data["conversation_id"].(string)
}

// conversationOnNewPage connects a page, makes a new agent available and has the
// customer's first message assigned to it: the start of most conversation tests.
func (st *stack) conversationOnNewPage(agentName string, capacity int, psid, text string) (ch channel, a agent, events *sse, convID string) {
	st.t.Helper()
	ch = st.connectPage()
	a, events = st.availableAgent(agentName, capacity)
	return ch, a, events, st.customerAssigned(events, ch, psid, text)
}

// agentSends has the agent reply text in the conversation and requires the
// reply sent; it returns the API's answer.
func (st *stack) agentSends(a agent, convID, text string) map[string]any {
	st.t.Helper()
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": text}, &out); code != 201 || out["status"] != "sent" {
		st.t.Fatalf("send %q: %d %v", text, code, out)
	}
	return out
}

// agentCloses has the agent close the conversation, with no disposition.
func (st *stack) agentCloses(a agent, convID string) {
	st.t.Helper()
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/close", a.Token, nil, nil); code != 200 {
		st.t.Fatalf("close: %d", code)
	}
}
