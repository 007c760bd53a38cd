//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getWorkstream reads a workstream through the API.
func (st *stack) getWorkstream(id string) map[string]any {
	st.t.Helper()
	var w map[string]any
	if code := st.call("GET", "/api/v1/workstreams/"+id, st.adminToken, nil, &w); code != 200 {
		st.t.Fatalf("get workstream: %d %v", code, w)
	}
	return w
}

// adminConsole opens the admin console in a new tab and signs in with the admin token.
func adminConsole(st *stack, b *browser) *tab {
	st.t.Helper()
	tb := b.newTab("")
	tb.signIn(st.api.URL+"/admin", st.adminToken)
	tb.waitFor("the console", `!document.querySelector("#app").hidden`, 10*time.Second)
	return tb
}

// signInAdmin opens the admin console in a new tab, signs in and opens the account.
func signInAdmin(st *stack, b *browser, accountID string) *tab {
	st.t.Helper()
	tb := adminConsole(st, b)
	tb.typeInto("#open-id", accountID)
	tb.click("#open-account button[type=submit]")
	return tb
}

// setField replaces an input's value as a person would: select all, type.
func (tb *tab) setField(selector, value string) {
	tb.b.t.Helper()
	tb.mustEval(fmt.Sprintf(`document.querySelector(%q).value = ""`, selector), nil)
	if value != "" {
		tb.typeInto(selector, value)
	}
}

// fill sets form fields in order, given as selector, value, selector,
// value...: a select chooses its option (choose), any other field is
// emptied and typed into (setField).
func (tb *tab) fill(fields ...string) {
	tb.b.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		var isSelect bool
		tb.mustEval(fmt.Sprintf(`(document.querySelector(%q) || {}).tagName === "SELECT"`, fields[i]), &isSelect)
		if isSelect {
			tb.choose(fields[i], fields[i+1])
		} else {
			tb.setField(fields[i], fields[i+1])
		}
	}
}

// saveWorkstreamRefused presses the workstream settings' Save and waits for
// the refusal inline: the form's error says msg, each of the invalid fields is
// marked so, and Save can be pressed again.
func (tb *tab) saveWorkstreamRefused(msg string, invalid ...string) {
	tb.b.t.Helper()
	cond := fmt.Sprintf(`!document.querySelector("#ws-settings-error").hidden && document.querySelector("#ws-settings-error").textContent.includes(%q) &&
		!document.querySelector("#ws-save").disabled`, msg)
	for _, f := range invalid {
		cond += fmt.Sprintf(` && document.querySelector(%q).getAttribute("aria-invalid") === "true"`, f)
	}
	tb.click("#ws-save")
	tb.waitFor("the refusal inline: "+msg, cond, 10*time.Second)
}

// saveWorkstream presses the workstream settings' Save and waits until they
// are saved: no error, a new toast that says so, and also (a condition of the
// page's, if not empty).
func (tb *tab) saveWorkstream(what, also string) {
	tb.b.t.Helper()
	cond := `document.querySelector("#ws-settings-error").hidden && [...document.querySelectorAll("#toasts .toast")].some(e => e.textContent === "Workstream settings saved.")`
	if also != "" {
		cond += " && " + also
	}
	tb.clearToasts()
	tb.click("#ws-save")
	tb.waitFor(what, cond, 10*time.Second)
}

// clearToasts removes the toasts shown so far, so that a wait sees only new ones.
func (tb *tab) clearToasts() {
	tb.b.t.Helper()
	tb.mustEval(`document.querySelectorAll("#toasts .toast").forEach(e => e.remove())`, nil)
}

// workstreamInAdmin is a new page's workstream, open in the admin console.
func workstreamInAdmin(t *testing.T) (st *stack, ws string, b *browser, tb *tab) {
	t.Helper()
	requireChromium(t)
	st = newStack(t)
	ch := st.connectPage()
	ws = st.workstreamOf(ch)
	b = startBrowser(t)
	tb = signInAdmin(st, b, ch.AccountID)
	tb.openWorkstream(ws)
	return st, ws, b, tb
}

