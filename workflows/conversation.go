package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/workflow"
)

// versionSettleBeforeContinueAsNew: a run that is about to continue as new first
// handles a close or a close request that came while its handlers finished; before
// it, such a run continued as new regardless.
const versionSettleBeforeContinueAsNew = "settle-before-continue-as-new"

// maxSeenKeys bounds the in-memory de-duplication list; the database's unique
// (page_id, facebook_message_id) index is the final word.
const maxSeenKeys = 500

// ConversationWorkflow is one conversation between a customer (PSID) and a page:
// it records what the customer sends, queues the conversation, learns its agent from
// the queue workflow, sends the agent's replies through the update handler and ends
// when the conversation closes. Its workflow ID is per customer and page; each run is
// one conversation.
func ConversationWorkflow(ctx workflow.Context, in ConversationInput) error {
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

type conversation struct {
	ConversationState
	pending []InboundEvent
	closed  bool
	// expired is set when the conversation must close by itself: the HUMAN_AGENT
	// window (7 days after the customer's last message) has passed, or the
	// workstream's inactivity limit; expiryReason says which.
	expired      bool
	expiryReason string
	// resume is set when the page is active again and parked replies may go.
	resume bool
	// ready is set once the run knows its conversation: opened with its first
	// events recorded, reopened, or restored. Updates wait for it, because the
	// agent may hear of the assignment before this run has finished opening.
	ready bool
	// botTurnDue: the customer wrote while the bot has the conversation.
	botTurnDue bool
	// notices: this run sends automated notices (versionAutomatedNotices).
	notices bool
	// attachmentRefused: the customer sent files the workstream refused, and has
	// not been told yet.
	attachmentRefused bool
	// closeRequest is the service's own request to close (e.g. the channel is deleted).
	closeRequest *CloseRequest
	inbound      workflow.ReceiveChannel
	assigned     workflow.ReceiveChannel
	// closeRequested and pageActive carry the other signals; with signalsInLoop
	// (versionSignalsInLoop) the main loop drains all of them, as it does inbound.
	closeRequested workflow.ReceiveChannel
	pageActive     workflow.ReceiveChannel
	signalsInLoop  bool
	// lock keeps recording a message and closing apart, so a message is either in
	// this conversation or, if it arrived during the close, in the next one.
	lock workflow.Mutex
}

func (c *conversation) setup(ctx workflow.Context) error {
	// Inbound events stay in their channel until the main loop takes them
	// (takeInbound): a goroutine blocked in Receive would be handed a signal that
	// arrives as the run completes, and it would be lost with the run.
	c.inbound = workflow.GetSignalChannel(ctx, SignalInbound)
	c.assigned = workflow.GetSignalChannel(ctx, SignalAssigned)
	c.closeRequested = workflow.GetSignalChannel(ctx, SignalCloseRequested)
	c.pageActive = workflow.GetSignalChannel(ctx, SignalPageActive)
	// The other signals used to be read by goroutines blocked in Receive; runs
	// recorded that way keep them. Now every signal waits in its channel until the
	// main loop drains it, so none can be taken and then lost as the run ends.
	c.signalsInLoop = workflow.GetVersion(ctx, versionSignalsInLoop, workflow.DefaultVersion, 1) == 1
	if !c.signalsInLoop {
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var a Assignment
				c.assigned.Receive(ctx, &a)
				c.onAssigned(ctx, a)
			}
		})
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var req CloseRequest
				c.closeRequested.Receive(ctx, &req)
				c.closeRequest = &req
			}
		})
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				c.pageActive.Receive(ctx, nil)
				c.resume = true
			}
		})
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (ConversationState, error) {
		return c.ConversationState, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSendMessage, c.sendMessage,
		workflow.UpdateHandlerOptions{Validator: c.validateSend}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateClose, c.close,
		workflow.UpdateHandlerOptions{Validator: c.validateClose})
}

// versionAutomatedNotices: runs from this version on send the workstream's
// automated messages (greeting, agent joined, ended, inactivity, survey, attachment
// refused); runs recorded before it replay without them.
const versionAutomatedNotices = "automated-notices"

// versionParkKeepsResume: a reply queued behind parked ones leaves c.resume alone.
const versionParkKeepsResume = "park-keeps-resume"

// versionSignalsInLoop: the assigned, close-requested and page-active signals are
// drained by the main loop (takeSignals) instead of goroutines.
const versionSignalsInLoop = "signals-in-loop"

