//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deskFetchControl lets a test hold the desk's reads of a conversation and turn
// the answer of the next reply into 503 outcome_unknown after the server has
// really taken (and sent) it: what the desk sees when the workflow's answer is
// lost on the way.
const deskFetchControl = `
window.__fakeOutcomeUnknown = false;
window.__holdReads = null;
{
  const realFetch = window.fetch;
  window.fetch = async function (input, init) {
    const url = String((input && input.url) || input);
    const method = ((init && init.method) || "GET").toUpperCase();
    if (method === "GET" && /\/api\/v1\/conversations\/[^/?]+$/.test(url) && window.__holdReads) await window.__holdReads;
    const resp = await realFetch.call(this, input, init);
    if (method === "POST" && url.endsWith("/messages") && window.__fakeOutcomeUnknown) {
      window.__fakeOutcomeUnknown = false;
      return new Response(JSON.stringify({error: {code: "outcome_unknown", message: "The reply was accepted but its outcome is not known yet; watch its status before sending it again."}}),
        {status: 503, headers: {"Content-Type": "application/json"}});
    }
    return resp;
  };
}`

// An agent sends a file by URL from the desk's reply box and the Send API gets
// it; the transcript shows images as thumbnails, automated messages as such,
// a refused customer file, and a reply whose outcome is unknown as pending
// (then its real status). With agent attachments turned off the desk refuses
// inline and then says attachments are off.
func TestDeskAttachmentsInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 3)
	ws := st.workstreamOf(ch)
	if code, out := st.setAutomated(ws, "greeting", map[string]any{"enabled": true}); code != 200 {
		t.Fatalf("enable the greeting: %d %v", code, out)
	}
	st.setPresence(a, "available")
	pics := avatarServer(t)
	jane := st.customerProfile("2900000000000401", "Jane", "Cooper", "en_US")

	// The customer sends a photo, then text.
	st.postEvents(ch, fromCustomer(ch, jane, time.Now().UnixMilli(), "message", map[string]any{"mid": "m_photo_1", "attachments": []any{
		map[string]any{"type": "image", "payload": map[string]any{"url": pics.URL + "/customer-photo.png"}}}}))
	st.customerSays(ch, jane, "That's the broken lamp.", "")
	var convID string
	st.eventually("the conversation assigned", 30*time.Second, func() bool {
		return st.db.QueryRow(`SELECT id FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, a.ID).Scan(&convID) == nil
	})
	st.eventually("the greeting sent", 30*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1 AND sender = 'system' AND status = 'sent'", convID) == 1
	})

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskFetchControl)
	tb.waitFor("the conversation in the list", `document.querySelectorAll("#conv-list .conv-item").length === 1`, 15*time.Second)
	tb.click("#conv-list .conv-item")
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent.includes("broken lamp"))`, 10*time.Second)

	// The customer's photo is a thumbnail linking to the file.
	tb.waitFor("the customer's photo as a thumbnail", fmt.Sprintf(`(() => { const a = document.querySelector('#messages .msg.in a.attachment-image[href=%q]');
		return a && a.querySelector("img") && a.querySelector("img").naturalWidth === 96; })()`, pics.URL+"/customer-photo.png"), 10*time.Second)
	// The greeting is the service's, labelled, not the agent's.
	var greeting struct {
		Label, Meta, Text string
	}
	tb.mustEval(`(() => { const m = document.querySelector('#messages .msg.out.auto[data-sender="system"]');
		return m ? {label: m.querySelector(".auto-label").textContent, meta: m.querySelector(".msg-meta").textContent, text: m.querySelector(".text").textContent} : {}; })()`, &greeting)
	if greeting.Label != "Automated" || !strings.HasPrefix(greeting.Meta, "Automated") || !strings.HasPrefix(greeting.Text, "Thanks for your message") {
		t.Fatalf("the greeting in the transcript: %+v", greeting)
	}

	// Attach an image by URL: its own message, through the Send API.
	tb.waitFor("the attachment control", `!document.querySelector("#attach-toggle").disabled && document.querySelector("#attach-off").hidden`, 5*time.Second)
	tb.click("#attach-toggle")
	tb.waitFor("the attachment row", `!document.querySelector("#attach-row").hidden`, 5*time.Second)
	fileURL := pics.URL + "/return-label.png"
	tb.mustEval(`(() => { const s = document.querySelector("#attach-type"); s.value = "image"; s.dispatchEvent(new Event("change")); })()`, nil)
	tb.typeInto("#attach-url", fileURL)
	tb.click("#attach-send")
	tb.waitFor("the attachment sent, as a thumbnail", fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.out")].some(m => {
		const a = m.querySelector('a.attachment-image[href=%q]'); return a && a.querySelector("img") && a.querySelector("img").naturalWidth === 96 &&
		["sent","delivered","read"].includes(m.querySelector(".msg-status").dataset.status); })`, fileURL), 20*time.Second)
	sends := st.sim.Requests("/messages")
	last, _ := sends[len(sends)-1].Body["message"].(map[string]any)
	att, _ := last["attachment"].(map[string]any)
	payload, _ := att["payload"].(map[string]any)
	if att["type"] != "image" || payload["url"] != fileURL || last["text"] != nil {
		t.Fatalf("the Send API got %v, want the image by URL", sends[len(sends)-1].Body)
	}
	if n := st.count("messages", "conversation_id = $1 AND sender = 'agent' AND kind = 'attachment'", convID); n != 1 {
		t.Fatalf("%d agent attachments stored, want 1", n)
	}

	// A reply whose outcome is unknown (503 outcome_unknown): pending, never
	// "failed", no invitation to send it again; then its real status.
	tb.mustEval(`window.__holdReads = new Promise(r => { window.__releaseReads = r; }); window.__fakeOutcomeUnknown = true`, nil)
	reply := "I've sent you the return label."
	tb.typeInto("#reply", reply)
	tb.click("#send")
	bubble := fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.out")].filter(m => m.querySelector(".text") && m.querySelector(".text").textContent === %q)`, reply)
	tb.waitFor("the reply shown as of unknown outcome", bubble+`.length === 1 && `+bubble+`[0].querySelector(".msg-status").textContent.includes("outcome not known yet")`, 20*time.Second)
	var shown struct {
		Failed, SendError bool
		Reply, Note       string
	}
	tb.mustEval(`(() => ({failed: !!document.querySelector("#messages .msg.failed") || document.querySelector("#messages").textContent.includes("Not delivered"),
		sendError: !document.querySelector("#send-error").hidden, reply: document.querySelector("#reply").value,
		note: (document.querySelector("#messages .msg-note") || {}).textContent || ""}))()`, &shown)
	if shown.Failed || shown.SendError || shown.Reply != "" || !strings.Contains(shown.Note, "no need to send it again") {
		t.Fatalf("a reply of unknown outcome: %+v", shown)
	}
	st.eventually("the reply really sent", 20*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1 AND text = $2 AND status = 'sent'", convID, reply) == 1
	})
	tb.mustEval(`window.__holdReads = null; window.__releaseReads()`, nil)
	tb.waitFor("the reply's real status, once", bubble+`.length === 1 && !`+bubble+`[0].dataset.id.startsWith("tmp-") &&
		["sent","delivered","read"].includes(`+bubble+`[0].querySelector(".msg-status").dataset.status) && !document.querySelector("#messages .msg-note")`, 20*time.Second)

	// Agent attachments turned off while the desk still offers them: the send is
	// refused inline (422), nothing goes out, and the desk then says they are off.
	if code := st.call("PATCH", "/api/v1/workstreams/"+ws, st.adminToken, map[string]any{"agent_attachments": false, "customer_attachments": false}, nil); code != 200 {
		t.Fatalf("turn attachments off: %d", code)
	}
	before := len(st.sim.Requests("/messages"))
	tb.click("#attach-toggle")
	tb.waitFor("the attachment row", `!document.querySelector("#attach-row").hidden`, 5*time.Second)
	refusedURL := "https://files.example.com/manual.pdf"
	tb.mustEval(`(() => { const s = document.querySelector("#attach-type"); s.value = "file"; s.dispatchEvent(new Event("change")); })()`, nil)
	tb.typeInto("#attach-url", refusedURL)
	tb.click("#attach-send")
	tb.waitFor("the refusal inline", `!document.querySelector("#send-error").hidden && document.querySelector("#send-error").textContent.includes("does not let agents send attachments")`, 10*time.Second)
	tb.waitFor("attachments shown as off", `document.querySelector("#attach-toggle").disabled && document.querySelector("#attach-row").hidden &&
		!document.querySelector("#attach-off").hidden && document.querySelector("#attach-off").textContent === "Attachments are turned off for this workstream"`, 10*time.Second)
	var leftover bool
	tb.mustEval(fmt.Sprintf(`!!document.querySelector('#messages a.attachment[href=%q]')`, refusedURL), &leftover)
	if leftover {
		t.Fatal("the refused attachment stays in the transcript")
	}
	if n := len(st.sim.Requests("/messages")); n != before {
		t.Fatalf("%d sends after the refusal, want none", n-before)
	}
	// Text replies still work.
	tb.typeInto("#reply", "I'll describe it in text instead.")
	tb.click("#send")
	tb.waitFor("the text reply sent", `[...document.querySelectorAll("#messages .msg.out .text")].some(e => e.textContent === "I'll describe it in text instead.")`, 20*time.Second)

	// A customer's file refused by the workstream shows as refused, live.
	st.postEvents(ch, fromCustomer(ch, jane, time.Now().UnixMilli(), "message", map[string]any{"mid": "m_photo_2", "attachments": []any{
		map[string]any{"type": "video", "payload": map[string]any{"url": "https://cdn.example.com/clip.mp4"}}}}))
	tb.waitFor("the refused attachment", `[...document.querySelectorAll("#messages .msg.in.refused .refused")].some(e => e.textContent.startsWith("📎 Attachment refused: ") && e.textContent.includes("video"))`, 20*time.Second)
	var stored bool
	tb.mustEval(`!!document.querySelector('#messages a[href*="clip.mp4"]')`, &stored)
	if stored {
		t.Fatal("the refused file is linked in the transcript")
	}
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-attachments.png"), false)
	b.requireNoProblems()
}

