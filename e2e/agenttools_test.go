//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"fbchannel/simulator"
)

// profileSaved waits until the customer's profile name is saved. It is fetched
// beside routing, so it may come after the assignment (customer.updated); quick
// replies fill their slugs from it.
func (st *stack) profileSaved(psid, name string) {
	st.t.Helper()
	st.eventually(psid+"'s profile", 30*time.Second, func() bool {
		return st.count("customers", "psid = $1 AND name = $2", psid, name) == 1
	})
}

// conversationOf waits until the agent has the customer's conversation
// and returns its id.
func (st *stack) conversationOf(a agent, psid string) string {
	st.t.Helper()
	var id string
	st.eventually("the conversation assigned", 30*time.Second, func() bool {
		var list []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Customer struct {
				PSID string `json:"psid"`
			} `json:"customer"`
		}
		st.call("GET", "/api/v1/me/conversations", a.Token, nil, &list)
		for _, c := range list {
			if c.Customer.PSID == psid && c.Status == "assigned" {
				id = c.ID
				return true
			}
		}
		return false
	})
	return id
}

// Quick replies: the account's library (admin) and personal replies (agent);
// an unknown slug is refused with 400 and nothing is saved; the search finds
// a reply by tag and fills its slugs for the conversation, its locale first.
// Notes: stored as messages kind note / direction internal, in the
// conversation's messages, on SSE as note.added, never sent to Facebook; a
// note at close is stored as a note.
func TestQuickRepliesAndNotesAPI(t *testing.T) {
	st, ch := newPageStack(t)
	a := st.createAgent("Grace Hopper", 2)
	st.setPresence(a, "available")
	jane := "2900000000001301"
	st.sim.RegisterProfile(jane, simulator.ProfileData{FirstName: "Jane", LastName: "Cooper", Locale: "fr_FR"})
	st.customerSays(ch, jane, "Where is my order?", "")
	convID := st.conversationOf(a, jane)
	st.profileSaved(jane, "Jane Cooper")

	library := "/api/v1/accounts/" + ch.AccountID + "/quick-replies"
	var raw map[string]any
	if code := st.call("POST", library, st.adminToken, map[string]any{"title": "Order", "text": "Hi {customer.firstname}", "tags": []string{"order"}}, &raw); code != 400 ||
		!strings.Contains(fmt.Sprint(raw), "{customer.firstname}") {
		t.Fatalf("unknown slug in the library: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/quick-replies", a.Token, map[string]any{"title": "Mine", "text": "Bye {agent.nick}"}, &raw); code != 400 {
		t.Fatalf("unknown slug in a personal reply: %d %v", code, raw)
	}
	if n := st.count("quick_replies", "true"); n != 0 {
		t.Fatalf("a refused reply was saved: %d rows", n)
	}
	if code := st.call("POST", "/api/v1/accounts/00000000-0000-0000-0000-000000000000/quick-replies", st.adminToken, map[string]any{"title": "x", "text": "y"}, &raw); code != 404 {
		t.Fatalf("unknown account: %d %v", code, raw)
	}

	var en, fr, mine map[string]any
	if code := st.call("POST", library, st.adminToken, map[string]any{"title": "Order status", "text": "Hi {customer.first_name}, {agent.first_name} here: your order ships today.", "tags": []string{"Order", "shipping"}, "locale": "en"}, &en); code != 201 {
		t.Fatalf("library reply: %d %v", code, en)
	}
	if code := st.call("POST", library, st.adminToken, map[string]any{"title": "Statut de commande", "text": "Bonjour {customer.name}, ici {agent.name}.", "tags": []string{"order"}, "locale": "fr"}, &fr); code != 201 {
		t.Fatalf("library reply (fr): %d %v", code, fr)
	}
	if code := st.call("POST", "/api/v1/quick-replies", a.Token, map[string]any{"title": "Goodbye", "text": "Bye from {page.name}", "tags": []string{"bye"}}, &mine); code != 201 || mine["scope"] != "personal" {
		t.Fatalf("personal reply: %d %v", code, mine)
	}
	if tags := fmt.Sprint(en["tags"]); tags != "[order shipping]" || en["scope"] != "account" {
		t.Fatalf("library reply answer: %v", en)
	}

	var found []map[string]any
	if code := st.call("GET", "/api/v1/quick-replies?q=ord&conversation_id="+convID, a.Token, nil, &found); code != 200 || len(found) != 2 {
		t.Fatalf("search ord: %d %v", code, found)
	}
	// The customer's locale (fr_FR) first, slugs filled.
	if found[0]["title"] != "Statut de commande" || found[0]["filled_text"] != "Bonjour Jane Cooper, ici Grace Hopper." ||
		found[1]["filled_text"] != "Hi Jane, Grace here: your order ships today." {
		t.Fatalf("search ord: %v", found)
	}
	found = nil // a fresh answer, not merged into the last one's maps
	if code := st.call("GET", "/api/v1/quick-replies?q=ord&locale=en", a.Token, nil, &found); code != 200 || len(found) != 2 || found[0]["title"] != "Order status" || found[0]["filled_text"] != nil {
		t.Fatalf("search ord in en: %d %v", code, found)
	}
	found = nil
	if code := st.call("GET", "/api/v1/quick-replies", a.Token, nil, &found); code != 200 || len(found) != 3 {
		t.Fatalf("all replies: %d %v", code, found)
	}
	// An agent cannot change the library; an admin can, and slugs are checked again.
	if code := st.call("PATCH", "/api/v1/quick-replies/"+en["id"].(string), a.Token, map[string]any{"title": "Hijack"}, &raw); code != 404 {
		t.Fatalf("agent patching the library: %d %v", code, raw)
	}
	if code := st.call("PATCH", library+"/"+en["id"].(string), st.adminToken, map[string]any{"text": "{oops}"}, &raw); code != 400 {
		t.Fatalf("patch with an unknown slug: %d %v", code, raw)
	}
	if code := st.call("PATCH", library+"/"+en["id"].(string), st.adminToken, map[string]any{"title": "Order update"}, &raw); code != 200 || raw["title"] != "Order update" || raw["text"] != en["text"] {
		t.Fatalf("patch the library: %d %v", code, raw)
	}
	if code := st.call("DELETE", "/api/v1/quick-replies/"+mine["id"].(string), a.Token, nil, nil); code != 204 {
		t.Fatalf("delete personal: %d", code)
	}
	if code := st.call("DELETE", library+"/"+fr["id"].(string), st.adminToken, nil, nil); code != 204 {
		t.Fatalf("delete from the library: %d", code)
	}
	found = nil
	if code := st.call("GET", library, st.adminToken, nil, &found); code != 200 || len(found) != 1 {
		t.Fatalf("library after delete: %d %v", code, found)
	}

	// Notes.
	events := st.openEvents(a, "")
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/notes", a.Token, map[string]any{"text": "  "}, &raw); code != 400 {
		t.Fatalf("empty note: %d %v", code, raw)
	}
	var note map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/notes", a.Token, map[string]any{"text": "Customer is upset; offer a refund."}, &note); code != 201 ||
		note["kind"] != "note" || note["direction"] != "internal" || note["agent_id"] != a.ID {
		t.Fatalf("note: %d %v", code, note)
	}
	ev := events.next(t, "note.added", 15*time.Second)
	if msg, _ := ev.Data["message"].(map[string]any); ev.Data["conversation_id"] != convID || msg["id"] != note["id"] || msg["kind"] != "note" || msg["direction"] != "internal" {
		t.Fatalf("note.added: %v", ev.Data)
	}
	other := st.createAgent("Other", 1)
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/notes", other.Token, map[string]any{"text": "hi"}, &raw); code != 404 {
		t.Fatalf("note by another agent: %d %v", code, raw)
	}

	// Close with a disposition note.
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/close", a.Token, map[string]any{"disposition": "resolved", "note": "Refund offered."}, &raw); code != 200 {
		t.Fatalf("close with a note: %d %v", code, raw)
	}
	var conv struct {
		Messages []map[string]any `json:"messages"`
	}
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	var notes []string
	for _, m := range conv.Messages {
		if m["kind"] == "note" {
			if m["direction"] != "internal" {
				t.Fatalf("note direction: %v", m)
			}
			notes = append(notes, m["text"].(string))
		}
	}
	if fmt.Sprint(notes) != "[Customer is upset; offer a refund. Refund offered.]" {
		t.Fatalf("notes in the transcript: %v", conv.Messages)
	}
	if sends := st.sim.Requests("/messages"); len(sends) != 0 {
		t.Fatalf("a note reached the Send API: %v", sends)
	}
}

