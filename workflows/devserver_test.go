//go:build integration

package workflows_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// TestMessageArrivingAsCloseFinishesIsNotLost needs a real Temporal dev server: it
// runs when TEMPORAL_CLI names the CLI (make test sets it) and is skipped otherwise.
// The time-skipping environment hands every event to the workflow in a task of its
// own, so it cannot put a customer's message and the completion of the close's last
// activity into one workflow task — which is what a busy or restarting worker sees.
//
// The story: the conversation closes (by the agent, or because the HUMAN_AGENT window
// expired); while its last activity (WakeQueues) runs, no workflow worker is up and
// the customer writes. The next workflow task holds both events. The message must
// reach the next conversation (continue-as-new with it pending), not vanish.
func TestMessageArrivingAsCloseFinishesIsNotLost(t *testing.T) {
	t.Parallel()
	c := devServerClient(t)
	for _, tc := range []struct {
		name, id string
		// lastCustomerMessage decides the close: an old one makes the workflow close
		// itself at once (window_expired); otherwise the agent closes by update.
		lastCustomerMessage time.Duration
	}{
		{"agent closes", "agent", time.Hour},
		{"HUMAN_AGENT window expires", "expiry", contract.HumanAgentWindow + time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closeRaceStory(t, c, tc.id, tc.lastCustomerMessage)
		})
	}
}

