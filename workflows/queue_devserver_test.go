//go:build integration

package workflows_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// TestQueueSendsAPasssSignalsTogether (real dev server, see devserver_test.go):
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
