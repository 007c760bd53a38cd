package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// ConversationWorkflow is one conversation between a customer (PSID) and a page:
// it records what the customer sends, queues the conversation, learns its agent from
// the queue workflow, sends the agent's replies through the update handler and ends
// when the conversation closes. Its workflow ID is per customer and page; each run is
// one conversation.
//
// The conversation's steps live in their files: opening and recording in
// conversation_open.go, sending and parking in conversation_send.go, closing,
// reopening and expiry in conversation_close.go.
func ConversationWorkflow(ctx workflow.Context, in contract.ConversationInput) error {
	c := &conversation{pending: in.Pending}
	// Known before the handlers are registered: an update may be validated in the
	// run's very first workflow task.
	switch {
	case in.State != nil:
		c.ConversationState = *in.State
	case in.Reopen != nil:
		c.ConversationID = in.Reopen.ConversationID
	}
	c.PageID, c.PSID = in.PageID, in.PSID
	c.lock = workflow.NewMutex(ctx)
	if err := c.setup(ctx); err != nil {
		return err
	}
	return c.run(ctx, in)
}

// phase is where a run is in its conversation's life.
type phase int

const (
	// phaseOpening: the run does not know its conversation yet (it is opening it with
	// its first events, or reopening it). Updates wait: the agent may hear of the
	// assignment before this run has finished opening.
	phaseOpening phase = iota
	// phaseOpen: the conversation takes messages and replies.
	phaseOpen
	// phaseClosed: the conversation is over; the run ends (or continues as the next
	// conversation, with messages that arrived during the close).
	phaseClosed
)

// maxSeenKeys bounds the in-memory de-duplication list; the database's unique
// (page_id, facebook_message_id) index is the final word.
const maxSeenKeys = 500

type conversation struct {
	// ConversationState is what a continued run carries over.
	contract.ConversationState
	phase phase

	// What the main loop has to do next, set by signals, handlers and timers.
	//
	// pending: customer events to record, oldest first.
	pending []contract.InboundEvent
	// botTurnDue: the customer wrote while the bot has the conversation.
	botTurnDue bool
	// refusedFiles: the customer sent files the workstream refused, and has not
	// been told yet.
	refusedFiles bool
	// pageActive: the page is active again, so parked replies may go.
	pageActive bool
	// releaseDue: the conversation held out of hours may enter its queue now.
	releaseDue bool
	// closeDue: the conversation must close — the service asked (e.g. the channel
	// is deleted), or its deadline passed (inactivity, the HUMAN_AGENT window).
	closeDue *contract.CloseRequest
	// timeoutDue: a timeout's timer fired (conversation_timeouts.go);
	// customerMessaged: a customer message was recorded, for the timeouts' clock.
	timeoutDue       string
	customerMessaged bool

	// Every signal waits in its channel until the main loop takes it (takeSignals):
	// a goroutine blocked in Receive would be handed a signal that arrives as the
	// run completes, and it would be lost with the run.
	inbound, inboundBatch, assigned, closeRequested, pageActiveSignal, stateChanged workflow.ReceiveChannel
	// lock keeps recording a message and closing apart, so a message is either in
	// this conversation or, if it arrived during the close, in the next one.
	lock workflow.Mutex
}

func (c *conversation) setup(ctx workflow.Context) error {
	c.inbound = workflow.GetSignalChannel(ctx, contract.SignalInbound)
	c.inboundBatch = workflow.GetSignalChannel(ctx, contract.SignalInboundBatch)
	c.assigned = workflow.GetSignalChannel(ctx, contract.SignalAssigned)
	c.closeRequested = workflow.GetSignalChannel(ctx, contract.SignalCloseRequested)
	c.pageActiveSignal = workflow.GetSignalChannel(ctx, contract.SignalPageActive)
	c.stateChanged = workflow.GetSignalChannel(ctx, contract.SignalStateChanged)
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.ConversationState, error) {
		return c.ConversationState, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSendMessage, c.sendMessage,
		workflow.UpdateHandlerOptions{Validator: c.validateSend}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateClose, c.close,
		workflow.UpdateHandlerOptions{Validator: c.validateClose})
}

