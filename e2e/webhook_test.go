//go:build integration

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fbchannel/messenger"
)

func customerBatch(pageID, psid, mid, text string) []byte {
	ms := time.Now().UnixMilli()
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": ms, "messaging": []any{map[string]any{
			"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID}, "timestamp": ms,
			"message": map[string]string{"mid": mid, "text": text},
		}},
	}}})
	return b
}

func post(t *testing.T, url string, body []byte, signature string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	return send(t, req)
}

// rowCounts is what a refused delivery must leave untouched.
func (st *stack) rowCounts() string {
	var parts []string
	for _, table := range []string{"inbound_events", "customers", "conversations", "messages", "agent_events"} {
		parts = append(parts, fmt.Sprintf("%s=%d", table, st.count(table, "true")))
	}
	return strings.Join(parts, " ")
}

func TestWebhookRefusesBadDeliveriesAndChangesNothing(t *testing.T) {
	st, ch := newPageStack(t)
	before := st.rowCounts()
	good := customerBatch(ch.PageID, "2900000000000010", "m_bad_1", "hello")

	// Handshake: the right verify token echoes the challenge; a wrong one is 403.
	if code, body := httpGet(t, ch.CallbackURL+"?hub.mode=subscribe&hub.verify_token="+ch.VerifyToken+"&hub.challenge=1158201444"); code != 200 || body != "1158201444" {
		t.Fatalf("handshake: %d %q", code, body)
	}
	if code, _ := httpGet(t, ch.CallbackURL+"?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"); code != 403 {
		t.Fatalf("wrong verify token: %d, want 403", code)
	}

	cases := []struct {
		name      string
		body      []byte
		signature string
		want      int
	}{
		{"missing signature", good, "", 403},
		{"signature with another secret", good, messenger.Sign("not-the-secret", good), 403},
		{"signature of other bytes", good, messenger.Sign(ch.AppSecret, append([]byte(" "), good...)), 403},
		{"malformed JSON", []byte(`{"object":"page","entry":[`), messenger.Sign(ch.AppSecret, []byte(`{"object":"page","entry":[`)), 400},
		{"oversized body", bytes.Repeat([]byte("x"), 65<<10), messenger.Sign(ch.AppSecret, bytes.Repeat([]byte("x"), 65<<10)), 413},
	}
	for _, c := range cases {
		if code, body := post(t, ch.CallbackURL, c.body, c.signature); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if after := st.rowCounts(); after != before {
		t.Fatalf("refused deliveries changed the database: %s -> %s", before, after)
	}

	// Events for a page this account does not serve are acknowledged and ignored.
	other := customerBatch("999999999999", "2900000000000011", "m_other", "hi")
	if code, _ := post(t, ch.CallbackURL, other, messenger.Sign(ch.AppSecret, other)); code != 200 {
		t.Fatalf("unknown page's entry: %d, want 200", code)
	}
	if after := st.rowCounts(); after != before {
		t.Fatalf("an unserved page's event changed the database: %s -> %s", before, after)
	}
}

// Temporal down does not change the answer: the delivery is committed in the
// inbox and answered 200 at once; another starter's relay (here the stack's own,
// whose Temporal is up) hands it on, and the message is recorded once.
func TestWebhookAcceptsWhileTemporalIsDown(t *testing.T) {
	st, ch := newPageStack(t)

	// A port nobody listens on stands for a stopped Temporal server.
	down := opsDeadTemporal(t)
	srv := httptest.NewServer(st.server(down).Handler())
	defer srv.Close()

	body := customerBatch(ch.PageID, "2900000000000012", "m_down_1", "are you there?")
	url := srv.URL + "/webhooks/facebook/" + ch.PageUUID
	start := time.Now()
	if code, resp := post(t, url, body, messenger.Sign(ch.AppSecret, body)); code != 200 {
		t.Fatalf("Temporal down: %d %s, want 200", code, resp)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the answer took %s; Facebook gives up after 5 s", time.Since(start))
	}
	if n := st.count("inbound_events", "event_key = 'm_down_1'"); n != 1 {
		t.Fatalf("the delivery is not in the inbox: %d rows", n)
	}
	// Facebook's redelivery adds nothing.
	if code, _ := post(t, url, body, messenger.Sign(ch.AppSecret, body)); code != 200 {
		t.Fatalf("redelivery: %d", code)
	}
	st.eventually("message recorded through the other starter's relay", 30*time.Second, func() bool {
		return st.count("messages", "facebook_message_id = 'm_down_1'") == 1 &&
			st.count("inbound_events", "relayed_at IS NULL") == 0
	})
	if n := st.count("messages", "facebook_message_id = 'm_down_1'"); n != 1 {
		t.Fatalf("recorded %d times", n)
	}
}

// 503 means only that Postgres could not take the delivery; it changes nothing.
func TestWebhookAnswers503WhenPostgresIsDown(t *testing.T) {
	st, ch := newPageStack(t)
	before := st.rowCounts()

	h := st.starterWithDatabaseDown()

	body := customerBatch(ch.PageID, "2900000000000013", "m_pg_down", "hello?")
	if code, resp := post(t, h.URL+"/webhooks/facebook/"+ch.PageUUID, body, messenger.Sign(ch.AppSecret, body)); code != 503 {
		t.Fatalf("Postgres down: %d %s, want 503", code, resp)
	}
	if after := st.rowCounts(); after != before {
		t.Fatalf("a refused delivery changed the database: %s -> %s", before, after)
	}
}

// The webhook's account lookup is cached (store.WebhookCache), and a cached
// answer never outlives a change: with the cache warm, the delivery right after
// the page's deletion is ignored (nothing stored), and the delivery right after
// the page is added again is accepted for the new page row.
func TestWebhookCacheJudgesTheNextDeliveryOnTheChangedPage(t *testing.T) {
	st := newStack(t)
	ch := st.connectPage()
	psid := "2900000000000090"
	deliver := func(text string) (status int, accepted float64, mid string) {
		t.Helper()
		mid = "m_" + randomHex(8)
		status, body, err := st.sim.PostCustomerMessage(t.Context(), ch.CallbackURL, ch.AppSecret, ch.PageID, psid, text, mid)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct{ Accepted float64 }
		_ = json.Unmarshal([]byte(body), &answer)
		return status, answer.Accepted, mid
	}
	var hits int64
	if !processMode {
		hits = st.store.Webhooks.Hits()
	}
	for _, text := range []string{"one", "two"} {
		if status, accepted, _ := deliver(text); status != 200 || accepted != 1 {
			t.Fatalf("delivery %q before the deletion: %d, %v accepted", text, status, accepted)
		}
	}
	if !processMode && st.store.Webhooks.Hits() == hits {
		t.Fatal("the second delivery was not answered from the cache")
	}

	if code := st.call("DELETE", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, nil); code != 202 {
		t.Fatalf("delete: %d", code)
	}
	status, accepted, mid := deliver("after the deletion")
	if status != 200 || accepted != 0 {
		t.Fatalf("the delivery right after the deletion: %d, %v accepted; want 200, 0", status, accepted)
	}
	if n := st.count("inbound_events", "event_key = $1", mid); n != 0 {
		t.Fatalf("the delivery right after the deletion stored %d events", n)
	}

	st.eventually("page deleted", 60*time.Second, func() bool {
		var p map[string]any
		st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &p)
		return p["provisioning_status"] == "deleted"
	})
	var raw map[string]any
	if code := st.call("POST", "/api/v1/accounts/"+ch.AccountID+"/pages", st.adminToken,
		map[string]string{"name": "Again", "page_id": ch.PageID, "access_token": ch.PageToken}, &raw); code != 201 || raw["callback_url"] != ch.CallbackURL {
		t.Fatalf("re-add: %d %v", code, raw)
	}
	status, accepted, mid = deliver("after re-adding")
	if status != 200 || accepted != 1 {
		t.Fatalf("the delivery right after re-adding: %d, %v accepted; want 200, 1", status, accepted)
	}
	if n := st.count("inbound_events", "event_key = $1 AND page_uuid = $2", mid, raw["id"]); n != 1 {
		t.Fatalf("the delivery right after re-adding stored %d events for the new page row", n)
	}
}
