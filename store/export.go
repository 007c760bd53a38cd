package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Transcript export (issue 14): one conversation as JSON, text or HTML (rendered
// by the API from these rows), and an account's conversations in a time range as
// NDJSON. Everything is read in pages with keyset pagination and written as it
// is read, so an export's memory does not grow with its size: at most one page
// of conversation headers and one page of messages is held at a time.

// exportConversationPage and exportMessagePage are the page sizes of the keyset
// walks: big enough that round trips are a small part of the time, small enough
// that a page is a few hundred kilobytes at most.
const (
	exportConversationPage = 200
	exportMessagePage      = 1000
)

// ExportConversation is a conversation's header in an export: the contract's
// conversation fields plus who and where, without the live-only fields
// (window, unread counts). Erased customers are never exported.
type ExportConversation struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	Status      string     `json:"status"`
	PageID      string     `json:"page_id"`
	PageUUID    string     `json:"page_uuid"`
	Customer    Customer   `json:"customer"`
	AgentID     *string    `json:"agent_id"`
	AgentName   string     `json:"agent_name,omitempty"`
	QueueID     *string    `json:"queue_id"`
	QueueName   string     `json:"queue_name,omitempty"`
	OpenedAt    time.Time  `json:"opened_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	CloseReason string     `json:"close_reason,omitempty"`
	Disposition string     `json:"disposition,omitempty"`
}

// ExportMessage is one transcript line. Internal is true for what the customer
// never saw (notes: kind "note", direction "internal"); attachments are their
// URLs, never the files.
type ExportMessage struct {
	ID          string       `json:"id"`
	Direction   string       `json:"direction"`
	Sender      string       `json:"sender"`
	Kind        string       `json:"kind"`
	Internal    bool         `json:"internal"`
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments"`
	Status      string       `json:"status"`
	AgentID     *string      `json:"agent_id,omitempty"`
	AgentName   string       `json:"agent_name,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// IsInternal says whether a message row is internal to the team: a note, or
// anything else written with direction "internal".
func IsInternal(direction, kind string) bool {
	return direction == "internal" || kind == "note"
}

func exportConversationSelect() string {
	return "c.id, p.account_id, c.status, c.page_id, c.page_uuid, cu.id, cu.psid, cu.name, cu.profile_pic, cu.locale, " +
		"c.agent_id, coalesce(ag.name, ''), c.queue_id, coalesce(q.name, ''), c.opened_at, c.closed_at, c.close_reason, c.disposition"
}

func scanExportConversation(row rowScanner) (ExportConversation, error) {
	var c ExportConversation
	err := row.Scan(&c.ID, &c.AccountID, &c.Status, &c.PageID, &c.PageUUID, &c.Customer.ID, &c.Customer.PSID, &c.Customer.Name,
		&c.Customer.ProfilePic, &c.Customer.Locale, &c.AgentID, &c.AgentName, &c.QueueID, &c.QueueName, &c.OpenedAt, &c.ClosedAt,
		&c.CloseReason, &c.Disposition)
	return c, err
}

// ExportConversationByID reads one conversation's header for a transcript:
// ErrNotFound for an unknown id, ErrGone when its customer was erased.
func (s *Store) ExportConversationByID(ctx context.Context, id string) (ExportConversation, error) {
	if !validUUID(id) {
		return ExportConversation{}, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	sb := pg.NewSelectBuilder()
	sb.Select(exportConversationSelect(), "cu.erased_at IS NOT NULL").From("conversations c").
		Join("pages p", "p.id = c.page_uuid").
		Join("customers cu", "cu.id = c.customer_id").
		JoinWithOption("LEFT", "agents ag", "ag.id = c.agent_id").
		JoinWithOption("LEFT", "queues q", "q.id = c.queue_id").
		Where(sb.Equal("c.id", id))
	var erased bool
	c, err := scanExportConversation(scanExtra{queryRow(ctx, s.DB, sb), []any{&erased}})
	if err != nil {
		return c, notFound(err, "conversation")
	}
	if erased {
		return c, fmt.Errorf("conversation of an erased customer: %w", ErrGone)
	}
	return c, nil
}

// EachExportMessage calls fn with every message of a conversation, oldest
// first, reading them a page at a time (keyset on created_at, id).
func (s *Store) EachExportMessage(ctx context.Context, conversationID string, fn func(ExportMessage) error) error {
	return eachPage(exportMessagePage, fn, func(after *ExportMessage) ([]ExportMessage, error) {
		sb := pg.NewSelectBuilder()
		sb.Select("m.id", "m.direction", "m.sender", "m.kind", "m.text", "m.attachments", "m.status", "m.agent_id",
			"coalesce(a.name, '')", "m.created_at").
			From("messages m").JoinWithOption("LEFT", "agents a", "a.id = m.agent_id").
			Where(sb.Equal("m.conversation_id", conversationID)).
			OrderBy("m.created_at", "m.id").Limit(exportMessagePage)
		if after != nil {
			sb.Where("(m.created_at, m.id) > (" + sb.Var(after.CreatedAt) + ", " + sb.Var(after.ID) + "::uuid)")
		}
		return queryAll(ctx, s.DB, sb, func(row rowScanner) (ExportMessage, error) {
			var m ExportMessage
			var attachments []byte
			if err := row.Scan(&m.ID, &m.Direction, &m.Sender, &m.Kind, &m.Text, &attachments, &m.Status, &m.AgentID,
				&m.AgentName, &m.CreatedAt); err != nil {
				return m, err
			}
			m.Internal = IsInternal(m.Direction, m.Kind)
			m.Attachments = []Attachment{}
			return m, json.Unmarshal(attachments, &m.Attachments)
		})
	})
}

// eachPage calls fn with every row of a keyset walk: next reads the page of
// at most size rows after the last one of the previous page (nil: the first).
func eachPage[T any](size int, fn func(T) error, next func(after *T) ([]T, error)) error {
	var after *T
	for {
		page, err := next(after)
		if err != nil {
			return err
		}
		for _, row := range page {
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(page) < size {
			return nil
		}
		after = &page[len(page)-1]
	}
}

// EachExportConversation calls fn with every conversation of an account opened
// in [from, to), oldest first, leaving out erased customers' conversations. It
// reads the headers a page at a time (keyset on opened_at, id); fn may read
// each conversation's messages meanwhile.
func (s *Store) EachExportConversation(ctx context.Context, accountID string, from, to time.Time, fn func(ExportConversation) error) error {
	if !validUUID(accountID) {
		return fmt.Errorf("account: %w", ErrNotFound)
	}
	return eachPage(exportConversationPage, fn, func(after *ExportConversation) ([]ExportConversation, error) {
		sb := pg.NewSelectBuilder()
		sb.Select(exportConversationSelect()).From("conversations c").
			Join("pages p", "p.id = c.page_uuid").
			Join("customers cu", "cu.id = c.customer_id").
			JoinWithOption("LEFT", "agents ag", "ag.id = c.agent_id").
			JoinWithOption("LEFT", "queues q", "q.id = c.queue_id").
			Where(sb.Equal("p.account_id", accountID), "cu.erased_at IS NULL",
				sb.GreaterEqualThan("c.opened_at", from), sb.LessThan("c.opened_at", to)).
			OrderBy("c.opened_at", "c.id").Limit(exportConversationPage)
		if after != nil {
			sb.Where("(c.opened_at, c.id) > (" + sb.Var(after.OpenedAt) + ", " + sb.Var(after.ID) + "::uuid)")
		}
		return queryAll(ctx, s.DB, sb, scanExportConversation)
	})
}

// AccountExists says whether an account id is known (the bulk export's 404).
func (s *Store) AccountExists(ctx context.Context, accountID string) (bool, error) {
	if !validUUID(accountID) {
		return false, nil
	}
	var n int
	err := columnByID(ctx, s.DB, "accounts", "count(*)", accountID, false, &n)
	return n > 0, err
}

// ExportStats counts what an export wrote.
type ExportStats struct {
	Conversations int64
	Messages      int64
	Bytes         int64
}

// WriteConversationJSON writes one conversation as a JSON object, its header's
// fields followed by "messages", streaming the messages from the database.
func (s *Store) WriteConversationJSON(ctx context.Context, w io.Writer, c ExportConversation, stats *ExportStats) error {
	head, err := json.Marshal(c)
	if err != nil {
		return err
	}
	// The header's closing brace makes way for the messages array.
	if _, err := w.Write(append(head[:len(head)-1], `,"messages":[`...)); err != nil {
		return err
	}
	first := true
	err = s.EachExportMessage(ctx, c.ID, func(m ExportMessage) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte{','}, b...)
		}
		first = false
		stats.Messages++
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "]}")
	return err
}

// WriteAccountExport writes every conversation of an account opened in
// [from, to) as NDJSON, one conversation (with its messages) per line, oldest
// first. flush, when not nil, is called after each conversation, so a client
// sees lines as they are made and nothing piles up in buffers.
func (s *Store) WriteAccountExport(ctx context.Context, w io.Writer, flush func(), accountID string, from, to time.Time) (ExportStats, error) {
	var stats ExportStats
	counted := &countingWriter{w: w}
	buf := bufio.NewWriterSize(counted, 64<<10)
	err := s.EachExportConversation(ctx, accountID, from, to, func(c ExportConversation) error {
		if err := s.WriteConversationJSON(ctx, buf, c, &stats); err != nil {
			return err
		}
		if err := buf.WriteByte('\n'); err != nil {
			return err
		}
		stats.Conversations++
		if err := buf.Flush(); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
		return nil
	})
	if err == nil {
		err = buf.Flush()
	}
	stats.Bytes = counted.n
	return stats, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
