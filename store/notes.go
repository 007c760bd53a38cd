package store

import (
	"context"
	"database/sql"

	"github.com/google/uuid"
)

// Notes are internal messages on a conversation: ordinary rows of messages with
// kind "note" and direction "internal", so the transcript, the API's messages
// and exports carry them with everything else, in order. A note is never sent
// to Facebook: nothing that sends (the workflow's send path, the re-drive of
// unsent replies) looks at a row that is not outbound and "sending".

// Note kinds and direction, as the API shows them.
const (
	KindNote          = "note"
	DirectionInternal = "internal"
	// noteStatus: a note is stored, and that is all that happens to it.
	noteStatus = "recorded"
)

// AddNote stores an agent's note on a conversation and, in the same
// transaction, a note.added event for everyone on the conversation (today its
// assigned agent), so the note and its event commit or vanish together.
func (s *Store) AddNote(ctx context.Context, conversationID, authorID, text string) (Message, error) {
	var m Message
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = s.insertNote(ctx, tx, conversationID, authorID, "agent", text)
		return err
	})
	return m, err
}

// insertNote stores a note by authorID (an agent's id, or nil for the admin)
// as sender ("agent", or "supervisor" for a supervisor's).
func (s *Store) insertNote(ctx context.Context, tx *sql.Tx, conversationID string, authorID any, sender, text string) (Message, error) {
	var pageID string
	var assigned *string
	sb := pg.NewSelectBuilder()
	sb.Select("page_id", "agent_id").From("conversations").Where(sb.Equal("id", conversationID))
	if err := queryRow(ctx, tx, sb).Scan(&pageID, &assigned); err != nil {
		return Message{}, notFound(err, "conversation")
	}
	id := uuid.NewString()
	ib := pg.NewInsertBuilder()
	ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "status", "agent_id").
		Values(id, conversationID, pageID, DirectionInternal, sender, KindNote, text, noteStatus, authorID)
	if _, err := exec(ctx, tx, ib); err != nil {
		return Message{}, err
	}
	m, err := s.GetMessage(ctx, tx, id)
	if err != nil {
		return Message{}, err
	}
	// Consultants join this list when consults exist (issue 13).
	if assigned != nil {
		if err := insertEvent(ctx, tx, *assigned, "note.added", conversationID, "note:"+id+":"+*assigned,
			map[string]any{"message": m}); err != nil {
			return Message{}, err
		}
	}
	return m, nil
}
