//go:build integration

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fbchannel/simulator"
)

// Deleting a page unsubscribes the app, closes its open conversations (telling the
// customer while the window allows), erases the token and ends in `deleted`;
// DELETE twice is harmless; the same page added again keeps its callback URL and
// verify token, and cannot be connected twice.
func TestDeletePageAndReuseIt(t *testing.T) {
	const psid = "2900000000000040"
	st := newStack(t)
	ch, _, events, convID := st.conversationOnNewPage("hal", 2, psid, "hello")

	var raw map[string]any
	if code := st.call("POST", "/api/v1/accounts/"+ch.AccountID+"/pages", st.adminToken,
		map[string]string{"name": "Again", "page_id": ch.PageID, "access_token": ch.PageToken}, &raw); code != 409 {
		t.Fatalf("same page twice in one account: %d %v, want 409", code, raw)
	}

	for i := 0; i < 2; i++ {
		var out map[string]any
		if code := st.call("DELETE", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &out); code != 202 {
			t.Fatalf("delete #%d: %d %v", i+1, code, out)
		}
		if s := out["provisioning_status"]; s != "deleting" && s != "deleted" {
			t.Fatalf("delete answer: %v", out)
		}
	}
	st.eventually("page deleted", 60*time.Second, func() bool {
		var p map[string]any
		st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &p)
		return p["provisioning_status"] == "deleted"
	})
	closed := events.next(t, "conversation.closed", 10*time.Second)
	if closed.Data["conversation_id"] != convID || closed.Data["reason"] != "channel_deleted" {
		t.Fatalf("closed event: %v", closed.Data)
	}
	var unsubscribed, notified bool
	for _, r := range st.sim.Requests("/subscribed_apps") {
		unsubscribed = unsubscribed || r.Method == "DELETE"
	}
	for _, r := range st.sim.Requests("/messages") {
		recipient, _ := r.Body["recipient"].(map[string]any)
		notified = notified || (recipient["id"] == psid && r.Body["messaging_type"] == "RESPONSE" && r.Body["tag"] == nil)
	}
	if !unsubscribed || !notified {
		t.Fatalf("unsubscribed %v, customer notified %v", unsubscribed, notified)
	}
	if n := st.count("pages", "id = $1 AND access_token_enc IS NULL", ch.PageUUID); n != 1 {
		t.Fatalf("page token not erased")
	}
	// Deliveries for the deleted page are acknowledged and ignored.
	before := st.rowCounts()
	status, _, _ := st.sim.PostCustomerMessage(t.Context(), ch.CallbackURL, ch.AppSecret, ch.PageID, psid, "still there?", "")
	if status != 200 {
		t.Fatalf("delivery to a deleted page: %d, want 200", status)
	}
	if after := st.rowCounts(); after != before {
		t.Fatalf("a delivery to a deleted page changed the database: %s -> %s", before, after)
	}

	// Added again: the same callback URL and verify token.
	if code := st.call("POST", "/api/v1/accounts/"+ch.AccountID+"/pages", st.adminToken,
		map[string]string{"name": "Acme again", "page_id": ch.PageID, "access_token": ch.PageToken}, &raw); code != 201 {
		t.Fatalf("re-add: %d %v", code, raw)
	}
	if raw["callback_url"] != ch.CallbackURL || raw["verify_token"] != ch.VerifyToken || raw["id"] == ch.PageUUID {
		t.Fatalf("re-added page: %v (callback %s, verify %s)", raw, ch.CallbackURL, ch.VerifyToken)
	}
	newUUID := raw["id"].(string)
	st.eventually("re-added page active", 30*time.Second, func() bool {
		var p map[string]any
		st.call("GET", "/api/v1/pages/"+newUUID, st.adminToken, nil, &p)
		return p["provisioning_status"] == "active"
	})
	st.customerSays(ch, psid, "back again", "")
	next := events.next(t, "conversation.assigned", 30*time.Second)
	if next.Data["conversation_id"] == convID {
		t.Fatalf("a message to the re-added page reused the deleted conversation")
	}
}