// In the desk: "/ord" finds the quick reply tagged "order", picking it fills
// the reply box with the names filled in, the agent edits and sends, and the
// Send API receives the filled text. "Add as note" adds an internal note to
// the transcript, which Facebook never sees.
func TestDeskQuickRepliesAndNotesInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 3)
	jane := st.customerProfile("2900000000001302", "Jane", "Cooper", "en_US")
	var raw map[string]any
	if code := st.call("POST", "/api/v1/accounts/"+ch.AccountID+"/quick-replies", st.adminToken, map[string]any{
		"title": "Order status", "text": "Hi {customer.first_name}, this is {agent.name}: your order ships today.", "tags": []string{"order"}, "locale": "en",
	}, &raw); code != 201 {
		t.Fatalf("library reply: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/quick-replies", a.Token, map[string]any{"title": "Goodbye", "text": "Bye!", "tags": []string{"bye"}}, &raw); code != 201 {
		t.Fatalf("personal reply: %d %v", code, raw)
	}
	st.setPresence(a, "available")
	st.customerSays(ch, jane, "Where is my order?", "")
	st.conversationOf(a, jane)
	st.profileSaved(jane, "Jane Cooper")

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskObservers)
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("Where is my order?"))`, 15*time.Second)
	tb.waitFor("the reply box", `!document.querySelector("#reply").disabled`, 10*time.Second)

	tb.typeInto("#reply", "/ord")
	tb.waitFor("the quick reply menu", `!document.querySelector("#qr-menu").hidden && [...document.querySelectorAll("#qr-menu li .qr-title")].map(e => e.textContent).join("|") === "Order status"`, 10*time.Second)
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-quick-replies.png"), false)
	tb.click("#qr-menu li")
	filled := "Hi Jane, this is Ada Lovelace: your order ships today."
	tb.waitFor("the filled reply", fmt.Sprintf(`document.querySelector("#reply").value === %q && document.querySelector("#qr-menu").hidden`, filled), 5*time.Second)
	// The agent edits before sending.
	tb.typeInto("#reply", " Thanks for waiting!")
	sent := filled + " Thanks for waiting!"
	tb.click("#send")
	tb.waitFor("the reply sent", fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.out")].some(m => m.querySelector(".text").textContent === %q && ["sent","delivered","read"].includes(m.querySelector(".msg-status").dataset.status))`, sent), 20*time.Second)
	sends := st.sim.Requests("/messages")
	if len(sends) != 1 {
		t.Fatalf("Send API calls: %d, want 1", len(sends))
	}
	if message, _ := sends[0].Body["message"].(map[string]any); message["text"] != sent {
		t.Fatalf("Send API call: %v", sends[0].Body)
	}

	// A note: in the transcript with its own look, never sent.
	tb.typeInto("#reply", "Customer asked twice; check the carrier tomorrow.")
	tb.click("#add-note")
	tb.waitFor("the note in the transcript", `[...document.querySelectorAll("#messages .msg.note .text")].some(e => e.textContent === "Customer asked twice; check the carrier tomorrow.") && document.querySelector("#reply").value === ""`, 10*time.Second)
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-note.png"), false)
	if n := st.count("messages", "kind = 'note' AND direction = 'internal'"); n != 1 {
		t.Fatalf("notes stored: %d", n)
	}
	// Read again (as after a reload): the note is still drawn as a note.
	tb.navigate(st.api.URL + "/desk")
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 30*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the note after a reload", `[...document.querySelectorAll("#messages .msg.note .text")].some(e => e.textContent.includes("check the carrier"))`, 15*time.Second)
	if sends := st.sim.Requests("/messages"); len(sends) != 1 {
		t.Fatalf("Send API calls after the note: %d, want 1", len(sends))
	}
	b.requireNoProblems()
}

