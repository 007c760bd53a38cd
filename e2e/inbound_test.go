//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func (st *stack) postEvents(ch channel, events ...map[string]any) {
	st.t.Helper()
	body, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": ch.PageID, "time": time.Now().UnixMilli(), "messaging": events,
	}}})
	status, resp, err := st.sim.PostWebhook(st.t.Context(), ch.CallbackURL, ch.AppSecret, body)
	if err != nil || status != 200 {
		st.t.Fatalf("webhook: %d %s %v", status, resp, err)
	}
}

func fromCustomer(ch channel, psid string, ms int64, kind string, body map[string]any) map[string]any {
	return map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": ch.PageID}, "timestamp": ms, kind: body}
}

// Every inbound kind lands in the transcript (a reaction on the message it
// reacts to); edits and unsends change it; our own echoes are not recorded
// twice, the Page Inbox's are; receipts move statuses.
func TestEveryInboundKind(t *testing.T) {
	st, ch := newPageStack(t)
	a, events := st.availableAgent("ivy", 1)
	psid := "2900000000000050"
	ms := time.Now().UnixMilli()
	st.postEvents(ch,
		fromCustomer(ch, psid, ms, "message", map[string]any{"mid": "m_text", "text": "hello there"}),
		fromCustomer(ch, psid, ms+1, "message", map[string]any{"mid": "m_img", "attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": "https://cdn.example/cat.jpg"}}}}),
		fromCustomer(ch, psid, ms+2, "message", map[string]any{"mid": "m_like", "attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": "https://cdn.example/like.png", "sticker_id": 369239263222822}}}}),
		fromCustomer(ch, psid, ms+3, "message", map[string]any{"mid": "m_qr", "text": "Yes", "quick_reply": map[string]any{"payload": "CONFIRM"}}),
		fromCustomer(ch, psid, ms+4, "postback", map[string]any{"mid": "m_pb", "title": "Get Started", "payload": "START"}),
		fromCustomer(ch, psid, ms+5, "reaction", map[string]any{"mid": "m_text", "action": "react", "reaction": "love", "emoji": "❤"}),
		fromCustomer(ch, psid, ms+6, "referral", map[string]any{"ref": "spring-sale", "source": "SHORTLINK", "type": "OPEN_THREAD"}),
		fromCustomer(ch, psid, ms+7, "message", map[string]any{"mid": "m_file", "attachments": []any{map[string]any{"type": "file", "payload": map[string]any{"url": "https://cdn.example/invoice.pdf"}}}}),
	)
	convID := events.next(t, "conversation.assigned", 30*time.Second).Data["conversation_id"].(string)
	// Seven messages: the reaction goes onto the message it reacts to (issue 13).
	st.eventually("all seven recorded, and the reaction", 30*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1", convID) == 7 && st.count("message_reactions", "by = 'customer' AND emoji = '❤'") == 1
	})

	st.postEvents(ch, map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": ch.PageID}, "timestamp": ms + 8,
		"message_edit": map[string]any{"mid": "m_text", "text": "hello there (edited)", "num_edit": 1}})
	updated := events.next(t, "message.updated", 30*time.Second)
	if m := updated.Data["message"].(map[string]any); m["text"] != "hello there (edited)" {
		t.Fatalf("edit: %v", updated.Data)
	}

	var out map[string]any
	out = st.agentSends(a, convID, "Thanks!")
	ourMID, ourID := out["facebook_message_id"].(string), out["id"].(string)
	echo := func(mid, metadata string, appID int64, text string) map[string]any {
		msg := map[string]any{"mid": mid, "is_echo": true, "app_id": appID, "text": text}
		if metadata != "" {
			msg["metadata"] = metadata
		}
		return map[string]any{"sender": map[string]string{"id": ch.PageID}, "recipient": map[string]string{"id": psid}, "timestamp": ms + 9, "message": msg}
	}
	st.postEvents(ch,
		echo(ourMID, ourID, 1234, "Thanks!"),
		echo("m_inbox", "", 263902037430900, "Answered from the Page Inbox"),
		map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": ch.PageID}, "delivery": map[string]any{"mids": []string{ourMID}, "watermark": time.Now().UnixMilli()}},
	)
	delivered := events.next(t, "message.status", 30*time.Second)
	for delivered.Data["status"] != "delivered" {
		delivered = events.next(t, "message.status", 30*time.Second)
	}
	st.postEvents(ch, map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": ch.PageID}, "timestamp": ms + 10,
		"read": map[string]any{"watermark": time.Now().Add(time.Minute).UnixMilli()}})
	read := events.next(t, "message.status", 30*time.Second)
	if read.Data["status"] != "read" || read.Data["message_id"] != ourID {
		t.Fatalf("read receipt: %v", read.Data)
	}

	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	byKind := map[string]map[string]any{}
	var kinds []string
	for _, raw := range conv["messages"].([]any) {
		m := raw.(map[string]any)
		key := fmt.Sprint(m["kind"], "/", m["sender"])
		byKind[key] = m
		kinds = append(kinds, key)
	}
	want := []string{"text/customer", "attachment/customer", "sticker/customer", "quick_reply/customer", "postback/customer",
		"referral/customer", "text/agent", "text/page"}
	for _, k := range want {
		if byKind[k] == nil {
			t.Fatalf("no %s message in %v", k, kinds)
		}
	}
	if len(kinds) != 9 { // 7 inbound + our reply + the Page Inbox's
		t.Fatalf("transcript has %d messages (%v), want 9: an echo was recorded twice or something was lost", len(kinds), kinds)
	}
	if r, _ := byKind["text/customer"]["reactions"].([]any); len(r) != 1 || r[0].(map[string]any)["emoji"] != "❤" || r[0].(map[string]any)["by"] != "customer" {
		t.Fatalf("the reaction on the customer's text: %v", byKind["text/customer"])
	}
	if byKind["text/agent"]["status"] != "read" || byKind["sticker/customer"]["text"] != "👍" {
		t.Fatalf("statuses/sticker: %v %v", byKind["text/agent"], byKind["sticker/customer"])
	}
	urls := map[string]string{}
	for _, raw := range conv["messages"].([]any) {
		for _, a := range raw.(map[string]any)["attachments"].([]any) {
			att := a.(map[string]any)
			urls[att["url"].(string)] = att["type"].(string)
		}
	}
	if urls["https://cdn.example/cat.jpg"] != "image" || urls["https://cdn.example/invoice.pdf"] != "file" {
		t.Fatalf("attachments: %v", urls)
	}

	// An unsend removes the text.
	st.postEvents(ch, fromCustomer(ch, psid, ms+11, "message", map[string]any{"mid": "m_qr", "is_deleted": true}))
	gone := events.next(t, "message.updated", 30*time.Second)
	if m := gone.Data["message"].(map[string]any); m["kind"] != "deleted" || m["text"] != "" {
		t.Fatalf("unsend: %v", gone.Data)
	}
}
