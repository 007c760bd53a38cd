package store

import (
	"context"
	"database/sql"
)

// ConversationBotURL is the bot of the conversation's workstream ("" for none).
func (s *Store) ConversationBotURL(ctx context.Context, conversationID string) (string, error) {
	return conversationWorkstream[string](ctx, s, conversationID, "w.bot_url")
}

// ConversationAutoClose is the inactivity limit of the conversation's workstream,
// in hours (0: none).
func (s *Store) ConversationAutoClose(ctx context.Context, conversationID string) (int, error) {
	return conversationWorkstream[int](ctx, s, conversationID, "coalesce(w.auto_close_after_hours, 0)")
}

// conversationWorkstream reads one setting (column, over the workstream w) of
// the conversation's workstream: the one it was opened in, or routed to since.
func conversationWorkstream[T any](ctx context.Context, s *Store, conversationID, column string) (T, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(column).From("conversations c").Join("pages p", "p.id = c.page_uuid").
		Join("workstreams w", "w.id = coalesce(c.workstream_id, p.workstream_id)").Where(sb.Equal("c.id", conversationID))
	var v T
	err := queryRow(ctx, s.DB, sb).Scan(&v)
	return v, notFound(err, "conversation")
}

// BotTurn is what the bot is told about a conversation: its latest customer
// message and the transcript so far.
type BotTurn struct {
	ConversationID string       `json:"conversation_id"`
	Customer       BotCustomer  `json:"customer"`
	Message        BotMessage   `json:"message"`
	Transcript     []BotMessage `json:"transcript"`
}

type BotCustomer struct {
	PSID   string `json:"psid"`
	Name   string `json:"name"`
	Locale string `json:"locale"`
}

type BotMessage struct {
	ID     string `json:"id,omitempty"`
	Sender string `json:"sender,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Text   string `json:"text"`
}

// maxBotTranscript bounds what a bot is sent.
const maxBotTranscript = 50

// BotTurnFor loads the bot's view of a conversation.
func (s *Store) BotTurnFor(ctx context.Context, conversationID string) (BotTurn, error) {
	conv, err := s.conversation(ctx, s.DB, conversationID)
	if err != nil {
		return BotTurn{}, err
	}
	turn := BotTurn{ConversationID: conversationID, Customer: BotCustomer{PSID: conv.Customer.PSID, Name: conv.Customer.Name, Locale: conv.Customer.Locale}}
	messages, err := s.messages(ctx, s.DB, conversationID)
	if err != nil {
		return BotTurn{}, err
	}
	if len(messages) > maxBotTranscript {
		messages = messages[len(messages)-maxBotTranscript:]
	}
	for _, m := range messages {
		if m.Kind == KindNote {
			continue // internal: agents' notes never leave the service
		}
		turn.Transcript = append(turn.Transcript, BotMessage{Sender: m.Sender, Kind: m.Kind, Text: m.Text})
		if m.Sender == "customer" {
			turn.Message = BotMessage{ID: m.ID, Kind: m.Kind, Text: m.Text}
		}
	}
	return turn, nil
}

// HandOffFromBot takes the conversation from the bot to routing, keeping the
// bot's reason and summary for the agent. A queue the bot names is used when it
// belongs to the conversation's account.
func (s *Store) HandOffFromBot(ctx context.Context, conversationID, reason, summary, queueID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		status, _, err := lockConversation(ctx, tx, conversationID)
		if err != nil || status != "bot" {
			return err
		}
		ub := pg.NewUpdateBuilder()
		set := []string{ub.Assign("status", "waiting"), ub.Assign("bot_handoff_reason", reason), ub.Assign("bot_summary", summary)}
		if validUUID(queueID) {
			q := pg.NewSelectBuilder()
			q.Select("count(*)").From("queues q").Join("pages p", "p.account_id = q.account_id").
				Join("conversations c", "c.page_uuid = p.id").Where(q.Equal("q.id", queueID), q.Equal("c.id", conversationID))
			var n int
			if err := queryRow(ctx, tx, q).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				set = append(set, ub.Assign("queue_id", queueID), "enqueued_at = now()")
			}
		}
		ub.Update("conversations").Set(set...).Where(ub.Equal("id", conversationID))
		_, err = exec(ctx, tx, ub)
		return err
	})
}
