package api

// Sender actions (issue 13): typing, seen and reactions, so the customer sees
// that someone is there. They are best-effort and cosmetic, so they take the
// shortest road: the starter sends them itself, after the request is
// answered (typing: within the request, bounded), with the page token it
// reads from Postgres for that one call. No
// workflow is involved: a durable, retried "typing" is worth nothing a second
// later, and a signal per keystroke pause would only grow the conversation's
// history. The token never leaves this process's memory (no workflow input,
// signal or history), and the graph client scrubs it from the errors logged
// here. Rules, checked by the store's one-statement claim: never for a closed
// conversation, only inside the 24-hour window, at most one per second per
// conversation (the claim is a row in Postgres, shared by every starter).
// typing_off is dropped when the slot is taken; typing_on and a reaction
// wait once for the next slot. A failure is logged and never reaches the
// agent's reply path.

import (
	"context"
	"net/http"
	"strings"
	"time"

	"fbchannel/graph"
	"fbchannel/store"
)

// senderActionTimeout bounds one best-effort Graph call in the background;
// typingTimeout the typing call a request waits for.
const (
	senderActionTimeout = 10 * time.Second
	typingTimeout       = 5 * time.Second
)

// senderAction is one best-effort Send API sender action for a conversation.
type senderAction struct {
	conversationID string
	// action is typing_on, typing_off or mark_seen; empty for a reaction.
	action string
	// mid and emoji make a reaction (emoji "" removes it).
	mid, emoji string
	// waitForSlot: a reaction waits once for the next slot instead of being dropped.
	waitForSlot bool
}

// sendSenderAction sends a in the background, detached from the request (which
// has been answered by the time it runs).
func (s *Server) sendSenderAction(r *http.Request, a senderAction) {
	if s.Graph == nil {
		return // a starter without Graph configured (tools, some tests)
	}
	ctx := context.WithoutCancel(r.Context())
	go func() {
		ctx, cancel := context.WithTimeout(ctx, senderActionTimeout)
		defer cancel()
		if err := s.deliverSenderAction(ctx, a); err != nil {
			s.Log.Warn("sender action not sent", "conversation_id", a.conversationID, "action", a.action, "err", err)
		}
	}()
}

func (s *Server) deliverSenderAction(ctx context.Context, a senderAction) error {
	slot, ok, err := s.Store.ClaimSenderAction(ctx, a.conversationID)
	if err == nil && !ok && a.waitForSlot && sleep(ctx, time.Second) {
		slot, ok, err = s.Store.ClaimSenderAction(ctx, a.conversationID)
	}
	if err != nil || !ok {
		return err // not allowed now: closed, outside the window, or throttled
	}
	cred, err := s.Store.PageCredentials(ctx, s.Store.DB, slot.PageUUID)
	if err != nil {
		return err
	}
	gcred := graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret}
	if a.mid != "" {
		return s.Graph.SendReaction(ctx, slot.PageID, slot.PSID, a.mid, a.emoji, gcred)
	}
	return s.Graph.SendSenderAction(ctx, slot.PageID, slot.PSID, a.action, gcred)
}

// typing answers POST /api/v1/conversations/{id}/typing {"on":bool} with 204:
// typing_on or typing_off is sent if Messenger's rules allow it now.
func (s *Server) typing(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	var in struct {
		On *bool `json:"on"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.On == nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "on is required: true while the agent types, false when it stops.")
		return
	}
	action := graph.SenderActionTypingOff
	if *in.On {
		action = graph.SenderActionTypingOn
	}
	// In the request, bounded: the desk does not wait on the answer, and a
	// caller that does learns that the action went (or was not allowed) by then.
	if s.Graph != nil {
		ctx, cancel := context.WithTimeout(r.Context(), typingTimeout)
		defer cancel()
		// typing_on waits once for the slot (the agent who starts typing right
		// after opening the conversation would otherwise lose it to mark_seen);
		// a typing_off that finds the slot taken is dropped.
		if err := s.deliverSenderAction(ctx, senderAction{conversationID: c.ID, action: action, waitForSlot: *in.On}); err != nil {
			s.Log.Warn("sender action not sent", "conversation_id", c.ID, "action", action, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// markSeen sends mark_seen when the primary agent opens a conversation whose
// customer messages it has not read yet: once for each batch of unread messages.
// It reports whether unread messages were marked read.
func (s *Server) markSeen(r *http.Request, c store.Conversation) bool {
	if c.UnreadCount == 0 {
		return false
	}
	had, err := s.Store.MarkReadByAgent(r.Context(), c.ID)
	if err != nil {
		s.Log.Warn("could not mark the conversation read", "conversation_id", c.ID, "err", err)
		return false
	}
	if had {
		// Closed conversations and those outside the window are left out by the claim.
		s.sendSenderAction(r, senderAction{conversationID: c.ID, action: graph.SenderActionMarkSeen})
	}
	return had
}

// setReaction answers POST (react) and DELETE (remove) of
// /api/v1/conversations/{id}/messages/{message_id}/reaction with 200 and the
// message's reactions; the react / unreact sender action follows, best-effort.
func (s *Server) setReaction(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	if c.Status == "closed" {
		writeError(w, http.StatusConflict, "conversation_not_open", "This conversation is closed; Messenger would not show a reaction now.")
		return
	}
	var emoji string
	if r.Method == http.MethodPost {
		var in struct {
			Emoji string `json:"emoji"`
		}
		if !decode(w, r, &in) {
			return
		}
		if err := store.CheckEmoji(in.Emoji); s.answerStoreError(w, r, err, "") {
			return
		}
		emoji = strings.TrimSpace(in.Emoji)
	}
	t, err := s.Store.SetAgentReaction(r.Context(), c.ID, r.PathValue("message_id"), me.ID, emoji)
	if s.answerStoreError(w, r, err, "This conversation has no customer message with this id.") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message_id": t.MessageID, "reactions": t.Reactions})
	s.sendSenderAction(r, senderAction{conversationID: c.ID, mid: t.FacebookMessageID, emoji: emoji, waitForSlot: true})
}
