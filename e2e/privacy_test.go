//go:build integration

package e2e

import (
	"testing"
	"time"

	"fbchannel/simulator"
)

// Erasing a customer empties the text and attachments of every message of its
// conversations (the rows stay, marked), deletes its stored webhook events,
// empties the message copies in agents' event logs, erases the profile and the
// contact link (audited), and leaves no trace of the customer's words in
// Postgres or in any workflow history. Repeating it is harmless; the customer's
// next conversation does not bring the profile back.
func TestPrivacyEraseCustomer(t *testing.T) {
	const (
		psid      = "2900000000000081"
		secret    = "my address is 221B Baker Street"
		secret2   = "and my phone is 555-0199"
		reply     = "Thanks, we will ship to Baker Street"
		imageURL  = "https://cdn.example/passport-scan.jpg"
		noticeURL = "https://acme.example/privacy?lang=en"
	)
	st, ch := newPageStack(t)
	a, events := st.availableAgent("pam", 2)
	st.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: "Eric", LastName: "Erased", ProfilePic: "https://cdn.example/eric.jpg", Locale: "sv_SE"})
	if code := st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"privacy_notice_url": noticeURL}, nil); code != 200 {
		t.Fatalf("privacy notice: %d", code)
	}

	convID := st.customerAssigned(events, ch, psid, secret)
	ms := time.Now().UnixMilli()
	st.postEvents(ch,
		fromCustomer(ch, psid, ms, "message", map[string]any{"mid": "m_erase_text", "text": secret2}),
		fromCustomer(ch, psid, ms+1, "message", map[string]any{"mid": "m_erase_img", "attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": imageURL}}}}),
	)
	st.eventually("three messages recorded", 30*time.Second, func() bool { return st.count("messages", "conversation_id = $1", convID) == 3 })
	var out map[string]any
	out = st.agentSends(a, convID, reply)
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/contact", a.Token, map[string]any{"create": map[string]any{"name": "Eric Erased", "email": "eric@example.com"}}, &out); code != 201 {
		t.Fatalf("link: %d %v", code, out)
	}
	contactID := out["contact"].(map[string]any)["id"].(string)

	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	if conv["privacy_notice_url"] != noticeURL {
		t.Fatalf("conversation's privacy notice: %v", conv["privacy_notice_url"])
	}
	customerID := conv["customer"].(map[string]any)["id"].(string)
	if st.count("messages", "text LIKE '%Baker Street%' OR attachments::text LIKE '%passport-scan%'") == 0 ||
		st.count("inbound_events", "psid = $1", psid) == 0 || st.count("agent_events", "data::text LIKE '%Baker Street%'") == 0 {
		t.Fatalf("the test's checks would not see the text")
	}

	// Free text about the customer on the conversation (a bot's hand-over summary, a
	// transfer note) goes too.
	if _, err := st.db.Exec(`UPDATE conversations SET bot_summary = 'Lives at 221B Baker Street', transfer_note = 'Baker Street customer, VIP' WHERE id = $1`, convID); err != nil {
		t.Fatal(err)
	}

	// Only the admin, and only a customer that exists.
	if code := st.call("DELETE", "/api/v1/customers/"+customerID, a.Token, nil, nil); code != 401 {
		t.Fatalf("agent erasing: %d, want 401", code)
	}
	st.requireUnknownNotFound("DELETE", "/api/v1/customers/", st.adminToken)

	var erased map[string]any
	if code := st.call("DELETE", "/api/v1/customers/"+customerID, st.adminToken, nil, &erased); code != 200 {
		t.Fatalf("erase: %d %v", code, erased)
	}
	counts := erased["erased"].(map[string]any)
	if erased["id"] != customerID || counts["messages"] != 4.0 || counts["conversation_notes"] != 1.0 || counts["inbound_events"].(float64) < 3 || counts["contact_links"] != 1.0 ||
		counts["profile"] != true || counts["agent_events"].(float64) < 2 || erased["erased_at"] == nil {
		t.Fatalf("erase answer: %v", erased)
	}

	// Postgres holds none of it; the rows stay, marked.
	for _, check := range []struct{ table, where string }{
		{"messages", "text LIKE '%Baker%' OR text LIKE '%555-0199%' OR attachments::text LIKE '%passport%'"},
		{"inbound_events", "payload::text LIKE '%Baker%' OR payload::text LIKE '%555-0199%' OR payload::text LIKE '%passport%'"},
		{"inbound_events", "psid = '" + psid + "'"},
		{"agent_events", "data::text LIKE '%Baker%' OR data::text LIKE '%555-0199%' OR data::text LIKE '%passport%'"},
		{"customers", "name LIKE '%Eric%' OR profile_pic <> '' OR locale <> '' OR contact_id IS NOT NULL"},
		{"conversations", "bot_summary LIKE '%Baker%' OR transfer_note LIKE '%Baker%'"},
	} {
		if n := st.count(check.table, check.where); n != 0 {
			t.Fatalf("%s still has %d rows where %s", check.table, n, check.where)
		}
	}
	if n := st.count("messages", "conversation_id = $1 AND erased_at IS NOT NULL AND text = '' AND attachments = '[]'::jsonb", convID); n != 4 {
		t.Fatalf("%d erased message rows, want 4", n)
	}
	if n := st.count("contact_link_audit", "customer_id = $1 AND contact_id = $2 AND action = 'unlink' AND actor = 'admin' AND agent_id IS NULL", customerID, contactID); n != 1 {
		t.Fatalf("erasure's unlink audited %d times", n)
	}

	// The transcript shows where the messages were.
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	msgs := conv["messages"].([]any)
	kinds := map[string]int{}
	for _, m := range msgs {
		m := m.(map[string]any)
		if m["text"] != "" || len(m["attachments"].([]any)) != 0 || m["erased_at"] == nil {
			t.Fatalf("message after erasure: %v", m)
		}
		kinds[m["kind"].(string)]++
	}
	if len(msgs) != 4 || kinds["text"] != 3 || kinds["attachment"] != 1 {
		t.Fatalf("transcript after erasure: %v", msgs)
	}
	cu := conv["customer"].(map[string]any)
	if cu["name"] != "Deleted customer" || cu["profile_pic"] != "" || conv["contact"] != nil {
		t.Fatalf("conversation after erasure: customer %v contact %v", cu, conv["contact"])
	}

	// Again: harmless, nothing more to erase.
	if code := st.call("DELETE", "/api/v1/customers/"+customerID, st.adminToken, nil, &erased); code != 200 {
		t.Fatalf("erase again: %d", code)
	}
	if c := erased["erased"].(map[string]any); c["messages"] != 0.0 || c["conversation_notes"] != 0.0 || c["inbound_events"] != 0.0 || c["agent_events"] != 0.0 || c["contact_links"] != 0.0 || c["profile"] != false {
		t.Fatalf("erase again: %v", erased)
	}

	// The customer writes again later: a new conversation, and the erased profile
	// is not fetched back.
	st.agentCloses(a, convID)
	events.next(t, "conversation.closed", 10*time.Second)
	profileCalls := len(st.sim.Requests("/" + psid))
	conv2 := st.customerAssigned(events, ch, psid, "hello again")
	st.call("GET", "/api/v1/conversations/"+conv2, a.Token, nil, &conv)
	if cu := conv["customer"].(map[string]any); cu["name"] != "Deleted customer" || len(st.sim.Requests("/"+psid)) != profileCalls {
		t.Fatalf("the profile came back: %v", cu)
	}

	// No workflow history of this stack ever held the customer's words or the reply.
	st.assertHistoriesFree(psid, "Baker Street", "555-0199", "passport-scan", reply)
}

