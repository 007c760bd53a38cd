//go:build integration

package e2e

import (
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// A customer's message reaches an available agent, the agent's reply reaches the
// customer through the Send API, the agent closes, and the customer's next message
// opens a new conversation.
func TestCustomerMessageReachesAgentAndReplyReachesCustomer(t *testing.T) {
	st, ch := newPageStack(t)

	subs := st.sim.Requests("/subscribed_apps")
	if len(subs) == 0 || subs[0].Method != "POST" || !strings.Contains(subs[0].Query["subscribed_fields"], "messages") {
		t.Fatalf("simulator saw no page subscription with messages: %+v", subs)
	}

	a, events := st.availableAgent("ada", 2)

	psid := "2900000000000001"
	st.customerSays(ch, psid, "Hello, my order is late", "")
	assigned := events.next(t, "conversation.assigned", 30*time.Second)
	convID, _ := assigned.Data["conversation_id"].(string)
	if convID == "" {
		t.Fatalf("assigned event without conversation_id: %v", assigned.Data)
	}
	received := events.next(t, "message.received", 10*time.Second)
	msg, _ := received.Data["message"].(map[string]any)
	if received.Data["conversation_id"] != convID || msg["text"] != "Hello, my order is late" || msg["direction"] != "inbound" {
		t.Fatalf("message.received: %v", received.Data)
	}

	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "Sorry! Checking now."}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	if out["status"] != "sent" || out["facebook_message_id"] == "" || out["facebook_message_id"] == nil {
		t.Fatalf("send outcome: %v", out)
	}
	sends := st.sim.Requests("/messages")
	if len(sends) != 1 {
		t.Fatalf("simulator saw %d sends, want 1", len(sends))
	}
	body := sends[0].Body
	recipient, _ := body["recipient"].(map[string]any)
	message, _ := body["message"].(map[string]any)
	if recipient["id"] != psid || body["messaging_type"] != "RESPONSE" || message["text"] != "Sorry! Checking now." || body["tag"] != nil {
		t.Fatalf("Send API call: %v", body)
	}

	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	msgs, _ := conv["messages"].([]any)
	if conv["status"] != "assigned" || len(msgs) != 2 {
		t.Fatalf("conversation: %v", conv)
	}
	window, _ := conv["window"].(map[string]any)
	if window["expires_at"] == nil {
		t.Fatalf("conversation has no window: %v", conv)
	}

	st.agentCloses(a, convID)
	closed := events.next(t, "conversation.closed", 10*time.Second)
	if closed.Data["conversation_id"] != convID {
		t.Fatalf("closed event: %v", closed.Data)
	}

	st.customerSays(ch, psid, "One more thing", "")
	again := events.next(t, "conversation.assigned", 30*time.Second)
	if again.Data["conversation_id"] == convID || again.Data["conversation_id"] == nil {
		t.Fatalf("customer's message after close did not open a new conversation: %v", again.Data)
	}
	var list []map[string]any
	st.call("GET", "/api/v1/me/conversations", a.Token, nil, &list)
	if len(list) != 2 || list[0]["status"] != "assigned" || list[1]["status"] != "closed" {
		t.Fatalf("my conversations (open first): %v", list)
	}

	// Another agent cannot see or act on it.
	other := st.createAgent("bob", 1)
	if code := st.call("GET", "/api/v1/conversations/"+convID, other.Token, nil, nil); code != 404 {
		t.Fatalf("other agent read: %d, want 404", code)
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", other.Token, map[string]string{"text": "hi"}, nil); code != 404 {
		t.Fatalf("other agent send: %d, want 404", code)
	}
}

