package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"fbchannel/graph"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// DefaultEchoWait is how long, from the attempt, a send whose outcome is unknown
// waits for Facebook's echo before the reply is reported "outcome unknown". Echoes
// normally follow a send within seconds; the bound also covers a Postgres or
// starter restart delaying the echo's delivery (Facebook retries it), and fits in
// the send activity's retries (4 attempts of 30 s).
const DefaultEchoWait = 75 * time.Second

// Agent-readable sentences of the send outcomes the desk cannot learn from Facebook.
const (
	OutcomeUnknownMessage = "The desk lost track of this reply while handing it to Facebook, so it may or may not have reached the customer. Check the conversation in Messenger before sending it again."
	NotSentMessage        = "The desk lost contact before this reply was handed over; it was not sent. Send it again."
)

// echoPoll is how often a send waiting for its echo looks again.
const echoPoll = 500 * time.Millisecond

// outcomeUnknown is the retryable failure of a send that may have reached
// Facebook: the retry waits for the echo instead of sending again. Should the
// retries run out first, the workflow reports this reason and sentence.
func outcomeUnknown(cause error) error {
	return temporal.NewApplicationErrorWithOptions(OutcomeUnknownMessage, store.ReasonOutcomeUnknown,
		temporal.ApplicationErrorOptions{Cause: cause})
}

// refusedByFacebook says Facebook answered the send with an error of its own that
// means it did not take the message: a refusal (window closed, bad token, invalid
// request, ...) or a rate limit. Anything else — no answer, a timeout, a 5xx without
// a Graph error, Facebook's "unknown error" codes — may hide an accepted message.
func refusedByFacebook(err error) bool {
	gerr, ok := graph.AsError(err)
	if !ok || gerr.Code == 0 {
		return false
	}
	return !gerr.Temporary() || gerr.Reason() == graph.ReasonRateLimited
}

// sendOnce calls the Send API for a message at most once: the attempt is
// committed first (store.BeginSendAttempt), so a retry after a crash, a lost
// answer or a failed MarkSent finds it and waits for the echo (awaitEcho) rather
// than sending again. A send Facebook refused takes its attempt back and returns
// the Graph error as refused; the others (unknown outcome) are retryable errors.
func (a *Activities) sendOnce(ctx context.Context, messageID, pageUUID string, cred store.PageCredentials, req graph.SendRequest) (mid string, refused error, err error) {
	begun, err := a.Store.BeginSendAttempt(ctx, messageID)
	if err != nil {
		return "", nil, err
	}
	if !begun {
		// Another attempt was recorded, or the sweeper failed the reply, since
		// the caller looked: the retry looks again and takes the right branch.
		return "", nil, temporal.NewApplicationError("The reply changed state while being sent; looking again.", string(graph.ReasonTransient))
	}
	res, err := a.Graph.SendMessage(ctx, cred.PageID, req, graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		a.reportTokenInvalid(ctx, pageUUID, err)
		if refusedByFacebook(err) {
			if cerr := a.Store.ClearSendAttempt(ctx, messageID); cerr != nil {
				// Still recorded: a retry would wait for an echo that never
				// comes and report "outcome unknown". Retry the clearing instead.
				return "", nil, cerr
			}
			return "", err, nil
		}
		activity.GetLogger(ctx).Warn("send outcome unknown; waiting for the echo", "message_id", messageID, "err", err)
		return "", nil, outcomeUnknown(err)
	}
	if a.AfterSendHook != nil {
		if err := a.AfterSendHook(ctx, messageID, res.MessageID); err != nil {
			return "", nil, err
		}
	}
	return res.MessageID, nil, nil
}