// Each account has a privacy notice URL: admins set it (http or https only),
// GET account shows it, and it is refused with 400 and no change otherwise.
func TestPrivacyNoticeURLPerAccount(t *testing.T) {
	st := newStack(t)
	a := st.createAgent("nia", 1)
	var acct map[string]any
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": "app-1", "app_secret": "s3cret"}, &acct); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	id := acct["id"].(string)
	get := func() map[string]any {
		t.Helper()
		var out map[string]any
		if code := st.call("GET", "/api/v1/accounts/"+id, st.adminToken, nil, &out); code != 200 {
			t.Fatalf("get account: %d %v", code, out)
		}
		return out
	}
	if got := get(); got["privacy_notice_url"] != "" || got["name"] != "Acme" {
		t.Fatalf("new account: %v", got)
	}
	var patched map[string]any
	if code := st.call("PATCH", "/api/v1/accounts/"+id, st.adminToken, map[string]any{"privacy_notice_url": " https://acme.example/privacy "}, &patched); code != 200 {
		t.Fatalf("patch: %d %v", code, patched)
	}
	if patched["privacy_notice_url"] != "https://acme.example/privacy" || patched["id"] != id || patched["app_id"] != "app-1" {
		t.Fatalf("patch answer: %v", patched)
	}
	for _, body := range []map[string]any{
		{"privacy_notice_url": "javascript:alert(1)"},
		{"privacy_notice_url": "ftp://acme.example/privacy"},
		{"privacy_notice_url": "acme.example/privacy"},
		{"privacy_notice_url": "https://"},
		{"privacy_notice_url": "https://acme.example/a b"},
		{"privacy_notice_url": "https://user:pw@acme.example/"},
		{"privacy_notice_url": 42},
		{"privacy_notice_url": "https://acme.example/", "name": "Other"},
		{},
	} {
		var out map[string]any
		if code := st.call("PATCH", "/api/v1/accounts/"+id, st.adminToken, body, &out); code != 400 || out["error"] == nil {
			t.Fatalf("patch %v: %d %v, want 400", body, code, out)
		}
	}
	if got := get(); got["privacy_notice_url"] != "https://acme.example/privacy" {
		t.Fatalf("refused patches changed it: %v", got)
	}
	if code := st.call("PATCH", "/api/v1/accounts/"+id, a.Token, map[string]any{"privacy_notice_url": "https://evil.example/"}, nil); code != 401 {
		t.Fatalf("agent patch: %d, want 401", code)
	}
	if code := st.call("PATCH", "/api/v1/accounts/00000000-0000-4000-8000-000000000000", st.adminToken, map[string]any{"privacy_notice_url": "https://acme.example/"}, nil); code != 404 {
		t.Fatalf("unknown account: %d, want 404", code)
	}
	if code := st.call("GET", "/api/v1/accounts/00000000-0000-4000-8000-000000000000", st.adminToken, nil, nil); code != 404 {
		t.Fatalf("get unknown account: %d, want 404", code)
	}
	if code := st.call("PATCH", "/api/v1/accounts/"+id, st.adminToken, map[string]any{"privacy_notice_url": nil}, &patched); code != 200 || patched["privacy_notice_url"] != "" {
		t.Fatalf("clear: %d %v", code, patched)
	}
}

