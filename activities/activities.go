// Package activities does every Postgres and Graph API call the workflows need.
// Each activity is safe to retry: writes are keyed on ids the workflow supplies,
// and a send checks whether it already happened before calling Facebook.
//
// Permanent failures are non-retryable application errors whose type is a stable
// reason (window_closed, user_unavailable, token_invalid, ...) and whose message is
// a sentence the agent can read.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Activities holds the clients the activities use; the worker registers one value.
type Activities struct {
	Metrics   *ops.Metrics // nil-safe
	Store     *store.Store
	Graph     *graph.Client
	Temporal  client.Client
	TaskQueue string
	// EchoWait bounds how long a send whose outcome is unknown waits for
	// Facebook's echo, counted from the attempt (0: DefaultEchoWait).
	EchoWait time.Duration
	// AfterSendHook, for tests only, runs after the Send API accepted a message and
	// before MarkSent: an error from it plays a worker that died in between.
	AfterSendHook func(ctx context.Context, messageID, facebookMessageID string) error
}

// inboundMissingAttempts is about ten minutes of retries at the database policy's pace.
const inboundMissingAttempts = 25

// profileFreshFor is how long a fetched profile is trusted; profile_pic URLs expire.
const profileFreshFor = 24 * time.Hour

// Reasons for permanent failures that are not Facebook's.
const (
	ReasonNotFound    = "not_found"
	ReasonNotAssigned = "not_assigned"
)

// ReasonPageNeedsReauth and ReasonTokenInvalid make a send wait (parked) until
// the page is re-authorised, instead of failing.
const (
	ReasonPageNeedsReauth = "page_needs_reauth"
	ReasonTokenInvalid    = string(graph.ReasonTokenInvalid)
)

func permanent(reason, message string) error {
	return temporal.NewNonRetryableApplicationError(message, reason, nil)
}

// fromStore makes a missing row permanent: retrying will not create it.
func fromStore(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return permanent(ReasonNotFound, err.Error())
	}
	if errors.Is(err, store.ErrNotAssigned) {
		return permanent(ReasonNotAssigned, store.ErrNotAssigned.Message)
	}
	return err
}

// fromGraph classifies a Graph API failure: permanent reasons stop the retries and
// carry a readable sentence; transient ones keep their reason for the final report.
func fromGraph(err error) error {
	gerr, ok := graph.AsError(err)
	if !ok {
		return temporal.NewApplicationError("Facebook could not be reached; please try again.", string(graph.ReasonTransient), err)
	}
	if gerr.Temporary() {
		return temporal.NewApplicationError(gerr.Readable(), string(gerr.Reason()), nil)
	}
	return permanent(string(gerr.Reason()), gerr.Readable())
}

// OpenConversation is a customer's first message in one activity and one
// Postgres transaction (store.OpenWithFirstEvents): it opens the conversation
// (customer and conversation rows), records its first events, and — unless a bot
// takes it or routing needs the profile — routes it and either gives it to an
// agent at once or wakes its queue. Every step is idempotent, so a retry redoes
// nothing twice; the profile is fetched beside it (FetchCustomerProfile), off the
// path to an agent.
func (a *Activities) OpenConversation(ctx context.Context, in OpenConversationInput) (OpenConversationResult, error) {
	waitForMissing := activity.GetInfo(ctx).Attempt < inboundMissingAttempts
	o, err := a.Store.OpenWithFirstEvents(ctx, in.ConversationID, in.PageUUID, in.PageID, in.PSID, inboundKeys(in.Events), waitForMissing)
	if err != nil || !o.Served {
		return OpenConversationResult{}, fromStore(err)
	}
	res := OpenConversationResult{
		Served: true, CustomerID: o.CustomerID, QueueID: o.QueueID, HasBot: o.Bot, ProfileFirst: o.RoutesByLocale,
		AutoCloseAfter: time.Duration(o.AutoCloseHours) * time.Hour, Timeouts: conversationTimeouts(o.Timeouts),
		Recorded: recordedResult(in.Events, o.Records), RoutedQueueID: o.RoutedQueueID, Rules: o.Held, Assignment: o.Assigned,
	}
	if err := a.awaitMissing(ctx, in.ConversationID, res.Recorded); err != nil {
		return res, err
	}
	if !o.Routed {
		// The bot has it first, routing waits for the profile (the workflow
		// routes), or the queue's hours decide (the workflow enqueues).
		return res, nil
	}
	wake := o.DeferredTo
	if o.Assigned == nil {
		wake = append(wake, o.RoutedQueueID)
	}
	if err := contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, wake); err != nil {
		return res, err
	}
	res.Routed = true
	return res, nil
}

