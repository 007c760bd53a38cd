package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"fbchannel/graph"
	"fbchannel/store"
)

// botTimeout bounds one call to a workstream's bot; a bot that does not answer in
// time hands the conversation to a person.
const botTimeout = 8 * time.Second

// botReplyNamespace makes bot reply ids deterministic per turn, so a retried turn
// stores and sends each reply once.
var botReplyNamespace = uuid.MustParse("5b0c6f0e-6c1d-4b59-9d0f-6a3f8d1f7c21")

type botResponse struct {
	Replies []struct {
		Text string `json:"text"`
	} `json:"replies"`
	Handoff *struct {
		Reason  string `json:"reason"`
		Summary string `json:"summary"`
		QueueID string `json:"queue_id"`
	} `json:"handoff"`
}

// AskBot gives the conversation's latest customer message to the workstream's bot,
// sends its replies as the page (RESPONSE only: bots never use message tags), and
// hands the conversation over when the bot asks to.
func (a *Activities) AskBot(ctx context.Context, in AskBotInput) (AskBotResult, error) {
	url, err := a.Store.ConversationBotURL(ctx, in.ConversationID)
	if err != nil {
		return AskBotResult{}, fromStore(err)
	}
	if url == "" {
		return a.handOff(ctx, in.ConversationID, "the workstream has no bot any more", "", "")
	}
	turn, err := a.Store.BotTurnFor(ctx, in.ConversationID)
	if err != nil {
		return AskBotResult{}, fromStore(err)
	}
	body, _ := json.Marshal(turn)
	callCtx, cancel := context.WithTimeout(ctx, botTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return AskBotResult{}, permanent("bot_misconfigured", "The workstream's bot URL is not valid.")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return AskBotResult{}, fmt.Errorf("bot did not answer: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return AskBotResult{}, fmt.Errorf("bot answered HTTP %d", resp.StatusCode)
	}
	var answer botResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		return AskBotResult{}, fmt.Errorf("bot answer is not JSON: %w", err)
	}
	for i, reply := range answer.Replies {
		if reply.Text == "" {
			continue
		}
		id := uuid.NewSHA1(botReplyNamespace, []byte(in.ConversationID+"/"+turn.Message.ID+"/"+strconv.Itoa(i))).String()
		if err := a.sendAutomated(ctx, id, in.ConversationID, "bot", reply.Text); err != nil {
			return AskBotResult{}, err
		}
	}
	if answer.Handoff == nil {
		return AskBotResult{}, nil
	}
	return a.handOff(ctx, in.ConversationID, answer.Handoff.Reason, answer.Handoff.Summary, answer.Handoff.QueueID)
}

// HandOffFromBot routes a conversation whose bot failed or timed out.
func (a *Activities) HandOffFromBot(ctx context.Context, in HandOffFromBotInput) error {
	_, err := a.handOff(ctx, in.ConversationID, in.Reason, "", "")
	return err
}

func (a *Activities) handOff(ctx context.Context, conversationID, reason, summary, queueID string) (AskBotResult, error) {
	if err := a.Store.HandOffFromBot(ctx, conversationID, reason, summary, queueID); err != nil {
		return AskBotResult{}, fromStore(err)
	}
	return AskBotResult{Handoff: true}, nil
}

// sendAutomated stores and sends a message of the service or its bot, once per id.
// Automated messages go as RESPONSE only: message tags are for human agents.
func (a *Activities) sendAutomated(ctx context.Context, id, conversationID, sender, text string) error {
	err := a.trySendAutomated(ctx, id, conversationID, sender, text)
	if err == nil || !lastAttempt(ctx) {
		return err
	}
	// The workflow carries on without this message after its last attempt: the
	// transcript must say it failed, not show it "sending" for ever.
	reason, message := string(graph.ReasonTransient), "This automated message could not be sent: Facebook kept failing; it was not retried further."
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		reason, message = appErr.Type(), appErr.Message()
	}
	if o, oerr := a.Store.OutboundToSend(ctx, id); oerr == nil && o.Attempted {
		reason, message = store.ReasonOutcomeUnknown, OutcomeUnknownMessage
	}
	if merr := a.Store.MarkFailed(ctx, id, reason, message); merr != nil {
		activity.GetLogger(ctx).Warn("could not mark an automated message failed", "message_id", id, "err", merr)
	}
	return err
}

// lastAttempt says the retry policy allows no attempt after this one.
func lastAttempt(ctx context.Context) bool {
	info := activity.GetInfo(ctx)
	return info.RetryPolicy != nil && info.RetryPolicy.MaximumAttempts > 0 && info.Attempt >= info.RetryPolicy.MaximumAttempts
}

func (a *Activities) trySendAutomated(ctx context.Context, id, conversationID, sender, text string) error {
	if err := a.Store.InsertAutomatedMessage(ctx, id, conversationID, sender, text); err != nil {
		return err
	}
	o, err := a.Store.OutboundToSend(ctx, id)
	if err != nil {
		return fromStore(err)
	}
	if o.AlreadySentMID != "" || o.Message.Status == "failed" {
		return nil
	}
	if o.Attempted {
		// An earlier attempt may have reached the customer: settle it from the
		// echo, never by sending again (see awaitEcho).
		mid, err := a.awaitEcho(ctx, id)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() && appErr.Type() == store.ReasonOutcomeUnknown {
			return a.Store.MarkFailed(ctx, id, store.ReasonOutcomeUnknown, OutcomeUnknownMessage)
		}
		if err != nil {
			return err
		}
		_, err = a.markSent(ctx, id, mid)
		return err
	}
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, o.PageUUID)
	if err != nil {
		return fromStore(err)
	}
	mid, refused, err := a.sendOnce(ctx, id, o.PageUUID, cred, graph.SendRequest{
		// The stored text: a retry sends what the first attempt stored.
		PSID: o.PSID, MessagingType: graph.MessagingTypeResponse, Text: o.Message.Text, Metadata: id,
	})
	if refused != nil {
		if g, ok := graph.AsError(refused); ok && !g.Temporary() {
			// A permanent refusal is recorded on the message, not retried.
			return a.Store.MarkFailed(ctx, id, string(g.Reason()), g.Readable())
		}
		return fromGraph(refused)
	}
	if err != nil {
		return err
	}
	_, err = a.markSent(ctx, id, mid)
	return err
}

// SendNotice sends one automated message of the service, in the workstream's
// language, when the workstream has that kind switched on.
func (a *Activities) SendNotice(ctx context.Context, in SendNoticeInput) error {
	notice, err := a.Store.AutomatedNoticeFor(ctx, in.ConversationID, in.Kind)
	if !in.NextOpening.IsZero() {
		notice, err = a.Store.OpeningNotice(ctx, in.ConversationID, in.Kind, in.NextOpening, in.TimeZone)
	}
	if err != nil || !notice.Enabled {
		return fromStore(err)
	}
	return a.sendAutomated(ctx, in.MessageID, in.ConversationID, "system", notice.Text)
}
