package workflows

import (
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// WrapUpWorkflow is one conversation's wrap-up, after its agent ended it. It is a
// workflow of its own because the customer's conversation workflow moves on: a
// customer message during wrap-up opens the next conversation there. It shows the
// state in the Temporal UI (ConversationStatus wrap_up, then closed) and, in a
// workstream whose wrap-up blocks the agent for N seconds, ends the wrap-up on a
// durable timer, giving the agent its capacity back. Otherwise it waits for the
// agent's finish, which the API has committed when it signals.
func WrapUpWorkflow(ctx workflow.Context, in contract.WrapUpInput) error {
	setStatus := func(status string) {
		// Search attributes are for operators; a failure must not stop the wrap-up.
		_ = workflow.UpsertTypedSearchAttributes(ctx,
			contract.ConversationStatusKey.ValueSet(status),
			contract.FacebookPageIDKey.ValueSet(in.PageID),
			contract.CustomerPSIDKey.ValueSet(in.PSID),
			contract.AgentIDKey.ValueSet(in.AgentID),
		)
	}
	setStatus(contract.StatusWrapUp)
	finished := workflow.GetSignalChannel(ctx, contract.SignalWrapUpFinished)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(finished, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	timedOut := false
	if in.Limit > 0 {
		sel.AddFuture(workflow.NewTimer(ctx, in.Limit), func(workflow.Future) { timedOut = true })
	}
	sel.Select(ctx)
	if timedOut {
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.FinishWrapUp, activities.FinishWrapUpInput{
			ConversationID: in.ConversationID,
		}).Get(ctx, nil); err != nil {
			return err
		}
	}
	// A second finish signal concerns this same wrap-up: read it, so none is "unhandled".
	for finished.ReceiveAsync(nil) {
	}
	setStatus(contract.StatusClosed)
	return nil
}