// run knows its conversation (opens, reopens or continues it), then does what the
// conversation needs next until it closes.
func (c *conversation) run(ctx workflow.Context, in contract.ConversationInput) error {
	switch {
	case in.State != nil:
		// Restored before setup; a hold goes on where the last run left it.
		c.watchHold(ctx)
	case in.Reopen != nil:
		if err := c.reopen(ctx, *in.Reopen); err != nil {
			return err
		}
	default:
		served, err := c.open(ctx)
		if err != nil || !served {
			return err
		}
	}
	c.phase = phaseOpen
	c.upsertSearchAttributes(ctx)
	c.watchDeadline(ctx)
	c.watchTimeouts(ctx)
	c.watchHoldReturn(ctx)
	c.watchOffer(ctx)

	for c.phase != phaseClosed {
		if err := workflow.Await(ctx, func() bool { return c.hasWork(ctx) }); err != nil {
			return err
		}
		c.takeSignals(ctx)
		if c.phase == phaseClosed {
			break // closed by the agent meanwhile (the close update)
		}
		var err error
		switch {
		case c.pageActive && len(c.Parked) > 0:
			err = c.sendParked(ctx)
		case len(c.pending) > 0:
			err = c.takeCustomerMessages(ctx)
		case c.AnnounceAgent:
			c.AnnounceAgent = false
			c.notify(ctx, activities.NoticeAgentJoined)
		case c.closeDue != nil:
			err = c.closeOnRequest(ctx, *c.closeDue)
		case c.timeoutDue != "":
			err = c.onTimeout(ctx)
		case c.releaseDue:
			err = c.release(ctx)
		case workflow.GetInfo(ctx).GetContinueAsNewSuggested():
			settled, err := c.settleBeforeContinuing(ctx)
			if err != nil {
				return err
			}
			if settled {
				return c.continueAsNew(ctx, contract.ConversationInput{PageID: c.PageID, PSID: c.PSID, State: &c.ConversationState})
			}
		}
		if err != nil {
			return err
		}
	}
	// A message that arrived while the conversation closed opens the next one.
	return c.continueAsNew(ctx, contract.ConversationInput{PageID: c.PageID, PSID: c.PSID})
}