func closeRaceStory(t *testing.T, c client.Client, id string, sinceLastCustomerMessage time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id += "-" + strconv.FormatInt(time.Now().UnixNano(), 36) // a fresh workflow on every run of the test
	taskQueue := "close-race-" + id
	psid := "psid-" + id
	workflowID := contract.ConversationWorkflowID("1001", psid)

	// Activities run on a worker of their own, which stays up throughout.
	// The close's one activity (notices, close, wake-up) is its last step: it
	// is held until the late message has arrived with no workflow worker up.
	closeStarted, closeRelease := make(chan struct{}, 1), make(chan struct{})
	acts := worker.New(c, taskQueue, worker.Options{DisableWorkflowWorker: true})
	register := func(name string, fn any) { acts.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	register(activityName(a.CloseConversation), func(context.Context, activities.CloseConversationInput) (activities.CloseConversationResult, error) {
		closeStarted <- struct{}{}
		<-closeRelease
		return activities.CloseConversationResult{QueueIDs: []string{testQueueID}}, nil
	})
	register(activityName(a.WakeQueues), func(context.Context, activities.WakeQueuesInput) error { return nil })
	register(activityName(a.RecordInbound), func(_ context.Context, in activities.RecordInboundInput) (activities.RecordInboundResult, error) {
		return activities.RecordInboundResult{Recorded: len(in.Events)}, nil
	})
	// The farewell and survey of the close: the workstream sends none here.
	register(activityName(a.SendNotice), func(context.Context, activities.SendNoticeInput) error { return nil })
	// The next run opens no conversation here: it only has to exist.
	register(activityName(a.OpenConversation), func(context.Context, activities.OpenConversationInput) (activities.OpenConversationResult, error) {
		return activities.OpenConversationResult{Served: false}, nil
	})
	if err := acts.Start(); err != nil {
		t.Fatal(err)
	}
	defer acts.Stop()
	workflowWorker := func() worker.Worker {
		w := worker.New(c, taskQueue, worker.Options{LocalActivityWorkerOnly: true})
		workflows.Register(w)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}

	first := workflowWorker()
	state := contract.ConversationState{
		ConversationID: "conversation-1", CustomerID: "customer-1", PageUUID: testPageUUID, PageID: "1001", PSID: psid,
		QueueID: testQueueID, AgentID: testAgentID, Status: contract.StatusAssigned,
		LastCustomerMessageAt: time.Now().Add(-sinceLastCustomerMessage), SeenKeys: []string{"m_1"},
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflowID, TaskQueue: taskQueue}, workflows.ConversationWorkflow,
		contract.ConversationInput{PageID: state.PageID, PSID: state.PSID, State: &state})
	if err != nil {
		t.Fatal(err)
	}
	waitUntilStarted(ctx, t, c, workflowID, run.GetRunID())
	if sinceLastCustomerMessage < contract.HumanAgentWindow {
		if _, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflowID, RunID: run.GetRunID(), UpdateName: contract.UpdateClose,
			Args:         []any{contract.CloseRequest{ConversationID: state.ConversationID, AgentID: testAgentID}},
			WaitForStage: client.WorkflowUpdateStageAccepted,
		}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-closeStarted:
	case <-ctx.Done():
		t.Fatal("the close never reached CloseConversation")
	}

	// No workflow worker while the message arrives and the close's last activity ends.
	first.Stop()
	late := contract.InboundEvent{PageUUID: testPageUUID, PageID: state.PageID, PSID: state.PSID, EventKey: "m_late", Kind: "message", Timestamp: time.Now().UnixMilli()}
	if err := c.SignalWorkflow(ctx, workflowID, run.GetRunID(), contract.SignalInbound, late); err != nil {
		t.Fatal(err)
	}
	close(closeRelease)
	waitForHistory(ctx, t, c, workflowID, run.GetRunID(), func(events []*historypb.HistoryEvent) bool {
		return countEvents(events, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 1 &&
			countEvents(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == countEvents(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
	})

	second := workflowWorker()
	defer second.Stop()
	_ = run.GetWithOptions(ctx, nil, client.WorkflowRunGetOptions{DisableFollowingRuns: true})
	events := history(ctx, t, c, workflowID, run.GetRunID())
	last := events[len(events)-1]
	can := last.GetWorkflowExecutionContinuedAsNewEventAttributes()
	if can == nil {
		t.Fatalf("the run ended with %v: the customer's message that arrived as the conversation closed is lost", last.GetEventType())
	}
	var next contract.ConversationInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.GetInput(), &next); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(next.Pending, []contract.InboundEvent{late}) || next.State != nil {
		t.Errorf("next run's input %+v, want a new conversation opened by the late message", next)
	}
}

// TestReplyInFirstTaskOfContinuedRunIsAccepted (real dev server, see above): after
// continue-as-new, an agent's reply that reaches the new run before its first
// workflow task is validated in that task. It must be judged against the state the
// run carries over, not refused as "not open".
func TestReplyInFirstTaskOfContinuedRunIsAccepted(t *testing.T) {
	t.Parallel()
	c := devServerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := "first-task-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	taskQueue, psid := id, "psid-"+id
	workflowID := contract.ConversationWorkflowID("1001", psid)
	state := contract.ConversationState{
		ConversationID: "conversation-2", CustomerID: "customer-1", PageUUID: testPageUUID, PageID: "1001", PSID: psid,
		QueueID: testQueueID, AgentID: testAgentID, Status: contract.StatusAssigned, LastCustomerMessageAt: time.Now(), SeenKeys: []string{"m_1"},
	}
	// The continued run exists, and no worker has run its first task yet.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflowID, TaskQueue: taskQueue}, workflows.ConversationWorkflow,
		contract.ConversationInput{PageID: state.PageID, PSID: psid, State: &state}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		out contract.SendOutcome
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflowID, UpdateName: contract.UpdateSendMessage, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{contract.SendMessageRequest{ConversationID: state.ConversationID, MessageID: "msg-1", AgentID: testAgentID}},
		})
		var a answer
		if a.err = err; err == nil {
			a.err = h.Get(ctx, &a.out)
		}
		answered <- a
	}()
	// Admitted updates are not visible in the history; give the call time to arrive.
	time.Sleep(time.Second)

	w := worker.New(c, taskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivityWithOptions(func(_ context.Context, in activities.SendMessageInput) (contract.SendOutcome, error) {
		return contract.SendOutcome{MessageID: in.MessageID, Status: "sent", FacebookMessageID: "m_sent"}, nil
	}, activity.RegisterOptions{Name: activityName(a.SendMessage)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	a := <-answered
	if a.err != nil || a.out.Status != "sent" {
		t.Fatalf("reply in the continued run's first task: %+v, %v; want it sent", a.out, a.err)
	}
}

// TestQueueSendsAPasssSignalsTogether (real dev server, see above):
// the conversations of one pass are told in one workflow task. Told one after the
// other, each signal cost the queue a workflow task before the next, and its next
// pass waited for them all: a busy queue assigned about one conversation per
// signal round trip (docs/PERFORMANCE.md, "Assignment latency").
func TestQueueSendsAPasssSignalsTogether(t *testing.T) {
	t.Parallel()
	c := devServerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := strconv.FormatInt(time.Now().UnixNano(), 36) // a fresh workflow on every run of the test
	taskQueue := "queue-signals-" + id
	queueID := "queue-" + id

	const n = 5
	var passes atomic.Int32
	w := worker.New(c, taskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivityWithOptions(func(context.Context, activities.AssignQueueInput) (activities.AssignQueueResult, error) {
		if passes.Add(1) > 1 {
			return activities.AssignQueueResult{}, nil
		}
		var res activities.AssignQueueResult
		for i := range n {
			// Nobody runs these conversations: a signal to them fails, which the
			// queue ignores (the assignment is in Postgres).
			res.Assignments = append(res.Assignments, contract.Assignment{
				ConversationID: fmt.Sprint("conversation-", i), PageID: "1001", PSID: fmt.Sprint(id, "-", i), AgentID: testAgentID, QueueID: queueID,
			})
		}
		return res, nil
	}, activity.RegisterOptions{Name: activityName(a.AssignQueue)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: contract.QueueWorkflowID(queueID), TaskQueue: taskQueue},
		workflows.QueueWorkflow, contract.QueueInput{QueueID: queueID})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test done") }()
	var events []*historypb.HistoryEvent
	waitForHistory(ctx, t, c, run.GetID(), run.GetRunID(), func(h []*historypb.HistoryEvent) bool {
		events = h
		// Every signal has its outcome (failed: nobody runs those conversations).
		return countEvents(h, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)+
			countEvents(h, enumspb.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED) == n
	})
	first, last := -1, -1
	for i, ev := range events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || countEvents(events, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED) != n {
		t.Fatalf("%d signals sent, want %d", countEvents(events, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), n)
	}
	tasksBetween := countEvents(events[first:last+1], enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
	if tasksBetween != 0 {
		t.Errorf("the pass's %d signals were spread over %d more workflow tasks, want all sent by one", n, tasksBetween)
	}
}

var devServer struct {
	once   sync.Once
	server *testsuite.DevServer
	err    error
}

// devServerClient starts one dev server for the tests that need it (TestMain stops
// it), or skips the test when TEMPORAL_CLI is not set.
func devServerClient(t *testing.T) client.Client {
	t.Helper()
	cli := os.Getenv("TEMPORAL_CLI")
	if cli == "" {
		t.Skip("needs a Temporal dev server: set TEMPORAL_CLI to ./bin/temporal (make test does)")
	}
	devServer.once.Do(func() {
		ctx := context.Background()
		quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		devServer.server, devServer.err = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath: cli, LogLevel: "error", ClientOptions: &client.Options{Logger: quiet},
		})
		if devServer.err == nil {
			devServer.err = workflows.EnsureSearchAttributes(ctx, devServer.server.Client(), "default")
		}
	})
	if devServer.err != nil {
		t.Fatal(devServer.err)
	}
	return devServer.server.Client()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if devServer.server != nil {
		_ = devServer.server.Stop()
	}
	os.Exit(code)
}

// waitUntilStarted waits for the run's first workflow task, after which its update
// handlers know the conversation.
func waitUntilStarted(ctx context.Context, t *testing.T, c client.Client, workflowID, runID string) {
	t.Helper()
	waitForHistory(ctx, t, c, workflowID, runID, func(events []*historypb.HistoryEvent) bool {
		return countEvents(events, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) > 0
	})
}

func history(ctx context.Context, t *testing.T, c client.Client, workflowID, runID string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return events
}

// waitForHistory polls until the run's history satisfies ok (the server records
// events asynchronously to the calls that cause them).
func waitForHistory(ctx context.Context, t *testing.T, c client.Client, workflowID, runID string, ok func([]*historypb.HistoryEvent) bool) {
	t.Helper()
	for !ok(history(ctx, t, c, workflowID, runID)) {
		select {
		case <-ctx.Done():
			t.Fatal("timed out waiting for the history")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countEvents(events []*historypb.HistoryEvent, typ enumspb.EventType) int {
	n := 0
	for _, ev := range events {
		if ev.GetEventType() == typ {
			n++
		}
	}
	return n
}
