//go:build integration

package e2e

import (
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// Issue 5: automated messages in the workstream's language, the survey at close,
// and the workstream's attachment policies, through the HTTP API against Postgres,
// a Temporal dev server and the simulator.

// sentTexts lists the texts of the messages the simulator received, oldest first,
// and fails the test if any automated or agent text went with a tag.
func (st *stack) sentTexts() []string {
	st.t.Helper()
	var texts []string
	for _, r := range st.sim.Requests("/messages") {
		msg, _ := r.Body["message"].(map[string]any)
		if text, _ := msg["text"].(string); text != "" {
			if r.Body["messaging_type"] != "RESPONSE" || r.Body["tag"] != nil {
				st.t.Fatalf("%q went as %v/%v, want RESPONSE without a tag", text, r.Body["messaging_type"], r.Body["tag"])
			}
			texts = append(texts, text)
		}
	}
	return texts
}

func (st *stack) setAutomated(workstreamID, kind string, body map[string]any) (int, map[string]any) {
	st.t.Helper()
	var out map[string]any
	code := st.call("PUT", "/api/v1/workstreams/"+workstreamID+"/automated-messages/"+kind, st.adminToken, body, &out)
	return code, out
}

func (st *stack) automatedMessages(workstreamID string) map[string]map[string]any {
	st.t.Helper()
	var list []map[string]any
	if code := st.call("GET", "/api/v1/workstreams/"+workstreamID+"/automated-messages", st.adminToken, nil, &list); code != 200 {
		st.t.Fatalf("automated messages: %d", code)
	}
	byKind := map[string]map[string]any{}
	for _, m := range list {
		byKind[m["kind"].(string)] = m
	}
	return byKind
}

func TestDutchWorkstreamSendsDutchNoticesAndSurveyAtClose(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.workstreamOf(ch)
	if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, map[string]any{"language": "nl-NL"}, nil); code != 200 {
		t.Fatalf("set language: %d", code)
	}
	msgs := st.automatedMessages(ws)
	if len(msgs) != 9 {
		t.Fatalf("kinds: %v", msgs)
	}
	if o := msgs["out_of_hours"]; o["enabled"] != true || !strings.Contains(o["text"].(string), "{next_opening}") || o["language"] != "nl" {
		t.Fatalf("the out-of-hours message must be on by default, in the language, naming the opening: %v", o)
	}
	if g := msgs["greeting"]; g["language"] != "nl" || g["enabled"] != false || !strings.HasPrefix(g["text"].(string), "Bedankt voor je bericht") {
		t.Fatalf("greeting of a Dutch workstream: %v", g)
	}
	if r := msgs["attachment_refused"]; r["enabled"] != true {
		t.Fatalf("attachment refusal must be on by default: %v", r)
	}

	// Bad input is refused and changes nothing.
	if code, out := st.setAutomated(ws, "survey", map[string]any{"enabled": true}); code != 400 {
		t.Fatalf("survey without an address: %d %v, want 400", code, out)
	}
	if code, _ := st.setAutomated(ws, "survey", map[string]any{"enabled": true, "url_template": "not a url"}); code != 400 {
		t.Fatalf("survey with a bad address: %d, want 400", code)
	}
	if code, _ := st.setAutomated(ws, "goodbye", map[string]any{"enabled": true}); code != 400 {
		t.Fatalf("unknown kind: %d, want 400", code)
	}
	if code, _ := st.setAutomated(ws, "greeting", map[string]any{"text": "   "}); code != 400 {
		t.Fatalf("empty text: %d, want 400", code)
	}
	if s := st.automatedMessages(ws)["survey"]; s["enabled"] != false || s["url_template"] != nil {
		t.Fatalf("refused changes were applied: %v", s)
	}

	for _, kind := range []string{"greeting", "agent_joined", "agent_ended"} {
		if code, out := st.setAutomated(ws, kind, map[string]any{"enabled": true}); code != 200 || out["enabled"] != true {
			t.Fatalf("enable %s: %d %v", kind, code, out)
		}
	}
	code, survey := st.setAutomated(ws, "survey", map[string]any{"enabled": true, "url_template": "https://survey.example.com/s?c={conversation_id}"})
	if code != 200 || survey["enabled"] != true {
		t.Fatalf("enable survey: %d %v", code, survey)
	}
	// An override, then back to the default with null.
	if code, out := st.setAutomated(ws, "agent_ended", map[string]any{"text": "Tot ziens!"}); code != 200 || out["overridden"] != true || out["text"] != "Tot ziens!" {
		t.Fatalf("override: %d %v", code, out)
	}
	if code, out := st.setAutomated(ws, "agent_ended", map[string]any{"text": nil}); code != 200 || out["overridden"] != false || !strings.HasPrefix(out["text"].(string), "De medewerker") {
		t.Fatalf("reset: %d %v", code, out)
	}

	a, events := st.availableAgent("Sanne", 1)
	convID := st.customerAssigned(events, ch, "2900000000000901", "Hallo, ik heb een vraag")
	st.eventually("greeting and agent joined sent", 30*time.Second, func() bool { return len(st.sentTexts()) >= 2 })
	// The agent sees the service's words live, like any other message.
	for {
		m := events.next(t, "message.received", 30*time.Second).Data["message"].(map[string]any)
		if m["sender"] == "system" && m["text"] == "Sanne neemt nu deel aan het gesprek." {
			break
		}
	}

	st.agentCloses(a, convID)
	texts := st.sentTexts()
	if len(texts) != 4 {
		t.Fatalf("sent %q, want greeting, agent joined, farewell, survey", texts)
	}
	if !strings.HasPrefix(texts[0], "Bedankt voor je bericht") || texts[1] != "Sanne neemt nu deel aan het gesprek." ||
		!strings.HasPrefix(texts[2], "De medewerker heeft dit gesprek beëindigd") ||
		!strings.HasSuffix(texts[3], "https://survey.example.com/s?c="+convID) || !strings.HasPrefix(texts[3], "Hoe hebben we je geholpen?") {
		t.Fatalf("sent %q", texts)
	}
	// The transcript shows them as the service's own messages, sent.
	if n := st.count("messages", "conversation_id = $1 AND sender = 'system' AND status = 'sent'", convID); n != 4 {
		t.Fatalf("%d system messages sent in the transcript, want 4", n)
	}
}