// hasWork says the main loop has something to do.
func (c *conversation) hasWork(ctx workflow.Context) bool {
	return c.phase == phaseClosed || len(c.pending) > 0 || c.closeDue != nil || c.timeoutDue != "" || (c.pageActive && len(c.Parked) > 0) ||
		c.AnnounceAgent || c.releaseDue || c.signalsWaiting() || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// signalsWaiting says a signal waits in its channel.
func (c *conversation) signalsWaiting() bool {
	return c.inbound.Len() > 0 || c.inboundBatch.Len() > 0 || c.assigned.Len() > 0 || c.closeRequested.Len() > 0 ||
		c.pageActiveSignal.Len() > 0 || c.stateChanged.Len() > 0
}

// takeSignals applies every waiting signal: inbound events join pending, an
// assignment sets the agent, a close request makes the close due, the page's
// return lets parked replies go.
func (c *conversation) takeSignals(ctx workflow.Context) {
	c.takeInbound()
	for {
		var a contract.Assignment
		if !c.assigned.ReceiveAsync(&a) {
			break
		}
		c.onAssigned(ctx, a)
	}
	for {
		var req contract.CloseRequest
		if !c.closeRequested.ReceiveAsync(&req) {
			break
		}
		c.closeDue = &req
	}
	for c.pageActiveSignal.ReceiveAsync(nil) {
		c.pageActive = true
	}
	for {
		var change contract.StateChange
		if !c.stateChanged.ReceiveAsync(&change) {
			break
		}
		c.onStateChanged(ctx, change)
	}
}

// onAssigned takes the queue's (or a pick's, or a transfer's) decision.
func (c *conversation) onAssigned(ctx workflow.Context, as contract.Assignment) {
	if c.phase == phaseClosed || as.ConversationID != c.ConversationID {
		return // a decision about an earlier conversation of this customer
	}
	if c.stale(ctx, contract.SignalAssigned, as.Seq) || as.AssignedAt.Before(c.AssignedAt) {
		return // overtaken by a later decision (e.g. a transfer) that arrived first
	}
	c.AgentID, c.QueueID, c.Status, c.AssignedAt = as.AgentID, as.QueueID, contract.StatusAssigned, as.AssignedAt
	c.Offer = nil
	if as.Offered {
		// The agent has not taken it yet: the customer hears of the agent on accept.
		c.Status = contract.StatusOffered
		c.Offer = &contract.Offer{AgentID: as.AgentID, OfferedAt: as.AssignedAt, ExpiresAt: as.OfferExpiresAt}
	} else {
		c.agentAssigned(ctx)
		c.AnnounceAgent = true
	}
	c.upsertSearchAttributes(ctx)
}

// stale tells whether news of the conversation's assignment or state (a signal or
// an activity's result, numbered seq by Postgres: state_seq) is older than news
// already applied: a retried "assigned" delivered after a hold's "state-changed"
// must not make the run believe the conversation is active. Otherwise seq becomes
// the last applied one. Seq 0 (a sender that gives none) is applied as it comes.
func (c *conversation) stale(ctx workflow.Context, from string, seq int64) bool {
	if seq == 0 {
		return false
	}
	if seq <= c.StateSeq {
		workflow.GetLogger(ctx).Info("late state change ignored", "from", from, "conversation_id", c.ConversationID,
			"seq", seq, "applied_seq", c.StateSeq)
		return true
	}
	c.StateSeq = seq
	return false
}

// settleBeforeContinuing lets running handlers (a reply being sent) finish before
// the run continues as new. While they finished, the agent may have closed the
// conversation, the service may have asked to close it, or signals may have come:
// none of that is in ConversationState, so the loop deals with them first (settled
// is false).
func (c *conversation) settleBeforeContinuing(ctx workflow.Context) (settled bool, err error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return false, err
	}
	if c.phase == phaseClosed || c.closeDue != nil || c.assigned.Len() > 0 || c.closeRequested.Len() > 0 || c.pageActiveSignal.Len() > 0 ||
		c.stateChanged.Len() > 0 {
		return false, nil
	}
	return true, nil
}

// continueAsNew waits for running handlers, drains every signal so none is lost, and
// either ends the run (closed, nothing pending) or continues: with State for a long
// conversation, or as a fresh conversation with the messages that arrived meanwhile.
func (c *conversation) continueAsNew(ctx workflow.Context, next contract.ConversationInput) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	// A run continuing an open conversation got here with no signal but inbound
	// waiting (the loop handles those first); for a closed one, a close request or
	// the page's return concerned the conversation that is over. Read, so none is
	// "unhandled".
	c.takeSignals(ctx)
	next.Pending = c.pending
	if next.State == nil && len(next.Pending) == 0 {
		return nil
	}
	return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, next)
}

func (c *conversation) upsertSearchAttributes(ctx workflow.Context) {
	// Each upsert is a history event: none when nothing changed (a new
	// conversation's run starts with them set by the relay's SignalWithStart).
	current := workflow.GetTypedSearchAttributes(ctx)
	unchanged := func(key temporal.SearchAttributeKeyKeyword, v string) bool {
		got, _ := current.GetKeyword(key)
		return got == v
	}
	if unchanged(contract.ConversationStatusKey, c.Status) && unchanged(contract.FacebookPageIDKey, c.PageID) &&
		unchanged(contract.CustomerPSIDKey, c.PSID) && unchanged(contract.AgentIDKey, c.AgentID) {
		return
	}
	// Search attributes are for operators; a failure to set them must not stop a conversation.
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		contract.ConversationStatusKey.ValueSet(c.Status),
		contract.FacebookPageIDKey.ValueSet(c.PageID),
		contract.CustomerPSIDKey.ValueSet(c.PSID),
		contract.AgentIDKey.ValueSet(c.AgentID),
	)
}
