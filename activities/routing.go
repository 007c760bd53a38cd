package activities

import (
	"context"
)

// RouteConversation chooses the conversation's queue and puts it there.
func (a *Activities) RouteConversation(ctx context.Context, in RouteConversationInput) (RouteConversationResult, error) {
	queueID, rules, err := a.Store.RouteConversation(ctx, in.ConversationID)
	return RouteConversationResult{QueueID: queueID, Rules: rules}, fromStore(err)
}

// AssignQueue is one assignment pass of a queue workflow (store.AssignQueue).
func (a *Activities) AssignQueue(ctx context.Context, in AssignQueueInput) (AssignQueueResult, error) {
	pass, err := a.Store.AssignQueue(ctx, in.QueueID, in.Max, in.PassKey)
	out := AssignQueueResult{DeferredTo: pass.DeferredTo, Assignments: pass.Assigned}
	if pass.NextOverflowAt != nil {
		out.NextOverflowAt = pass.NextOverflowAt.UTC()
	}
	if pass.NextAffinityEndAt != nil {
		out.NextAffinityEndAt = pass.NextAffinityEndAt.UTC()
	}
	if err != nil && len(out.Assignments) > 0 {
		// Assignments already committed are returned, so the workflow tells those
		// conversations; Incomplete makes it pass again at once for the rest.
		out.Incomplete = true
		return out, nil
	}
	return out, err
}

// OverflowWaiting moves the queue's conversations that waited their workstream's
// maximum wait to its overflow queue, and answers the queues to wake.
func (a *Activities) OverflowWaiting(ctx context.Context, in OverflowWaitingInput) (OverflowWaitingResult, error) {
	queues, err := a.Store.OverflowWaiting(ctx, in.QueueID)
	return OverflowWaitingResult{QueueIDs: queues}, err
}
