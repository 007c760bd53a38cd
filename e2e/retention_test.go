//go:build integration

package e2e

import (
	"testing"
	"time"
)

// The admin API of the business rules: an account's retention_days and a
// page's import_history_days are read and changed in CONTRACT style; bad values
// answer 400 and change nothing.
func TestRetentionAndImportSettings(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	ch := st.connectPage()
	var acct map[string]any
	if code := st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct); code != 200 || acct["retention_days"] != float64(0) {
		t.Fatalf("new account: %d %v; want retention_days 0", code, acct["retention_days"])
	}
	if code := st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"retention_days": 30}, &acct); code != 200 || acct["retention_days"] != float64(30) {
		t.Fatalf("set retention: %d %v", code, acct)
	}
	for _, bad := range []any{-1, 100000, 1.5, "30"} {
		var e map[string]any
		if code := st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"retention_days": bad}, &e); code != 400 {
			t.Errorf("retention_days %v: %d %v; want 400", bad, code, e)
		}
	}
	// Both fields are checked before either is written.
	st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"retention_days": -1, "privacy_notice_url": "https://acme.example/p"}, nil)
	st.call("GET", "/api/v1/accounts/"+ch.AccountID, st.adminToken, nil, &acct)
	if acct["retention_days"] != float64(30) || acct["privacy_notice_url"] != "" {
		t.Errorf("after a refused change: %v", acct)
	}
	if code := st.call("PATCH", "/api/v1/accounts/00000000-0000-0000-0000-000000000000", st.adminToken, map[string]any{"retention_days": 5}, nil); code != 404 {
		t.Errorf("unknown account: %d; want 404", code)
	}

	var page map[string]any
	st.eventually("the (empty) history import is done", 30*time.Second, func() bool {
		st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &page)
		imp, _ := page["import"].(map[string]any)
		return imp != nil && imp["status"] == "done"
	})
	if page["import_history_days"] != float64(30) {
		t.Errorf("page import_history_days %v; want the default 30", page["import_history_days"])
	}
	if code := st.call("PATCH", "/api/v1/pages/"+ch.PageUUID, st.adminToken, map[string]any{"import_history_days": 0}, &page); code != 200 || page["import_history_days"] != float64(0) {
		t.Errorf("set import_history_days: %d %v", code, page)
	}
	for _, bad := range []any{-1, 366, "7"} {
		if code := st.call("PATCH", "/api/v1/pages/"+ch.PageUUID, st.adminToken, map[string]any{"import_history_days": bad}, nil); code != 400 {
			t.Errorf("import_history_days %v: %d; want 400", bad, code)
		}
	}
}
