//go:build integration

package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/graph"
	"fbchannel/simulator"
	"fbchannel/store"
	"fbchannel/workflows"
)

type historyFixture struct {
	s      *store.Store
	sim    *simulator.Simulator
	acts   *activities.Activities
	pageID string // our page id
}

// newHistoryFixture connects a page whose Messenger history holds three
// recent threads (2, 3 and 120 messages: the last needs two calls) and one
// from 40 days ago, past the page's 30 days.
func newHistoryFixture(t *testing.T) historyFixture {
	t.Helper()
	ctx := context.Background()
	s := rulesStore(t)
	sim := simulator.New()
	sim.SetHistoryRateLimit(false) // the test environment skips the pacing timers
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sim.RegisterApp("app-1", "secret")
	sim.RegisterPage(simulator.Page{PageID: "1001", AccessToken: "page-token", AppID: "app-1"})
	acc, err := s.CreateAccount(ctx, "Shop", "app-1", "secret")
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.CreatePage(ctx, acc.ID, "Page", "1001", "page-token", "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	thread := func(id, psid string, n int, age time.Duration) simulator.HistoryThread {
		th := simulator.HistoryThread{ID: id, PSID: psid, CustomerName: "Customer " + psid}
		for i := range n {
			m := simulator.HistoryMessage{MID: fmt.Sprintf("m_%s_%d", id, i), At: now.Add(-age + time.Duration(i)*time.Minute),
				FromPage: i%2 == 1, Text: fmt.Sprintf("message %d", i)}
			if i == 0 {
				m.ImageURL = "https://cdn.example/" + id + ".jpg"
			}
			th.Messages = append(th.Messages, m)
		}
		return th
	}
	sim.SetHistory("1001", []simulator.HistoryThread{
		thread("t_1", "psid-1", 2, time.Hour),
		thread("t_2", "psid-2", 3, 48*time.Hour),
		thread("t_3", "psid-3", 120, 10*24*time.Hour),
		thread("t_old", "psid-old", 2, 40*24*time.Hour),
	})
	acts := &activities.Activities{Store: s, Graph: graph.New(srv.URL, "v23.0", nil)}
	return historyFixture{s: s, sim: sim, acts: acts, pageID: page.ID}
}

// importHistory runs HistoryImportWorkflow for the fixture's page with its
// real activities and requires it to succeed.
func (f historyFixture) importHistory(t *testing.T) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(f.acts)
	env.ExecuteWorkflow(workflows.HistoryImportWorkflow, workflows.HistoryImportInput{PageUUID: f.pageID})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

func (f historyFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	return countRows(t, f.s, q, args...)
}

func (f historyFixture) checkImportedOnce(t *testing.T) {
	t.Helper()
	if n := f.count(t, `SELECT count(*) FROM conversations WHERE status = 'closed' AND facebook_thread_id IS NOT NULL`); n != 3 {
		t.Errorf("%d imported conversations; want the 3 recent threads", n)
	}
	if n := f.count(t, `SELECT count(*) FROM messages`); n != 2+3+120 {
		t.Errorf("%d messages; want 125, each once", n)
	}
	if n := f.count(t, `SELECT count(*) FROM messages WHERE direction = 'outbound' AND sender = 'page'`); n != 1+1+60 {
		t.Errorf("%d page messages; want 62", n)
	}
	if n := f.count(t, `SELECT count(*) FROM messages WHERE attachments @> '[{"type":"image"}]'`); n != 3 {
		t.Errorf("%d messages with an image; want 3", n)
	}
	if n := f.count(t, `SELECT count(*) FROM customers WHERE name LIKE 'Customer psid-%'`); n != 3 {
		t.Errorf("%d customers named; want 3", n)
	}
	h, err := f.s.GetHistoryImport(context.Background(), f.pageID)
	if err != nil || h == nil {
		t.Fatalf("import %v, %v", h, err)
	}
	if h.Status != "done" || h.Conversations != 3 || h.Messages != 125 || h.Days != 30 || h.FinishedAt == nil {
		t.Errorf("import %+v; want done, 3 conversations, 125 messages, 30 days", *h)
	}
}