func TestAttachmentPolicies(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.workstreamOf(ch)
	if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, map[string]any{"customer_attachments": false, "agent_attachments": false}, nil); code != 200 {
		t.Fatalf("set attachment policy: %d", code)
	}
	a, events := st.availableAgent("Omar", 1)
	psid := "2900000000000902"
	ms := time.Now().UnixMilli()
	st.postEvents(ch, fromCustomer(ch, psid, ms, "message", map[string]any{"mid": "m_photo", "attachments": []any{
		map[string]any{"type": "image", "payload": map[string]any{"url": "https://cdn.example/receipt.jpg"}}}}))
	convID := events.next(t, "conversation.assigned", 30*time.Second).Data["conversation_id"].(string)

	// The customer is told, politely and untagged.
	st.eventually("polite refusal sent", 30*time.Second, func() bool {
		texts := st.sentTexts()
		return len(texts) == 1 && strings.Contains(texts[0], "cannot accept attachments")
	})
	// The agent sees that an attachment was refused, and the file was not kept.
	var conv struct {
		Messages []struct {
			Sender, Kind, Reason, Error string
			Attachments                 []any
		}
		AgentAttachments bool `json:"agent_attachments"`
	}
	if code := st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv); code != 200 {
		t.Fatalf("conversation: %d", code)
	}
	first := conv.Messages[0]
	if first.Sender != "customer" || first.Reason != "attachment_refused" || !strings.Contains(first.Error, "image") || len(first.Attachments) != 0 {
		t.Fatalf("refused message as the agent sees it: %+v", first)
	}
	if n := st.count("messages", "attachments::text LIKE '%receipt.jpg%'"); n != 0 {
		t.Fatalf("the refused file's address was stored")
	}
	if conv.AgentAttachments {
		t.Fatalf("the conversation says agents may send attachments")
	}

	// An agent's attachment while they are off: 422, nothing stored, nothing sent.
	sends := len(st.sim.Requests("/messages"))
	image := map[string]any{"attachments": []any{map[string]any{"type": "image", "url": "https://files.example/manual.png"}}}
	var refusal struct {
		Error struct{ Code, Message string }
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, image, &refusal); code != 422 || refusal.Error.Code != "attachments_disabled" {
		t.Fatalf("attachment while off: %d %+v, want 422 attachments_disabled", code, refusal)
	}
	if n := len(st.sim.Requests("/messages")); n != sends {
		t.Fatalf("the simulator saw %d new sends, want none", n-sends)
	}
	if n := st.count("messages", "conversation_id = $1 AND sender = 'agent'", convID); n != 0 {
		t.Fatalf("%d agent messages stored, want none", n)
	}
	// Malformed attachments are 400 whatever the policy.
	for name, body := range map[string]any{
		"two files":     map[string]any{"attachments": []any{image["attachments"].([]any)[0], image["attachments"].([]any)[0]}},
		"text and file": map[string]any{"text": "see this", "attachments": image["attachments"]},
		"bad type":      map[string]any{"attachments": []any{map[string]any{"type": "gif", "url": "https://files.example/a.gif"}}},
		"relative url":  map[string]any{"attachments": []any{map[string]any{"type": "file", "url": "/a.pdf"}}},
	} {
		if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, body, nil); code != 400 {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}

	// Allowed: the file goes by URL through the Send API, and the transcript keeps it.
	if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, map[string]any{"agent_attachments": true}, nil); code != 200 {
		t.Fatalf("allow agent attachments: %d", code)
	}
	var out struct{ ID, Status string }
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, image, &out); code != 201 || out.Status != "sent" {
		t.Fatalf("attachment while on: %d %+v", code, out)
	}
	reqs := st.sim.Requests("/messages")
	last := reqs[len(reqs)-1].Body["message"].(map[string]any)
	att, _ := last["attachment"].(map[string]any)
	payload, _ := att["payload"].(map[string]any)
	if att["type"] != "image" || payload["url"] != "https://files.example/manual.png" || last["metadata"] != out.ID {
		t.Fatalf("send API got %v", last)
	}
	if n := st.count("messages", "id = $1 AND kind = 'attachment' AND attachments::text LIKE '%manual.png%'", out.ID); n != 1 {
		t.Fatalf("the sent attachment is not in the transcript")
	}
}

// An automated message Facebook keeps refusing for a passing reason (here its rate
// limit) ends `failed` after its last attempt, never left `sending` in the
// transcript, and the conversation goes on.
func TestAutomatedMessageThatCannotBeSentEndsFailed(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.workstreamOf(ch)
	if code, out := st.setAutomated(ws, "greeting", map[string]any{"enabled": true}); code != 200 {
		t.Fatalf("enable greeting: %d %v", code, out)
	}
	st.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 613, Message: "Calls to this api have exceeded the rate limit."})
	a := st.createAgent("Noor", 1)
	events := st.openEvents(a, "")
	st.customerSays(ch, "2900000000000903", "hello?", "")
	st.eventually("the greeting ends failed", 60*time.Second, func() bool {
		return st.count("messages", "sender = 'system' AND status = 'failed' AND reason = 'rate_limited' AND error <> ''") == 1
	})
	if n := st.count("messages", "sender = 'system' AND status = 'sending'"); n != 0 {
		t.Fatalf("%d automated messages left sending", n)
	}
	// The conversation was not held up: an agent who comes gets it.
	st.sim.ClearFaults()
	st.setPresence(a, "available")
	events.next(t, "conversation.assigned", 30*time.Second)
}
