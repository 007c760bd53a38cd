//go:build integration

package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/store"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// retentionFixture is an account with a 30-day retention: conversations
// closed 40 days ago (due), one closed 10 days ago (kept), one opened 40 days
// ago and still open (kept), each with two messages (one with an attachment),
// and stored webhook events of the old and of the open customer.
type retentionFixture struct {
	s                 *store.Store
	accountID, pageID string
	due               []string
	recent, stillOpen string
}

func newRetentionFixture(t *testing.T, due int) retentionFixture {
	t.Helper()
	ctx := context.Background()
	s := rulesStore(t)
	acc, err := s.CreateAccount(ctx, "Shop", "app-1", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRetentionDays(ctx, acc.ID, 30); err != nil {
		t.Fatal(err)
	}
	// An account without retention: nothing of it is touched.
	other, err := s.CreateAccount(ctx, "Other", "app-2", "secret")
	if err != nil {
		t.Fatal(err)
	}
	f := retentionFixture{s: s, accountID: acc.ID}
	page, err := s.CreatePage(ctx, acc.ID, "Page", "1001", "token", "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	otherPage, err := s.CreatePage(ctx, other.ID, "Other page", "2002", "token", "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	f.pageID = page.ID
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.DB.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conversation := func(p store.Page, psid, status string, openedDaysAgo int, closedDaysAgo *int) string {
		t.Helper()
		cust, conv := uuid.NewString(), uuid.NewString()
		exec(`INSERT INTO customers (id, page_id, psid, name) VALUES ($1, $2, $3, 'Ann')`, cust, p.PageID, psid)
		var closedAt any
		if closedDaysAgo != nil {
			closedAt = time.Now().AddDate(0, 0, -*closedDaysAgo)
		}
		exec(`INSERT INTO conversations (id, page_uuid, page_id, customer_id, status, opened_at, closed_at, bot_summary)
		      VALUES ($1, $2, $3, $4, $5, $6, $7, 'wants a refund')`,
			conv, p.ID, p.PageID, cust, status, time.Now().AddDate(0, 0, -openedDaysAgo), closedAt)
		at := time.Now().AddDate(0, 0, -openedDaysAgo)
		exec(`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, status, created_at)
		      VALUES ($1, $2, $3, 'inbound', 'customer', 'text', 'my card is 4242', 'received', $4)`, uuid.NewString(), conv, p.PageID, at)
		exec(`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, attachments, status, created_at)
		      VALUES ($1, $2, $3, 'inbound', 'customer', 'attachment', '[{"type":"image","url":"https://cdn.example/x.jpg"}]', 'received', $4)`,
			uuid.NewString(), conv, p.PageID, at)
		exec(`INSERT INTO inbound_events (page_id, event_key, psid, kind, payload, received_at, relayed_at)
		      VALUES ($1, $2, $3, 'message', '{"text":"my card is 4242"}', $4, $4)`, p.PageID, "mid-"+conv, psid, at)
		return conv
	}
	days := func(n int) *int { return &n }
	for i := range due {
		f.due = append(f.due, conversation(page, fmt.Sprint("psid-old-", i), "closed", 41, days(40)))
	}
	f.recent = conversation(page, "psid-recent", "closed", 11, days(10))
	f.stillOpen = conversation(page, "psid-open", "assigned", 40, nil)
	conversation(otherPage, "psid-other", "closed", 400, days(400))
	exec(`INSERT INTO inbound_unreadable (page_id, raw_sha256, page_uuid, reason, raw, received_at)
	      VALUES ($1, 'abc', $2, 'bad json', '\x00', now() - interval '40 days'),
	             ($1, 'def', $2, 'bad json', '\x00', now() - interval '1 day')`, page.PageID, page.ID)
	return f
}

// erased counts the conversation's messages with their text or attachments gone.
func (f retentionFixture) erased(t *testing.T, conv string) (erased, kept int) {
	t.Helper()
	err := f.s.DB.QueryRow(`SELECT count(*) FILTER (WHERE text = '' AND attachments = '[]' AND erased_at IS NOT NULL),
	                               count(*) FILTER (WHERE text <> '' OR attachments <> '[]')
	                        FROM messages WHERE conversation_id = $1`, conv).Scan(&erased, &kept)
	if err != nil {
		t.Fatal(err)
	}
	return erased, kept
}

func (f retentionFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	return countRows(t, f.s, q, args...)
}

// countRows answers a SELECT count(*) query.
func countRows(t *testing.T, s *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The scheduled run erases what is older than the account's retention, keeps
// open and recent conversations and other accounts, and resumes after a step
// that died after committing its batch (the worker crashed before reporting):
// the retried step and the rest of the run finish the job, and each
// conversation is counted once.
func TestRetentionErasesExpiredTranscriptsAndResumesAfterACrash(t *testing.T) {
	t.Parallel()
	f := newRetentionFixture(t, 5)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	acts := &activities.Activities{Store: f.s}
	env.RegisterActivity(acts)
	var calls atomic.Int32
	env.OnActivity(acts.EraseExpiredTranscripts, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RetentionStepInput) (store.RetentionBatch, error) {
			b, err := acts.EraseExpiredTranscripts(ctx, in)
			if calls.Add(1) == 2 && err == nil {
				return store.RetentionBatch{}, errors.New("worker lost after the batch committed")
			}
			return b, err
		})
	env.ExecuteWorkflow(workflows.RetentionWorkflow, workflows.RetentionInput{BatchSize: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.RetentionResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if calls.Load() < 3 {
		t.Errorf("%d transcript steps; want the failed one retried and the rest run", calls.Load())
	}
	for _, conv := range f.due {
		if erased, kept := f.erased(t, conv); erased != 2 || kept != 0 {
			t.Errorf("due conversation %s: %d messages erased, %d kept; want 2, 0", conv, erased, kept)
		}
	}
	for _, conv := range []string{f.recent, f.stillOpen} {
		if erased, kept := f.erased(t, conv); erased != 0 || kept != 2 {
			t.Errorf("conversation %s: %d messages erased, %d kept; want it kept", conv, erased, kept)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM messages WHERE text <> '' OR attachments <> '[]'`); n != 2+2+2 {
		t.Errorf("%d messages keep content; want the recent, open and other account's 6", n)
	}
	if n := f.count(t, `SELECT count(*) FROM conversations WHERE bot_summary <> ''`); n != 3 {
		t.Errorf("%d conversations keep their bot summary; want 3", n)
	}
	// Inbound events: the due customers' are gone; the open customer's stays
	// although old, the recent and the other account's stay.
	if n := f.count(t, `SELECT count(*) FROM inbound_events`); n != 3 {
		t.Errorf("%d stored webhook events; want 3 (recent, still open, other account)", n)
	}
	if n := f.count(t, `SELECT count(*) FROM inbound_unreadable`); n != 1 {
		t.Errorf("%d unreadable deliveries; want the recent one", n)
	}
	if len(res.Accounts) != 1 || res.Accounts[0].AccountID != f.accountID || res.Accounts[0].Days != 30 {
		t.Fatalf("result accounts %+v; want the one with retention", res.Accounts)
	}
	// The batch the crashed step committed is found erased on the retry and not
	// counted again: the report may miss it but never counts a conversation twice.
	if got := res.Total; got.Conversations > 5 || got.Conversations < 3 || got.InboundEvents != 5 || got.Unreadable != 1 {
		t.Errorf("reported %+v; want ≤ 5 conversations, 5 inbound events, 1 unreadable", got)
	}

	// A second run finds nothing left.
	env2 := ts.NewTestWorkflowEnvironment()
	env2.RegisterActivity(acts)
	env2.ExecuteWorkflow(workflows.RetentionWorkflow, workflows.RetentionInput{BatchSize: 2})
	var again workflows.RetentionResult
	if err := env2.GetWorkflowResult(&again); err != nil {
		t.Fatal(err)
	}
	if again.Total != (store.RetentionBatch{}) {
		t.Errorf("second run erased %+v; want nothing", again.Total)
	}
}

// Many batches continue the run as new with its progress: the cutoff stays
// that of the run's start, and the last run reports the whole job.
func TestRetentionContinuesAsNewWithItsProgress(t *testing.T) {
	t.Parallel()
	f := newRetentionFixture(t, 3)
	var ts testsuite.WorkflowTestSuite
	in := workflows.RetentionInput{BatchSize: 1, StepsPerRun: 2}
	runs := 0
	for {
		runs++
		env := ts.NewTestWorkflowEnvironment()
		env.RegisterActivity(&activities.Activities{Store: f.s})
		env.ExecuteWorkflow(workflows.RetentionWorkflow, in)
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			if runs > 10 {
				t.Fatal("the run never ends")
			}
			var next workflows.RetentionInput
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
				t.Fatal(err)
			}
			if !next.StartedAt.Equal(in.StartedAt) && runs > 1 {
				t.Fatalf("run %d starts at %s, the first at %s", runs, next.StartedAt, in.StartedAt)
			}
			in = next
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		var res workflows.RetentionResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if res.Total.Conversations != 3 || res.Total.InboundEvents != 3 {
			t.Errorf("last run reports %+v; want the 3 conversations and 3 events of all runs", res.Total)
		}
		break
	}
	if runs < 3 {
		t.Errorf("%d runs; want the run continued as new", runs)
	}
	for _, conv := range f.due {
		if erased, _ := f.erased(t, conv); erased != 2 {
			t.Errorf("due conversation %s: %d messages erased; want 2", conv, erased)
		}
	}
}

// Every worker creates the retention schedule at start; the second finds it
// and changes nothing. The schedule starts RetentionWorkflow daily.
func TestRetentionScheduleIsCreatedOnce(t *testing.T) {
	t.Parallel()
	c := devServerClient(t)
	ctx := context.Background()
	taskQueue := "retention-" + uuid.NewString()
	for range 2 {
		if err := workflows.StartRetentionSchedule(ctx, c, taskQueue); err != nil {
			t.Fatal(err)
		}
	}
	h := c.ScheduleClient().GetHandle(ctx, contract.RetentionScheduleID(taskQueue))
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	// Describing a schedule queries its scheduler workflow, whose first task can
	// take longer than one call's deadline on a loaded dev server: ask again.
	var d *client.ScheduleDescription
	var err error
	for deadline := time.Now().Add(time.Minute); ; {
		if d, err = h.Describe(ctx); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // between polls, not a wait for the result
	}
	if err != nil {
		t.Fatal(err)
	}
	action, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || action.Workflow != contract.RetentionWorkflowType || action.TaskQueue != taskQueue {
		t.Fatalf("schedule action %+v; want %s on %s", d.Schedule.Action, contract.RetentionWorkflowType, taskQueue)
	}
	if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != workflows.RetentionEvery {
		t.Fatalf("schedule spec %+v; want every %s", d.Schedule.Spec, workflows.RetentionEvery)
	}
}