// signalsWaiting says a signal other than inbound waits in its channel.
func (c *conversation) signalsWaiting() bool {
	return c.signalsInLoop && (c.assigned.Len() > 0 || c.closeRequested.Len() > 0 || c.pageActive.Len() > 0)
}

// takeSignals applies every waiting assigned, close-requested and page-active signal.
func (c *conversation) takeSignals(ctx workflow.Context) {
	if !c.signalsInLoop {
		return
	}
	c.takeAssigned(ctx)
	for {
		var req CloseRequest
		if !c.closeRequested.ReceiveAsync(&req) {
			break
		}
		c.closeRequest = &req
	}
	for c.pageActive.ReceiveAsync(nil) {
		c.resume = true
	}
}

// takeAssigned applies every waiting assignment.
func (c *conversation) takeAssigned(ctx workflow.Context) {
	for {
		var a Assignment
		if !c.assigned.ReceiveAsync(&a) {
			return
		}
		c.onAssigned(ctx, a)
	}
}

func (c *conversation) run(ctx workflow.Context, in ConversationInput) error {
	c.notices = workflow.GetVersion(ctx, versionAutomatedNotices, workflow.DefaultVersion, 1) >= 1
	dbCtx := withDatabaseActivity(ctx)
	switch {
	case in.State != nil:
		// Restored before setup.
	case in.Reopen != nil:
		if err := workflow.ExecuteActivity(dbCtx, ActivityReopenConversation, *in.Reopen).Get(ctx, &c.ConversationState); err != nil {
			return err
		}
		if c.Status == StatusWaiting {
			// The agent was not available: the conversation waits for the next one.
			if err := c.wakeQueues(ctx, []string{c.QueueID}); err != nil {
				return err
			}
		}
	default:
		served, err := c.open(ctx)
		if err != nil || !served {
			return err
		}
	}
	c.ready = true
	c.upsertSearchAttributes(ctx)
	c.watchWindow(ctx)

	for !c.closed {
		if err := workflow.Await(ctx, func() bool {
			return len(c.pending) > 0 || c.inbound.Len() > 0 || c.closed || c.expired || c.closeRequest != nil || (c.resume && len(c.Parked) > 0) ||
				c.AnnounceAgent || c.signalsWaiting() || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}); err != nil {
			return err
		}
		c.takeSignals(ctx)
		if c.resume && len(c.Parked) > 0 && !c.closed {
			if err := c.sendParked(ctx); err != nil {
				return err
			}
			continue
		}
		c.takeInbound()
		if len(c.pending) > 0 {
			if err := c.record(ctx); err != nil {
				return err
			}
			c.tellAttachmentRefused(ctx)
			if c.Status == StatusBot && c.botTurnDue && !c.closed {
				if err := c.botTurn(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if c.AnnounceAgent && !c.closed {
			c.AnnounceAgent = false
			c.notify(ctx, NoticeAgentJoined)
			continue
		}
		if c.closeRequest != nil && !c.closed {
			if err := c.closeOnRequest(ctx, *c.closeRequest); err != nil {
				return err
			}
			continue
		}
		if c.expired && !c.closed {
			if err := c.close(ctx, CloseRequest{ConversationID: c.ConversationID, Reason: c.expiryReason}); err != nil {
				return err
			}
			continue
		}
		if !c.closed && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			// While a reply was finishing, the agent may have closed the conversation or
			// the service may have asked to close it. Neither is in ConversationState: a
			// new run would carry a closed conversation as open (and record the customer's
			// next message into it) or drop the request. The loop deals with them first.
			// Runs that went on regardless replay as they were recorded.
			if (c.closed || c.closeRequest != nil) && workflow.GetVersion(ctx, versionSettleBeforeContinueAsNew, workflow.DefaultVersion, 1) == 1 {
				continue
			}
			// Signals that came meanwhile are handled by this run, not dropped with it.
			if c.signalsWaiting() {
				continue
			}
			return c.continueAsNew(ctx, ConversationInput{PageID: c.PageID, PSID: c.PSID, State: &c.ConversationState})
		}
	}
	// A message that arrived while the conversation closed opens the next one.
	return c.continueAsNew(ctx, ConversationInput{PageID: c.PageID, PSID: c.PSID})
}

// open creates the conversation (its id is this run's id), records the events that
// started it and puts it in its queue.
func (c *conversation) open(ctx workflow.Context) (served bool, err error) {
	c.takeInbound() // the signal of the signal-with-start that began this run
	for len(c.pending) > 0 && !opensConversation(c.pending) {
		// Only echoes and receipts: the customer wrote nothing. They belong to
		// the customer's latest conversation (Facebook echoes our closing notices
		// and delivers receipts after the run that sent them has ended).
		if workflow.GetVersion(ctx, versionStrayEvents, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			break
		}
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityRecordStrayEvents, RecordStrayEventsInput{
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
	c.Status = StatusWaiting
	var res OpenConversationResult
	err = workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityOpenConversation, OpenConversationInput{
		ConversationID: c.ConversationID, PageUUID: c.PageUUID, PageID: c.PageID, PSID: c.PSID,
	}).Get(ctx, &res)
	if err != nil || !res.Served {
		return false, err
	}
	c.CustomerID, c.AutoCloseAfter = res.CustomerID, res.AutoCloseAfter
	if err := c.record(ctx); err != nil {
		return false, err
	}
	c.tellAttachmentRefused(ctx)
	// The profile is a nicety: a conversation never fails over it. It comes
	// before routing, which may look at the customer's locale.
	_ = workflow.ExecuteActivity(withProfileActivity(ctx), ActivityFetchCustomerProfile, FetchCustomerProfileInput{
		CustomerID: c.CustomerID, PageUUID: c.PageUUID,
	}).Get(ctx, nil)
	if res.HasBot {
		c.Status = StatusBot
		return true, c.botTurn(ctx)
	}
	return true, c.route(ctx)
}

// versionStrayEvents: from this version on, a run started by echoes or receipts
// alone records them in the customer's latest conversation and ends, instead of
// opening a conversation nobody wrote in; runs recorded before it replay opening one.
const versionStrayEvents = "stray-events"

// opensConversation says whether any of the events comes from the customer:
// echoes (what the page sent), deliveries and reads never open a conversation.
func opensConversation(events []InboundEvent) bool {
	for _, ev := range events {
		switch ev.Kind {
		case "echo", "delivery", "read":
		default:
			return true
		}
	}
	return false
}

// route puts the conversation in its queue (the routing rules decide which) and
// wakes that queue's workflow.
func (c *conversation) route(ctx workflow.Context) error {
	c.Status = StatusWaiting
	var routed RouteConversationResult
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityRouteConversation, RouteConversationInput{
		ConversationID: c.ConversationID,
	}).Get(ctx, &routed); err != nil {
		return err
	}
	c.QueueID = routed.QueueID
	c.upsertSearchAttributes(ctx)
	if err := c.wakeQueues(ctx, []string{c.QueueID}); err != nil {
		return err
	}
	// After the wake-up, so the greeting never delays the assignment; the
	// agent-joined notice comes from the main loop, after this returns.
	c.notify(ctx, NoticeGreeting)
	return nil
}

// notify sends an automated notice of the given kind when Messenger's standard
// window allows it (automated messages never use tags); the activity sends nothing
// when the workstream has the kind switched off. A notice that cannot be sent never
// holds the conversation up.
func (c *conversation) notify(ctx workflow.Context, kind string) {
	if !c.notices {
		return
	}
	if how, _, _ := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, false); how != "RESPONSE" {
		return
	}
	c.NoticeSeq++
	id := uuid.NewSHA1(noticeNamespace, []byte(c.ConversationID+"/"+strconv.Itoa(c.NoticeSeq))).String()
	_ = workflow.ExecuteActivity(withSendActivity(ctx), ActivitySendNotice, SendNoticeInput{
		ConversationID: c.ConversationID, MessageID: id, Kind: kind,
	}).Get(ctx, nil)
}

// noticeNamespace makes the notices' message ids (UUIDv5) distinct from other ids.
var noticeNamespace = uuid.MustParse("6f0c56d2-53a4-4c1e-9a53-3b7f8f2d0c11")

// tellAttachmentRefused answers files the workstream refused, once per batch.
func (c *conversation) tellAttachmentRefused(ctx workflow.Context) {
	if c.attachmentRefused && !c.closed {
		c.attachmentRefused = false
		c.notify(ctx, NoticeAttachmentRefused)
	}
}

// botTurn gives the latest customer message to the workstream's bot. When the bot
// hands over, fails or does not answer in time, the conversation goes to routing
// with the bot's transcript (and summary, if it gave one) for the agent.
func (c *conversation) botTurn(ctx workflow.Context) error {
	c.botTurnDue = false
	var res AskBotResult
	if err := workflow.ExecuteActivity(withBotActivity(ctx), ActivityAskBot, AskBotInput{ConversationID: c.ConversationID}).Get(ctx, &res); err != nil {
		_, message := failureOf(err)
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityHandOffFromBot, HandOffFromBotInput{
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
	for len(c.pending) > 0 && !c.closed {
		taken := 0
		var batch []InboundEvent
		for _, ev := range c.pending {
			if len(batch) == maxRecordBatch {
				break
			}
			taken++
			if !c.seen(ev.EventKey) && !containsKey(batch, ev.EventKey) {
				batch = append(batch, ev)
			}
		}
		var res RecordInboundResult
		if len(batch) > 0 {
			if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityRecordInbound, RecordInboundInput{
				ConversationID: c.ConversationID, Events: batch,
			}).Get(ctx, &res); err != nil {
				return err
			}
			if res.CustomerMessageAt.After(c.LastCustomerMessageAt) {
				c.LastCustomerMessageAt = res.CustomerMessageAt
			}
			if res.Recorded > 0 && !res.CustomerMessageAt.IsZero() {
				c.botTurnDue = true
			}
			if res.AttachmentsRefused > 0 {
				c.attachmentRefused = true
			}
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
	return nil
}

// takeInbound moves the inbound events waiting in their channel to pending.
func (c *conversation) takeInbound() {
	for {
		var ev InboundEvent
		if !c.inbound.ReceiveAsync(&ev) {
			return
		}
		c.pending = append(c.pending, ev)
	}
}

func containsKey(events []InboundEvent, key string) bool {
	for _, ev := range events {
		if ev.EventKey == key {
			return true
		}
	}
	return false
}

func (c *conversation) seen(key string) bool {
	for _, k := range c.SeenKeys {
		if k == key {
			return true
		}
	}
	return false
}

func (c *conversation) remember(key string) {
	c.SeenKeys = append(c.SeenKeys, key)
	if len(c.SeenKeys) > maxSeenKeys {
		c.SeenKeys = c.SeenKeys[len(c.SeenKeys)-maxSeenKeys:]
	}
}

func (c *conversation) onAssigned(ctx workflow.Context, a Assignment) {
	if c.closed || a.ConversationID != c.ConversationID {
		return // a decision about an earlier conversation of this customer
	}
	if a.AssignedAt.Before(c.AssignedAt) {
		return // overtaken by a later decision (e.g. a transfer) that arrived first
	}
	c.AgentID, c.QueueID, c.Status, c.AssignedAt = a.AgentID, a.QueueID, StatusAssigned, a.AssignedAt
	c.AnnounceAgent = c.notices
	c.upsertSearchAttributes(ctx)
}

// The starter checks the agent against Postgres before it asks; the workflow only
// refuses what it knows to be wrong. SendMessage re-checks ownership in the database.
func (c *conversation) validateSend(req SendMessageRequest) error {
	if req.ConversationID != c.ConversationID || c.closed {
		return fmt.Errorf("conversation %s is not open", req.ConversationID)
	}
	if req.MessageID == "" {
		return fmt.Errorf("message id is required")
	}
	return nil
}

// watchWindow sets expired once the conversation's deadline passes: the
// workstream's inactivity limit or, at the latest, the end of the HUMAN_AGENT window
// (nobody can write to the customer after it). It sleeps until the deadline known
// when it went to sleep and then looks again, so a busy conversation costs one
// timer per deadline, not one per message (the updatable-timer pattern, without
// cancelling on every message).
func (c *conversation) watchWindow(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for !c.closed {
			if c.LastCustomerMessageAt.IsZero() {
				if err := workflow.Await(ctx, func() bool { return c.closed || !c.LastCustomerMessageAt.IsZero() }); err != nil {
					return
				}
				continue
			}
			deadline, reason := c.deadline()
			remaining := deadline.Sub(workflow.Now(ctx))
			if remaining <= 0 {
				c.expired, c.expiryReason = true, reason
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
	deadline, reason := c.LastCustomerMessageAt.Add(HumanAgentWindow), CloseReasonWindowExpired
	if c.AutoCloseAfter > 0 {
		if inactive := c.LastCustomerMessageAt.Add(c.AutoCloseAfter); inactive.Before(deadline) {
			deadline, reason = inactive, CloseReasonInactive
		}
	}
	return deadline, reason
}

// messagingType decides how a human agent's reply may go out now: inside the
// 24-hour window as RESPONSE; after it, with the workstream's HUMAN_AGENT tag, as
// MESSAGE_TAG until 7 days after the customer's last message; otherwise not at all,
// with a sentence saying since when and what would allow it.
func messagingType(now, lastCustomer time.Time, humanAgentAllowed bool) (messagingType, tag, refusal string) {
	const layout = "2006-01-02 15:04 MST"
	standardEnd := lastCustomer.Add(StandardMessagingWindow)
	humanAgentEnd := lastCustomer.Add(HumanAgentWindow)
	switch {
	case !now.After(standardEnd):
		return "RESPONSE", "", ""
	case humanAgentAllowed && !now.After(humanAgentEnd):
		return "MESSAGE_TAG", "HUMAN_AGENT", ""
	case !now.After(humanAgentEnd):
		return "", "", fmt.Sprintf("Messenger's 24-hour window closed at %s. Enable the HUMAN_AGENT tag on this workstream to reply until %s, or wait for the customer to write again.",
			standardEnd.UTC().Format(layout), humanAgentEnd.UTC().Format(layout))
	default:
		return "", "", fmt.Sprintf("Messenger's window closed at %s and HUMAN_AGENT replies were possible only until %s; the customer must write again before you can reply.",
			standardEnd.UTC().Format(layout), humanAgentEnd.UTC().Format(layout))
	}
}

func (c *conversation) sendMessage(ctx workflow.Context, req SendMessageRequest) (SendOutcome, error) {
	if err := workflow.Await(ctx, func() bool { return c.ready || c.closed }); err != nil {
		return SendOutcome{}, err
	}
	if len(c.Parked) > 0 {
		// Earlier replies are waiting for the page: this one goes after them.
		return c.park(ctx, req, false)
	}
	out, parked, err := c.trySend(ctx, req)
	if err != nil || !parked {
		return out, err
	}
	return c.park(ctx, req, true)
}

// trySend sends one reply now, or reports that it must wait for the page.
func (c *conversation) trySend(ctx workflow.Context, req SendMessageRequest) (out SendOutcome, parked bool, err error) {
	kind, tag, refusal := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, req.HumanAgentAllowed)
	if refusal != "" {
		out, err = c.failSend(ctx, req.MessageID, ReasonWindowClosed, refusal)
		return out, false, err
	}
	err = workflow.ExecuteActivity(withSendActivity(ctx), ActivitySendMessage, SendMessageInput{
		MessageID: req.MessageID, MessagingType: kind, Tag: tag,
	}).Get(ctx, &out)
	if err == nil {
		return out, false, nil
	}
	reason, message := failureOf(err)
	if reason == ReasonTokenInvalid || reason == ReasonPageNeedsReauth {
		return SendOutcome{}, true, nil
	}
	out, err = c.failSend(ctx, req.MessageID, reason, message)
	return out, false, err
}

// park accepts a reply while the page needs re-authorisation: nothing is lost and
// nothing fails; it is sent, in order, once the page is active again.
// pageRefused says Facebook just refused this reply for the page's token; a reply
// that only queues behind earlier ones learns nothing about the page.
func (c *conversation) park(ctx workflow.Context, req SendMessageRequest, pageRefused bool) (SendOutcome, error) {
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityMarkMessageQueued, req.MessageID).Get(ctx, nil); err != nil {
		return SendOutcome{}, err
	}
	c.Parked = append(c.Parked, req)
	// Before versionParkKeepsResume, queueing behind others also forgot that the
	// page was active again: if the parked replies had all gone out meanwhile, this
	// one waited for a page-active signal that never came.
	if pageRefused || workflow.GetVersion(ctx, versionParkKeepsResume, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		c.resume = false
	}
	return SendOutcome{MessageID: req.MessageID, Status: "queued", Reason: ParkedReason}, nil
}

// sendParked sends the parked replies in order; if the page turns out to need
// re-authorisation again, the rest keep waiting.
func (c *conversation) sendParked(ctx workflow.Context) error {
	for len(c.Parked) > 0 {
		req := c.Parked[0]
		_, parked, err := c.trySend(ctx, req)
		if err != nil {
			return err
		}
		if parked {
			c.resume = false
			return nil
		}
		c.Parked = c.Parked[1:]
	}
	return nil
}

func (c *conversation) failSend(ctx workflow.Context, messageID, reason, message string) (SendOutcome, error) {
	err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityMarkMessageFailed, MarkMessageFailedInput{
		MessageID: messageID, Reason: reason, Error: message,
	}).Get(ctx, nil)
	if err != nil {
		return SendOutcome{}, err
	}
	return SendOutcome{MessageID: messageID, Status: "failed", Reason: reason, Error: message}, nil
}

func (c *conversation) validateClose(req CloseRequest) error {
	if req.ConversationID != c.ConversationID || c.closed {
		return fmt.Errorf("conversation %s is not open", req.ConversationID)
	}
	return nil
}

func (c *conversation) close(ctx workflow.Context, req CloseRequest) error {
	if err := workflow.Await(ctx, func() bool { return c.ready }); err != nil {
		return err
	}
	if err := c.lock.Lock(ctx); err != nil {
		return err
	}
	defer c.lock.Unlock()
	if c.closed {
		return nil
	}
	reason := req.Reason
	if reason == "" {
		reason = CloseReasonAgent
	}
	// The farewell and the survey go before the conversation closes, so the
	// transcript ends with them.
	switch reason {
	case CloseReasonAgent:
		c.notify(ctx, NoticeAgentEnded)
		c.notify(ctx, NoticeSurvey)
	case CloseReasonInactive:
		c.notify(ctx, NoticeInactiveClosed)
		c.notify(ctx, NoticeSurvey)
	}
	var res CloseConversationResult
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityCloseConversation, CloseConversationInput{
		ConversationID: c.ConversationID, Reason: reason, Disposition: req.Disposition,
	}).Get(ctx, &res); err != nil {
		return err
	}
	c.closed, c.Status = true, StatusClosed
	if res.AgentID != "" {
		// The closed run's AgentID names who had the conversation, even when the
		// close overtook the assigned signal. (Runs that closed before this field
		// existed replay with "": the commands are the same.)
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
	// The agent's capacity is free: let its queues hand it the next conversation.
	return c.wakeQueues(ctx, res.QueueIDs)
}

// closeOnRequest closes at the service's request, first telling the customer when
// the standard window allows an automated message (never with a tag).
func (c *conversation) closeOnRequest(ctx workflow.Context, req CloseRequest) error {
	req.ConversationID = c.ConversationID
	kind, _, _ := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, false)
	if req.NotifyCustomer != "" && kind == "RESPONSE" {
		var messageID string
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return uuid.NewString() }).Get(&messageID); err != nil {
			return err
		}
		// A notice that cannot be sent does not keep the conversation open.
		_ = workflow.ExecuteActivity(withSendActivity(ctx), ActivitySendAutomatedMessage, SendAutomatedMessageInput{
			ConversationID: c.ConversationID, MessageID: messageID, Text: req.NotifyCustomer,
		}).Get(ctx, nil)
	}
	return c.close(ctx, req)
}

