package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// assignBatch bounds one assignment activity call so a long queue is worked in
// steps that each finish well inside the activity timeout.
const assignBatch = 50

// deferredRecheck is how soon a queue looks again after leaving an available
// agent to a higher-priority queue: that queue may give its work to someone else,
// and then this queue's conversation should have the agent.
const deferredRecheck = time.Second

// overflowRetryAfter spaces out overflow attempts whose deadline has passed but
// moved nothing (the database's clock a little behind the workflow's).
const overflowRetryAfter = time.Second

// QueueWorkflow makes the assignment decisions of one queue. Anything that may
// make an assignment possible (a conversation enqueued, an agent available, capacity
// freed, an agent joining) sends it a wake signal; wakes that arrive together are
// handled by one pass. The decision itself is one Postgres transaction per
// conversation, which locks the conversation and the agent rows: a conversation can
// be assigned once and an agent never beyond capacity, even with several queues
// sharing an agent (see store.AssignQueue, which also holds the priority rule).
//
// Between passes the workflow sleeps on a durable timer until the oldest waiting
// conversation reaches its workstream's maximum wait, and then moves it (and any
// other due one) to the overflow queue and wakes that queue; or until a
// conversation that waits for its preferred agents (affinity) stops waiting, and
// then it passes again, giving it to anyone.
func QueueWorkflow(ctx workflow.Context, in contract.QueueInput) error {
	wake := workflow.GetSignalChannel(ctx, contract.SignalQueueWake)
	dbCtx := withDatabaseActivity(ctx)
	var lastOverflow time.Time
	for pass := 1; ; pass++ {
		var res activities.AssignQueueResult
		// The key is the same for every attempt of this pass's activity: one whose
		// earlier attempt assigned but lost its answer reports those again.
		key := fmt.Sprintf("%s:%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, pass)
		if err := workflow.ExecuteActivity(dbCtx, a.AssignQueue, activities.AssignQueueInput{
			QueueID: in.QueueID, Max: assignBatch, PassKey: key,
		}).Get(ctx, &res); err != nil {
			return err
		}
		tellAssigned(ctx, res.Assignments)
		if len(res.Assignments) == assignBatch || res.Incomplete {
			continue
		}
		now := workflow.Now(ctx)
		if !res.NextOverflowAt.IsZero() && !now.Before(res.NextOverflowAt) && now.Sub(lastOverflow) >= overflowRetryAfter {
			lastOverflow = now
			var moved activities.OverflowWaitingResult
			if err := workflow.ExecuteActivity(dbCtx, a.OverflowWaiting, activities.OverflowWaitingInput{QueueID: in.QueueID}).Get(ctx, &moved); err != nil {
				return err
			}
			if err := wakeQueues(ctx, moved.QueueIDs); err != nil {
				return err
			}
			continue // the next pass finds the next deadline
		}
		if len(res.DeferredTo) > 0 {
			// Make sure the queues the agents were left to are running their passes.
			if err := wakeQueues(ctx, res.DeferredTo); err != nil {
				return err
			}
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Wakes received so far are covered by the pass just made; any later
			// one reaches the next run, which starts with a pass of its own.
			for wake.ReceiveAsync(nil) {
			}
			return workflow.NewContinueAsNewError(ctx, QueueWorkflow, in)
		}
		wait := nextLook(workflow.Now(ctx), res, lastOverflow)
		if err := awaitWakeOrTimer(ctx, wake, wait); err != nil {
			return err
		}
	}
}

// nextLook is how long the queue may sleep without a wake: until the next overflow
// deadline or the end of a wait for preferred agents, or a short recheck after
// deferring agents; 0 means until woken.
func nextLook(now time.Time, res activities.AssignQueueResult, lastOverflow time.Time) time.Duration {
	var wait time.Duration
	if !res.NextOverflowAt.IsZero() {
		at := res.NextOverflowAt
		if earliest := lastOverflow.Add(overflowRetryAfter); at.Before(earliest) {
			at = earliest
		}
		wait = max(at.Sub(now), time.Millisecond)
	}
	if len(res.DeferredTo) > 0 && (wait == 0 || wait > deferredRecheck) {
		wait = deferredRecheck
	}
	if !res.NextAffinityEndAt.IsZero() {
		// A conversation stops waiting for its preferred agents: pass again then
		// (at least overflowRetryAfter/10 later, should the database's clock lag).
		if d := max(res.NextAffinityEndAt.Sub(now), overflowRetryAfter/10); wait == 0 || d < wait {
			wait = d
		}
	}
	return wait
}

// awaitWakeOrTimer blocks until a wake signal arrives or, when wait > 0, the
// durable timer fires; the wakes that arrived meanwhile are all consumed.
func awaitWakeOrTimer(ctx workflow.Context, wake workflow.ReceiveChannel, wait time.Duration) error {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	cancelTimer := func() {}
	if wait > 0 {
		timerCtx, cancel := workflow.WithCancel(ctx)
		cancelTimer = cancel
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) {})
	}
	sel.Select(ctx)
	cancelTimer()
	for wake.ReceiveAsync(nil) {
	}
	return ctx.Err()
}

// tellAssigned signals each assigned conversation's workflow. The assignment is
// already committed; the signal only tells the conversation's run, which may have
// ended (then there is nobody to tell).
//
// The signals go out together and are then awaited: one at a time, each cost a
// workflow task of this queue before the next, and the queue's next pass waited
// for them all (the assignment rate of a busy queue was about one signal round trip
// per assignment; see docs/PERFORMANCE.md, "Assignment latency").
func tellAssigned(ctx workflow.Context, assignments []contract.Assignment) {
	if len(assignments) == 0 {
		return
	}
	sent := make([]workflow.Future, len(assignments))
	for i, as := range assignments {
		sent[i] = workflow.SignalExternalWorkflow(ctx, contract.ConversationWorkflowID(as.PageID, as.PSID), "", contract.SignalAssigned, as)
	}
	for _, f := range sent {
		_ = f.Get(ctx, nil)
	}
}

// wakeQueues wakes the queues' workflows (contract.WakeQueues, through an
// activity: a workflow cannot signal-with-start).
func wakeQueues(ctx workflow.Context, queueIDs []string) error {
	if len(queueIDs) == 0 {
		return nil
	}
	return workflow.ExecuteActivity(withDatabaseActivity(ctx), a.WakeQueues, activities.WakeQueuesInput{QueueIDs: queueIDs}).Get(ctx, nil)
}
