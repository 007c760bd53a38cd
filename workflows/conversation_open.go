package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// maxRecordBatch bounds how many pending events one RecordInbound call takes: a
// burst of messages costs one activity, not one each.
const maxRecordBatch = 100

// open creates the conversation (its id is this run's id), records the events that
// started it and hands it to the bot or puts it in its queue.
func (c *conversation) open(ctx workflow.Context) (served bool, err error) {
	c.takeInbound() // the signal of the signal-with-start that began this run
	for len(c.pending) > 0 && !opensConversation(c.pending) {
		// Only echoes and receipts: the customer wrote nothing. They belong to
		// the customer's latest conversation (Facebook echoes our closing notices
		// and delivers receipts after the run that sent them has ended).
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.RecordStrayEvents, activities.RecordStrayEventsInput{
			PageID: c.PageID, PSID: c.PSID, Events: c.pending,
		}).Get(ctx, nil); err != nil {
			return false, err
		}
		c.pending = nil
		c.takeInbound() // what arrived meanwhile: a customer message opens after all
	}
	if len(c.pending) == 0 {
		// Started without an event (e.g. by hand from the UI): nothing to talk about.
		return false, nil
	}
	first := c.pending[0]
	c.ConversationID = workflow.GetInfo(ctx).WorkflowExecution.RunID
	c.PageUUID = first.PageUUID
	c.Status = contract.StatusWaiting
	// One local activity opens the conversation, records its first events, routes
	// it and gives it to an agent (or wakes its queue): the customer's first
	// message costs one workflow task before an agent has the conversation.
	batch, taken := c.nextBatch()
	var res activities.OpenConversationResult
	err = workflow.ExecuteLocalActivity(withDatabaseLocalActivity(ctx), a.OpenConversation, activities.OpenConversationInput{
		ConversationID: c.ConversationID, PageUUID: c.PageUUID, PageID: c.PageID, PSID: c.PSID, Events: batch,
	}).Get(ctx, &res)
	if err != nil || !res.Served {
		return false, err
	}
	c.CustomerID, c.AutoCloseAfter, c.Clock.Timeouts = res.CustomerID, res.AutoCloseAfter, res.Timeouts
	c.recorded(batch, taken, res.Recorded)
	if res.Routed {
		c.QueueID = res.RoutedQueueID // the search attributes follow in run
	}
	if res.Assignment != nil {
		// The opening gave it to an agent itself: no queue workflow will tell.
		c.onAssigned(ctx, *res.Assignment)
	}
	profile := c.fetchProfile(ctx)
	if err := c.record(ctx); err != nil { // what did not fit in the first batch
		return false, err
	}
	c.tellRefusedFiles(ctx)
	switch {
	case res.HasBot:
		// The bot is told the customer's name and locale.
		_ = profile.Get(ctx, nil)
		c.Status = contract.StatusBot
		return true, c.botTurn(ctx)
	case res.ProfileFirst:
		// The workstream routes by locale: the profile decides the queue.
		_ = profile.Get(ctx, nil)
		return true, c.route(ctx)
	case res.Rules != nil:
		return true, c.enqueue(ctx, *res.Rules)
	}
	// After the wake-up, so the greeting never delays the assignment; the
	// agent-joined notice comes from the main loop, after this returns.
	c.notify(ctx, activities.NoticeGreeting)
	return true, nil
}

// fetchProfile fetches the customer's name and picture beside the rest: until it
// is stored (and the agent told, customer.updated), the agent sees the stand-in
// name. The profile is a nicety: a conversation never fails over it.
func (c *conversation) fetchProfile(ctx workflow.Context) workflow.Future {
	return workflow.ExecuteLocalActivity(withProfileLocalActivity(ctx), a.FetchCustomerProfile, activities.FetchCustomerProfileInput{
		CustomerID: c.CustomerID, PageUUID: c.PageUUID,
	})
}

// opensConversation says whether any of the events comes from the customer:
// echoes (what the page sent), deliveries and reads never open a conversation.
func opensConversation(events []contract.InboundEvent) bool {
	for _, ev := range events {
		switch ev.Kind {
		case "echo", "delivery", "read":
		default:
			return true
		}
	}
	return false
}

// takeCustomerMessages records what the customer sent, answers files the
// workstream refused and, while the bot has the conversation, gives it its turn.
func (c *conversation) takeCustomerMessages(ctx workflow.Context) error {
	if err := c.record(ctx); err != nil {
		return err
	}
	c.tellRefusedFiles(ctx)
	if c.Status == contract.StatusBot && c.botTurnDue && c.phase != phaseClosed {
		return c.botTurn(ctx)
	}
	return nil
}