// awaitEcho settles a send attempted earlier: the Facebook message id comes from
// the row (MarkSent, or the echo the conversation workflow recorded) or from a
// stored echo carrying the message id as metadata. Until the bound (EchoWait from
// the attempt) it waits, a few seconds inside this attempt and then by failing
// retryably; after it, the reply fails for good as outcome_unknown.
//
// Why not send again after the bound: a support product must never send a reply
// twice behind the agent's back, and a missing echo does not prove that Facebook
// did not deliver it (echoes can be late or lost). Failing with a sentence that
// tells the agent to check Messenger loses nothing silently either: the agent
// sees the reply, its status and why; and an echo that still comes turns it into
// sent (store.recordEcho).
func (a *Activities) awaitEcho(ctx context.Context, messageID string) (string, error) {
	bound := a.EchoWait
	if bound <= 0 {
		bound = DefaultEchoWait
	}
	for {
		at, err := a.Store.SendAttemptOf(ctx, messageID)
		if errors.Is(err, store.ErrNotFound) {
			return "", fromStore(err)
		}
		if err != nil {
			return "", outcomeUnknown(err)
		}
		if at.FacebookMessageID != "" {
			return at.FacebookMessageID, nil
		}
		if at.Since >= bound {
			return "", permanent(store.ReasonOutcomeUnknown, OutcomeUnknownMessage)
		}
		// Leave this attempt in time to fail cleanly; the next one looks again.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < 3*time.Second {
			return "", outcomeUnknown(nil)
		}
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return "", outcomeUnknown(ctx.Err())
		case <-time.After(echoPoll):
		}
	}
}

// updateLookup bounds the question "does Temporal know this reply's update?".
const updateLookup = 2 * time.Second

// SweepUnsentReplies fails agents' replies stored more than OlderThan ago that
// are still 'sending' with no send attempt, telling their agents (message.status,
// reason not_sent).
//
// Why this cannot fail a reply that is being sent, or send one it failed: the
// send path commits its attempt marker (BeginSendAttempt: status 'sending' or
// 'queued', no marker) before it calls Facebook, and MarkNotSent fails the reply
// only while it is 'sending' with no marker. Both are single conditional UPDATEs
// of the same row; Postgres takes the row lock and re-evaluates the condition on
// the latest version, so exactly one of them changes the row. If the marker wins,
// the sweep leaves the reply alone (it was handed over; problem 3's echo wait
// settles it). If the sweep wins, BeginSendAttempt changes nothing and the send
// stops without calling Facebook; the update answers failed (not_sent), as the
// agent was told. A reply the workflow parked (page needs re-authorisation) is
// 'queued', never swept.
//
// Before that, a reply whose update Temporal still knows (admitted or accepted,
// e.g. behind a workflow task delayed by a restart) is left to its workflow: the
// update id is the message id, and polling it for a moment tells "in flight"
// from "never arrived". That only spares replies the workflow will still send;
// correctness does not rest on it.
func (a *Activities) SweepUnsentReplies(ctx context.Context, in SweepUnsentRepliesInput) (SweepUnsentRepliesResult, error) {
	var res SweepUnsentRepliesResult
	replies, err := a.Store.UnsentReplies(ctx, in.OlderThan, in.Max)
	if err != nil {
		return res, err
	}
	for _, r := range replies {
		if a.updateInFlight(ctx, r) {
			res.InFlight++
			continue
		}
		done, err := a.Store.MarkNotSent(ctx, r.ID, in.OlderThan, NotSentMessage)
		if err != nil {
			return res, err
		}
		if done {
			res.Failed++
			activity.GetLogger(ctx).Warn("reply never handed over: marked not sent", "message_id", r.ID, "conversation_id", r.ConversationID)
		}
	}
	return res, nil
}

// updateInFlight says whether Temporal knows the reply's send-message update and
// has not completed it. Only "not found" counts as unknown: any other answer
// (still running, Temporal unreachable) leaves the reply for the next sweep.
func (a *Activities) updateInFlight(ctx context.Context, r store.UnsentReply) bool {
	lookup, cancel := context.WithTimeout(ctx, updateLookup)
	defer cancel()
	h := a.Temporal.GetWorkflowUpdateHandle(client.GetWorkflowUpdateHandleOptions{
		WorkflowID: contract.ConversationWorkflowID(r.PageID, r.PSID), UpdateID: r.ID,
	})
	err := h.Get(lookup, nil)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return false // completed, yet the reply is still 'sending': nothing will send it now
	case errors.As(err, &notFound):
		return false
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return false // completed with a failure
	}
	return true
}

// RecordStrayEvents records echoes and receipts that arrived when no run of the
// customer's conversation was open into the latest conversation (an echo of our
// own message sets its Facebook id, see store.recordEcho). Without a conversation,
// or for an event that is not stored (a delivery taken back: Facebook redelivers
// it), there is nothing to do.
func (a *Activities) RecordStrayEvents(ctx context.Context, in RecordStrayEventsInput) error {
	conversationID, err := a.Store.LatestConversation(ctx, in.PageID, in.PSID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = a.Store.RecordInbound(ctx, conversationID, inboundKeys(in.Events))
	return err
}
