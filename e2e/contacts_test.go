//go:build integration

package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// contactNames is the names of a contact list answer, in order.
func contactNames(list []map[string]any) []string {
	names := []string{}
	for _, c := range list {
		names = append(names, c["name"].(string))
	}
	return names
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Admins and agents search, create, read and update contacts; bad input is
// refused with 400 and changes nothing; unknown ids are 404.
func TestContactsSearchCreateReadUpdate(t *testing.T) {
	st := newStack(t)
	a := st.createAgent("cora", 1)

	if code := st.call("GET", "/api/v1/contacts", "", nil, nil); code != 401 {
		t.Fatalf("no credentials: %d, want 401", code)
	}
	if code := st.call("POST", "/api/v1/contacts", "agt_wrong", map[string]any{"name": "X"}, nil); code != 401 {
		t.Fatalf("wrong token: %d, want 401", code)
	}

	var ada, grace map[string]any
	if code := st.call("POST", "/api/v1/contacts", st.adminToken, map[string]any{
		"name": "  Ada Lovelace ", "email": "ada@example.com", "phone": "+44 20 7946 0000", "notes": "Prefers mornings.\nVIP",
	}, &ada); code != 201 {
		t.Fatalf("admin create: %d %v", code, ada)
	}
	if ada["name"] != "Ada Lovelace" || ada["email"] != "ada@example.com" || ada["phone"] != "+44 20 7946 0000" || ada["notes"] != "Prefers mornings.\nVIP" || ada["id"] == "" || ada["created_at"] == nil {
		t.Fatalf("created contact: %v", ada)
	}
	if code := st.call("POST", "/api/v1/contacts", a.Token, map[string]any{"name": "Grace Hopper", "email": "grace@navy.example"}, &grace); code != 201 {
		t.Fatalf("agent create: %d %v", code, grace)
	}
	if grace["phone"] != "" || grace["notes"] != "" {
		t.Fatalf("optional fields: %v", grace)
	}

	// Bad input: 400 with the contract's error shape, and nothing written.
	for _, body := range []map[string]any{
		{},
		{"name": "   "},
		{"name": nil},
		{"name": 5},
		{"name": "Eve", "email": "not-an-address"},
		{"name": "Eve", "email": "Eve <eve@example.com>"},
		{"name": "Eve", "phone": "call me"},
		{"name": "Eve", "phone": "12"},
		{"name": "Eve", "surname": "Unknown field"},
		{"name": "Eve\u0000"},
		{"name": strings.Repeat("x", 201)},
	} {
		var out map[string]any
		if code := st.call("POST", "/api/v1/contacts", a.Token, body, &out); code != 400 {
			t.Fatalf("create %v: %d %v, want 400", body, code, out)
		}
		if e, _ := out["error"].(map[string]any); e == nil || e["code"] == "" || e["message"] == "" {
			t.Fatalf("create %v: error shape %v", body, out)
		}
	}
	if n := st.count("contacts", "true"); n != 2 {
		t.Fatalf("%d contacts after refused creates, want 2", n)
	}

	// Search: name, email or phone, any case; wildcards are literal.
	search := func(token, q string) []string {
		t.Helper()
		var list []map[string]any
		if code := st.call("GET", "/api/v1/contacts?q="+url.QueryEscape(q), token, nil, &list); code != 200 {
			t.Fatalf("search %q: %d", q, code)
		}
		return contactNames(list)
	}
	for q, want := range map[string][]string{
		"ada":        {"Ada Lovelace"},
		"LOVELACE":   {"Ada Lovelace"},
		"navy":       {"Grace Hopper"},
		"7946":       {"Ada Lovelace"},
		"+4420 7946": {"Ada Lovelace"},
		"example":    {"Ada Lovelace", "Grace Hopper"},
		"%":          {},
		"_":          {},
		"nobody":     {},
		"":           {"Grace Hopper", "Ada Lovelace"}, // most recently changed first
		" hopper  ":  {"Grace Hopper"},
	} {
		if got := search(a.Token, q); !sameStrings(got, want) {
			t.Fatalf("search %q: %v, want %v", q, got, want)
		}
	}
	if got := search(st.adminToken, "grace"); !sameStrings(got, []string{"Grace Hopper"}) {
		t.Fatalf("admin search: %v", got)
	}

	// Read.
	var detail map[string]any
	if code := st.call("GET", "/api/v1/contacts/"+ada["id"].(string), a.Token, nil, &detail); code != 200 {
		t.Fatalf("get: %d %v", code, detail)
	}
	if detail["name"] != "Ada Lovelace" || len(detail["customers"].([]any)) != 0 || len(detail["link_history"].([]any)) != 0 {
		t.Fatalf("contact detail: %v", detail)
	}
	st.requireUnknownNotFound("GET", "/api/v1/contacts/", a.Token)

	// Update: absent fields stay, null clears, name cannot be cleared.
	var updated map[string]any
	if code := st.call("PATCH", "/api/v1/contacts/"+ada["id"].(string), a.Token, map[string]any{"phone": nil, "notes": "Call after 10"}, &updated); code != 200 {
		t.Fatalf("patch: %d %v", code, updated)
	}
	if updated["name"] != "Ada Lovelace" || updated["email"] != "ada@example.com" || updated["phone"] != "" || updated["notes"] != "Call after 10" {
		t.Fatalf("patched: %v", updated)
	}
	for _, body := range []map[string]any{{"name": nil}, {"name": ""}, {"email": "bad"}, {"notes": 3}, {"id": "x"}} {
		if code := st.call("PATCH", "/api/v1/contacts/"+ada["id"].(string), st.adminToken, body, nil); code != 400 {
			t.Fatalf("patch %v: %d, want 400", body, code)
		}
	}
	st.call("GET", "/api/v1/contacts/"+ada["id"].(string), st.adminToken, nil, &detail)
	if detail["name"] != "Ada Lovelace" || detail["email"] != "ada@example.com" || detail["notes"] != "Call after 10" || detail["updated_at"] != updated["updated_at"] {
		t.Fatalf("refused patches changed the contact: %v", detail)
	}
	if code := st.call("PATCH", "/api/v1/contacts/00000000-0000-4000-8000-000000000000", a.Token, map[string]any{"name": "X"}, nil); code != 404 {
		t.Fatalf("patch unknown: %d, want 404", code)
	}
	if got := search(a.Token, "10"); len(got) != 0 {
		t.Fatalf("notes are not searched: %v", got)
	}

	// The desk session works too, with its CSRF rule for writes.
	resp, body := st.deskRequest("POST", "/desk/session", nil, nil, map[string]string{"token": a.Token})
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d %v", resp.StatusCode, body)
	}
	cookies := resp.Cookies()
	csrf := cookieNamed(cookies, "fbc_csrf")
	if resp, _ := st.deskRequest("GET", "/api/v1/contacts?q=ada", cookies, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("cookie search: %d", resp.StatusCode)
	}
	resp, body = st.deskRequest("POST", "/api/v1/contacts", cookies, nil, map[string]any{"name": "Forged"})
	wantError(t, "cookie create without CSRF header", resp, body, http.StatusForbidden, "csrf_failed")
	resp, body = st.deskRequest("POST", "/api/v1/contacts", cookies, map[string]string{"X-CSRF-Token": csrf.Value}, map[string]any{"name": "Katherine Johnson"})
	if resp.StatusCode != 201 || body["name"] != "Katherine Johnson" {
		t.Fatalf("cookie create: %d %v", resp.StatusCode, body)
	}
	if n := st.count("contacts", "name = 'Forged'"); n != 0 {
		t.Fatalf("a refused cookie request created a contact")
	}
}

