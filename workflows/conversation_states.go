package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// Conversation states (issue 13): hold is decided by the API in Postgres, which
// tells the run (SignalStateChanged) so the Temporal UI shows it; a customer
// message to a held conversation brings it back to its agent while it is recorded
// (store.RecordInbound), or — when the agent has no room — starts the hold-return
// timeout, watched here.

// onStateChanged takes a state the service committed for this conversation.
func (c *conversation) onStateChanged(ctx workflow.Context, change contract.StateChange) {
	if c.phase == phaseClosed || change.ConversationID != c.ConversationID || c.stale(ctx, contract.SignalStateChanged, change.Seq) {
		return
	}
	c.Status = change.Status
	if change.Status == contract.StatusWaiting {
		// Declined: back in its queue, whose next decision comes as an assignment.
		c.Offer, c.AgentID = nil, ""
	}
	c.upsertSearchAttributes(ctx)
}

// watchOffer runs each offer's countdown as a durable timer. An offer accepted,
// declined or replaced in time cancels it; one that runs out is ended in the
// database (ExpireOffer: back in the queue, which is woken to offer it to the
// next agent, and the agent's missed offers counted).
func (c *conversation) watchOffer(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for c.phase != phaseClosed {
			if err := workflow.Await(ctx, func() bool { return c.phase == phaseClosed || c.Offer != nil }); err != nil || c.phase == phaseClosed {
				return
			}
			offer := c.Offer
			changed, err := workflow.AwaitWithTimeout(ctx, max(offer.ExpiresAt.Sub(workflow.Now(ctx)), time.Millisecond), func() bool {
				return c.phase == phaseClosed || c.Offer != offer
			})
			if err != nil {
				return
			}
			if changed {
				continue
			}
			var res activities.ExpireOfferResult
			if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ExpireOffer, activities.ExpireOfferInput{
				ConversationID: c.ConversationID, AgentID: offer.AgentID, OfferedAt: offer.OfferedAt,
			}).Get(ctx, &res); err != nil {
				return
			}
			if c.Offer == offer {
				c.Offer = nil
				if res.Expired {
					c.Status, c.AgentID = contract.StatusWaiting, ""
					c.upsertSearchAttributes(ctx)
				}
			}
		}
	})
}

// afterRecorded follows what recording customer messages did to a held
// conversation: back with its agent, or waiting for the hold-return timeout.
func (c *conversation) afterRecorded(ctx workflow.Context, res activities.RecordInboundResult) {
	if res.BackFromHold && !c.stale(ctx, "record-inbound", res.Seq) {
		c.Status, c.HoldReturnAt = contract.StatusAssigned, time.Time{}
		c.upsertSearchAttributes(ctx)
	}
	if res.HoldReturnAfter > 0 && c.HoldReturnAt.IsZero() {
		c.HoldReturnAt = workflow.Now(ctx).Add(res.HoldReturnAfter)
	}
}

// watchHoldReturn waits for the hold-return timeout (a durable timer) and then
// lets the database decide: back to the agent if it has room now, otherwise
// routed again (ReturnHeld wakes its queue).
func (c *conversation) watchHoldReturn(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for c.phase != phaseClosed {
			if err := workflow.Await(ctx, func() bool { return c.phase == phaseClosed || !c.HoldReturnAt.IsZero() }); err != nil {
				return
			}
			if c.phase == phaseClosed {
				return
			}
			if wait := c.HoldReturnAt.Sub(workflow.Now(ctx)); wait > 0 {
				if err := workflow.Sleep(ctx, wait); err != nil {
					return
				}
			}
			var res activities.ReturnHeldResult
			if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ReturnHeld, activities.ReturnHeldInput{
				ConversationID: c.ConversationID,
			}).Get(ctx, &res); err != nil {
				return
			}
			c.HoldReturnAt = time.Time{}
			// Its queue is woken before the result is in: the next assignment's
			// signal may come first (a higher Seq), and stays.
			if c.phase != phaseClosed && (res.Status == contract.StatusAssigned || res.Status == contract.StatusWaiting) &&
				!c.stale(ctx, "return-held", res.Seq) {
				c.Status = res.Status
				if res.Status == contract.StatusWaiting {
					c.AgentID = ""
				}
				c.upsertSearchAttributes(ctx)
			}
		}
	})
}