// The admin console sets an account's privacy notice URL, refusing a bad one inline.
func TestPrivacyNoticeInAdminConsole(t *testing.T) {
	requireChromium(t)
	st := newStack(t)
	b := startBrowser(t)
	tb := adminConsole(st, b)
	tb.typeInto("#acc-name", "Acme")
	tb.typeInto("#acc-app-id", "app-"+randomHex(4))
	tb.typeInto("#acc-app-secret", "secret-"+randomHex(8))
	tb.click("#account-form button[type=submit]")
	tb.waitFor("the account", `!document.querySelector("#account-view").hidden && document.querySelector("#privacy-url")`, 10*time.Second)

	tb.typeInto("#privacy-url", "javascript:alert(1)")
	tb.click("#account-privacy button[type=submit]")
	tb.waitFor("the inline error", `!document.querySelector("#account-privacy .form-error").hidden`, 10*time.Second)
	tb.mustEval(`document.querySelector("#privacy-url").value = ""`, nil)
	tb.typeInto("#privacy-url", "https://acme.example/privacy")
	tb.click("#account-privacy button[type=submit]")
	var id string
	tb.mustEval(`document.querySelector("#account-details dd").textContent`, &id)
	st.eventually("the notice saved", 10*time.Second, func() bool {
		var a map[string]any
		st.call("GET", "/api/v1/accounts/"+id, st.adminToken, nil, &a)
		return a["privacy_notice_url"] == "https://acme.example/privacy"
	})
	tb.waitFor("the saved value shown", `document.querySelector("#privacy-url").value === "https://acme.example/privacy" && document.querySelector("#account-privacy .form-error").hidden`, 10*time.Second)
	b.requireNoProblems()
}
