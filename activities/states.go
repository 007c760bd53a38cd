package activities

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

type EndConversationInput struct {
	ConversationID string
	PageID         string
	PSID           string
	Reason         string
	Disposition    string
	// AgentID is the agent who ends it (as CloseConversationInput's).
	AgentID string
	// Notices go first, as for a close (CloseConversationInput).
	Notices []SendNoticeInput
}

// EndConversationResult is CloseConversationResult with the status the end
// reached: wrap_up or closed.
type EndConversationResult struct {
	CloseConversationResult
	Status string
}

// EndConversation ends the conversation (store.EndConversation) and, when it went
// to wrap-up, starts the wrap-up's workflow, which outlives this conversation's
// run; the agent's queues are woken for the capacity the end frees. Every step is
// idempotent: a retry finds the end, the wrap-up and its workflow.
func (a *Activities) EndConversation(ctx context.Context, in EndConversationInput) (EndConversationResult, error) {
	if err := fromStore(a.Store.StillAssignedTo(ctx, in.ConversationID, in.AgentID)); err != nil {
		return EndConversationResult{}, err
	}
	if err := a.sendClosingNotices(ctx, in.Notices); err != nil {
		return EndConversationResult{}, err
	}
	ended, err := a.Store.EndConversation(ctx, in.ConversationID, in.AgentID, in.Reason, in.Disposition)
	res := EndConversationResult{CloseConversationResult{QueueIDs: ended.QueueIDs, AgentID: ended.AgentID}, ended.Status}
	if err != nil {
		return res, fromStore(err)
	}
	if err := contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, ended.QueueIDs); err != nil {
		return res, err
	}
	if ended.Status != contract.StatusWrapUp {
		return res, nil
	}
	_, err = a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    contract.WrapUpWorkflowID(in.ConversationID),
		TaskQueue:             a.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, contract.WrapUpWorkflowType, contract.WrapUpInput{
		ConversationID: in.ConversationID, PageID: in.PageID, PSID: in.PSID, AgentID: ended.AgentID, Limit: ended.WrapUpLimit,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		err = nil // a retry: the wrap-up's workflow ran (or runs) already
	}
	return res, err
}

type ReturnHeldInput struct {
	ConversationID string
}

// ReturnHeldResult is store.HoldReturn, as the workflow reads it.
type ReturnHeldResult = store.HoldReturn

// ReturnHeld is the hold-return timeout (store.ReturnHeld); it wakes the queue
// of a conversation routed again.
func (a *Activities) ReturnHeld(ctx context.Context, in ReturnHeldInput) (ReturnHeldResult, error) {
	out, err := a.Store.ReturnHeld(ctx, in.ConversationID)
	if err != nil {
		return out, fromStore(err)
	}
	if out.Status == contract.StatusWaiting {
		err = contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, []string{out.QueueID})
	}
	return out, err
}

type FinishWrapUpInput struct {
	ConversationID string
}

// FinishWrapUp ends a wrap-up whose time ran out and wakes the agent's queues
// for the capacity it held.
func (a *Activities) FinishWrapUp(ctx context.Context, in FinishWrapUpInput) error {
	queues, err := a.Store.FinishWrapUp(ctx, in.ConversationID, "", "", "")
	if err != nil {
		return fromStore(err)
	}
	return contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, queues)
}

type ExpireOfferInput struct {
	ConversationID string
	AgentID        string
	OfferedAt      time.Time
}

type ExpireOfferResult = store.OfferExpiry

// ExpireOffer ends an offer whose countdown ran out (store.ExpireOffer) and
// wakes the conversation's queue to offer it to the next agent.
func (a *Activities) ExpireOffer(ctx context.Context, in ExpireOfferInput) (ExpireOfferResult, error) {
	out, err := a.Store.ExpireOffer(ctx, in.ConversationID, in.AgentID, in.OfferedAt)
	if err != nil || !out.Expired {
		return out, fromStore(err)
	}
	return out, contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, []string{out.QueueID})
}