// route puts the conversation in its queue (the routing rules decide which) and
// wakes that queue's workflow.
func (c *conversation) route(ctx workflow.Context) error {
	c.Status = contract.StatusWaiting
	var routed activities.RouteConversationResult
	if err := workflow.ExecuteLocalActivity(withDatabaseLocalActivity(ctx), a.RouteConversation, activities.RouteConversationInput{
		ConversationID: c.ConversationID,
	}).Get(ctx, &routed); err != nil {
		return err
	}
	c.QueueID = routed.QueueID
	if routed.Rules != nil {
		return c.enqueue(ctx, *routed.Rules)
	}
	c.upsertSearchAttributes(ctx)
	if err := wakeQueues(ctx, []string{c.QueueID}); err != nil {
		return err
	}
	// After the wake-up, so the greeting never delays the assignment; the
	// agent-joined notice comes from the main loop, after this returns.
	c.notify(ctx, activities.NoticeGreeting)
	return nil
}

// botTurn gives the latest customer message to the workstream's bot. When the bot
// hands over, fails or does not answer in time, the conversation goes to routing
// with the bot's transcript (and summary, if it gave one) for the agent.
func (c *conversation) botTurn(ctx workflow.Context) error {
	c.botTurnDue = false
	var res activities.AskBotResult
	if err := workflow.ExecuteActivity(withBotActivity(ctx), a.AskBot, activities.AskBotInput{ConversationID: c.ConversationID}).Get(ctx, &res); err != nil {
		_, message := failureOf(err)
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.HandOffFromBot, activities.HandOffFromBotInput{
			ConversationID: c.ConversationID, Reason: "The bot did not answer: " + message,
		}).Get(ctx, nil); err != nil {
			return err
		}
		res.Handoff = true
	}
	if !res.Handoff {
		return nil
	}
	return c.route(ctx)
}

// record stores every pending event, oldest first, in batches.
func (c *conversation) record(ctx workflow.Context) error {
	if err := c.lock.Lock(ctx); err != nil {
		return err
	}
	defer c.lock.Unlock()
	for len(c.pending) > 0 && c.phase != phaseClosed {
		batch, taken := c.nextBatch()
		var res activities.RecordInboundResult
		if len(batch) > 0 {
			if err := workflow.ExecuteLocalActivity(withDatabaseLocalActivity(ctx), a.RecordInbound, activities.RecordInboundInput{
				ConversationID: c.ConversationID, Events: batch,
			}).Get(ctx, &res); err != nil {
				return err
			}
		}
		c.recorded(batch, taken, res)
		c.afterRecorded(ctx, res)
	}
	return nil
}

// nextBatch is the next pending events to record: at most maxRecordBatch of
// pending (taken), less those already recorded (batch).
func (c *conversation) nextBatch() (batch []contract.InboundEvent, taken int) {
	for _, ev := range c.pending {
		if len(batch) == maxRecordBatch {
			break
		}
		taken++
		if !slices.Contains(c.SeenKeys, ev.EventKey) && !containsKey(batch, ev.EventKey) {
			batch = append(batch, ev)
		}
	}
	return batch, taken
}

// recorded takes what recording a batch did: the window, the bot's turn, files
// to refuse, and the keys to remember.
func (c *conversation) recorded(batch []contract.InboundEvent, taken int, res activities.RecordInboundResult) {
	if res.CustomerMessageAt.After(c.LastCustomerMessageAt) {
		c.LastCustomerMessageAt = res.CustomerMessageAt
	}
	if res.Recorded > 0 && !res.CustomerMessageAt.IsZero() {
		c.botTurnDue = true
		c.customerMessaged = true
	}
	if res.AttachmentsRefused > 0 {
		c.refusedFiles = true
	}
	c.pending = c.pending[taken:]
	for _, ev := range batch {
		// A key that never appeared is not remembered: Facebook's redelivery
		// of it must still be recorded.
		if !slices.Contains(res.Missing, ev.EventKey) {
			c.remember(ev.EventKey)
		}
	}
}

// takeInbound moves the inbound events waiting in their channels to pending.
// The relay sends only batches, in commit order; single events come from other
// senders (tools, tests), so the order between the two channels does not matter.
func (c *conversation) takeInbound() {
	for {
		var ev contract.InboundEvent
		if !c.inbound.ReceiveAsync(&ev) {
			break
		}
		c.pending = append(c.pending, ev)
	}
	for {
		var batch []contract.InboundEvent
		if !c.inboundBatch.ReceiveAsync(&batch) {
			return
		}
		c.pending = append(c.pending, batch...)
	}
}

func containsKey(events []contract.InboundEvent, key string) bool {
	return slices.ContainsFunc(events, func(ev contract.InboundEvent) bool { return ev.EventKey == key })
}

// remember keeps an event key in the recent-keys list, so a redelivered webhook
// adds nothing even before the database is asked.
func (c *conversation) remember(key string) {
	c.SeenKeys = append(c.SeenKeys, key)
	if len(c.SeenKeys) > maxSeenKeys {
		c.SeenKeys = c.SeenKeys[len(c.SeenKeys)-maxSeenKeys:]
	}
}
