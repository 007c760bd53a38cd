//go:build integration

package e2e

import (
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// While a page's token is invalid, replies are parked, not failed and not lost;
// a new token re-provisions the page and the parked replies go out in order.
func TestRepliesParkWhileThePageNeedsReauthorisationAndGoOutAfter(t *testing.T) {
	st := newStack(t)
	psid := "2900000000000030"
	ch, a, events, convID := st.conversationOnNewPage("fay", 1, psid, "Where is my parcel?")

	st.sim.RevokeToken(ch.PageToken, 460)
	texts := []string{"First reply", "Second reply", "Third reply", "Fourth reply"}
	for _, text := range texts {
		var out map[string]any
		if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": text}, &out); code != 202 {
			t.Fatalf("send while token invalid: %d %v, want 202", code, out)
		}
		if out["status"] != "queued" || out["reason"] != "page needs re-authorisation" {
			t.Fatalf("parked answer: %v", out)
		}
	}
	var page map[string]any
	st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &page)
	if page["provisioning_status"] != "needs_reauth" || page["last_error"] == "" {
		t.Fatalf("page after a 190: %v", page)
	}
	if n := st.count("messages", "status = 'queued'"); n != len(texts) {
		t.Fatalf("%d parked messages, want %d", n, len(texts))
	}
	if page["parked_replies"] != float64(len(texts)) {
		t.Fatalf("page shows %v parked replies", page["parked_replies"])
	}
	sendsBefore := len(st.sim.Requests("/messages"))

	newToken := "EAAB" + randomHex(20)
	st.sim.RegisterPage(simulator.Page{PageID: ch.PageID, Name: "Test Page", AccessToken: newToken, AppID: ch.AppID})
	if code := st.call("PUT", "/api/v1/pages/"+ch.PageUUID+"/token", st.adminToken, map[string]string{"access_token": newToken}, nil); code != 200 {
		t.Fatalf("replace token: %d", code)
	}
	for range texts {
		ev := events.next(t, "message.status", 30*time.Second)
		for ev.Data["status"] == "queued" {
			ev = events.next(t, "message.status", 30*time.Second)
		}
		if ev.Data["status"] != "sent" {
			t.Fatalf("parked reply outcome: %v", ev.Data)
		}
	}
	sends := st.sim.Requests("/messages")[sendsBefore:]
	if len(sends) != len(texts) {
		t.Fatalf("%d sends after re-authorisation, want %d (none twice)", len(sends), len(texts))
	}
	for i, text := range texts {
		msg := sends[i].Body["message"].(map[string]any)
		if msg["text"] != text || sends[i].Query["access_token"] != newToken {
			t.Fatalf("send %d: %v (token %q)", i, sends[i].Body, sends[i].Query["access_token"])
		}
	}
	st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &page)
	if page["provisioning_status"] != "active" {
		t.Fatalf("page after new token: %v", page)
	}
}

// Facebook's own window refusal (10/2018278) reaches the agent as window_closed;
// enabling HUMAN_AGENT on the workstream shows in open conversations at once.
func TestWindowRefusalAndHumanAgentSetting(t *testing.T) {
	st := newStack(t)
	ch, a, _, convID := st.conversationOnNewPage("gus", 1, "2900000000000031", "hi")

	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	if w := conv["window"].(map[string]any); w["expires_at"] == nil || w["human_agent_until"] != nil {
		t.Fatalf("window without HUMAN_AGENT: %v", w)
	}
	var acct map[string]any
	st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct)
	workstreamID := acct["pages"].([]any)[0].(map[string]any)["workstream_id"].(string)
	var ws map[string]any
	if code := st.call("PATCH", "/api/v1/workstreams/"+workstreamID, st.adminToken, map[string]any{"human_agent_tag": true}, &ws); code != 200 || ws["human_agent_tag"] != true {
		t.Fatalf("enable HUMAN_AGENT: %d %v", code, ws)
	}
	if code := st.call("PATCH", "/api/v1/workstreams/"+workstreamID, st.adminToken, map[string]any{"human_agent_tags": true}, nil); code != 400 {
		t.Fatalf("misspelt field: %d, want 400", code)
	}
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	w := conv["window"].(map[string]any)
	until, err := time.Parse(time.RFC3339, w["human_agent_until"].(string))
	expires, _ := time.Parse(time.RFC3339, w["expires_at"].(string))
	if err != nil || until.Sub(expires) != 6*24*time.Hour {
		t.Fatalf("window with HUMAN_AGENT: %v", w)
	}

	st.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 10, Subcode: 2018278,
		Message: "(#10) This message is sent outside of allowed window.", Times: 1})
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "late"}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	if out["status"] != "failed" || out["reason"] != "window_closed" || out["error"] == "" {
		t.Fatalf("Facebook's window refusal: %v", out)
	}
}

// Provisioning names what is wrong with a token: a missing permission, or a token
// of another page.
func TestProvisioningFailuresNameTheProblem(t *testing.T) {
	st := newStack(t)
	appID, secret := "app-"+randomHex(4), "secret-"+randomHex(8)
	st.sim.RegisterApp(appID, secret)
	var acct struct{ ID string }
	st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": appID, "app_secret": secret}, &acct)

	addPage := func(pageID, token string) string {
		var p map[string]any
		if code := st.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", st.adminToken, map[string]string{"name": "P", "page_id": pageID, "access_token": token}, &p); code != 201 {
			t.Fatalf("add page: %d %v", code, p)
		}
		var got map[string]any
		st.eventually("provisioning ends", 30*time.Second, func() bool {
			st.call("GET", "/api/v1/pages/"+p["id"].(string), st.adminToken, nil, &got)
			return got["provisioning_status"] != "pending"
		})
		if got["provisioning_status"] != "failed" {
			t.Fatalf("page %s: %v", pageID, got)
		}
		return got["last_error"].(string)
	}

	noMessaging := "EAAB" + randomHex(20)
	st.sim.RegisterPage(simulator.Page{PageID: "300000000000001", Name: "No messaging", AccessToken: noMessaging, AppID: appID,
		Scopes: []string{"pages_manage_metadata", "pages_show_list"}})
	if e := addPage("300000000000001", noMessaging); !strings.Contains(e, "pages_messaging") {
		t.Fatalf("missing scope not named: %q", e)
	}

	otherPages := "EAAB" + randomHex(20)
	st.sim.RegisterPage(simulator.Page{PageID: "300000000000002", Name: "Other", AccessToken: otherPages, AppID: appID})
	if e := addPage("300000000000003", otherPages); !strings.Contains(e, "300000000000002") || !strings.Contains(e, "300000000000003") {
		t.Fatalf("page mismatch not named: %q", e)
	}
	var subscribed int
	for _, r := range st.sim.Requests("/subscribed_apps") {
		if r.Method == "POST" {
			subscribed++
		}
	}
	if subscribed != 0 {
		t.Fatalf("a page with a bad token was subscribed")
	}
}
