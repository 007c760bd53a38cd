package workflows

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

func (c *conversation) validateClose(req contract.CloseRequest) error {
	if req.ConversationID != c.ConversationID || c.phase == phaseClosed {
		return fmt.Errorf("conversation %s is not open", req.ConversationID)
	}
	return nil
}

// close is the close update (an agent closes) and how every other close ends: the
// farewell and survey where they apply, the conversation closed in Postgres and
// the agent's queues woken for the capacity it frees (one activity), then
// parked replies failed.
func (c *conversation) close(ctx workflow.Context, req contract.CloseRequest) error {
	if err := workflow.Await(ctx, func() bool { return c.phase != phaseOpening }); err != nil {
		return err
	}
	if err := c.lock.Lock(ctx); err != nil {
		return err
	}
	defer c.lock.Unlock()
	if c.phase == phaseClosed {
		return nil
	}
	reason := req.Reason
	if reason == "" {
		reason = contract.CloseReasonAgent
	}
	// The farewell and the survey go before the conversation closes, so the
	// transcript ends with them; they, the close and the wake-up of the agent's
	// queues are one activity, so the close costs one activity and one
	// workflow task. An ordinary activity, not a local one: the close is an
	// update, and under load local activities in an update's workflow task made
	// closes fail (seen in the load e2e tests).
	// The agent's own close or end closes only that agent's conversation: one a
	// supervisor reassigned meanwhile stays open (not_assigned). Other closes
	// (a supervisor's, the service's) close whoever has it.
	closer := ""
	if reason == contract.CloseReasonAgent {
		closer = req.AgentID
	}
	in := activities.CloseConversationInput{ConversationID: c.ConversationID, Reason: reason, Disposition: req.Disposition, AgentID: closer}
	var kinds []string
	switch reason {
	case contract.CloseReasonAgent:
		kinds = []string{activities.NoticeAgentEnded, activities.NoticeSurvey}
	case contract.CloseReasonInactive:
		kinds = []string{activities.NoticeInactiveClosed, activities.NoticeSurvey}
	case contract.CloseReasonCustomerTimeout:
		kinds = []string{activities.NoticeCustomerTimeout}
	}
	for _, kind := range kinds {
		if n, ok := c.notice(ctx, activities.SendNoticeInput{Kind: kind}); ok {
			in.Notices = append(in.Notices, n)
		}
	}
	var res activities.CloseConversationResult
	status := contract.StatusClosed
	if req.End {
		// The agent's end: to wrap-up when the workstream has one (this run is
		// over either way; the wrap-up has a workflow of its own).
		var ended activities.EndConversationResult
		if err := workflow.ExecuteActivity(withCloseActivity(ctx), a.EndConversation, activities.EndConversationInput{
			ConversationID: c.ConversationID, PageID: c.PageID, PSID: c.PSID, Reason: reason, Disposition: req.Disposition, AgentID: closer,
			Notices: in.Notices,
		}).Get(ctx, &ended); err != nil {
			return err
		}
		res, status = ended.CloseConversationResult, ended.Status
	} else if err := workflow.ExecuteActivity(withCloseActivity(ctx), a.CloseConversation, in).Get(ctx, &res); err != nil {
		return err
	}
	c.phase, c.Status = phaseClosed, status
	if res.AgentID != "" {
		// The closed run's AgentID names who had the conversation, even when the
		// close overtook the assigned signal.
		c.AgentID = res.AgentID
	}
	c.upsertSearchAttributes(ctx)
	// Replies still waiting for the page can no longer be sent in this conversation.
	for _, req := range c.Parked {
		if _, err := c.failSend(ctx, req.MessageID, "conversation_closed", "The conversation closed before the page was re-authorised; this reply was not sent."); err != nil {
			return err
		}
	}
	c.Parked = nil
	return nil
}

// closeOnRequest closes a conversation whose close is due (the service asked, or
// its deadline passed), first telling the customer what the request says when the
// standard window allows an automated message (never with a tag).
func (c *conversation) closeOnRequest(ctx workflow.Context, req contract.CloseRequest) error {
	req.ConversationID = c.ConversationID
	kind, _, _ := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, false)
	if req.NotifyCustomer != "" && kind == "RESPONSE" {
		var messageID string
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return uuid.NewString() }).Get(&messageID); err != nil {
			return err
		}
		// A notice that cannot be sent does not keep the conversation open.
		_ = workflow.ExecuteActivity(withSendActivity(ctx), a.SendAutomatedMessage, activities.SendAutomatedMessageInput{
			ConversationID: c.ConversationID, MessageID: messageID, Text: req.NotifyCustomer,
		}).Get(ctx, nil)
	}
	return c.close(ctx, req)
}

// reopen opens a closed conversation again in this run: back to its agent if
// available, otherwise waiting in its queue (whose workflow is woken).
func (c *conversation) reopen(ctx workflow.Context, req contract.ReopenRequest) error {
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ReopenConversation, req).Get(ctx, &c.ConversationState); err != nil {
		return err
	}
	if c.Status == contract.StatusWaiting {
		return wakeQueues(ctx, []string{c.QueueID})
	}
	return nil
}

// watchDeadline makes the close due once the conversation's deadline passes: the
// workstream's inactivity limit or, at the latest, the end of the HUMAN_AGENT window
// (nobody can write to the customer after it). It sleeps until the deadline known
// when it went to sleep and then looks again, so a busy conversation costs one
// timer per deadline, not one per message (the updatable-timer pattern, without
// cancelling on every message).
func (c *conversation) watchDeadline(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for c.phase != phaseClosed {
			if c.LastCustomerMessageAt.IsZero() {
				if err := workflow.Await(ctx, func() bool { return c.phase == phaseClosed || !c.LastCustomerMessageAt.IsZero() }); err != nil {
					return
				}
				continue
			}
			deadline, reason := c.deadline()
			remaining := deadline.Sub(workflow.Now(ctx))
			if remaining <= 0 {
				if c.closeDue == nil {
					c.closeDue = &contract.CloseRequest{Reason: reason}
				}
				return
			}
			if err := workflow.Sleep(ctx, remaining); err != nil {
				return
			}
		}
	})
}

// deadline is when the conversation closes by itself, and why.
func (c *conversation) deadline() (time.Time, string) {
	deadline, reason := c.LastCustomerMessageAt.Add(contract.HumanAgentWindow), contract.CloseReasonWindowExpired
	if c.AutoCloseAfter > 0 {
		if inactive := c.LastCustomerMessageAt.Add(c.AutoCloseAfter); inactive.Before(deadline) {
			deadline, reason = inactive, contract.CloseReasonInactive
		}
	}
	return deadline, reason
}