func (c *conversation) wakeQueues(ctx workflow.Context, queueIDs []string) error {
	if len(queueIDs) == 0 {
		return nil
	}
	return workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivityWakeQueues, WakeQueuesInput{QueueIDs: queueIDs}).Get(ctx, nil)
}

func (c *conversation) upsertSearchAttributes(ctx workflow.Context) {
	// Search attributes are for operators; a failure to set them must not stop a conversation.
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		ConversationStatusKey.ValueSet(c.Status),
		FacebookPageIDKey.ValueSet(c.PageID),
		CustomerPSIDKey.ValueSet(c.PSID),
		AgentIDKey.ValueSet(c.AgentID),
	)
}

// continueAsNew waits for running handlers, drains every signal so none is lost, and
// either ends the run (closed, nothing pending) or continues: with State for a long
// conversation, or as a fresh conversation with the messages that arrived meanwhile.
func (c *conversation) continueAsNew(ctx workflow.Context, next ConversationInput) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	c.takeInbound()
	c.takeAssigned(ctx) // runs of every version drained it here
	// A run continuing an open conversation got here with no signal waiting (the
	// loop handles those first); for a closed one, a close request or the page's
	// return concerned the conversation that is over. Read, so none is "unhandled".
	c.takeSignals(ctx)
	next.Pending = c.pending
	if next.State == nil && len(next.Pending) == 0 {
		return nil
	}
	return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, next)
}
