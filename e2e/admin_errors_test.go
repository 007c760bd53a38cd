//go:build integration

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// adminAnswer is one admin request and the answer CONTRACT.md gives it: the
// status and, for errors, the code and message of the error body.
type adminAnswer struct {
	method, path string
	body         any
	status       int
	code, msg    string
}

// checkAdminAnswers sends each request to base with the admin token and fails on
// any answer that differs in status, error code or error message.
func (st *stack) checkAdminAnswers(base string, answers []adminAnswer) {
	st.t.Helper()
	for _, a := range answers {
		var got struct {
			Error struct{ Code, Message string }
		}
		status := st.callServer(base, a.method, a.path, st.adminToken, a.body, &got)
		if status != a.status || got.Error.Code != a.code || got.Error.Message != a.msg {
			st.t.Errorf("%s %s: %d %q %q, want %d %q %q", a.method, a.path,
				status, got.Error.Code, got.Error.Message, a.status, a.code, a.msg)
		}
	}
}

// The admin API's error answers, pinned: an unknown id is a 404 naming what was
// not found, a duplicate a 409, a bad body a 400, and a database that does not
// answer a 503 the client may retry, on every admin endpoint that reads or
// writes by id. (The handlers share one function for the 404/503 answer; this
// is what keeps a change to it honest.)
func TestAdminErrorAnswers(t *testing.T) {
	st := newStack(t)
	unknown := uuid.NewString()
	pageID := fmt.Sprint(200000000000000 + time.Now().UnixNano()%799999999999)

	var acct struct{ ID string }
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": "app-" + randomHex(4), "app_secret": "s-" + randomHex(8)}, &acct); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	newPage := map[string]string{"name": "Acme Support", "page_id": pageID, "access_token": "EAAB" + randomHex(20)}
	if code := st.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", st.adminToken, newPage, nil); code != 201 {
		t.Fatalf("create page: %d", code)
	}
	agent := map[string]any{"name": "Ann", "email": "ann-" + randomHex(4) + "@example.com", "capacity": 2}
	if code := st.call("POST", "/api/v1/agents", st.adminToken, agent, nil); code != 201 {
		t.Fatalf("create agent: %d", code)
	}

	token := map[string]string{"access_token": "EAAB" + randomHex(20)}
	st.checkAdminAnswers(st.api.URL, []adminAnswer{
		{"GET", "/api/v1/accounts/" + unknown, nil, 404, "not_found", "No account has this id."},
		{"POST", "/api/v1/accounts/" + unknown + "/pages", newPage, 404, "not_found", "No active account has this id."},
		{"GET", "/api/v1/pages/" + unknown, nil, 404, "not_found", "No page has this id."},
		{"PUT", "/api/v1/pages/" + unknown + "/token", token, 404, "not_found", "No connected page has this id."},
		{"DELETE", "/api/v1/pages/" + unknown, nil, 404, "not_found", "No page has this id."},
		{"DELETE", "/api/v1/accounts/" + unknown, nil, 404, "not_found", "No account has this id."},
		{"POST", "/api/v1/accounts/" + acct.ID + "/pages", newPage, 409, "page_exists", "Facebook page " + pageID + " is already connected to this account."},
		{"POST", "/api/v1/agents", agent, 409, "agent_exists", "An agent with this email exists already."},
		{"POST", "/api/v1/accounts", map[string]string{"name": "Acme", "app_id": "x"}, 400, "invalid_request", "Field app_secret is required."},
		{"POST", "/api/v1/accounts/" + acct.ID + "/pages", map[string]string{"name": "P", "page_id": "acme", "access_token": "t"}, 400, "invalid_request",
			"page_id must be the page's numeric Facebook id (Page → About → Page ID)."},
	})
	var bad struct{ Error struct{ Code string } }
	if code := st.call("POST", "/api/v1/agents", st.adminToken, map[string]any{"name": "Ann", "mail": "x"}, &bad); code != 400 || bad.Error.Code != "invalid_json" {
		t.Errorf("POST /api/v1/agents with an unknown field: %d %q, want 400 invalid_json", code, bad.Error.Code)
	}

	// The same starter over a database that does not answer: 503 everywhere, the
	// same answer whether or not the id would have been found.
	unavailable := st.starterWithDatabaseDown()
	const retry = "The service is temporarily unavailable; please retry."
	st.checkAdminAnswers(unavailable.URL, []adminAnswer{
		{"POST", "/api/v1/accounts", map[string]string{"name": "Acme", "app_id": "a", "app_secret": "s"}, 503, "unavailable", retry},
		{"GET", "/api/v1/accounts/" + acct.ID, nil, 503, "unavailable", retry},
		{"POST", "/api/v1/accounts/" + acct.ID + "/pages", newPage, 503, "unavailable", retry},
		{"GET", "/api/v1/pages/" + unknown, nil, 503, "unavailable", retry},
		{"PUT", "/api/v1/pages/" + unknown + "/token", token, 503, "unavailable", retry},
		{"POST", "/api/v1/agents", agent, 503, "unavailable", retry},
		{"DELETE", "/api/v1/pages/" + unknown, nil, 503, "unavailable", retry},
		{"DELETE", "/api/v1/accounts/" + acct.ID, nil, 503, "unavailable", retry},
	})
}
