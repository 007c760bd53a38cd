//go:build integration

package e2e

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// The admin API of the business rules: an account's retention_days and a
// page's import_history_days are read and changed in CONTRACT style; bad values
// answer 400 and change nothing.
func TestRetentionAndImportSettings(t *testing.T) {
	st, ch := newPageStack(t)
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

// The daily schedule, triggered now, runs RetentionWorkflow on the worker: the
// transcript of a conversation closed 40 days ago (account keeps 30) and its
// stored webhook events are erased; a conversation opened 40 days ago and
// still open keeps everything.
func TestRetentionScheduleErasesOldTranscriptsAndKeepsOpenOnes(t *testing.T) {
	st := newStack(t)
	const oldPSID, openPSID = "2900000000000091", "2900000000000092"
	ch, a, events, oldConv := st.conversationOnNewPage("rita", 2, oldPSID, "my old order number is 4711")
	st.agentCloses(a, oldConv)
	events.next(t, "conversation.closed", 10*time.Second)
	openConv := st.customerAssigned(events, ch, openPSID, "I am still here")
	st.eventually("the open conversation's message is recorded", 30*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1 AND text <> ''", openConv) == 1
	})
	for _, q := range []string{
		`UPDATE conversations SET opened_at = opened_at - interval '40 days', closed_at = closed_at - interval '40 days' WHERE page_uuid = $1`,
		`UPDATE messages SET created_at = created_at - interval '40 days' WHERE page_id = (SELECT page_id FROM pages WHERE id = $1)`,
		`UPDATE inbound_events SET received_at = received_at - interval '40 days' WHERE page_id = (SELECT page_id FROM pages WHERE id = $1)`,
	} {
		if _, err := st.db.Exec(q, ch.PageUUID); err != nil {
			t.Fatal(err)
		}
	}
	if code := st.call("PATCH", "/api/v1/accounts/"+ch.AccountID, st.adminToken, map[string]any{"retention_days": 30}, nil); code != 200 {
		t.Fatalf("retention: %d", code)
	}

	ctx := context.Background()
	if err := workflows.StartRetentionSchedule(ctx, temporalClient, st.taskQueue); err != nil {
		t.Fatal(err)
	}
	h := temporalClient.ScheduleClient().GetHandle(ctx, contract.RetentionScheduleID(st.taskQueue))
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var run string
	st.eventually("the schedule starts a run", 30*time.Second, func() bool {
		d, err := h.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == 0 {
			return false
		}
		run = d.Info.RecentActions[0].StartWorkflowResult.WorkflowID
		return true
	})
	var res workflows.RetentionResult
	if err := temporalClient.GetWorkflow(ctx, run, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	var mine *workflows.AccountRetention
	for i := range res.Accounts {
		if res.Accounts[i].AccountID == ch.AccountID {
			mine = &res.Accounts[i]
		}
	}
	if mine == nil || mine.Conversations != 1 || mine.Messages < 1 || mine.InboundEvents != 1 {
		t.Fatalf("the run reports %+v for the account; want 1 conversation, its messages and 1 stored event", mine)
	}
	if n := st.count("messages", "conversation_id = $1 AND (text <> '' OR erased_at IS NULL)", oldConv); n != 0 {
		t.Errorf("%d messages of the old conversation keep their text", n)
	}
	if n := st.count("messages", "conversation_id = $1 AND text = 'I am still here' AND erased_at IS NULL", openConv); n != 1 {
		t.Errorf("the open conversation's message was erased")
	}
	if n := st.count("inbound_events", "psid = $1", oldPSID); n != 0 {
		t.Errorf("%d stored webhook events of the old conversation remain", n)
	}
	if n := st.count("inbound_events", "psid = $1", openPSID); n != 1 {
		t.Errorf("%d stored webhook events of the open conversation; want it kept", n)
	}
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+oldConv, a.Token, nil, &conv)
	if msgs, _ := conv["messages"].([]any); len(msgs) == 0 {
		t.Errorf("the erased transcript lost its rows: %v", conv)
	}
}
