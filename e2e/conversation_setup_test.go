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
