package activities

import (
	"context"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// EnqueueConversation puts a routed conversation in its queue as the queueing
// rules and the workflow's finding about the hours say (store.EnqueueConversation),
// and wakes the queue it entered. Idempotent: the decision is made once.
func (a *Activities) EnqueueConversation(ctx context.Context, in store.QueueingRequest) (store.QueueingDecision, error) {
	d, err := a.Store.EnqueueConversation(ctx, in)
	if err != nil {
		return d, fromStore(err)
	}
	if d.QueueID != "" && d.HoldUntil.IsZero() {
		err = contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, []string{d.QueueID})
	}
	return d, err
}

// ReleaseHeldConversation puts a conversation held until its queue's opening in
// the queue and wakes it; the answer is the queue ("" when there was nothing to
// release: the conversation closed meanwhile).
func (a *Activities) ReleaseHeldConversation(ctx context.Context, conversationID string) (string, error) {
	queueID, err := a.Store.ReleaseHeldConversation(ctx, conversationID)
	if err != nil || queueID == "" {
		return queueID, fromStore(err)
	}
	return queueID, contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, []string{queueID})
}

// Kinds of automated notice of the queueing rules.
const (
	NoticeOutOfHours = store.AutomatedOutOfHours // with SendNoticeInput.NextOpening
	NoticeQueueFull  = store.AutomatedQueueFull
)