// An agent links the customer of its conversation to a new contact, moves the
// link to an existing one, and the customer's next conversation comes linked,
// with the summary of the earlier one; unlinking is audited; another agent
// cannot link or unlink; bad input changes nothing.
func TestContactLinkFollowsTheCustomer(t *testing.T) {
	st, ch := newPageStack(t)
	a, events := st.availableAgent("lena", 2)
	b := st.createAgent("omar", 2)

	psid := "2900000000000061"
	st.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: "Linus", LastName: "Berg", ProfilePic: "https://cdn.example/linus.jpg"})
	conv1 := st.customerAssigned(events, ch, psid, "Where is parcel 42?")

	getConv := func(id string) map[string]any {
		t.Helper()
		var c map[string]any
		if code := st.call("GET", "/api/v1/conversations/"+id, a.Token, nil, &c); code != 200 {
			t.Fatalf("get conversation: %d %v", code, c)
		}
		return c
	}
	c := getConv(conv1)
	if v, ok := c["contact"]; !ok || v != nil {
		t.Fatalf("unlinked conversation's contact: %v (present %v), want null", v, ok)
	}
	customerID := c["customer"].(map[string]any)["id"].(string)
	audits := func() int { return st.count("contact_link_audit", "customer_id = $1", customerID) }

	// Create a contact from the conversation.
	var linked map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv1+"/contact", a.Token,
		map[string]any{"create": map[string]any{"name": "Linus Berg", "email": "linus@example.com", "phone": "+46 70 123 45 67"}}, &linked); code != 201 {
		t.Fatalf("create from conversation: %d %v", code, linked)
	}
	created := linked["contact"].(map[string]any)
	if created["name"] != "Linus Berg" || linked["changed"] != true || linked["customer_id"] != customerID {
		t.Fatalf("create answer: %v", linked)
	}
	c = getConv(conv1)
	if ct, _ := c["contact"].(map[string]any); ct == nil || ct["id"] != created["id"] || ct["email"] != "linus@example.com" || ct["linked_at"] == nil {
		t.Fatalf("conversation's contact after create: %v", c["contact"])
	}
	if n := st.count("contact_link_audit", "customer_id = $1 AND contact_id = $2 AND action = 'link' AND actor = 'agent' AND agent_id = $3 AND conversation_id = $4",
		customerID, created["id"], a.ID, conv1); n != 1 || audits() != 1 {
		t.Fatalf("link audit: %d of %d", n, audits())
	}

	// Move the link to an existing contact; linking again changes nothing.
	var existing map[string]any
	st.call("POST", "/api/v1/contacts", st.adminToken, map[string]any{"name": "L. Berg (CRM)", "email": "l.berg@example.com"}, &existing)
	existingID := existing["id"].(string)
	if code := st.call("POST", "/api/v1/conversations/"+conv1+"/contact", a.Token, map[string]any{"contact_id": existingID}, &linked); code != 200 || linked["changed"] != true {
		t.Fatalf("link to existing: %d %v", code, linked)
	}
	if n := st.count("contact_link_audit", "customer_id = $1 AND contact_id = $2 AND action = 'unlink'", customerID, created["id"]); n != 1 || audits() != 3 {
		t.Fatalf("relink audit: unlink %d, all %d", n, audits())
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv1+"/contact", a.Token, map[string]any{"contact_id": existingID}, &linked); code != 200 || linked["changed"] != false || audits() != 3 {
		t.Fatalf("link again: %d %v, %d audits", code, linked, audits())
	}

	// Bad input and unknown contacts change nothing.
	contacts := st.count("contacts", "true")
	for _, body := range []map[string]any{
		{},
		{"contact_id": existingID, "create": map[string]any{"name": "Both"}},
		{"contact_id": "not-a-uuid"},
		{"contact_id": nil},
		{"create": map[string]any{"name": ""}},
		{"create": map[string]any{"name": "Bad", "email": "nope"}},
		{"create": map[string]any{"name": "Bad", "extra": 1}},
		{"contact": existingID},
	} {
		var out map[string]any
		if code := st.call("POST", "/api/v1/conversations/"+conv1+"/contact", a.Token, body, &out); code != 400 || out["error"] == nil {
			t.Fatalf("link %v: %d %v, want 400", body, code, out)
		}
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv1+"/contact", a.Token, map[string]any{"contact_id": "00000000-0000-4000-8000-000000000000"}, nil); code != 404 {
		t.Fatalf("link to unknown contact: %d, want 404", code)
	}
	if st.count("contacts", "true") != contacts || audits() != 3 || st.count("customers", "id = $1 AND contact_id = $2", customerID, existingID) != 1 {
		t.Fatalf("refused links changed something")
	}

	// Another agent: 404 on linking and unlinking, nothing changes.
	for _, method := range []string{"POST", "DELETE"} {
		var out map[string]any
		if code := st.call(method, "/api/v1/conversations/"+conv1+"/contact", b.Token, map[string]any{"contact_id": created["id"]}, &out); code != 404 || out["error"] == nil {
			t.Fatalf("other agent %s: %d %v, want 404", method, code, out)
		}
	}
	if code := st.call("POST", "/api/v1/conversations/00000000-0000-4000-8000-000000000000/contact", a.Token, map[string]any{"contact_id": existingID}, nil); code != 404 {
		t.Fatalf("unknown conversation: %d, want 404", code)
	}
	if audits() != 3 || st.count("customers", "id = $1 AND contact_id = $2", customerID, existingID) != 1 {
		t.Fatalf("the other agent changed the link")
	}

	// The customer's next conversation comes linked, with the earlier one summarised.
	if code := st.call("POST", "/api/v1/conversations/"+conv1+"/close", a.Token, map[string]string{"disposition": "parcel found"}, nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	events.next(t, "conversation.closed", 10*time.Second)
	conv2 := st.customerAssigned(events, ch, psid, "Thanks, and one more question")
	if conv2 == conv1 {
		t.Fatalf("no new conversation")
	}
	c = getConv(conv2)
	if ct, _ := c["contact"].(map[string]any); ct == nil || ct["id"] != existingID || ct["name"] != "L. Berg (CRM)" {
		t.Fatalf("later conversation's contact: %v", c["contact"])
	}
	prev, _ := c["previous_conversations"].([]any)
	if len(prev) != 1 {
		t.Fatalf("previous conversations: %v", c["previous_conversations"])
	}
	if p := prev[0].(map[string]any); p["id"] != conv1 || p["disposition"] != "parcel found" || p["last_message"] != "Where is parcel 42?" || p["closed_at"] == nil {
		t.Fatalf("summary of the earlier conversation: %v", p)
	}

	// The contact shows its customer and both conversations, and the link history.
	var detail map[string]any
	if code := st.call("GET", "/api/v1/contacts/"+existingID, a.Token, nil, &detail); code != 200 {
		t.Fatalf("contact: %d", code)
	}
	customers := detail["customers"].([]any)
	if len(customers) != 1 {
		t.Fatalf("contact's customers: %v", detail)
	}
	cu := customers[0].(map[string]any)
	convs := cu["conversations"].([]any)
	if cu["id"] != customerID || cu["psid"] != psid || cu["name"] != "Linus Berg" || cu["page_id"] != ch.PageID || len(convs) != 2 ||
		convs[0].(map[string]any)["id"] != conv2 || convs[1].(map[string]any)["id"] != conv1 {
		t.Fatalf("contact's customer: %v", cu)
	}
	if last := convs[1].(map[string]any)["last_message"]; last != "Where is parcel 42?" {
		t.Fatalf("the conversation's agent sees its last message: %v", last)
	}
	// Another agent sees the conversations' dates and outcomes, not their words; the admin sees all.
	var other map[string]any
	st.call("GET", "/api/v1/contacts/"+existingID, b.Token, nil, &other)
	for _, cv := range other["customers"].([]any)[0].(map[string]any)["conversations"].([]any) {
		if cv := cv.(map[string]any); cv["last_message"] != "" || cv["status"] == "" || cv["opened_at"] == nil {
			t.Fatalf("another agent's view of a conversation: %v", cv)
		}
	}
	st.call("GET", "/api/v1/contacts/"+existingID, st.adminToken, nil, &other)
	if cv := other["customers"].([]any)[0].(map[string]any)["conversations"].([]any)[1].(map[string]any); cv["last_message"] != "Where is parcel 42?" {
		t.Fatalf("admin's view of a conversation: %v", cv)
	}
	if h := detail["link_history"].([]any); len(h) != 1 || h[0].(map[string]any)["action"] != "link" || h[0].(map[string]any)["agent_id"] != a.ID {
		t.Fatalf("link history: %v", detail["link_history"])
	}

	// Unlink from the new conversation: audited with who and where; again is a no-op.
	var out map[string]any
	if code := st.call("DELETE", "/api/v1/conversations/"+conv2+"/contact", a.Token, nil, &out); code != 200 || out["changed"] != true {
		t.Fatalf("unlink: %d %v", code, out)
	}
	if n := st.count("contact_link_audit", "customer_id = $1 AND contact_id = $2 AND action = 'unlink' AND actor = 'agent' AND agent_id = $3 AND conversation_id = $4 AND created_at > now() - interval '1 minute'",
		customerID, existingID, a.ID, conv2); n != 1 || audits() != 4 {
		t.Fatalf("unlink audit: %d of %d", n, audits())
	}
	if c = getConv(conv2); c["contact"] != nil {
		t.Fatalf("contact after unlink: %v", c["contact"])
	}
	if code := st.call("DELETE", "/api/v1/conversations/"+conv2+"/contact", a.Token, nil, &out); code != 200 || out["changed"] != false || audits() != 4 {
		t.Fatalf("unlink again: %d %v, %d audits", code, out, audits())
	}
	st.call("GET", "/api/v1/contacts/"+existingID, st.adminToken, nil, &detail)
	if len(detail["customers"].([]any)) != 0 || len(detail["link_history"].([]any)) != 2 {
		t.Fatalf("contact after unlink: %v", detail)
	}
}

