package store

// Reactions (issue 13): the customer's (message_reactions webhooks) and the
// agent's (the Send API's react sender action) on a message. Messenger keeps
// one reaction per person and message, so each side has at most one row; a
// change is one transaction with its message.reaction event, which carries the
// message's whole list so the desk replaces instead of patching.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"fbchannel/messenger"
)

// Reaction is one side's reaction on a message.
type Reaction struct {
	Emoji string `json:"emoji"`
	By    string `json:"by"` // customer | agent
}

// Reaction sides.
const (
	ReactionByCustomer = "customer"
	ReactionByAgent    = "agent"
)

// reactionsColumn is the message's reactions, for messageColumns.
const reactionsColumn = "coalesce((SELECT json_agg(json_build_object('emoji', r.emoji, 'by', r.by) ORDER BY r.by) " +
	"FROM message_reactions r WHERE r.message_id = messages.id), '[]')"

// ReactionTarget is the customer message an agent reacts to, with what the
// Send API needs to carry the reaction to Facebook.
type ReactionTarget struct {
	MessageID         string
	FacebookMessageID string
	Reactions         []Reaction
}

// reactionEmoji are the emoji of Messenger's named reactions (the webhook's
// reaction field: smile, angry, sad, wow, love, like, dislike; other has none).
var reactionEmoji = map[string]string{
	"smile": "😆", "angry": "😠", "sad": "😢", "wow": "😮", "love": "😍", "like": "👍", "dislike": "👎",
}

// maxEmojiRunes bounds a reaction: one emoji, possibly a sequence (skin tone, ZWJ).
const maxEmojiRunes = 16

// CheckEmoji says what is wrong with an agent's reaction, or nil.
func CheckEmoji(emoji string) error {
	e := strings.TrimSpace(emoji)
	if e == "" || !utf8.ValidString(e) || utf8.RuneCountInString(e) > maxEmojiRunes || strings.ContainsAny(e, " \t\n") {
		return invalidf("emoji is required: one emoji, such as 👍.")
	}
	return nil
}

// SetAgentReaction stores (emoji != "") or removes (emoji == "") the agent's
// reaction on a customer message of the conversation, with its event.
func (s *Store) SetAgentReaction(ctx context.Context, conversationID, messageID, agentID, emoji string) (ReactionTarget, error) {
	var t ReactionTarget
	if !validUUID(messageID) {
		return t, fmt.Errorf("message: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		_, primary, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		sb := pg.NewSelectBuilder()
		sb.Select("coalesce(facebook_message_id, '')").From("messages").
			Where(sb.Equal("id", messageID), sb.Equal("conversation_id", conversationID), sb.Equal("direction", "inbound"), sb.Equal("sender", "customer"))
		if err := queryRow(ctx, tx, sb).Scan(&t.FacebookMessageID); err != nil {
			return notFound(err, "message")
		}
		if t.FacebookMessageID == "" {
			return &Refused{Code: "not_reactable", Message: "Messenger has no id for this message, so it cannot carry a reaction to it."}
		}
		t.MessageID = messageID
		if emoji == "" {
			err = deleteReaction(ctx, tx, messageID, ReactionByAgent)
		} else {
			err = upsertReaction(ctx, tx, messageID, ReactionByAgent, emoji, agentID)
		}
		if err != nil {
			return err
		}
		t.Reactions, err = announceReactions(ctx, tx, conversationID, messageID, primary)
		return err
	})
	return t, err
}

func upsertReaction(ctx context.Context, tx *sql.Tx, messageID, by, emoji string, agentID any) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO message_reactions (message_id, by, emoji, agent_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id, by) DO UPDATE SET emoji = EXCLUDED.emoji, agent_id = EXCLUDED.agent_id, created_at = now()`,
		messageID, by, emoji, agentID)
	return err
}

func deleteReaction(ctx context.Context, tx *sql.Tx, messageID, by string) error {
	db := pg.NewDeleteBuilder()
	db.DeleteFrom("message_reactions").Where(db.Equal("message_id", messageID), db.Equal("by", by))
	_, err := exec(ctx, tx, db)
	return err
}

// announceReactions reads the message's reactions and tells the conversation's
// agent (and, through insertEvent, its consultants).
func announceReactions(ctx context.Context, tx *sql.Tx, conversationID, messageID string, agentID *string) ([]Reaction, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("emoji", "by").From("message_reactions").Where(sb.Equal("message_id", messageID)).OrderBy("by")
	list, err := queryAll(ctx, tx, sb, func(row rowScanner) (r Reaction, err error) {
		err = row.Scan(&r.Emoji, &r.By)
		return r, err
	})
	if err != nil || agentID == nil {
		return list, err
	}
	return list, insertEvent(ctx, tx, *agentID, "message.reaction", conversationID, "reaction:"+messageID+":"+uuid.NewString(),
		map[string]any{"message_id": messageID, "reactions": list})
}

// recordCustomerReaction applies a message_reactions webhook event to the
// message it names (by Facebook message id, on this page): react sets the
// customer's reaction, unreact removes it. A reaction to a message we never had
// changes nothing. It reports whether a message's reactions changed.
func recordCustomerReaction(ctx context.Context, tx *sql.Tx, pageID, conversationID string, agentID *string, r *messenger.Reaction) (bool, error) {
	if r == nil || r.MID == "" {
		return false, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id").From("messages").Where(sb.Equal("page_id", pageID), sb.Equal("facebook_message_id", r.MID))
	var messageID string
	if err := queryRow(ctx, tx, sb).Scan(&messageID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	emoji := r.Emoji
	if emoji == "" {
		// Facebook may name the reaction without its emoji.
		emoji = reactionEmoji[r.Reaction]
		if emoji == "" {
			emoji = r.Reaction
		}
	}
	var err error
	if r.Action == "unreact" || emoji == "" {
		err = deleteReaction(ctx, tx, messageID, ReactionByCustomer)
	} else {
		err = upsertReaction(ctx, tx, messageID, ReactionByCustomer, emoji, nil)
	}
	if err != nil {
		return false, err
	}
	_, err = announceReactions(ctx, tx, conversationID, messageID, agentID)
	return err == nil, err
}
