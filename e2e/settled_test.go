//go:build integration

package e2e

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"fbchannel/workflows/contract"
)

// A test that asserts something did NOT happen ("the conversation was not
// assigned") must first know that everything which could have made it happen has
// run. Sleeping "long enough" proves nothing on a loaded machine; these helpers
// wait for facts the Temporal server records instead:
//
//   - a conversation's workflow is idle: no workflow task and no activity pending,
//     so whatever it does after a step the test observed (its queue wake, say) has
//     been done;
//   - a queue's workflow is settled: idle, no timer running, and its last
//     assignment pass was scheduled after the last wake it received, so that pass
//     saw everything the wakes announced.
//
// Once the wakers are idle and the queue is settled, the queue will not assign
// anything until something new wakes it.

// settleTimeout bounds each wait; a system that does not settle within it is broken.
const settleTimeout = 60 * time.Second

// conversationsIdle waits until each customer's conversation workflow (of page
// ch) is idle.
func (st *stack) conversationsIdle(ch channel, psids ...string) {
	st.t.Helper()
	for _, psid := range psids {
		id := contract.ConversationWorkflowID(ch.PageID, psid)
		st.eventually("conversation workflow "+id+" idle", settleTimeout, func() bool {
			_, idle := st.idleRun(id)
			return idle
		})
	}
}

// queueSettled waits until the queue's workflow is settled (see above) and answers
// how many assignment passes its open run has completed. A queue workflow that does
// not exist has never been woken: it is settled with no pass.
func (st *stack) queueSettled(queueID string) int {
	st.t.Helper()
	id := contract.QueueWorkflowID(queueID)
	passes := 0
	st.eventually("queue workflow "+id+" settled", settleTimeout, func() bool {
		events, idle := st.idleRun(id)
		if !idle {
			return false
		}
		if events == nil {
			passes = 0
			return true
		}
		lastWake, lastPass := -1, -1
		scheduled := map[int64]string{} // activity scheduled event id → activity type
		openTimers := map[string]bool{}
		passes = 0
		for i, ev := range events {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == contract.SignalQueueWake {
					lastWake = i
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
				scheduled[ev.GetEventId()] = name
				if name == "AssignQueue" {
					lastPass = i
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				if scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] == "AssignQueue" {
					passes++
				}
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				openTimers[ev.GetTimerStartedEventAttributes().GetTimerId()] = true
			case enumspb.EVENT_TYPE_TIMER_FIRED:
				delete(openTimers, ev.GetTimerFiredEventAttributes().GetTimerId())
			case enumspb.EVENT_TYPE_TIMER_CANCELED:
				delete(openTimers, ev.GetTimerCanceledEventAttributes().GetTimerId())
			}
		}
		// A run starts with a pass of its own, so a wake that started it is covered
		// by that pass like any other.
		return lastPass > lastWake && len(openTimers) == 0
	})
	return passes
}

// idleRun answers whether the workflow's current run has nothing under way (no
// workflow task, no activity pending), and if so its history. A workflow that does
// not exist is idle with no history.
func (st *stack) idleRun(workflowID string) ([]*historypb.HistoryEvent, bool) {
	st.t.Helper()
	ctx := context.Background()
	d, err := temporalClient.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, true
	}
	if err != nil {
		st.t.Fatal(err)
	}
	if d.GetPendingWorkflowTask() != nil || len(d.GetPendingActivities()) > 0 {
		return nil, false
	}
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var events []*historypb.HistoryEvent
	it := temporalClient.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			st.t.Fatal(err)
		}
		events = append(events, ev)
	}
	// The description and the history are two reads: a task scheduled between
	// them shows after the last completed one. A signal the run sends is pending
	// until the server reports its outcome, which the description does not list.
	signals := 0
	lastCompleted, lastScheduled := -1, -1
	for i, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			lastCompleted = i
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			lastScheduled = i
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			signals++
		case enumspb.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
			signals--
		}
	}
	running := d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if running && (lastScheduled > lastCompleted || signals > 0) {
		return nil, false
	}
	return events, true
}

// timerSummaries lists the summaries of the timers a workflow run started.
func (st *stack) timerSummaries(workflowID, runID string) []string {
	t := st.t
	t.Helper()
	var out []string
	it := temporalClient.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED {
			continue
		}
		var summary string
		if p := ev.GetUserMetadata().GetSummary(); p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &summary)
		}
		out = append(out, summary)
	}
	return out
}