// Facebook refuses most profiles (error 2018218): the customer is shown as
// "Facebook user ·<last 4 of the PSID>", never a made-up name; a profile Facebook
// gives is shown with its name, picture and locale.
func TestProfileFallbackAndRealProfile(t *testing.T) {
	st, ch := newPageStack(t)
	a, events := st.availableAgent("pia", 2)

	refused, known := "2900000000007319", "2900000000000072"
	st.sim.RegisterProfile(known, simulator.ProfileData{FirstName: "Mia", LastName: "Wong", ProfilePic: "https://cdn.example/mia.jpg", Locale: "en_GB"})

	// The profile is fetched beside routing, so the customer is first shown with
	// the fallback name; each check waits for the fetch's own observable effect.
	customerOf := func(psid, text string, fetched func()) map[string]any {
		t.Helper()
		id := st.customerAssigned(events, ch, psid, text)
		fetched()
		var c map[string]any
		st.call("GET", "/api/v1/conversations/"+id, a.Token, nil, &c)
		cu, _ := c["customer"].(map[string]any)
		return cu
	}
	refusedAsked := func() {
		st.eventually("the refused profile asked for", 30*time.Second, func() bool { return len(st.sim.Requests("/"+refused)) > 0 })
	}
	if cu := customerOf(refused, "Hi", refusedAsked); cu["name"] != "Facebook user ·7319" || cu["profile_pic"] != "" || cu["psid"] != refused {
		t.Fatalf("refused profile: %v", cu)
	}
	if cu := customerOf(known, "Hello", func() { st.profileSaved(known, "Mia Wong") }); cu["name"] != "Mia Wong" || cu["profile_pic"] != "https://cdn.example/mia.jpg" || cu["locale"] != "en_GB" {
		t.Fatalf("real profile: %v", cu)
	}
	var list []map[string]any
	st.call("GET", "/api/v1/me/conversations", a.Token, nil, &list)
	if len(list) != 2 {
		t.Fatalf("conversations: %v", list)
	}
}