// RecordInbound records a batch of one conversation's webhook events, in order,
// in one idempotent transaction, so a retry redoes nothing twice.
func (a *Activities) RecordInbound(ctx context.Context, in RecordInboundInput) (RecordInboundResult, error) {
	recs, err := a.Store.RecordInbound(ctx, in.ConversationID, inboundKeys(in.Events))
	if err != nil {
		return RecordInboundResult{}, err
	}
	res := recordedResult(in.Events, recs)
	return res, a.awaitMissing(ctx, in.ConversationID, res)
}

// recordedResult sums up the records of events, in their order.
func recordedResult(events []contract.InboundEvent, recs []store.InboundRecord) RecordInboundResult {
	var res RecordInboundResult
	for i, rec := range recs {
		if rec.Missing {
			res.Missing = append(res.Missing, events[i].EventKey)
			continue
		}
		if rec.Recorded {
			res.Recorded++
		}
		if rec.AttachmentRefused {
			res.AttachmentsRefused++
		}
		if rec.CustomerAt.After(res.CustomerMessageAt) {
			res.CustomerMessageAt = rec.CustomerAt
		}
		res.BackFromHold = res.BackFromHold || rec.BackFromHold
		res.Seq = max(res.Seq, rec.Seq)
		if rec.HoldReturnAfter > 0 {
			res.HoldReturnAfter = rec.HoldReturnAfter
		}
	}
	return res
}

// awaitMissing fails the attempt while events are missing. An event missing now
// is one whose delivery failed after it was signalled (the webhook removes it and
// answers 503): Facebook redelivers it, so wait a while for it, then give up on
// this copy.
func (a *Activities) awaitMissing(ctx context.Context, conversationID string, res RecordInboundResult) error {
	if len(res.Missing) == 0 || activity.GetInfo(ctx).Attempt >= inboundMissingAttempts {
		return nil
	}
	// Unless the customer's data was erased meanwhile, which deletes their
	// stored events for good: e.g. the echo of a reply sent just before.
	if erased, err := a.Store.ConversationCustomerErased(ctx, conversationID); err != nil || !erased {
		return fmt.Errorf("%d inbound events not stored yet", len(res.Missing))
	}
	return nil
}

// WakeQueues wakes each queue's workflow (contract.WakeQueues).
func (a *Activities) WakeQueues(ctx context.Context, in WakeQueuesInput) error {
	return contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, in.QueueIDs)
}

// SendMessage sends an agent's reply, at most once. The message id goes to
// Facebook as metadata (it comes back on the echo). A reply already sent is not
// sent again, and neither is one whose earlier attempt may have reached Facebook:
// that one waits for its echo (see sendOnce and awaitEcho).
func (a *Activities) SendMessage(ctx context.Context, in SendMessageInput) (out contract.SendOutcome, err error) {
	defer func() { a.Metrics.ObserveSend(err) }()
	o, err := a.Store.OutboundToSend(ctx, in.MessageID)
	if err != nil {
		return contract.SendOutcome{}, fromStore(err)
	}
	if o.AlreadySentMID != "" {
		return contract.SendOutcome{MessageID: in.MessageID, Status: "sent", FacebookMessageID: o.AlreadySentMID}, nil
	}
	if o.Attempted {
		// Checked before the assignment: a reply that may have reached the
		// customer is settled even if the conversation closed meanwhile.
		mid, err := a.awaitEcho(ctx, in.MessageID)
		if err != nil {
			return contract.SendOutcome{}, err
		}
		return a.markSent(ctx, in.MessageID, mid)
	}
	if o.Message.Status == "failed" {
		// The sweeper failed it (never handed over): the agent was told so and
		// may have sent it again, so it must not go now.
		reason := o.Message.Reason
		if reason == "" {
			reason = store.ReasonNotSent
		}
		return contract.SendOutcome{}, permanent(reason, o.Message.Error)
	}
	if !o.StillAssigned {
		return contract.SendOutcome{}, permanent(ReasonNotAssigned, "This conversation is no longer assigned to you.")
	}
	status, err := a.Store.PageStatus(ctx, o.PageUUID)
	if err != nil {
		return contract.SendOutcome{}, fromStore(err)
	}
	if status == "needs_reauth" {
		// Known bad token: do not call Facebook, let the workflow park the reply.
		return contract.SendOutcome{}, permanent(ReasonPageNeedsReauth, "The page needs re-authorisation.")
	}
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, o.PageUUID)
	if err != nil {
		return contract.SendOutcome{}, fromStore(err)
	}
	req := graph.SendRequest{PSID: o.PSID, MessagingType: in.MessagingType, Tag: in.Tag, Text: o.Message.Text, Metadata: in.MessageID}
	if len(o.Message.Attachments) > 0 {
		// Facebook fetches the file from its URL; one attachment per message.
		req.Attachment = &graph.OutboundAttachment{Type: o.Message.Attachments[0].Type, URL: o.Message.Attachments[0].URL}
	}
	mid, refused, err := a.sendOnce(ctx, in.MessageID, o.PageUUID, cred, req)
	if refused != nil {
		return contract.SendOutcome{}, fromGraph(refused)
	}
	if err != nil {
		return contract.SendOutcome{}, err
	}
	return a.markSent(ctx, in.MessageID, mid)
}

