package store

import (
	"context"
	"database/sql"
)

// RouteConversation puts a waiting conversation in its queue: the page's
// workstream's default queue. Idempotent: a conversation already in a queue keeps it.
func (s *Store) RouteConversation(ctx context.Context, conversationID string) (queueID string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		if _, _, err := lockConversation(ctx, tx, conversationID); err != nil {
			return err
		}
		sb := pg.NewSelectBuilder()
		sb.Select("coalesce(c.queue_id, w.default_queue_id)", "c.queue_id IS NOT NULL").From("conversations c").
			Join("pages p", "p.id = c.page_uuid").Join("workstreams w", "w.id = p.workstream_id").
			Where(sb.Equal("c.id", conversationID))
		var queued bool
		if err := queryRow(ctx, tx, sb).Scan(&queueID, &queued); err != nil {
			return notFound(err, "conversation")
		}
		if queued {
			return nil
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("queue_id", queueID), "enqueued_at = now()").
			Where(ub.Equal("id", conversationID), ub.Equal("status", "waiting"))
		_, err := exec(ctx, tx, ub)
		return err
	})
	return queueID, err
}
