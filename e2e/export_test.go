//go:build integration

package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// getRaw sends a GET and answers the status, Content-Type and body.
func (st *stack) getRaw(path, token string) (int, string, string) {
	st.t.Helper()
	req, _ := http.NewRequest("GET", st.api.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		st.t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// exportLines runs the bulk export and decodes its NDJSON lines.
func (st *stack) exportLines(accountID, query string) []map[string]any {
	st.t.Helper()
	code, ctype, body := st.getRaw("/api/v1/accounts/"+accountID+"/export"+query, st.adminToken)
	if code != 200 || ctype != "application/x-ndjson" {
		st.t.Fatalf("export%s: %d %s %s", query, code, ctype, body)
	}
	lines := []map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			st.t.Fatalf("export line is not JSON: %v: %s", err, sc.Text())
		}
		lines = append(lines, line)
	}
	if body != "" && !strings.HasSuffix(body, "\n") {
		st.t.Fatalf("export does not end with a newline: %q", body)
	}
	return lines
}

func exportedIDs(lines []map[string]any) []string {
	ids := []string{}
	for _, l := range lines {
		ids = append(ids, l["id"].(string))
	}
	return ids
}

// Supervisors see their queues' conversations and transcripts and nothing else;
// a transcript comes as JSON, text and printable HTML with notes marked
// internal and attachments as URLs; an erased customer is never exported; the
// admin's bulk export streams every conversation of the account opened in the
// range, and nothing outside it.
func TestSupervisorsAndTranscriptExport(t *testing.T) {
	st, ch := newPageStack(t)
	amy, events := st.availableAgent("amy", 5)

	const (
		psidA    = "2900000000000141"
		psidB    = "2900000000000142"
		psidC    = "2900000000000143"
		imageURL = "https://cdn.example/receipt-141.jpg"
		noteText = "VIP customer: refund approved by Sue"
	)
	// Conversation A: text, markup that must stay text, an image, a reply and a note.
	convA := st.customerAssigned(events, ch, psidA, "hello, my order is late")
	ms := time.Now().UnixMilli()
	st.postEvents(ch,
		fromCustomer(ch, psidA, ms, "message", map[string]any{"mid": "m_export_markup", "text": "<b>order</b> #42 & co"}),
		fromCustomer(ch, psidA, ms+1, "message", map[string]any{"mid": "m_export_img", "attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": imageURL}}}}),
	)
	st.eventually("three customer messages", 30*time.Second, func() bool { return st.count("messages", "conversation_id = $1", convA) == 3 })
	st.agentSends(amy, convA, "Sorry! Refund on its way.")
	// A note, as the notes feature stores it: a message row of kind note, direction internal.
	if _, err := st.db.Exec(`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, status, agent_id, created_at)
		VALUES ($1, $2, $3, 'internal', 'agent', 'note', $4, 'sent', $5, now() + interval '1 second')`, uuid.NewString(), convA, ch.PageID, noteText, amy.ID); err != nil {
		t.Fatal(err)
	}

	// Conversation B: its customer is erased. Conversation C: opened long ago.
	convB := st.customerAssigned(events, ch, psidB, "please forget me")
	convC := st.customerAssigned(events, ch, psidC, "an old question")
	if _, err := st.db.Exec(`UPDATE conversations SET opened_at = '2020-06-01T12:00:00Z' WHERE id = $1`, convC); err != nil {
		t.Fatal(err)
	}
	var convBView map[string]any
	st.call("GET", "/api/v1/conversations/"+convB, amy.Token, nil, &convBView)
	customerB := convBView["customer"].(map[string]any)["id"].(string)
	if code := st.call("DELETE", "/api/v1/customers/"+customerB, st.adminToken, nil, nil); code != 200 {
		t.Fatalf("erase: %d", code)
	}

	// Supervisors: Sue supervises the page's queue, Otto another queue, Bob is an agent.
	sue, otto, bob := st.createAgent("sue", 2), st.createAgent("otto", 2), st.createAgent("bob", 2)
	var other map[string]any
	if code := st.call("POST", "/api/v1/queues", st.adminToken, map[string]any{"account_id": ch.AccountID, "name": "Billing"}, &other); code != 201 {
		t.Fatalf("queue: %d %v", code, other)
	}
	otherQueue := other["id"].(string)
	var sup map[string]any
	if code := st.call("PUT", "/api/v1/agents/"+sue.ID+"/supervision", st.adminToken, map[string]any{"role": "supervisor", "queue_ids": []string{ch.QueueID}}, &sup); code != 200 || sup["role"] != "supervisor" {
		t.Fatalf("make sue supervisor: %d %v", code, sup)
	}
	if code := st.call("PUT", "/api/v1/agents/"+otto.ID+"/supervision", st.adminToken, map[string]any{"role": "supervisor", "queue_ids": []string{otherQueue}}, nil); code != 200 {
		t.Fatalf("make otto supervisor: %d", code)
	}
	// Bad input changes nothing; only the admin may set it.
	var bad map[string]any
	if code := st.call("PUT", "/api/v1/agents/"+bob.ID+"/supervision", st.adminToken, map[string]any{"role": "supervisor", "queue_ids": []string{uuid.NewString()}}, &bad); code != 400 || bad["error"] == nil {
		t.Fatalf("unknown queue: %d %v", code, bad)
	}
	if code := st.call("PUT", "/api/v1/agents/"+bob.ID+"/supervision", st.adminToken, map[string]any{"role": "boss"}, nil); code != 400 {
		t.Fatalf("unknown role: %d", code)
	}
	if code := st.call("PUT", "/api/v1/agents/"+bob.ID+"/supervision", sue.Token, map[string]any{"role": "supervisor"}, nil); code != 401 {
		t.Fatalf("supervisor setting roles: %d, want 401", code)
	}
	st.call("GET", "/api/v1/agents/"+bob.ID+"/supervision", st.adminToken, nil, &sup)
	if sup["role"] != "agent" || len(sup["queue_ids"].([]any)) != 0 {
		t.Fatalf("bob after refused changes: %v", sup)
	}

	// Sue sees her queue's conversations; Otto gets 404 for it; Bob is no supervisor.
	var list []map[string]any
	if code := st.call("GET", "/api/v1/supervisor/queues/"+ch.QueueID+"/conversations", sue.Token, nil, &list); code != 200 || !containsConversation(list, convA) {
		t.Fatalf("sue's queue: %d %v", code, list)
	}
	if code := st.call("GET", "/api/v1/supervisor/queues/"+ch.QueueID+"/conversations", otto.Token, nil, nil); code != 404 {
		t.Fatalf("otto on a queue he does not supervise: %d, want 404", code)
	}
	if code := st.call("GET", "/api/v1/supervisor/queues/"+otherQueue+"/conversations", otto.Token, nil, &list); code != 200 || len(list) != 0 {
		t.Fatalf("otto's own queue: %d %v", code, list)
	}
	if code := st.call("GET", "/api/v1/supervisor/queues/"+ch.QueueID+"/conversations", bob.Token, nil, nil); code != 403 {
		t.Fatalf("plain agent: %d, want 403", code)
	}
	if code := st.call("GET", "/api/v1/supervisor/queues/"+ch.QueueID+"/conversations", st.adminToken, nil, &list); code != 200 || !containsConversation(list, convA) {
		t.Fatalf("admin: %d %v", code, list)
	}
	var page struct {
		QueueIDs      []string         `json:"queue_ids"`
		Conversations []map[string]any `json:"conversations"`
	}
	if code := st.call("GET", "/api/v1/supervisor/conversations", sue.Token, nil, &page); code != 200 || len(page.QueueIDs) != 1 || !containsConversation(page.Conversations, convA) {
		t.Fatalf("sue's page list: %d %+v", code, page)
	}
	if code, ctype, _ := st.getRaw("/supervisor", ""); code != 200 || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("/supervisor page: %d %s", code, ctype)
	}

	// Who may read a transcript: the agent, a supervisor of its queue, the admin.
	transcript := "/api/v1/conversations/" + convA + "/transcript"
	for _, who := range []agent{otto, bob} {
		if code, _, body := st.getRaw(transcript, who.Token); code != 404 {
			t.Fatalf("transcript for an outsider: %d %s", code, body)
		}
	}
	for _, token := range []string{amy.Token, sue.Token, st.adminToken} {
		if code, _, body := st.getRaw(transcript+"?format=json", token); code != 200 {
			t.Fatalf("transcript: %d %s", code, body)
		}
	}
	if code, _, _ := st.getRaw(transcript+"?format=pdf", amy.Token); code != 400 {
		t.Fatalf("unknown format: %d", code)
	}

	// JSON: every message, the note internal, the image as its URL.
	code, ctype, body := st.getRaw(transcript, sue.Token)
	if code != 200 || ctype != "application/json" {
		t.Fatalf("json transcript: %d %s", code, ctype)
	}
	var tj struct {
		ID       string `json:"id"`
		Customer struct {
			PSID string `json:"psid"`
		} `json:"customer"`
		AgentName string `json:"agent_name"`
		Messages  []struct {
			Direction, Sender, Kind, Text, AgentName string
			Internal                                 bool
			Attachments                              []struct{ Type, URL string }
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(body), &tj); err != nil {
		t.Fatalf("json transcript: %v: %s", err, body)
	}
	if tj.ID != convA || tj.Customer.PSID != psidA || tj.AgentName != "amy" || len(tj.Messages) != 5 {
		t.Fatalf("json transcript: %s", body)
	}
	var sawNote, sawImage, sawReply bool
	for _, m := range tj.Messages {
		switch {
		case m.Kind == "note":
			sawNote = m.Internal && m.Text == noteText && m.Direction == "internal"
		case len(m.Attachments) == 1:
			sawImage = !m.Internal && m.Attachments[0].Type == "image" && m.Attachments[0].URL == imageURL
		case m.Sender == "agent":
			sawReply = !m.Internal && m.Text == "Sorry! Refund on its way."
		}
	}
	if !sawNote || !sawImage || !sawReply {
		t.Fatalf("json transcript note %v image %v reply %v: %s", sawNote, sawImage, sawReply, body)
	}

	// Text: one line per message, the note marked internal, the image's URL.
	code, ctype, body = st.getRaw(transcript+"?format=text", amy.Token)
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("text transcript: %d %s", code, ctype)
	}
	for _, want := range []string{"Conversation " + convA, "hello, my order is late", "<b>order</b> #42 & co",
		"[INTERNAL NOTE] amy: " + noteText, "Attachment (image): " + imageURL, "amy: Sorry! Refund on its way."} {
		if !strings.Contains(body, want) {
			t.Fatalf("text transcript lacks %q:\n%s", want, body)
		}
	}

	// HTML: printable, the note marked internal, the customer's markup escaped.
	code, ctype, body = st.getRaw(transcript+"?format=html", st.adminToken)
	if code != 200 || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("html transcript: %d %s", code, ctype)
	}
	for _, want := range []string{"<!doctype html>", "@media print", `class="msg agent internal"`, "Internal note", noteText,
		"&lt;b&gt;order&lt;/b&gt; #42 &amp; co", `<a href="` + imageURL + `">`} {
		if !strings.Contains(body, want) {
			t.Fatalf("html transcript lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>order</b>") {
		t.Fatalf("html transcript carries the customer's markup unescaped")
	}

	// The erased customer's conversation is not exported, to anyone.
	if code, _, body := st.getRaw("/api/v1/conversations/"+convB+"/transcript?format=text", st.adminToken); code != 410 || strings.Contains(body, "forget") {
		t.Fatalf("erased transcript: %d %s", code, body)
	}

	// Bulk: only the admin; bad input is a 400; an unknown account a 404.
	if code, _, _ := st.getRaw("/api/v1/accounts/"+ch.AccountID+"/export", sue.Token); code != 401 {
		t.Fatalf("supervisor bulk export: %d, want 401", code)
	}
	for _, q := range []string{"?from=yesterday", "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		if code, _, _ := st.getRaw("/api/v1/accounts/"+ch.AccountID+"/export"+q, st.adminToken); code != 400 {
			t.Fatalf("export%s: %d, want 400", q, code)
		}
	}
	if code, _, _ := st.getRaw("/api/v1/accounts/"+uuid.NewString()+"/export", st.adminToken); code != 404 {
		t.Fatalf("unknown account: %d", code)
	}

	// Recent range: A only (B erased, C opened in 2020).
	now := time.Now().UTC()
	recent := "?" + url.Values{"from": {now.Add(-time.Hour).Format(time.RFC3339)}, "to": {now.Add(time.Hour).Format(time.RFC3339)}}.Encode()
	lines := st.exportLines(ch.AccountID, recent)
	if ids := exportedIDs(lines); len(ids) != 1 || ids[0] != convA {
		t.Fatalf("recent export: %v (A %s, B %s, C %s)", ids, convA, convB, convC)
	}
	if msgs := lines[0]["messages"].([]any); len(msgs) != st.count("messages", "conversation_id = $1", convA) {
		t.Fatalf("export line of A has %d messages", len(msgs))
	}
	if !strings.Contains(mustJSON(t, lines[0]), imageURL) || !strings.Contains(mustJSON(t, lines[0]), `"internal":true`) {
		t.Fatalf("export line of A: %v", lines[0])
	}
	// 2020: C only; no range: C then A (oldest first); another account: nothing.
	if ids := exportedIDs(st.exportLines(ch.AccountID, "?from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z")); len(ids) != 1 || ids[0] != convC {
		t.Fatalf("2020 export: %v", ids)
	}
	if ids := exportedIDs(st.exportLines(ch.AccountID, "?to="+url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)))); len(ids) != 2 || ids[0] != convC || ids[1] != convA {
		t.Fatalf("whole export: %v", ids)
	}
	var acct map[string]any
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Other", "app_id": "app-other-" + randomHex(3), "app_secret": "s-" + randomHex(8)}, &acct); code != 201 {
		t.Fatalf("account: %d", code)
	}
	if ids := exportedIDs(st.exportLines(acct["id"].(string), "")); len(ids) != 0 {
		t.Fatalf("another account's export: %v", ids)
	}
}

func containsConversation(list []map[string]any, id string) bool {
	for _, c := range list {
		if c["id"] == id {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
