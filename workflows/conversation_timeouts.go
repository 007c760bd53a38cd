package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// The workstream's conversation timeouts (issue 15, part 4), as durable timers of
// the conversation's run. One timer at a time, for the next timeout due; it is
// cancelled and set again whenever a message (the customer's or the agent's) or
// the assignment changes what is due, so the Temporal UI shows it as the run's
// pending timer, named by its summary.
//
//   - customer_timeout: the agent answered and the customer has not written
//     since, for Timeouts.Customer: the conversation closes with the
//     customer_timeout message.
//   - agent_remind: the customer has waited unanswered (since the first
//     unanswered message, or the assignment if later) for Timeouts.AgentRemind:
//     the agent is reminded (conversation.reminder).
//   - agent_reoffer: ... for Timeouts.AgentReoffer: the conversation goes back to
//     its queue, to anyone else eligible first (store.ReofferUnanswered).
const (
	timeoutCustomer     = "customer_timeout"
	timeoutAgentRemind  = "agent_remind"
	timeoutAgentReoffer = "agent_reoffer"
)

// watchTimeouts runs the timeouts' timer beside the main loop; when one fires it
// sets timeoutDue, and the main loop acts (onTimeout).
func (c *conversation) watchTimeouts(ctx workflow.Context) {
	if !c.timed() {
		return // none set: no timer, no history
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for c.phase != phaseClosed {
			c.stampCustomerMessage(ctx)
			seen, status, agent := c.Clock, c.Status, c.AgentID
			changed := func() bool {
				return c.phase == phaseClosed || c.customerMessaged || c.Clock != seen || c.Status != status || c.AgentID != agent
			}
			due, kind := c.nextTimeout()
			if kind == "" {
				if err := workflow.Await(ctx, changed); err != nil {
					return
				}
				continue
			}
			if wait := due.Sub(workflow.Now(ctx)); wait > 0 {
				moved, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
					Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: kind},
				}, changed)
				if err != nil {
					return
				}
				if moved {
					continue
				}
			}
			c.timeoutDue = kind
			if err := workflow.Await(ctx, func() bool { return c.timeoutDue == "" || c.phase == phaseClosed }); err != nil {
				return
			}
		}
	})
}

// stampCustomerMessage starts the customer's wait at the first message the agent
// has not answered (recorded sets customerMessaged; the time is the workflow's,
// as the timers' are).
func (c *conversation) stampCustomerMessage(ctx workflow.Context) {
	if !c.customerMessaged {
		return
	}
	c.customerMessaged = false
	if c.Clock.CustomerWaitingSince.IsZero() {
		c.Clock.CustomerWaitingSince = workflow.Now(ctx)
	}
}

// timed says the workstream has timeouts: otherwise the clock is not kept (and
// the conversation's state stays as without them).
func (c *conversation) timed() bool { return c.Clock.Timeouts != (contract.ConversationTimeouts{}) }

// agentReplied ends the customer's wait: the agent's reply went out.
func (c *conversation) agentReplied(ctx workflow.Context) {
	if c.timed() {
		c.Clock.AgentRepliedAt = workflow.Now(ctx)
		c.Clock.CustomerWaitingSince = time.Time{}
	}
}

// agentAssigned starts the agent's time to answer.
func (c *conversation) agentAssigned(ctx workflow.Context) {
	if c.timed() {
		c.Clock.AgentSince = workflow.Now(ctx)
	}
}

// nextTimeout is the next timeout due, and when ("" when none: no agent has the
// conversation, or the timeouts that apply are off).
func (c *conversation) nextTimeout() (time.Time, string) {
	k := c.Clock
	if c.Status != contract.StatusAssigned || c.AgentID == "" || c.closeDue != nil {
		return time.Time{}, ""
	}
	if k.CustomerWaitingSince.IsZero() {
		if k.Timeouts.Customer > 0 && !k.AgentRepliedAt.IsZero() {
			return k.AgentRepliedAt.Add(k.Timeouts.Customer), timeoutCustomer
		}
		return time.Time{}, ""
	}
	since := c.waitingSince()
	if k.Timeouts.AgentRemind > 0 && !k.RemindedFor.Equal(since) {
		return since.Add(k.Timeouts.AgentRemind), timeoutAgentRemind
	}
	if k.Timeouts.AgentReoffer > 0 && !k.ReofferedFor.Equal(since) {
		return since.Add(k.Timeouts.AgentReoffer), timeoutAgentReoffer
	}
	return time.Time{}, ""
}

// waitingSince is when the customer started waiting for this agent: the first
// unanswered message, or the assignment when it came later.
func (c *conversation) waitingSince() time.Time {
	if c.Clock.AgentSince.After(c.Clock.CustomerWaitingSince) {
		return c.Clock.AgentSince
	}
	return c.Clock.CustomerWaitingSince
}

// onTimeout acts on the timeout that fired, unless what happened since (a
// message taken by the main loop first, a close) made it no longer due.
func (c *conversation) onTimeout(ctx workflow.Context) error {
	kind := c.timeoutDue
	c.timeoutDue = ""
	c.stampCustomerMessage(ctx)
	due, next := c.nextTimeout()
	if next != kind || due.After(workflow.Now(ctx)) {
		return nil
	}
	switch kind {
	case timeoutCustomer:
		if c.closeDue == nil {
			c.closeDue = &contract.CloseRequest{Reason: contract.CloseReasonCustomerTimeout}
		}
	case timeoutAgentRemind:
		since := c.waitingSince()
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.RemindAgent, activities.RemindAgentInput{
			ConversationID: c.ConversationID, AgentID: c.AgentID, WaitingSince: since,
		}).Get(ctx, nil); err != nil {
			return err
		}
		c.Clock.RemindedFor = since
	case timeoutAgentReoffer:
		// Back to the queue. When the workstream offers conversations (issue 13),
		// this is where the offer to the next agent goes instead.
		since := c.waitingSince()
		var res activities.ReofferUnansweredResult
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ReofferUnanswered, activities.ReofferUnansweredInput{
			ConversationID: c.ConversationID, AgentID: c.AgentID, WaitingSince: since,
		}).Get(ctx, &res); err != nil {
			return err
		}
		c.Clock.ReofferedFor = since
		if res.Requeued {
			c.Status, c.AgentID, c.QueueID = contract.StatusWaiting, "", res.QueueID
			c.upsertSearchAttributes(ctx)
		}
	}
	return nil
}
