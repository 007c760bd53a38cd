package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/calendar"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// enqueue decides, once, what happens before the conversation enters the queue
// routing chose, whose rules (operating hours, overflow before queueing) came
// back with the routing. The hours are the workflow's to judge: the calendar is
// pure and the clock is workflow.Now, so the decision replays and time-skipping
// tests can put the customer at 22:00. The queue's length is the database's to
// judge (EnqueueConversation counts under the queue's lock), and so is the
// record of the decision.
//
// Out of hours the customer hears when the team is back; then assign_anyway
// holds the conversation until the opening (watchHold), transfer queues it in
// the other queue (held too if that one is closed), end closes it.
func (c *conversation) enqueue(ctx workflow.Context, rules store.QueueingRules) error {
	now := workflow.Now(ctx)
	req := store.QueueingRequest{ConversationID: c.ConversationID, Rules: rules}
	var zone string
	if cal := calendarOf(rules.Hours); cal != nil && !cal.IsOpen(now) {
		req.OutOfHours, req.NextOpening, zone = true, cal.NextOpening(now), rules.Hours.TimeZone
		switch rules.OutOfHours.Action {
		case store.ActionAssignAnyway:
			req.HoldUntil = req.NextOpening
		case store.ActionTransfer:
			if to := calendarOf(rules.TransferHours); to != nil && !to.IsOpen(now) {
				req.HoldUntil = to.NextOpening(now)
			}
		}
	}
	var d store.QueueingDecision
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.EnqueueConversation, req).Get(ctx, &d); err != nil {
		return err
	}
	// Held, it is in no queue until the release.
	if c.HoldUntil = d.HoldUntil; c.HoldUntil.IsZero() {
		c.QueueID = d.QueueID
	}
	c.upsertSearchAttributes(ctx)
	c.watchHold(ctx)
	switch {
	case d.Reason == store.ReasonOutOfHours:
		c.notifyWith(ctx, activities.SendNoticeInput{Kind: activities.NoticeOutOfHours, NextOpening: d.NextOpening, TimeZone: zone})
	case d.Action == store.ActionEnd:
		c.notify(ctx, activities.NoticeQueueFull)
	default:
		c.notify(ctx, activities.NoticeGreeting)
	}
	if d.Action == store.ActionEnd {
		reason := contract.CloseReasonQueueFull
		if d.Reason == store.ReasonOutOfHours {
			reason = contract.CloseReasonOutOfHours
		}
		c.closeDue = &contract.CloseRequest{Reason: reason}
	}
	return nil
}

// calendarOf is a checked calendar, or nil for none. The hours were checked when
// saved; hours that no longer parse (a zone the worker's database lacks) count
// as always open, so a conversation is never stuck on them.
func calendarOf(h *calendar.Hours) *calendar.Calendar {
	if h == nil {
		return nil
	}
	cal, err := calendar.Parse(*h)
	if err != nil {
		return nil
	}
	return cal
}

// watchHold makes the release due when the conversation held out of hours may
// enter its queue: a durable timer, so the queue (which knows no calendar) never
// sees the conversation before the opening, and the wait shows as the run's
// pending timer. A continued run starts it again from HoldUntil (run).
func (c *conversation) watchHold(ctx workflow.Context) {
	if c.HoldUntil.IsZero() {
		return
	}
	until := c.HoldUntil
	workflow.Go(ctx, func(ctx workflow.Context) {
		if wait := until.Sub(workflow.Now(ctx)); wait > 0 {
			timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: "out of hours: enters its queue at the opening"})
			if err := timer.Get(ctx, nil); err != nil {
				return
			}
		}
		c.releaseDue = true
	})
}

// release puts the held conversation in its queue, whose workflow is woken.
func (c *conversation) release(ctx workflow.Context) error {
	c.releaseDue = false
	var queueID string
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ReleaseHeldConversation, c.ConversationID).Get(ctx, &queueID); err != nil {
		return err
	}
	c.HoldUntil = time.Time{}
	if queueID != "" {
		c.QueueID = queueID
		c.upsertSearchAttributes(ctx)
	}
	return nil
}