// The admin console's workstream settings: switch the greeting on, set the
// survey's URL template (a bad one is refused inline), override a text and put
// it back; the API then shows what was set in the browser.
func TestDeskAdminAutomatedMessagesInBrowser(t *testing.T) {
	parallel(t)
	st, ws, b, tb := workstreamInAdmin(t)
	tb.waitFor("the automated messages", `!document.querySelector("#workstream-view").hidden && document.querySelectorAll("#automated-messages .auto-msg").length === 9`, 10*time.Second)
	var kinds []string
	tb.mustEval(`[...document.querySelectorAll("#automated-messages .auto-msg")].map(r => r.dataset.kind + ":" + r.querySelector(".auto-enabled").checked)`, &kinds)
	if strings.Join(kinds, ",") != "greeting:false,agent_joined:false,agent_ended:false,inactive_closed:false,survey:false,attachment_refused:true,customer_timeout:true,out_of_hours:true,queue_full:true" {
		t.Fatalf("kinds shown: %v", kinds)
	}

	// Switch the greeting on.
	tb.click("#auto-greeting-enabled")
	tb.waitFor("the greeting on", `document.querySelector("#auto-greeting-enabled").checked && document.querySelector('.auto-msg[data-kind="greeting"] .pill').textContent === "on"`, 10*time.Second)
	if g := st.automatedMessages(ws)["greeting"]; g["enabled"] != true {
		t.Fatalf("greeting after the switch: %v", g)
	}

	// A bad survey address is refused inline and changes nothing.
	tb.typeInto("#auto-survey-url", "survey please")
	tb.click(`.auto-msg[data-kind="survey"] .auto-save`)
	tb.waitFor("the survey error inline", `!document.querySelector('.auto-msg[data-kind="survey"] .auto-error').hidden &&
		document.querySelector('.auto-msg[data-kind="survey"] .auto-error').textContent.includes("url_template must be an absolute http(s) address")`, 10*time.Second)
	if s := st.automatedMessages(ws)["survey"]; s["url_template"] != nil {
		t.Fatalf("a refused survey address was saved: %v", s)
	}
	template := "https://survey.example.com/s?c={conversation_id}"
	tb.mustEval(`document.querySelector("#auto-survey-url").value = ""`, nil)
	tb.typeInto("#auto-survey-url", template)
	tb.click(`.auto-msg[data-kind="survey"] .auto-save`)
	tb.waitFor("the survey address saved", `!document.querySelector('.auto-msg[data-kind="survey"] .auto-save').disabled &&
		document.querySelector('.auto-msg[data-kind="survey"] .auto-error').hidden && document.querySelector("#auto-survey-url").value === "https://survey.example.com/s?c={conversation_id}"`, 10*time.Second)
	tb.click("#auto-survey-enabled")
	tb.waitFor("the survey on", `document.querySelector("#auto-survey-enabled").checked && document.querySelector('.auto-msg[data-kind="survey"] .pill').textContent === "on"`, 10*time.Second)

	// Own text for the farewell, then back to the default.
	tb.mustEval(`document.querySelector("#auto-agent_ended-text").value = ""`, nil)
	tb.typeInto("#auto-agent_ended-text", "Bye for now!")
	tb.click(`.auto-msg[data-kind="agent_ended"] .auto-save`)
	tb.waitFor("the custom farewell", `!document.querySelector('.auto-msg[data-kind="agent_ended"] .auto-reset').hidden && document.querySelector('.auto-msg[data-kind="agent_ended"] .pill-custom')`, 10*time.Second)
	if m := st.automatedMessages(ws)["agent_ended"]; m["overridden"] != true || m["text"] != "Bye for now!" {
		t.Fatalf("farewell after saving: %v", m)
	}
	tb.screenshot(filepath.Join(screenshotDir(t), "admin-automated-messages.png"), false)
	tb.click(`.auto-msg[data-kind="agent_ended"] .auto-reset`)
	tb.waitFor("the default farewell", `document.querySelector('.auto-msg[data-kind="agent_ended"] .auto-reset').hidden && document.querySelector("#auto-agent_ended-text").value.startsWith("The agent")`, 10*time.Second)

	msgs := st.automatedMessages(ws)
	if g, s, e := msgs["greeting"], msgs["survey"], msgs["agent_ended"]; g["enabled"] != true || s["enabled"] != true || s["url_template"] != template ||
		e["overridden"] != false || e["enabled"] != false {
		t.Fatalf("after the browser: greeting %v, survey %v, farewell %v", g, s, e)
	}
	b.requireNoProblems()
}
