package activities

import (
	"context"
	"time"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Conversation timeouts (issue 15, part 4): the workflow keeps the durable
// timers; these activities are what it does when one fires.

// conversationTimeouts is the workstream's timeouts as the conversation's workflow keeps them.
func conversationTimeouts(t store.Timeouts) contract.ConversationTimeouts {
	return contract.ConversationTimeouts{
		Customer:     time.Duration(t.CustomerSeconds) * time.Second,
		AgentRemind:  time.Duration(t.AgentRemindSeconds) * time.Second,
		AgentReoffer: time.Duration(t.AgentReofferSeconds) * time.Second,
	}
}

type RemindAgentInput struct {
	ConversationID string
	AgentID        string
	// WaitingSince is the customer's first unanswered message (or the
	// assignment, if later): one reminder per value.
	WaitingSince time.Time
}

// RemindAgent tells the agent the customer waits unanswered (conversation.reminder).
func (a *Activities) RemindAgent(ctx context.Context, in RemindAgentInput) error {
	return fromStore(a.Store.RemindAgent(ctx, in.ConversationID, in.AgentID, in.WaitingSince))
}

type ReofferUnansweredInput struct {
	ConversationID string
	AgentID        string
	// WaitingSince is the wait re-offered for: one re-offer per value.
	WaitingSince time.Time
}

type ReofferUnansweredResult struct {
	// Requeued is false when the conversation was no longer the agent's.
	Requeued bool
	QueueID  string
}

// ReofferUnanswered puts the conversation the agent left unanswered back in its
// queue (store.ReofferUnanswered) and wakes that queue and the agent's.
func (a *Activities) ReofferUnanswered(ctx context.Context, in ReofferUnansweredInput) (ReofferUnansweredResult, error) {
	out, err := a.Store.ReofferUnanswered(ctx, in.ConversationID, in.AgentID, in.WaitingSince)
	if err != nil {
		return ReofferUnansweredResult{}, fromStore(err)
	}
	if !out.Done {
		return ReofferUnansweredResult{}, nil
	}
	if err := contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, out.WakeQueues); err != nil {
		return ReofferUnansweredResult{}, err
	}
	return ReofferUnansweredResult{Requeued: true, QueueID: out.QueueID}, nil
}