// Facebook redelivers: the same batch three times is one message.
func TestRedeliveredBatchIsRecordedOnce(t *testing.T) {
	st, ch := newPageStack(t)
	psid := "2900000000000002"
	for i := 0; i < 3; i++ {
		st.customerSays(ch, psid, "Is anyone there?", "m_dup_1")
	}
	// A later message is recorded after the three copies were handled (signals are in order).
	st.customerSays(ch, psid, "Hello?", "m_dup_2")
	st.eventually("second message recorded", 30*time.Second, func() bool {
		return st.count("messages", "facebook_message_id = $1", "m_dup_2") == 1
	})
	if n := st.count("messages", "facebook_message_id = $1", "m_dup_1"); n != 1 {
		t.Fatalf("redelivered message recorded %d times", n)
	}
	if n := st.count("conversations", "true"); n != 1 {
		t.Fatalf("%d conversations, want 1", n)
	}
}

// A conversation waits durably and is assigned when an agent becomes available,
// without any further customer message.
func TestWaitingConversationIsAssignedWhenAgentBecomesAvailable(t *testing.T) {
	st, ch := newPageStack(t)
	a := st.createAgent("carol", 1)
	st.customerSays(ch, "2900000000000003", "Anyone?", "")
	st.eventually("conversation waiting", 30*time.Second, func() bool {
		return st.count("conversations", "status = 'waiting'") == 1
	})
	// A wrong implementation has had its chance to assign early: the conversation
	// woke its queue, and the queue's last pass came after that.
	st.conversationsIdle(ch, "2900000000000003")
	passes := st.queueSettled(ch.QueueID)
	if n := st.count("conversations", "status = 'assigned'"); n != 0 {
		t.Fatalf("%d conversation assigned to an offline agent (in %d queue passes)", n, passes)
	}
	events := st.openEvents(a, "")
	st.setPresence(a, "available")
	ev := events.next(t, "conversation.assigned", 30*time.Second)
	if ev.Data["conversation_id"] == nil {
		t.Fatalf("assigned event: %v", ev.Data)
	}
	if n := st.count("conversations", "status = 'assigned' AND agent_id = $1", a.ID); n != 1 {
		t.Fatalf("conversation not assigned to the agent")
	}
}

// A send that Facebook refuses permanently answers failed with a readable reason,
// and is tried once.
func TestPermanentSendFailureIsReportedNotRetried(t *testing.T) {
	st := newStack(t)
	_, a, events, convID := st.conversationOnNewPage("dan", 1, "2900000000000004", "Help")

	st.sim.AddFault(simFault551())
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "Hello?"}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	errText, _ := out["error"].(string)
	if out["status"] != "failed" || out["reason"] != "user_unavailable" || len(errText) < 20 || strings.Contains(errText, "EAAB") {
		t.Fatalf("send outcome: %v", out)
	}
	if n := len(st.sim.Requests("/messages")); n != 1 {
		t.Fatalf("Send API called %d times for a permanent failure", n)
	}
	status := events.next(t, "message.status", 10*time.Second)
	if status.Data["status"] != "failed" {
		t.Fatalf("message.status: %v", status.Data)
	}
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	msgs := conv["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if last["status"] != "failed" || last["reason"] != "user_unavailable" {
		t.Fatalf("stored message: %v", last)
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": strings.Repeat("x", 2000)}, nil); code != 400 {
		t.Fatalf("2000-character text: %d, want 400", code)
	}
}

func simFault551() simulator.Fault {
	return simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 551, Subcode: 1545041,
		Message: "This person isn't available right now.", Times: 1}
}

// Facebook's rate limit (613) twice, then success: the reply is sent once, and the
// agent's answer is the real outcome.
func TestRateLimitedSendIsRetriedThenSent(t *testing.T) {
	st := newStack(t)
	_, a, _, convID := st.conversationOnNewPage("max", 1, "2900000000000090", "hello")

	st.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 613,
		Message: "Calls to this api have exceeded the rate limit.", Times: 2})
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "Sorry for the wait"}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	if out["status"] != "sent" || out["facebook_message_id"] == nil {
		t.Fatalf("outcome after two rate limits: %v", out)
	}
	if n := len(st.sim.Requests("/messages")); n != 3 {
		t.Fatalf("%d Send API calls, want 3 (two refused, one sent)", n)
	}
	if n := st.count("messages", "text = 'Sorry for the wait' AND status = 'sent'"); n != 1 {
		t.Fatalf("%d sent rows", n)
	}
}