// In the desk: the agent creates a contact from a conversation in the customer
// panel; the customer's next conversation shows as linked, with the earlier
// conversation in the summary and the account's privacy notice; after the admin
// erases the customer the transcript shows the "deleted" marker.
func TestContactDeskInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Dora", 3)
	if code := st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"privacy_notice_url": "https://acme.example/privacy"}, nil); code != 200 {
		t.Fatalf("privacy notice: %d", code)
	}
	psid := st.customerProfile("2900000000000291", "Nora", "Quist", "nb_NO")
	st.setPresence(a, "available")

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskObservers)

	st.customerSays(ch, psid, "Can I return the blue kettle?", "")
	tb.waitFor("the conversation", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the customer panel", `document.querySelector("#cust-name").textContent === "Nora Quist" && document.querySelector("#contact-search")`, 15*time.Second)
	if got := tb.text("#cust-history-empty"); got == "" {
		t.Fatal("no 'none before' note for a first conversation")
	}
	tb.waitFor("the privacy notice link", `document.querySelector("#cust-privacy a") && document.querySelector("#cust-privacy a").href === "https://acme.example/privacy"`, 5*time.Second)

	// Create a contact from the conversation: the name is suggested from the profile.
	tb.click("#contact-create-open")
	var suggested string
	tb.mustEval(`document.querySelector("#contact-name").value`, &suggested)
	if suggested != "Nora Quist" {
		t.Fatalf("suggested name: %q", suggested)
	}
	tb.typeInto("#contact-email", "nora@example.com")
	tb.click("#contact-create button[type=submit]")
	tb.waitFor("the linked contact", `document.querySelector("#contact-unlink") && document.querySelector("#cust-contact").textContent.includes("nora@example.com")`, 10*time.Second)
	if n := st.count("contact_link_audit", "action = 'link' AND agent_id = $1", a.ID); n != 1 {
		t.Fatalf("link audited %d times", n)
	}

	// Close; the customer writes again; the new conversation comes linked, with the summary.
	tb.click("#close-conv")
	tb.waitFor("closed", `document.querySelector("#conv-status").textContent === "closed"`, 20*time.Second)
	st.customerSays(ch, psid, "Also, do you sell filters?", "")
	tb.waitFor("the second conversation", `document.querySelector("#count-open").textContent === "1"`, 30*time.Second)
	tb.click(`.tab[data-filter="open"]`)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the second conversation, linked, with the earlier one", `document.querySelector("#conv-status").textContent === "assigned" &&
		document.querySelector("#cust-contact").textContent.includes("nora@example.com") && document.querySelector("#contact-unlink") &&
		[...document.querySelectorAll("#cust-history li")].some(li => li.textContent.includes("blue kettle"))`, 15*time.Second)
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-contact.png"), false)

	// Unlink from the desk, then link the existing contact back by searching.
	tb.click("#contact-unlink")
	tb.waitFor("unlinked", `document.querySelector("#contact-search")`, 10*time.Second)
	tb.typeInto("#contact-search", "nora@")
	tb.waitFor("the search result", `document.querySelector("#contact-results li button")`, 10*time.Second)
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-contact-search.png"), false)
	tb.click("#contact-results li button")
	tb.waitFor("linked again", `document.querySelector("#contact-unlink")`, 10*time.Second)
	if n := st.count("contact_link_audit", "agent_id = $1", a.ID); n != 3 {
		t.Fatalf("%d audited link changes, want 3", n)
	}

	// The admin erases the customer: the transcript shows the deleted marker.
	var conv map[string]any
	var convID string
	tb.mustEval(`document.querySelector("#conv-list .conv-item").dataset.id`, &convID)
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	customerID := conv["customer"].(map[string]any)["id"].(string)
	if code := st.call("DELETE", "/api/v1/customers/"+customerID, st.adminToken, nil, nil); code != 200 {
		t.Fatalf("erase: %d", code)
	}
	tb.mustEval(`document.querySelector("#conv-list .conv-item").click()`, nil)
	tb.waitFor("the deleted marker", `document.querySelector("#messages .erased") && !document.querySelector("#messages").textContent.includes("filters") &&
		document.querySelector("#cust-name").textContent === "Deleted customer" && document.querySelector("#contact-search")`, 15*time.Second)
	b.requireNoProblems()
}
