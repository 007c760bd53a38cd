package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// assignBatch bounds one AssignWaiting call so a long queue is worked in steps
// that each finish well inside the activity timeout.
const assignBatch = 50

// QueueWorkflow makes every assignment decision of one queue. Anything that may
// make an assignment possible (a conversation enqueued, an agent available, capacity
// freed) sends it a wake signal; wakes that arrive together are handled by one pass.
// The decision itself is one Postgres transaction per conversation, which locks the
// conversation and the agent rows: a conversation can be assigned once and an agent
// never beyond capacity, even with several queues sharing an agent.
func QueueWorkflow(ctx workflow.Context, in QueueInput) error {
	wake := workflow.GetSignalChannel(ctx, SignalQueueWake)
	dbCtx := withDatabaseActivity(ctx)
	for {
		var assignments []Assignment
		if err := workflow.ExecuteActivity(dbCtx, ActivityAssignWaiting, AssignWaitingInput{
			QueueID: in.QueueID, Max: assignBatch,
		}).Get(ctx, &assignments); err != nil {
			return err
		}
		for _, a := range assignments {
			// The assignment is already committed; the signal only tells the
			// conversation's run, which may have ended (then there is nobody to tell).
			_ = workflow.SignalExternalWorkflow(ctx, ConversationWorkflowID(a.PageID, a.PSID), "", SignalAssigned, a).Get(ctx, nil)
		}
		if len(assignments) == assignBatch {
			continue
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Wakes received so far are covered by the pass just made; any later
			// one reaches the next run, which starts with a pass of its own.
			for wake.ReceiveAsync(nil) {
			}
			return workflow.NewContinueAsNewError(ctx, QueueWorkflow, in)
		}
		wake.Receive(ctx, nil)
		for wake.ReceiveAsync(nil) {
		}
	}
}
