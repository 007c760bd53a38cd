//go:build integration

package e2e

import (
	"strings"
	"testing"
	"time"
)

func (st *stack) workstreamOf(ch channel) string {
	st.t.Helper()
	var acct map[string]any
	st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct)
	return acct["pages"].([]any)[0].(map[string]any)["workstream_id"].(string)
}

// A workstream's bot has the conversation first: it answers FAQs as the page (never
// tagged), hands over on "agent", and the agent then sees the bot's transcript and
// summary. A bot that does not answer hands over too.
func TestBotAnswersThenHandsOver(t *testing.T) {
	st, ch := newPageStack(t)
	var ws map[string]any
	if code := st.call("PATCH", "/api/v1/workstreams/"+st.workstreamOf(ch), st.adminToken, map[string]any{"bot_url": st.simURL + "/_sim/bot"}, &ws); code != 200 {
		t.Fatalf("set bot: %d %v", code, ws)
	}
	a, events := st.availableAgent("lee", 1)
	psid := "2900000000000070"
	st.customerSays(ch, psid, "What are your opening hours?", "")
	st.eventually("bot answered", 30*time.Second, func() bool {
		for _, r := range st.sim.Requests("/messages") {
			msg, _ := r.Body["message"].(map[string]any)
			if text, _ := msg["text"].(string); strings.Contains(text, "Monday to Friday") {
				if r.Body["messaging_type"] != "RESPONSE" || r.Body["tag"] != nil {
					t.Fatalf("bot reply was tagged: %v", r.Body)
				}
				return true
			}
		}
		return false
	})
	if n := st.count("conversations", "status = 'bot'"); n != 1 {
		t.Fatalf("%d conversations with the bot, want 1", n)
	}
	if n := st.count("conversations", "status = 'assigned'"); n != 0 {
		t.Fatalf("assigned while the bot has it")
	}

	st.customerSays(ch, psid, "I want to talk to an agent please", "")
	assigned := events.next(t, "conversation.assigned", 30*time.Second)
	convID := assigned.Data["conversation_id"].(string)
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	if conv["bot_handoff_reason"] != "customer asked for an agent" || !strings.Contains(conv["bot_summary"].(string), "opening hours") {
		t.Fatalf("handoff: %v / %v", conv["bot_handoff_reason"], conv["bot_summary"])
	}
	var senders []string
	for _, m := range conv["messages"].([]any) {
		senders = append(senders, m.(map[string]any)["sender"].(string))
	}
	if strings.Join(senders, ",") != "customer,bot,customer,bot" {
		t.Fatalf("transcript senders: %v", senders)
	}

	// A bot that is down: the next customer is handed over at once.
	if code := st.call("PATCH", "/api/v1/workstreams/"+st.workstreamOf(ch), st.adminToken, map[string]any{"bot_url": st.simURL + "/no-such-bot"}, nil); code != 200 {
		t.Fatalf("set broken bot: %d", code)
	}
	st.call("POST", "/api/v1/conversations/"+convID+"/close", a.Token, nil, nil)
	st.customerSays(ch, "2900000000000071", "hello?", "")
	next := events.next(t, "conversation.assigned", 60*time.Second)
	st.call("GET", "/api/v1/conversations/"+next.Data["conversation_id"].(string), a.Token, nil, &conv)
	if reason, _ := conv["bot_handoff_reason"].(string); !strings.HasPrefix(reason, "The bot did not answer") {
		t.Fatalf("broken bot handoff: %v", conv["bot_handoff_reason"])
	}
}
