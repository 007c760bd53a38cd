//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// The floor in Chromium, live without reloads: a customer writes and the
// queue's waiting count goes up; an agent becomes available, gets the
// conversation and her load goes up (a screenshot of the floor is kept, see
// screenshotDir). Then the supervisor monitors, joins with a note and a
// message, reassigns to another agent and force closes, all from the page, and
// the agents' desks show each live.
func TestSupervisorFloorInBrowser(t *testing.T) {
	requireChromium(t)
	st, ch := newPageStack(t)
	// Created after the page, both agents are members of its default queue.
	amy := st.createAgent("Amy Pond", 2)
	bob := st.createAgent("Bob Ross", 2)
	st.setPresence(bob, "busy") // takes a reassignment, gets no new customers
	sue := st.makeSupervisor("Sue Storm", ch.QueueID)

	b := startBrowser(t)
	shots := screenshotDir(t)
	signIn := func(a agent, name string) *tab {
		tb := b.newIsolatedTab("")
		tb.signIn(st.api.URL+"/desk", a.Token)
		tb.waitFor(name+"'s desk", fmt.Sprintf(`!document.querySelector("#app").hidden && document.querySelector("#me-name").textContent === %q`, name), 10*time.Second)
		return tb
	}
	ts := signIn(sue, "Sue Storm")
	ts.navigate(st.api.URL + "/supervisor")
	waiting := fmt.Sprintf(`document.querySelector('#floor-queues tr[data-id=%q] .waiting').textContent`, ch.QueueID)
	load := fmt.Sprintf(`document.querySelector('#floor-agents tr[data-id=%q] .load').textContent`, amy.ID)
	ts.waitFor("the empty queue and Amy", `document.querySelector("#live").textContent === "Live" && `+waiting+` === "0" && `+load+` === "0 / 2"`, 15*time.Second)
	// A reload would wipe this mark: what follows must arrive live.
	ts.mustEval(`window.__sameDocument = true`, nil)

	st.customerSays(ch, "2900000000000401", "Is anyone there?", "")
	ts.waitFor("the waiting count going up live", `window.__sameDocument && `+waiting+` === "1"`, 20*time.Second)
	st.setPresence(amy, "available")
	ts.waitFor("Amy's load going up live", `window.__sameDocument && `+load+` === "1 / 2" && `+waiting+` === "0"`, 20*time.Second)
	ts.screenshot(filepath.Join(shots, "supervisor-floor.png"), true)
	var conv string
	if err := st.db.QueryRow(`SELECT id FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, amy.ID).Scan(&conv); err != nil {
		t.Fatal(err)
	}

	ta := signIn(amy, "Amy Pond")
	ta.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, conv))
	ta.waitFor("Amy's transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("Is anyone there?"))`, 10*time.Second)
	ta.mustEval(`window.__sameDocument = true`, nil)
	transcript := `document.querySelector("#monitor-messages").textContent`

	// Monitor: a read-only transcript on the floor; Amy is told.
	ts.click(fmt.Sprintf(`#sup-rows tr[data-id=%q] .monitor`, conv))
	ts.waitFor("the monitored transcript", `!document.querySelector("#monitor").hidden && `+transcript+`.includes("Is anyone there?")`, 10*time.Second)
	ta.waitFor("Amy told she is monitored", `window.__sameDocument && !document.querySelector("#monitored-note").hidden &&
		document.querySelector("#monitored-note").textContent.includes("Sue Storm")`, 10*time.Second)

	// Join with a note, then with a message as the page.
	ts.typeInto("#join-note", "Offer her the voucher.")
	ts.click(`#join-note-form button[type="submit"]`)
	ta.waitFor("the supervisor's note on Amy's desk", `[...document.querySelectorAll("#messages .msg.note")].some(e =>
		e.textContent.includes("Offer her the voucher.") && e.textContent.includes("Supervisor"))`, 10*time.Second)
	ts.waitFor("the note in the live transcript", transcript+`.includes("Offer her the voucher.")`, 10*time.Second)
	ts.typeInto("#join-text", "Hello, I am the team lead.")
	ts.click(`#join-text-form button[type="submit"]`)
	ta.waitFor("the supervisor's message on Amy's desk", `[...document.querySelectorAll('#messages .msg.out[data-sender="supervisor"]')].some(e =>
		e.textContent.includes("I am the team lead"))`, 10*time.Second)
	ts.waitFor("the message in the live transcript", transcript+`.includes("I am the team lead")`, 10*time.Second)

	// Reassign to Bob: Amy's pane says it went, Bob's desk has it.
	tb := signIn(bob, "Bob Ross")
	ts.mustEval(fmt.Sprintf(`document.querySelector("#reassign-target").value = %q`, "agent:"+bob.ID), nil)
	ts.click(`#reassign-form button[type="submit"]`)
	ta.waitFor("the reassignment on Amy's desk", `window.__sameDocument && !document.querySelector("#transferred-away").hidden`, 10*time.Second)
	item := fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, conv)
	tb.waitFor("the conversation on Bob's desk", `document.querySelector('`+item+`') !== null`, 15*time.Second)
	tb.click(item)
	tb.waitFor("Bob's transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("Is anyone there?"))`, 10*time.Second)
	tb.mustEval(`window.__sameDocument = true`, nil)
	ts.waitFor("Bob on the floor", fmt.Sprintf(`document.querySelector('#sup-rows tr[data-id=%q] .agent').textContent === "Bob Ross"`, conv), 10*time.Second)

	// Force close: Bob's desk shows it closed.
	ts.typeInto("#close-reason", "Resolved by phone.")
	ts.click(`#close-form button[type="submit"]`)
	tb.waitFor("the close on Bob's desk", `window.__sameDocument && document.querySelector("#conv-sub").textContent.startsWith("Closed") &&
		!document.querySelector("#reopen-conv").hidden`, 15*time.Second)
	ts.waitFor("the closed transcript", `document.querySelector("#monitor-meta").textContent.includes("supervisor closed") && `+transcript+`.includes("Resolved by phone.")`, 10*time.Second)
	ts.screenshot(filepath.Join(shots, "supervisor-monitor.png"), true)

	if n := st.count("supervisor_actions", "conversation_id = $1 AND supervisor_id = $2", conv, sue.ID); n != 5 {
		t.Fatalf("%d audited actions, want 5 (monitor, 2 joins, reassign, close)", n)
	}
	b.requireNoProblems()
}