// openWorkstream opens the workstream's settings in the admin console's list.
func (tb *tab) openWorkstream(id string) {
	tb.b.t.Helper()
	settings := fmt.Sprintf(`#workstreams button[data-workstream=%q]`, id)
	tb.waitFor("the workstream", `document.querySelector('`+settings+`')`, 10*time.Second)
	tb.click(settings)
}

// choose picks an option of a <select> and fires its change event.
func (tb *tab) choose(selector, value string) {
	tb.b.t.Helper()
	var ok bool
	tb.mustEval(fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (![...s.options].some(o => o.value === %q)) return false;
		s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, selector, value, value), &ok)
	if !ok {
		tb.b.t.Fatalf("%s has no option %q", selector, value)
	}
}

// Every workstream setting is edited in the admin console: a refused change
// (maximum wait without an overflow queue, then a bot URL that is no URL) is
// shown inline with the fields it names and changes nothing, not even the valid
// fields sent with it; the corrected form is saved. Then a new workstream is
// created with the page moved into it.
func TestDeskAdminWorkstreamSettingsInBrowser(t *testing.T) {
	requireChromium(t)
	st, ch := newPageStack(t)
	ws := st.workstreamOf(ch)
	var overflow map[string]any
	if code := st.call("POST", "/api/v1/queues", st.adminToken, map[string]any{"account_id": ch.AccountID, "name": "Overflow", "priority": 5}, &overflow); code != 201 {
		t.Fatalf("create queue: %d %v", code, overflow)
	}
	overflowID := overflow["id"].(string)
	before := st.getWorkstream(ws)
	name := before["name"].(string)
	if before["language"] != "" || before["human_agent_tag"] != false || before["auto_close_after_hours"] != nil || before["max_wait_seconds"] != nil {
		t.Fatalf("a new page's workstream: %v", before)
	}

	b := startBrowser(t)
	tb := signInAdmin(st, b, ch.AccountID)
	tb.openWorkstream(ws)
	tb.waitFor("the settings form", fmt.Sprintf(`!document.querySelector("#workstream-view").hidden && document.querySelector("#ws-name").value === %q &&
		document.querySelectorAll("#automated-messages .auto-msg").length === 9`, name), 10*time.Second)
	var shown struct {
		Mode, Capacity, DefaultQueue, Overflow, Hint string
		Queues                                       []string
		Tag                                          bool
	}
	tb.mustEval(`(() => ({mode: document.querySelector("#ws-distribution").value, capacity: document.querySelector("#ws-capacity").value,
		defaultQueue: document.querySelector("#ws-default-queue").value, overflow: document.querySelector("#ws-overflow").value,
		queues: [...document.querySelectorAll("#ws-overflow option")].map(o => o.value + "=" + o.textContent),
		tag: document.querySelector("#ws-human-agent").checked, hint: document.querySelector("#ws-human-agent-hint").textContent}))()`, &shown)
	if shown.Mode != "push" || shown.Capacity != "1" || shown.DefaultQueue != ch.QueueID || shown.Overflow != "" || shown.Tag ||
		!strings.Contains(shown.Hint, "7 days after the customer's last message") ||
		strings.Join(shown.Queues, ",") != fmt.Sprintf("=None (no overflow),%s=Overflow (priority 5),%s=Acme Support default queue", overflowID, ch.QueueID) {
		t.Fatalf("the settings as shown: %+v", shown)
	}

	// Language, HUMAN_AGENT and auto-close, sent with a maximum wait that has no
	// overflow queue: refused inline, and nothing is saved.
	tb.setField("#ws-language", "nl-NL")
	tb.click("#ws-human-agent")
	tb.fill("#ws-auto-close", "12", "#ws-max-wait", "600")
	tb.saveWorkstreamRefused("max_wait_seconds and overflow_queue_id go together", "#ws-max-wait", "#ws-overflow")
	if w := st.getWorkstream(ws); w["language"] != "" || w["human_agent_tag"] != false || w["auto_close_after_hours"] != nil || w["max_wait_seconds"] != nil || w["overflow_queue_id"] != nil {
		t.Fatalf("a refused change was saved: %v", w)
	}
	var kept struct {
		Language, AutoClose, Invalid string
		Tag                          bool
	}
	tb.mustEval(`(() => ({language: document.querySelector("#ws-language").value, autoClose: document.querySelector("#ws-auto-close").value,
		tag: document.querySelector("#ws-human-agent").checked,
		invalid: [...document.querySelectorAll("#ws-settings [aria-invalid=true]")].map(e => e.id).join(",")}))()`, &kept)
	if kept.Language != "nl-NL" || kept.AutoClose != "12" || !kept.Tag || kept.Invalid != "ws-max-wait,ws-overflow" {
		t.Fatalf("the form after the refusal: %+v", kept)
	}

	// With the overflow queue chosen, the same change is saved.
	tb.choose("#ws-overflow", overflowID)
	tb.saveWorkstream("the settings saved", `!document.querySelector("#ws-settings [aria-invalid=true]") && document.querySelector("#automated-intro").textContent.includes("language (nl)")`)
	w := st.getWorkstream(ws)
	if w["language"] != "nl-NL" || w["human_agent_tag"] != true || w["auto_close_after_hours"] != float64(12) || w["max_wait_seconds"] != float64(600) || w["overflow_queue_id"] != overflowID ||
		w["name"] != name || w["distribution_mode"] != "push" || w["bot_url"] != nil {
		t.Fatalf("after saving: %v", w)
	}

	// Name, pick mode, capacity units, auto-close off and a bot URL that is not
	// one: refused, naming bot_url, nothing changed; then a real bot URL.
	tb.fill("#ws-name", "Sales NL", "#ws-distribution", "pick", "#ws-capacity", "2", "#ws-auto-close", "", "#ws-bot-url", "our bot")
	tb.saveWorkstreamRefused("bot_url must be an absolute http(s) URL", "#ws-bot-url")
	if w := st.getWorkstream(ws); w["name"] != name || w["distribution_mode"] != "push" || w["capacity_units"] != float64(1) || w["auto_close_after_hours"] != float64(12) || w["bot_url"] != nil {
		t.Fatalf("a refused change was saved: %v", w)
	}
	bot := st.simURL + "/_sim/bot"
	tb.setField("#ws-bot-url", bot)
	tb.saveWorkstream("the second change saved", `document.querySelector("#workstream-name").textContent === "Workstream · Sales NL" &&
		[...document.querySelectorAll("#workstreams li[data-workstream] .title")].some(e => e.textContent === "Sales NL")`)
	w = st.getWorkstream(ws)
	if w["name"] != "Sales NL" || w["distribution_mode"] != "pick" || w["capacity_units"] != float64(2) || w["auto_close_after_hours"] != nil || w["bot_url"] != bot ||
		w["language"] != "nl-NL" || w["human_agent_tag"] != true || w["max_wait_seconds"] != float64(600) {
		t.Fatalf("after the second save: %v", w)
	}
	tb.screenshot(filepath.Join(screenshotDir(t), "admin-workstream-settings.png"), true)

	// HUMAN_AGENT off and overflow off (both fields emptied) in one save.
	tb.click("#ws-human-agent")
	tb.setField("#ws-max-wait", "")
	tb.choose("#ws-overflow", "")
	// A save reads the workstream list again, which draws the new-workstream
	// form afresh: mark the form now, to know when that has happened (a name
	// typed into the old form would be lost).
	tb.mustEval(`document.querySelector("#new-ws-name").dataset.drawn = "before the save"`, nil)
	tb.saveWorkstream("the third change saved", "")
	tb.waitFor("the workstream list read again", `document.querySelector("#new-ws-name") && !document.querySelector("#new-ws-name").dataset.drawn`, 10*time.Second)
	if w := st.getWorkstream(ws); w["human_agent_tag"] != false || w["max_wait_seconds"] != nil || w["overflow_queue_id"] != nil || w["name"] != "Sales NL" || w["bot_url"] != bot {
		t.Fatalf("after the third save: %v", w)
	}

	// A new workstream, with the page moved into it.
	tb.typeInto("#new-ws-name", "Billing")
	tb.click(fmt.Sprintf(`#new-ws-page-%s`, ch.PageUUID))
	tb.click("#new-ws-create")
	tb.waitFor("the new workstream open", `document.querySelector("#workstream-name").textContent === "Workstream · Billing" &&
		document.querySelectorAll("#workstreams li[data-workstream]").length === 2`, 10*time.Second)
	var list []map[string]any
	if code := st.call("GET", "/api/v1/accounts/"+ch.AccountID+"/workstreams", st.adminToken, nil, &list); code != 200 || len(list) != 2 {
		t.Fatalf("workstreams: %d %v", code, list)
	}
	billing := list[1]
	if billing["name"] != "Billing" || fmt.Sprint(billing["page_ids"]) != fmt.Sprint([]any{ch.PageUUID}) || billing["default_queue_id"] == ch.QueueID {
		t.Fatalf("the new workstream: %v", billing)
	}
	if st.workstreamOf(ch) != billing["id"] {
		t.Fatal("the page was not moved to the new workstream")
	}
	tb.waitFor("the new workstream's page ticked", fmt.Sprintf(`document.querySelector("#ws-page-%s") && document.querySelector("#ws-page-%s").checked`, ch.PageUUID, ch.PageUUID), 10*time.Second)

	// An empty name is the API's 400, shown under the form.
	tb.click("#new-ws-create")
	tb.waitFor("the empty name refused", `!document.querySelector("#new-ws-error").hidden && document.querySelector("#new-ws-error").textContent.includes("name is required")`, 10*time.Second)
	b.requireNoProblems()
}