func (a *Activities) markSent(ctx context.Context, messageID, mid string) (contract.SendOutcome, error) {
	if err := a.Store.MarkSent(ctx, messageID, mid); err != nil {
		// Facebook has the message; the retry finds the attempt and settles it
		// from the echo. Should the retries run out, the agent hears "unknown".
		return contract.SendOutcome{}, outcomeUnknown(err)
	}
	return contract.SendOutcome{MessageID: messageID, Status: "sent", FacebookMessageID: mid}, nil
}

// reportTokenInvalid moves the page to needs_reauth the moment any Graph call
// answers 190, and tells its workflow, so admins see it before customers notice.
func (a *Activities) reportTokenInvalid(ctx context.Context, pageUUID string, err error) {
	gerr, ok := graph.AsError(err)
	if !ok || gerr.Reason() != graph.ReasonTokenInvalid {
		return
	}
	lastError := gerr.Readable()
	if serr := a.Store.SetPageStatus(ctx, pageUUID, "needs_reauth", lastError, "", nil); serr != nil {
		activity.GetLogger(ctx).Warn("could not record needs_reauth", "page_uuid", pageUUID, "err", serr)
	}
	// The page workflow may not run (e.g. during a deploy); Postgres already says it.
	_ = a.Temporal.SignalWorkflow(ctx, contract.PageWorkflowID(pageUUID), "", contract.SignalTokenInvalid,
		contract.TokenInvalid{LastError: lastError})
}

func (a *Activities) MarkMessageQueued(ctx context.Context, messageID string) error {
	return a.Store.MarkQueued(ctx, messageID)
}

// ResumeParkedSends tells every conversation of the page holding parked replies
// that the page is active again.
func (a *Activities) ResumeParkedSends(ctx context.Context, in contract.PageInput) error {
	convs, err := a.Store.ConversationsWithParkedReplies(ctx, in.PageUUID)
	if err != nil {
		return err
	}
	for _, c := range convs {
		err := a.Temporal.SignalWorkflow(ctx, contract.ConversationWorkflowID(c[0], c[1]), "", contract.SignalPageActive, struct{}{})
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return err
		}
	}
	return nil
}

func (a *Activities) MarkMessageFailed(ctx context.Context, in MarkMessageFailedInput) error {
	return a.Store.MarkFailed(ctx, in.MessageID, in.Reason, in.Error)
}

// closeNoticeAttempts bounds the attempts of CloseConversation that wait for a
// notice Facebook refuses for the moment; after them the conversation closes
// without it.
const closeNoticeAttempts = 3

