//go:build integration

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A supervisor signs in at the desk like any agent and opens /supervisor: its
// queues' conversations, each with transcript links, and no page problems.
func TestSupervisorPageInBrowser(t *testing.T) {
	requireChromium(t)
	st := newStack(t)
	ch, _, _, convID := st.conversationOnNewPage("amy", 2, "2900000000000151", "where is my parcel?")

	sue := st.createAgent("sue", 2)
	if code := st.call("PUT", "/api/v1/agents/"+sue.ID+"/supervision", st.adminToken, map[string]any{"role": "supervisor", "queue_ids": []string{ch.QueueID}}, nil); code != 200 {
		t.Fatalf("make sue supervisor: %d", code)
	}

	b := startBrowser(t)
	tb := b.newIsolatedTab("")
	tb.navigate(st.api.URL + "/supervisor")
	tb.waitFor("the sign-in hint", `document.querySelector("#sup-status a") !== null && document.querySelector("#sup-status a").pathname === "/desk"`, 10*time.Second)
	tb.signIn(st.api.URL+"/desk", sue.Token)
	tb.waitFor("the desk with its Supervisor link", `!document.querySelector("#app").hidden && !document.querySelector("#supervisor-link").hidden`, 10*time.Second)
	var link string
	tb.mustEval(`document.querySelector("#supervisor-link").pathname`, &link)
	if link != "/supervisor" {
		t.Fatalf("the desk's Supervisor link goes to %q", link)
	}
	tb.navigate(st.api.URL + link)
	row := fmt.Sprintf(`document.querySelector('#sup-rows tr[data-id=%q]')`, convID)
	tb.waitFor("the queue's conversation", row+` !== null`, 10*time.Second)
	var href string
	tb.mustEval(row+`.querySelector("a").getAttribute("href")`, &href)
	if want := st.api.URL + "/api/v1/conversations/" + convID + "/transcript?format=html"; href != want {
		t.Fatalf("transcript link %q, want %q", href, want)
	}
	tb.navigate(href)
	tb.waitFor("the printable transcript", `document.body.innerText.includes("where is my parcel?")`, 10*time.Second)
	b.requireNoProblems()
}
