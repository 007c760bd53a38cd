package workflows

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// reasonWindowClosed: Messenger's windows do not allow this send.
const reasonWindowClosed = "window_closed"

// The starter checks the agent against Postgres before it asks; the workflow only
// refuses what it knows to be wrong. SendMessage re-checks ownership in the database.
func (c *conversation) validateSend(req contract.SendMessageRequest) error {
	if req.ConversationID != c.ConversationID || c.phase == phaseClosed {
		return fmt.Errorf("conversation %s is not open", req.ConversationID)
	}
	if req.MessageID == "" {
		return fmt.Errorf("message id is required")
	}
	return nil
}

// sendMessage is the send-message update: an agent's reply, answered with the
// real outcome (sent, failed with a reason, or queued while the page needs
// re-authorisation).
func (c *conversation) sendMessage(ctx workflow.Context, req contract.SendMessageRequest) (contract.SendOutcome, error) {
	if err := workflow.Await(ctx, func() bool { return c.phase != phaseOpening }); err != nil {
		return contract.SendOutcome{}, err
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

// messagingType decides how a human agent's reply may go out now: inside the
// 24-hour window as RESPONSE; after it, with the workstream's HUMAN_AGENT tag, as
// MESSAGE_TAG until 7 days after the customer's last message; otherwise not at all,
// with a sentence saying since when and what would allow it.
func messagingType(now, lastCustomer time.Time, humanAgentAllowed bool) (messagingType, tag, refusal string) {
	const layout = "2006-01-02 15:04 MST"
	standardEnd := lastCustomer.Add(contract.StandardMessagingWindow)
	humanAgentEnd := lastCustomer.Add(contract.HumanAgentWindow)
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

// trySend sends one reply now, or reports that it must wait for the page.
func (c *conversation) trySend(ctx workflow.Context, req contract.SendMessageRequest) (out contract.SendOutcome, parked bool, err error) {
	kind, tag, refusal := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, req.HumanAgentAllowed)
	if refusal != "" {
		out, err = c.failSend(ctx, req.MessageID, reasonWindowClosed, refusal)
		return out, false, err
	}
	err = workflow.ExecuteActivity(withSendActivity(ctx), a.SendMessage, activities.SendMessageInput{
		MessageID: req.MessageID, MessagingType: kind, Tag: tag,
	}).Get(ctx, &out)
	if err == nil {
		c.agentReplied(ctx)
		return out, false, nil
	}
	reason, message := failureOf(err)
	if reason == activities.ReasonTokenInvalid || reason == activities.ReasonPageNeedsReauth {
		return contract.SendOutcome{}, true, nil
	}
	out, err = c.failSend(ctx, req.MessageID, reason, message)
	return out, false, err
}

// park accepts a reply while the page needs re-authorisation: nothing is lost and
// nothing fails; it is sent, in order, once the page is active again.
// pageRefused says Facebook just refused this reply for the page's token; a reply
// that only queues behind earlier ones learns nothing about the page (and must not
// forget that it is active again: the parked replies may all have gone meanwhile).
func (c *conversation) park(ctx workflow.Context, req contract.SendMessageRequest, pageRefused bool) (contract.SendOutcome, error) {
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.MarkMessageQueued, req.MessageID).Get(ctx, nil); err != nil {
		return contract.SendOutcome{}, err
	}
	c.Parked = append(c.Parked, req)
	if pageRefused {
		c.pageActive = false
	}
	return contract.SendOutcome{MessageID: req.MessageID, Status: "queued", Reason: contract.ParkedReason}, nil
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
			c.pageActive = false
			return nil
		}
		c.Parked = c.Parked[1:]
	}
	return nil
}

func (c *conversation) failSend(ctx workflow.Context, messageID, reason, message string) (contract.SendOutcome, error) {
	err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.MarkMessageFailed, activities.MarkMessageFailedInput{
		MessageID: messageID, Reason: reason, Error: message,
	}).Get(ctx, nil)
	if err != nil {
		return contract.SendOutcome{}, err
	}
	return contract.SendOutcome{MessageID: messageID, Status: "failed", Reason: reason, Error: message}, nil
}

// notify sends an automated notice of the given kind when Messenger's standard
// window allows it (automated messages never use tags); the activity sends nothing
// when the workstream has the kind switched off. A notice that cannot be sent never
// holds the conversation up.
func (c *conversation) notify(ctx workflow.Context, kind string) {
	c.notifyWith(ctx, activities.SendNoticeInput{Kind: kind})
}

// notifyWith is notify for a notice with what fills it in (the next opening).
func (c *conversation) notifyWith(ctx workflow.Context, in activities.SendNoticeInput) {
	in, ok := c.notice(ctx, in)
	if !ok {
		return
	}
	// A local activity: one Postgres read and one send, idempotent on the
	// notice's id, cost the conversation one marker instead of an activity's
	// three events and a workflow task.
	_ = workflow.ExecuteLocalActivity(withSendLocalActivity(ctx), a.SendNotice, in).Get(ctx, nil)
}

// notice is the notice in describes, to send now, with its id; none (false)
// when Messenger's standard window does not allow automated messages.
func (c *conversation) notice(ctx workflow.Context, in activities.SendNoticeInput) (activities.SendNoticeInput, bool) {
	if how, _, _ := messagingType(workflow.Now(ctx), c.LastCustomerMessageAt, false); how != "RESPONSE" {
		return activities.SendNoticeInput{}, false
	}
	c.NoticeSeq++
	in.ConversationID = c.ConversationID
	in.MessageID = uuid.NewSHA1(noticeNamespace, []byte(c.ConversationID+"/"+strconv.Itoa(c.NoticeSeq))).String()
	return in, true
}

// noticeNamespace makes the notices' message ids (UUIDv5) distinct from other ids.
var noticeNamespace = uuid.MustParse("6f0c56d2-53a4-4c1e-9a53-3b7f8f2d0c11")

// tellRefusedFiles answers files the workstream refused, once per batch.
func (c *conversation) tellRefusedFiles(ctx workflow.Context) {
	if c.refusedFiles && c.phase != phaseClosed {
		c.refusedFiles = false
		c.notify(ctx, activities.NoticeAttachmentRefused)
	}
}