// A conversation the demo bot handed over shows, at the top of the desk's
// conversation, why (the bot's reason) and the bot's summary.
func TestDeskShowsBotHandoffInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 2)
	if code := st.call("PATCH", "/api/v1/workstreams/"+st.workstreamOf(ch), st.adminToken, map[string]any{"bot_url": st.simURL + "/_sim/bot"}, nil); code != 200 {
		t.Fatalf("set bot: %d", code)
	}
	st.setPresence(a, "available")
	psid := "2900000000000501"
	st.customerSays(ch, psid, "What are your opening hours?", "")
	st.eventually("the bot answered", 30*time.Second, func() bool {
		return st.count("messages", "sender = 'bot'") == 1
	})
	st.customerSays(ch, psid, "Can I talk to an agent?", "")
	var convID string
	st.eventually("the conversation handed over and assigned", 30*time.Second, func() bool {
		return st.db.QueryRow(`SELECT id FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, a.ID).Scan(&convID) == nil
	})
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	summary, _ := conv["bot_summary"].(string)
	if conv["bot_handoff_reason"] != "customer asked for an agent" || !strings.Contains(summary, "opening hours") {
		t.Fatalf("handoff: %v / %v", conv["bot_handoff_reason"], conv["bot_summary"])
	}

	b := startBrowser(t)
	tb := b.newTab("")
	tb.signIn(st.api.URL+"/desk", a.Token)
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 15*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("talk to an agent"))`, 10*time.Second)
	var banner struct {
		Visible         bool
		Reason, Summary string
		BeforeMessages  bool
	}
	tb.mustEval(`(() => { const b = document.querySelector("#bot-handoff"); return {visible: !b.hidden && b.getBoundingClientRect().height > 0,
		reason: document.querySelector("#bot-handoff-reason").textContent, summary: document.querySelector("#bot-handoff-summary").textContent,
		beforeMessages: !!(b.compareDocumentPosition(document.querySelector("#messages")) & Node.DOCUMENT_POSITION_FOLLOWING)}; })()`, &banner)
	if !banner.Visible || banner.Reason != "Bot handed over: customer asked for an agent" || banner.Summary != "Summary: "+summary || !banner.BeforeMessages {
		t.Fatalf("the handoff banner: %+v (summary %q)", banner, summary)
	}
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-bot-handoff.png"), false)
	b.requireNoProblems()
}