// Deleting an account deletes each page and erases the app secret.
func TestDeleteAccount(t *testing.T) {
	st, ch := newPageStack(t)
	for i := 0; i < 2; i++ {
		if code := st.call("DELETE", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, nil); code != 202 {
			t.Fatalf("delete account #%d: %d", i+1, code)
		}
	}
	st.eventually("account deleted", 60*time.Second, func() bool {
		var acct map[string]any
		st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct)
		return acct["status"] == "deleted"
	})
	if n := st.count("accounts", "id = $1 AND app_secret_enc IS NULL", ch.AccountID); n != 1 {
		t.Fatalf("app secret not erased")
	}
	if n := st.count("pages", "account_id = $1 AND provisioning_status = 'deleted' AND access_token_enc IS NULL", ch.AccountID); n != 1 {
		t.Fatalf("page not deleted with its account")
	}
	if code := st.call("DELETE", "/api/v1/accounts/00000000-0000-0000-0000-000000000000", st.adminToken, nil, nil); code != 404 {
		t.Fatalf("unknown account: %d, want 404", code)
	}
}

// The deletion saga survives its worker dying midway: stopped after the first page
// is deleted and started again, it completes; every page is unsubscribed once and
// no token or secret is left.
func TestAccountDeletionResumesAfterTheWorkerDies(t *testing.T) {
	st, ch := newPageStack(t)
	second := "EAAB" + randomHex(20)
	secondID := fmt.Sprint(200000000000000 + time.Now().UnixNano()%99999999999)
	st.sim.RegisterPage(simulator.Page{PageID: secondID, Name: "Second", AccessToken: second, AppID: ch.AppID})
	var p map[string]any
	if code := st.call("POST", "/api/v1/accounts/"+ch.AccountID+"/pages", st.adminToken, map[string]string{"name": "Second", "page_id": secondID, "access_token": second}, &p); code != 201 {
		t.Fatalf("second page: %d %v", code, p)
	}
	st.eventually("second page active", 30*time.Second, func() bool {
		var got map[string]any
		st.call("GET", "/api/v1/pages/"+p["id"].(string), st.adminToken, nil, &got)
		return got["provisioning_status"] == "active"
	})

	if code := st.call("DELETE", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, nil); code != 202 {
		t.Fatalf("delete: %d", code)
	}
	st.eventually("a first page deleted", 60*time.Second, func() bool {
		return st.count("pages", "account_id = $1 AND provisioning_status = 'deleted'", ch.AccountID) >= 1
	})
	st.stopWorker() // the saga is now stranded mid-way, as after a crash (Stop returns once the worker is gone)
	st.startWorker()
	st.eventually("account deleted", 90*time.Second, func() bool {
		var acct map[string]any
		st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct)
		return acct["status"] == "deleted"
	})
	unsubscribed := map[string]int{}
	for _, r := range st.sim.Requests("/subscribed_apps") {
		if r.Method == "DELETE" {
			unsubscribed[strings.Split(strings.TrimPrefix(r.Path, "/v23.0/"), "/")[0]]++
		}
	}
	if unsubscribed[ch.PageID] != 1 || unsubscribed[secondID] != 1 {
		t.Fatalf("unsubscribe calls per page: %v", unsubscribed)
	}
	if n := st.count("pages", "account_id = $1 AND access_token_enc IS NOT NULL", ch.AccountID); n != 0 {
		t.Fatalf("%d page tokens left", n)
	}
	if n := st.count("accounts", "id = $1 AND app_secret_enc IS NOT NULL", ch.AccountID); n != 0 {
		t.Fatalf("app secret left")
	}
	status, _, _ := st.sim.PostCustomerMessage(t.Context(), ch.CallbackURL, ch.AppSecret, ch.PageID, "2900000000000099", "hello?", "")
	if status != 200 {
		t.Fatalf("webhook for a deleted page: %d, want 200 (acknowledged and ignored)", status)
	}
}
