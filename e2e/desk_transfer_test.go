//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two agents, each signed in to the desk in its own browser context (own
// cookies, as two people on two machines). Alice transfers a conversation to
// Bart from the desk with a note: it leaves her list at once, without a reload,
// and the pane she had open says where it went and takes no more replies; Bart's
// desk shows it live, with an alert and the note in his list and in the pane. A
// transfer made through the API (to a queue) reaches Alice's open desk the same
// way.
func TestDeskTransferInBrowser(t *testing.T) {
	requireChromium(t)
	st, ch := newPageStack(t)
	var billing struct{ ID string }
	if code := st.call("POST", "/api/v1/queues", st.adminToken, map[string]any{"account_id": ch.AccountID, "name": "Billing", "priority": 0}, &billing); code != 201 {
		t.Fatalf("create queue: %d", code)
	}
	// Created after the page, both agents are members of its default queue.
	alice := st.createAgent("Alice Moreau", 3)
	bart := st.createAgent("Bart Simpson", 3)
	jane := st.customerProfile("2900000000000301", "Jane", "Cooper", "en_US")
	marcus := st.customerProfile("2900000000000302", "Marcus", "Lee", "en_GB")

	// Both customers go to Alice, the only available agent. Bart is busy: he gets
	// no new customers but can take a transfer (only offline agents cannot).
	st.setPresence(alice, "available")
	st.setPresence(bart, "busy")
	st.customerSays(ch, jane, "My parcel arrived damaged, can I get a refund?", "")
	st.customerSays(ch, marcus, "I was charged twice for order #2231.", "")
	convOf := func(psid string) string {
		var id string
		st.eventually(psid+" assigned to Alice", 30*time.Second, func() bool {
			err := st.db.QueryRow(`SELECT c.id FROM conversations c JOIN customers cu ON cu.id = c.customer_id
				WHERE cu.psid = $1 AND c.status = 'assigned' AND c.agent_id = $2`, psid, alice.ID).Scan(&id)
			return err == nil
		})
		return id
	}
	janeConv, marcusConv := convOf(jane), convOf(marcus)

	b := startBrowser(t)
	shots := screenshotDir(t)
	signIn := func(a agent) *tab {
		tb := b.newIsolatedTab(deskObservers)
		tb.grantNotifications(st.api.URL)
		tb.signInDesk(st.api.URL, a)
		tb.markDocument() // what follows must arrive live
		return tb
	}
	ta := signIn(alice)
	tbart := signIn(bart)
	item := func(id string) string {
		return fmt.Sprintf(`document.querySelector('#conv-list .conv-item[data-id=%q]')`, id)
	}

	ta.waitFor("Alice's two conversations", `document.querySelectorAll("#conv-list .conv-item").length === 2`, 15*time.Second)
	tbart.waitFor("Bart's empty list", `document.querySelectorAll("#conv-list .conv-item").length === 0`, 10*time.Second)

	// Alice opens Jane's conversation and transfers it to Bart with a note.
	ta.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, janeConv))
	ta.waitFor("Jane's transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("arrived damaged"))`, 10*time.Second)
	ta.click("#transfer-conv")
	ta.waitFor("the transfer dialog offering Bart", fmt.Sprintf(`document.querySelector("#transfer-dialog").open &&
		[...document.querySelectorAll("#transfer-target option")].some(o => o.value === %q && !o.disabled && o.textContent.includes("Bart Simpson"))`, bart.ID), 10*time.Second)
	var offersSelf bool
	ta.mustEval(fmt.Sprintf(`[...document.querySelectorAll("#transfer-target option")].some(o => o.value === %q)`, alice.ID), &offersSelf)
	if offersSelf {
		t.Fatal("the transfer dialog offers Alice her own conversation")
	}
	// The queues of the account are offered too.
	ta.click(`input[name="transfer-kind"][value="queue"]`)
	ta.waitFor("the queues", fmt.Sprintf(`[...document.querySelectorAll("#transfer-target option")].some(o => o.value === %q && o.textContent.includes("Billing"))`, billing.ID), 5*time.Second)
	ta.click(`input[name="transfer-kind"][value="agent"]`)
	ta.waitFor("the agents again", fmt.Sprintf(`[...document.querySelectorAll("#transfer-target option")].some(o => o.value === %q)`, bart.ID), 5*time.Second)
	ta.mustEval(fmt.Sprintf(`(() => { const s = document.querySelector("#transfer-target"); s.value = %q; s.dispatchEvent(new Event("change")); })()`, bart.ID), nil)
	note := "Refund approved for the damaged parcel; please send her the return label."
	ta.typeInto("#transfer-note-input", note)
	ta.screenshot(filepath.Join(shots, "desk-transfer-dialog.png"), false)
	ta.click("#transfer-submit")

	// Alice: gone from her list, the pane says where it went, no replies.
	ta.waitFor("Jane gone from Alice's list", "!"+item(janeConv)+` && document.querySelectorAll("#conv-list .conv-item").length === 1`, 10*time.Second)
	ta.waitFor("the transferred notice", `!document.querySelector("#transferred-away").hidden &&
		document.querySelector("#transferred-away").textContent.includes("Transferred to Bart Simpson") &&
		document.querySelector("#reply").disabled && document.querySelector("#send").disabled &&
		document.querySelector("#close-conv").hidden && document.querySelector("#transfer-conv").hidden &&
		!document.querySelector("#transfer-dialog").open`, 10*time.Second)
	if n := st.count("conversations", "id = $1 AND agent_id = $2 AND status = 'assigned' AND transfer_note = $3", janeConv, bart.ID, note); n != 1 {
		t.Fatal("the desk's transfer did not reach the store with its note")
	}
	// Only the conversation's agent may ask where it can go; Bart is offered
	// Alice (not himself) and the account's queues.
	if code := st.call("GET", "/api/v1/conversations/"+janeConv+"/transfer-targets", alice.Token, nil, nil); code != 404 {
		t.Fatalf("Alice reads the targets of a conversation no longer hers: %d, want 404", code)
	}
	var targets struct {
		Agents []struct{ ID, Name, Presence string } `json:"agents"`
		Queues []struct{ ID, Name string }           `json:"queues"`
	}
	if code := st.call("GET", "/api/v1/conversations/"+janeConv+"/transfer-targets", bart.Token, nil, &targets); code != 200 ||
		len(targets.Agents) != 1 || targets.Agents[0].ID != alice.ID || targets.Agents[0].Presence != "available" ||
		len(targets.Queues) != 2 {
		t.Fatalf("Bart's transfer targets: %d %+v", code, targets)
	}

	// Bart: the conversation appears live with the note, and an alert naming Alice.
	tbart.waitFor("Jane in Bart's list with the note", fmt.Sprintf(`(() => { const li = %s;
		return li && li.querySelector(".conv-note") && li.querySelector(".conv-note").textContent.includes(%q); })()`, item(janeConv), note), 20*time.Second)
	tbart.waitFor("the transfer alert", fmt.Sprintf(`[...document.querySelectorAll(".toast-assign")].some(t =>
		t.textContent.includes("Transferred to you") && t.textContent.includes("Alice Moreau") && t.textContent.includes(%q))`, note), 10*time.Second)
	var notified []string
	tbart.mustEval(`window.__notified`, &notified)
	if len(notified) != 1 || !strings.HasPrefix(notified[0], "Transferred to you: Jane Cooper") || !strings.Contains(notified[0], note) {
		t.Fatalf("Bart's notifications: %v", notified)
	}
	tbart.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, janeConv))
	tbart.waitFor("the note in Bart's pane", fmt.Sprintf(`!document.querySelector("#transfer-note").hidden &&
		document.querySelector("#transfer-note").textContent.includes("from Alice Moreau") &&
		document.querySelector("#transfer-note").textContent.includes(%q) &&
		[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("arrived damaged")) &&
		!document.querySelector("#reply").disabled`, note), 10*time.Second)
	tbart.screenshot(filepath.Join(shots, "desk-transfer-received.png"), false)

	// A transfer through the API, to a queue, while Alice has the conversation
	// open: her desk learns it from the event stream alone.
	ta.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, marcusConv))
	ta.waitFor("Marcus's transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("charged twice"))`, 10*time.Second)
	// The desk learns the account's queue names when it opens a conversation;
	// wait for that answer so the notice below can name the queue.
	ta.waitFor("the transfer targets read", fmt.Sprintf(`performance.getEntriesByType("resource").some(e => e.name.endsWith("/conversations/%s/transfer-targets") && e.responseEnd > 0)`, marcusConv), 10*time.Second)
	if code := st.call("POST", "/api/v1/conversations/"+marcusConv+"/transfer", alice.Token, map[string]any{"queue_id": billing.ID, "note": "Double charge"}, nil); code != 200 {
		t.Fatalf("API transfer to the queue: %d", code)
	}
	ta.waitFor("Marcus gone from Alice's list", "!"+item(marcusConv)+` && document.querySelectorAll("#conv-list .conv-item").length === 0`, 10*time.Second)
	ta.waitFor("the notice naming the queue", `document.querySelector("#transferred-away").textContent.includes("Transferred to the Billing queue") &&
		document.querySelector("#reply").disabled && document.querySelector("#window-state").textContent.includes("no longer reply")`, 10*time.Second)
	ta.screenshot(filepath.Join(shots, "desk-transferred-away.png"), false)

	for who, tb := range map[string]*tab{"Alice": ta, "Bart": tbart} {
		var same bool
		tb.mustEval(`window.__sameDocument === true`, &same)
		if !same {
			t.Fatalf("%s's desk reloaded: the updates must arrive live", who)
		}
	}
	// After a reload Bart still sees who sent the conversation, from the API alone.
	tbart.navigate(st.api.URL + "/desk")
	tbart.waitFor("Jane after the reload", item(janeConv), 20*time.Second)
	tbart.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, janeConv))
	tbart.waitFor("the note and its sender after the reload", fmt.Sprintf(`!document.querySelector("#transfer-note").hidden &&
		document.querySelector("#transfer-note").textContent.includes("from Alice Moreau") &&
		document.querySelector("#transfer-note").textContent.includes(%q)`, note), 10*time.Second)
	b.requireNoProblems()
}
