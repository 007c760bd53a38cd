package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// MaxImportHistoryDays bounds a page's import_history_days.
const MaxImportHistoryDays = 365

// HistoryImport is the progress of a page's history import, the "import"
// object of GET /api/v1/pages/{id}.
type HistoryImport struct {
	// Status is running, done, failed or off (import_history_days is 0).
	Status string `json:"status"`
	Days   int    `json:"days"`
	// Conversations and Messages imported so far (each counted once).
	Conversations int        `json:"conversations"`
	Messages      int        `json:"messages"`
	LastError     string     `json:"last_error"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

// SetImportHistoryDays sets how many days of history a page imports when it
// is connected; 0 imports none.
func (s *Store) SetImportHistoryDays(ctx context.Context, pageUUID string, days int) error {
	if !validUUID(pageUUID) {
		return fmt.Errorf("page: %w", ErrNotFound)
	}
	if days < 0 || days > MaxImportHistoryDays {
		return fmt.Errorf("import_history_days must be between 0 and %d", MaxImportHistoryDays)
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(ub.Assign("import_history_days", days), "updated_at = now()").Where(ub.Equal("id", pageUUID))
	n, err := rowsChanged(exec(ctx, s.DB, ub))
	if err == nil && n == 0 {
		err = fmt.Errorf("page: %w", ErrNotFound)
	}
	return err
}

// ImportHistoryDays is the page's setting.
func (s *Store) ImportHistoryDays(ctx context.Context, pageUUID string) (int, error) {
	if !validUUID(pageUUID) {
		return 0, fmt.Errorf("page: %w", ErrNotFound)
	}
	var days int
	err := columnByID(ctx, s.DB, "pages", "import_history_days", pageUUID, false, &days)
	return days, notFound(err, "page")
}

// StartHistoryImport marks the page's import running (or off, when the page
// imports no history) and answers its days. Counters of an earlier attempt
// stay: what it imported is not imported again.
func (s *Store) StartHistoryImport(ctx context.Context, pageUUID string) (HistoryImport, error) {
	var h HistoryImport
	if !validUUID(pageUUID) {
		return h, fmt.Errorf("page: %w", ErrNotFound)
	}
	row := s.DB.QueryRowContext(ctx, `
		INSERT INTO page_history_imports (page_uuid, status, days)
		SELECT id, CASE WHEN import_history_days = 0 THEN 'off' ELSE 'running' END, import_history_days FROM pages WHERE id = $1
		ON CONFLICT (page_uuid) DO UPDATE SET status = excluded.status, days = excluded.days, last_error = '',
			finished_at = CASE WHEN excluded.status = 'off' THEN now() END
		RETURNING status, days, conversations, messages, last_error, started_at, finished_at`, pageUUID)
	err := row.Scan(&h.Status, &h.Days, &h.Conversations, &h.Messages, &h.LastError, &h.StartedAt, &h.FinishedAt)
	return h, notFound(err, "page")
}

// FinishHistoryImport records the import's end: done, or failed with a
// sentence for the admin.
func (s *Store) FinishHistoryImport(ctx context.Context, pageUUID, failure string) error {
	status := "done"
	if failure != "" {
		status = "failed"
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("page_history_imports").Set(ub.Assign("status", status), ub.Assign("last_error", failure), "finished_at = now()").
		Where(ub.Equal("page_uuid", pageUUID), "status = 'running'")
	_, err := exec(ctx, s.DB, ub)
	return err
}

// GetHistoryImport is the page's import; nil when none has started.
func (s *Store) GetHistoryImport(ctx context.Context, pageUUID string) (*HistoryImport, error) {
	if !validUUID(pageUUID) {
		return nil, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("status", "days", "conversations", "messages", "last_error", "started_at", "finished_at").
		From("page_history_imports").Where(sb.Equal("page_uuid", pageUUID))
	var h HistoryImport
	err := queryRow(ctx, s.DB, sb).Scan(&h.Status, &h.Days, &h.Conversations, &h.Messages, &h.LastError, &h.StartedAt, &h.FinishedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &h, err
}

// PastMessage is one message of a past thread, as the Conversations API gave it.
type PastMessage struct {
	MID         string
	At          time.Time
	FromPage    bool
	Text        string
	Attachments []Attachment
}

// PastThread is a batch of one past thread's messages for ImportPastMessages.
type PastThread struct {
	PageUUID, PageID string
	ThreadID         string
	PSID             string
	CustomerName     string
	Messages         []PastMessage
}

// ImportPastMessages adds a batch of a past thread to the page's transcripts
// as a closed conversation (one per thread), in one transaction, and counts
// what it added on the page's import. A message already stored (by an earlier
// attempt, or because the webhook delivered it) is not added again: messages
// are unique by page and Facebook message id, conversations by page and thread.
func (s *Store) ImportPastMessages(ctx context.Context, t PastThread) (added int, err error) {
	if len(t.Messages) == 0 {
		return 0, nil
	}
	first, last := t.Messages[0].At, t.Messages[0].At
	for _, m := range t.Messages {
		if m.At.Before(first) {
			first = m.At
		}
		if m.At.After(last) {
			last = m.At
		}
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		// Messages stored already (the webhook delivered them, or an earlier
		// attempt imported them) stay where they are; a thread with nothing new
		// adds no conversation.
		mids := make([]string, len(t.Messages))
		for i, m := range t.Messages {
			mids[i] = m.MID
		}
		sb := pg.NewSelectBuilder()
		sb.Select("facebook_message_id").From("messages").
			Where(sb.Equal("page_id", t.PageID), "facebook_message_id = ANY("+sb.Var(pq.Array(mids))+")")
		known, err := queryIDs(ctx, tx, sb)
		if err != nil {
			return err
		}
		if len(known) == len(t.Messages) {
			return nil
		}
		var customerID string
		if err := tx.QueryRowContext(ctx, `
			WITH ins AS (INSERT INTO customers (id, page_id, psid, name) VALUES ($1, $2, $3, $4)
			             ON CONFLICT (page_id, psid) DO NOTHING RETURNING id)
			SELECT id FROM ins UNION ALL SELECT id FROM customers WHERE page_id = $2 AND psid = $3 LIMIT 1`,
			uuid.NewString(), t.PageID, t.PSID, t.CustomerName).Scan(&customerID); err != nil {
			return fmt.Errorf("customer: %w", err)
		}
		var conversationID string
		var inserted bool
		if err := tx.QueryRowContext(ctx, `
			WITH ins AS (INSERT INTO conversations (id, page_uuid, page_id, customer_id, status, opened_at, closed_at, close_reason, facebook_thread_id)
			             VALUES ($1, $2, $3, $4, 'closed', $5, $6, 'imported', $7)
			             ON CONFLICT (page_uuid, facebook_thread_id) WHERE facebook_thread_id IS NOT NULL DO NOTHING RETURNING id)
			SELECT id, true FROM ins UNION ALL
			SELECT id, false FROM conversations WHERE page_uuid = $2 AND facebook_thread_id = $7 LIMIT 1`,
			uuid.NewString(), t.PageUUID, t.PageID, customerID, first, last, t.ThreadID).Scan(&conversationID, &inserted); err != nil {
			return fmt.Errorf("conversation: %w", err)
		}
		if !inserted {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET opened_at = least(opened_at, $2), closed_at = greatest(closed_at, $3)
				WHERE id = $1 AND status = 'closed'`, conversationID, first, last); err != nil {
				return err
			}
		}
		for _, m := range t.Messages {
			direction, sender, status := "inbound", "customer", "received"
			if m.FromPage {
				direction, sender, status = "outbound", "page", "sent"
			}
			kind := "text"
			if len(m.Attachments) > 0 {
				kind = "attachment"
			}
			atts := m.Attachments
			if atts == nil {
				atts = []Attachment{}
			}
			raw, _ := json.Marshal(atts)
			res, err := tx.ExecContext(ctx, `
				INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, attachments, status, facebook_message_id, sent_at, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, now())
				ON CONFLICT (page_id, facebook_message_id) WHERE facebook_message_id IS NOT NULL DO NOTHING`,
				uuid.NewString(), conversationID, t.PageID, direction, sender, kind, m.Text, string(raw), status, m.MID, m.At)
			if err != nil {
				return fmt.Errorf("message %s: %w", m.MID, err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		newConversations := 0
		if inserted {
			newConversations = 1
		}
		_, err = tx.ExecContext(ctx, `UPDATE page_history_imports SET conversations = conversations + $2, messages = messages + $3
			WHERE page_uuid = $1`, t.PageUUID, newConversations, added)
		return err
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}