// The admin console manages the account's quick reply library: an unknown
// slug is refused with the API's message and nothing is added; a good reply
// is added, edited and deleted.
func TestAdminQuickRepliesInBrowser(t *testing.T) {
	requireChromium(t)
	st := newStack(t)
	var acct struct{ ID string }
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": "app-" + randomHex(4), "app_secret": "secret-" + randomHex(16)}, &acct); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	b := startBrowser(t)
	tb := b.newTab("")
	tb.signIn(st.api.URL+"/admin", st.adminToken)
	tb.waitFor("the console", `!document.querySelector("#app").hidden`, 10*time.Second)
	tb.typeInto("#open-id", acct.ID)
	tb.click("#open-account button[type=submit]")
	tb.waitFor("the quick replies section", `document.querySelector("#qr-form")`, 10*time.Second)

	tb.typeInto("#qr-title", "Order status")
	tb.typeInto("#qr-text", "Hi {customer.frist_name}")
	tb.typeInto("#qr-tags", "order, shipping")
	tb.typeInto("#qr-locale", "en")
	tb.click("#qr-save")
	tb.waitFor("the unknown slug refused", `!document.querySelector("#qr-error").hidden && document.querySelector("#qr-error").textContent.includes("{customer.frist_name}")`, 10*time.Second)
	if n := st.count("quick_replies", "true"); n != 0 {
		t.Fatalf("a refused reply was saved: %d", n)
	}
	tb.mustEval(`document.querySelector("#qr-text").value = ""`, nil)
	tb.typeInto("#qr-text", "Hi {customer.first_name}, your order ships today.")
	tb.click("#qr-save")
	tb.waitFor("the reply listed", `[...document.querySelectorAll("#qr-list li .title")].map(e => e.textContent).join("|") === "Order status"`, 10*time.Second)
	var tags []string
	if err := st.db.QueryRow(`SELECT tags FROM quick_replies WHERE account_id = $1 AND locale = 'en'`, acct.ID).Scan((*pq.StringArray)(&tags)); err != nil || fmt.Sprint(tags) != "[order shipping]" {
		t.Fatalf("stored tags: %v %v", tags, err)
	}

	tb.click("#qr-list li button")
	tb.waitFor("the form filled for editing", `document.querySelector("#qr-title").value === "Order status" && document.querySelector("#qr-save").textContent === "Save changes"`, 5*time.Second)
	tb.mustEval(`document.querySelector("#qr-title").value = ""`, nil)
	tb.typeInto("#qr-title", "Order update")
	tb.click("#qr-save")
	tb.waitFor("the reply renamed", `[...document.querySelectorAll("#qr-list li .title")].map(e => e.textContent).join("|") === "Order update"`, 10*time.Second)
	if n := st.count("quick_replies", "true"); n != 1 {
		t.Fatalf("quick replies after the edit: %d", n)
	}
	tb.click("#qr-list li button.danger")
	tb.waitFor("the reply deleted", `!document.querySelector("#qr-list") && document.querySelector("#quick-replies .empty-note")`, 10*time.Second)
	b.requireNoProblems()
}
