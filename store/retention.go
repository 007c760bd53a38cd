package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/huandu/go-sqlbuilder"
)

// MaxRetentionDays bounds an account's retention_days (about ten years).
const MaxRetentionDays = 3650

// RetentionAccount is an account whose transcripts expire.
type RetentionAccount struct {
	ID   string `json:"id"`
	Days int    `json:"days"`
}

// RetentionAccounts lists the live accounts with a retention period, by id.
func (s *Store) RetentionAccounts(ctx context.Context) ([]RetentionAccount, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id", "retention_days").From("accounts").
		Where("retention_days > 0", "deleted_at IS NULL").OrderBy("id")
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (a RetentionAccount, err error) {
		err = row.Scan(&a.ID, &a.Days)
		return a, err
	})
}

// SetRetentionDays sets an account's retention period; 0 keeps everything.
func (s *Store) SetRetentionDays(ctx context.Context, accountID string, days int) error {
	if !validUUID(accountID) {
		return fmt.Errorf("account: %w", ErrNotFound)
	}
	if days < 0 || days > MaxRetentionDays {
		return fmt.Errorf("retention_days must be between 0 (keep for ever) and %d", MaxRetentionDays)
	}
	return s.setAccountSetting(ctx, accountID, "retention_days", days)
}

// RetentionBatch is what one bounded retention step erased. Counts are of what
// this call changed, so a repeated step answers zeros.
type RetentionBatch struct {
	// Conversations whose transcripts were erased (closed before the cutoff).
	Conversations int64 `json:"conversations"`
	// Messages whose text and attachments (with their URLs) were emptied; the
	// rows stay with erased_at set, the transcript's "deleted" marker.
	Messages int64 `json:"messages"`
	// AgentEvents are SSE replay entries whose message copy was emptied.
	AgentEvents int64 `json:"agent_events"`
	// InboundEvents and Unreadable are stored webhook deliveries deleted.
	InboundEvents int64 `json:"inbound_events"`
	Unreadable    int64 `json:"unreadable"`
}

// accountPages selects column (id, the page's uuid, or page_id, Facebook's) of
// every page of the account, for an IN.
func accountPages(accountID, column string) *sqlbuilder.SelectBuilder {
	sb := pg.NewSelectBuilder()
	sb.Select(column).From("pages").Where(sb.Equal("account_id", accountID))
	return sb
}

// EraseExpiredTranscripts erases the transcripts of at most limit of the
// account's conversations closed before cutoff and not erased yet, in one
// transaction: message texts and attachments, the agents' event copies of
// them and the notes about the customer. Open conversations are never touched,
// however old. Rows locked by another run are skipped (that run erases them).
func (s *Store) EraseExpiredTranscripts(ctx context.Context, accountID string, cutoff time.Time, limit int) (RetentionBatch, error) {
	var b RetentionBatch
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("id").From("conversations").
			Where(sb.In("page_uuid", accountPages(accountID, "id")), "status = 'closed'", sb.LessThan("closed_at", cutoff), "retention_erased_at IS NULL").
			OrderBy("closed_at").Limit(limit).SQL("FOR UPDATE SKIP LOCKED")
		ids, err := queryIDs(ctx, tx, sb)
		if err != nil || len(ids) == 0 {
			return err
		}
		convs := make([]any, len(ids))
		for i, id := range ids {
			convs[i] = id
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("text", ""), "attachments = '[]'::jsonb",
			"erased_at = coalesce(erased_at, now())", "updated_at = now()").
			Where(ub.In("conversation_id", convs...), "(erased_at IS NULL OR text <> '' OR attachments <> '[]'::jsonb)")
		if b.Messages, err = rowsChanged(exec(ctx, tx, ub)); err != nil {
			return err
		}
		ub = pg.NewUpdateBuilder()
		ub.Update("agent_events").
			Set("data = jsonb_set(data, '{message}', (data->'message') || jsonb_build_object('text', '', 'attachments', '[]'::jsonb, 'erased_at', now()))").
			Where(ub.In("conversation_id", convs...), "jsonb_typeof(data->'message') = 'object'",
				"(coalesce(data->'message'->>'text', '') <> '' OR coalesce(data->'message'->'attachments', '[]'::jsonb) <> '[]'::jsonb)")
		if b.AgentEvents, err = rowsChanged(exec(ctx, tx, ub)); err != nil {
			return err
		}
		ub = pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("bot_summary", ""), ub.Assign("transfer_note", ""), "retention_erased_at = now()").
			Where(ub.In("id", convs...))
		b.Conversations, err = rowsChanged(exec(ctx, tx, ub))
		return err
	})
	return b, err
}

// DeleteExpiredInbox deletes at most limit of the account's stored webhook
// events and unreadable deliveries received before cutoff. Events not relayed
// yet, and those of a customer with a conversation still open, stay.
func (s *Store) DeleteExpiredInbox(ctx context.Context, accountID string, cutoff time.Time, limit int) (RetentionBatch, error) {
	var b RetentionBatch
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		due := pg.NewSelectBuilder()
		due.Select("e.page_id", "e.event_key").From("inbound_events e").
			Where(due.In("e.page_id", accountPages(accountID, "page_id")), due.LessThan("e.received_at", cutoff), "e.relayed_at IS NOT NULL",
				`NOT EXISTS (SELECT 1 FROM conversations c JOIN customers cu ON cu.id = c.customer_id
				  WHERE cu.page_id = e.page_id AND cu.psid = e.psid AND c.status <> 'closed')`).
			Limit(limit).SQL("FOR UPDATE SKIP LOCKED")
		db := pg.NewDeleteBuilder()
		db.DeleteFrom("inbound_events").Where("(page_id, event_key) IN (" + db.Var(due) + ")")
		var err error
		if b.InboundEvents, err = rowsChanged(exec(ctx, tx, db)); err != nil {
			return err
		}
		dueRaw := pg.NewSelectBuilder()
		dueRaw.Select("page_id", "raw_sha256").From("inbound_unreadable").
			Where(dueRaw.In("page_uuid", accountPages(accountID, "id")), dueRaw.LessThan("received_at", cutoff)).
			Limit(limit).SQL("FOR UPDATE SKIP LOCKED")
		db = pg.NewDeleteBuilder()
		db.DeleteFrom("inbound_unreadable").Where("(page_id, raw_sha256) IN (" + db.Var(dueRaw) + ")")
		b.Unreadable, err = rowsChanged(exec(ctx, tx, db))
		return err
	})
	return b, err
}