// CloseConversation is a conversation's whole close in one activity (so in one
// workflow task of the close): its notices, the close and its agent event in
// one transaction, and the wake-up of the freed agent's queues. Every step is
// idempotent, so a retry repeats none: a notice is keyed on its message id, a
// closed conversation stays closed, and a queue woken twice passes once more.
func (a *Activities) CloseConversation(ctx context.Context, in CloseConversationInput) (CloseConversationResult, error) {
	// Before the farewell: a close that will be refused (the conversation is
	// no longer this agent's) says goodbye to nobody.
	if err := fromStore(a.Store.StillAssignedTo(ctx, in.ConversationID, in.AgentID)); err != nil {
		return CloseConversationResult{}, err
	}
	if err := a.sendClosingNotices(ctx, in.Notices); err != nil {
		return CloseConversationResult{}, err
	}
	queues, agentID, err := a.Store.CloseConversation(ctx, in.ConversationID, in.AgentID, in.Reason, in.Disposition)
	if err != nil {
		return CloseConversationResult{}, fromStore(err)
	}
	// The agent's capacity is free: its queues hand it the next conversation.
	if err := contract.WakeQueues(ctx, a.Temporal, a.TaskQueue, queues); err != nil {
		return CloseConversationResult{}, err
	}
	return CloseConversationResult{QueueIDs: queues, AgentID: agentID}, nil
}

// sendClosingNotices sends the farewell and the survey before a close or an end;
// one that still cannot be sent after a few attempts does not keep the
// conversation open.
func (a *Activities) sendClosingNotices(ctx context.Context, notices []SendNoticeInput) error {
	for _, n := range notices {
		if err := a.SendNotice(ctx, n); err != nil {
			var appErr *temporal.ApplicationError
			if !(errors.As(err, &appErr) && appErr.NonRetryable()) && activity.GetInfo(ctx).Attempt < closeNoticeAttempts {
				return err
			}
			activity.GetLogger(ctx).Warn("closing without a notice that could not be sent", "kind", n.Kind, "err", err)
		}
	}
	return nil
}

func (a *Activities) ReopenConversation(ctx context.Context, in contract.ReopenRequest) (contract.ConversationState, error) {
	conv, lastCustomer, err := a.Store.ReopenConversation(ctx, in.ConversationID, in.AgentID)
	if err != nil {
		return contract.ConversationState{}, fromStore(err)
	}
	st := contract.ConversationState{
		ConversationID: conv.ID, CustomerID: conv.Customer.ID, PageUUID: conv.PageUUID, PageID: conv.PageID,
		PSID: conv.Customer.PSID, Status: conv.Status, LastCustomerMessageAt: lastCustomer,
	}
	if conv.AgentID != nil {
		st.AgentID = *conv.AgentID
	}
	hours, err := a.Store.ConversationAutoClose(ctx, conv.ID)
	if err != nil {
		return st, err
	}
	st.AutoCloseAfter = time.Duration(hours) * time.Hour
	if conv.QueueID != nil {
		st.QueueID = *conv.QueueID
	}
	return st, nil
}

// FetchCustomerProfile stores the customer's name and picture. When Facebook will
// not give a profile the customer gets a readable stand-in, never a made-up person.
func (a *Activities) FetchCustomerProfile(ctx context.Context, in FetchCustomerProfileInput) error {
	psid, fresh, err := a.Store.CustomerForProfile(ctx, in.CustomerID, profileFreshFor)
	if err != nil || fresh {
		return fromStore(err)
	}
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return fromStore(err)
	}
	p, err := a.Graph.UserProfile(ctx, psid, graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		a.reportTokenInvalid(ctx, in.PageUUID, err)
		if gerr, ok := graph.AsError(err); ok && !gerr.Temporary() {
			return a.Store.SaveProfile(ctx, in.CustomerID, FallbackName(psid), "", "")
		}
		return fromGraph(err)
	}
	name := p.Name
	if name == "" {
		name = joinName(p.FirstName, p.LastName)
	}
	if name == "" {
		name = FallbackName(psid)
	}
	return a.Store.SaveProfile(ctx, in.CustomerID, name, p.ProfilePic, p.Locale)
}

// FallbackName is how a customer without a profile is shown (store.FallbackName).
func FallbackName(psid string) string { return store.FallbackName(psid) }

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

// inboundKeys names the events in inbound_events.
func inboundKeys(events []contract.InboundEvent) []store.InboundKey {
	keys := make([]store.InboundKey, len(events))
	for i, ev := range events {
		keys[i] = store.InboundKey{PageID: ev.PageID, EventKey: ev.EventKey}
	}
	return keys
}