// An import whose step dies after committing its batch (the worker crashed
// before reporting), and whose next Graph call fails once, resumes and imports
// every message once; a second import of the same page adds nothing.
func TestHistoryImportResumesAndImportsOnce(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	f.sim.AddFault(simulator.Fault{Method: "GET", PathSuffix: "/t_3/messages", HTTPStatus: 500, Code: 2, Message: "(#2) Service temporarily unavailable", Times: 1})
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(f.acts)
	var calls atomic.Int32
	env.OnActivity(f.acts.ImportPastThreadPage, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PastThreadPageInput) (activities.PastThreadPage, error) {
			got, err := f.acts.ImportPastThreadPage(ctx, in)
			if calls.Add(1) == 2 && err == nil {
				return activities.PastThreadPage{}, errors.New("worker lost after the batch committed")
			}
			return got, err
		})
	env.ExecuteWorkflow(workflows.HistoryImportWorkflow, workflows.HistoryImportInput{PageUUID: f.pageID})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	f.checkImportedOnce(t)

	env2 := ts.NewTestWorkflowEnvironment()
	env2.RegisterActivity(f.acts)
	env2.ExecuteWorkflow(workflows.HistoryImportWorkflow, workflows.HistoryImportInput{PageUUID: f.pageID})
	var res workflows.HistoryImportResult
	if err := env2.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Messages != 0 {
		t.Errorf("second import added %d messages; want 0", res.Messages)
	}
	f.checkImportedOnce(t)
}

// A long import continues as new with its progress and still imports once.
func TestHistoryImportContinuesAsNew(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	var ts testsuite.WorkflowTestSuite
	in := workflows.HistoryImportInput{PageUUID: f.pageID, StepsPerRun: 2}
	for runs := 1; ; runs++ {
		env := ts.NewTestWorkflowEnvironment()
		env.RegisterActivity(f.acts)
		env.ExecuteWorkflow(workflows.HistoryImportWorkflow, in)
		var can *workflow.ContinueAsNewError
		err := env.GetWorkflowError()
		if !errors.As(err, &can) {
			if err != nil {
				t.Fatal(err)
			}
			if runs < 3 {
				t.Errorf("%d runs; want the import continued as new", runs)
			}
			break
		}
		if runs > 20 {
			t.Fatal("the import never ends")
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
			t.Fatal(err)
		}
	}
	f.checkImportedOnce(t)
}

// A page that imports no history (import_history_days 0) calls nothing.
func TestHistoryImportOff(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	if err := f.s.SetImportHistoryDays(context.Background(), f.pageID, 0); err != nil {
		t.Fatal(err)
	}
	f.importHistory(t)
	if n := len(f.sim.Requests("/conversations")); n != 0 {
		t.Errorf("%d Conversations API calls; want none", n)
	}
	if h, _ := f.s.GetHistoryImport(context.Background(), f.pageID); h == nil || h.Status != "off" {
		t.Errorf("import %+v; want off", h)
	}
}

// A thread whose messages the webhook already stored (the customer is in a
// live conversation) adds no imported conversation and no message.
func TestHistoryImportSkipsMessagesStoredAlready(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	ctx := context.Background()
	live, cust := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	for _, q := range []string{
		`INSERT INTO customers (id, page_id, psid) VALUES ('` + cust + `', '1001', 'psid-live')`,
		`INSERT INTO conversations (id, page_uuid, page_id, customer_id, status) VALUES ('` + live + `', '` + f.pageID + `', '1001', '` + cust + `', 'assigned')`,
		`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, status, facebook_message_id)
		 VALUES (gen_random_uuid(), '` + live + `', '1001', 'inbound', 'customer', 'text', 'hi', 'received', 'm_live_1')`,
	} {
		if _, err := f.s.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f.sim.SetHistory("1001", []simulator.HistoryThread{{ID: "t_live", PSID: "psid-live",
		Messages: []simulator.HistoryMessage{{MID: "m_live_1", At: time.Now().Add(-time.Minute), Text: "hi"}}}})
	f.importHistory(t)
	if n := f.count(t, `SELECT count(*) FROM conversations WHERE facebook_thread_id IS NOT NULL`); n != 0 {
		t.Errorf("%d imported conversations; want none", n)
	}
	if n := f.count(t, `SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("%d messages; want the live one only", n)
	}
}
