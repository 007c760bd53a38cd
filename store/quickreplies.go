package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// QuickReply is a saved reply: in an account's library (AccountID set, managed
// by admins) or an agent's own (AgentID set). Its text may hold slugs that the
// desk fills at send time; the API checks them before the store sees the text.
type QuickReply struct {
	ID        string    `json:"id"`
	Scope     string    `json:"scope"` // account | personal
	AccountID *string   `json:"account_id,omitempty"`
	AgentID   *string   `json:"agent_id,omitempty"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Tags      []string  `json:"tags"`
	Locale    string    `json:"locale"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Filled is Text with the slugs filled for one conversation, when the
	// caller named one (api/quickreplies.go).
	Filled *string `json:"filled_text,omitempty"`
}

// QuickReplyChange is a PATCH: nil fields stay as they are.
type QuickReplyChange struct {
	Title, Text, Locale *string
	Tags                *[]string
}

const quickReplyColumns = "id, account_id, agent_id, title, text, tags, locale, created_at, updated_at"

func scanQuickReply(row rowScanner) (QuickReply, error) {
	var r QuickReply
	var tags pq.StringArray
	err := row.Scan(&r.ID, &r.AccountID, &r.AgentID, &r.Title, &r.Text, &tags, &r.Locale, &r.CreatedAt, &r.UpdatedAt)
	r.Tags = []string(tags)
	if r.Tags == nil {
		r.Tags = []string{}
	}
	r.Scope = "personal"
	if r.AccountID != nil {
		r.Scope = "account"
	}
	return r, err
}

// CreateQuickReply stores a reply for an account (accountID set; the account
// must exist, else ErrNotFound) or for an agent (agentID set).
func (s *Store) CreateQuickReply(ctx context.Context, accountID, agentID *string, title, text string, tags []string, locale string) (QuickReply, error) {
	if accountID != nil {
		if !validUUID(*accountID) {
			return QuickReply{}, ErrNotFound
		}
		var one int
		sb := pg.NewSelectBuilder()
		sb.Select("1").From("accounts").Where(sb.Equal("id", *accountID))
		if err := queryRow(ctx, s.DB, sb).Scan(&one); err != nil {
			return QuickReply{}, notFound(err, "account")
		}
	}
	if tags == nil {
		tags = []string{}
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("quick_replies").Cols("id", "account_id", "agent_id", "title", "text", "tags", "locale").
		Values(uuid.NewString(), accountID, agentID, title, text, pq.StringArray(tags), locale)
	ib.SQL("RETURNING " + quickReplyColumns)
	return scanQuickReply(queryRow(ctx, s.DB, ib))
}

// UpdateQuickReply changes a reply of the given owner (accountID or agentID,
// the other nil); a reply of another owner is ErrNotFound.
func (s *Store) UpdateQuickReply(ctx context.Context, accountID, agentID *string, id string, ch QuickReplyChange) (QuickReply, error) {
	if !validUUID(id) {
		return QuickReply{}, ErrNotFound
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("quick_replies")
	assign := []string{"updated_at = now()"}
	if ch.Title != nil {
		assign = append(assign, ub.Assign("title", *ch.Title))
	}
	if ch.Text != nil {
		assign = append(assign, ub.Assign("text", *ch.Text))
	}
	if ch.Locale != nil {
		assign = append(assign, ub.Assign("locale", *ch.Locale))
	}
	if ch.Tags != nil {
		tags := *ch.Tags
		if tags == nil {
			tags = []string{}
		}
		assign = append(assign, ub.Assign("tags", pq.StringArray(tags)))
	}
	ub.Set(assign...).Where(ub.Equal("id", id), ownerWhere(&ub.Cond, accountID, agentID))
	ub.SQL("RETURNING " + quickReplyColumns)
	r, err := scanQuickReply(queryRow(ctx, s.DB, ub))
	return r, notFound(err, "quick reply")
}

// DeleteQuickReply removes a reply of the given owner.
func (s *Store) DeleteQuickReply(ctx context.Context, accountID, agentID *string, id string) error {
	if !validUUID(id) {
		return ErrNotFound
	}
	db := pg.NewDeleteBuilder()
	db.DeleteFrom("quick_replies").Where(db.Equal("id", id), ownerWhere(&db.Cond, accountID, agentID))
	res, err := exec(ctx, s.DB, db)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(sql.ErrNoRows, "quick reply")
	}
	return nil
}

type condBuilder interface {
	Equal(field string, value any) string
}

func ownerWhere(c condBuilder, accountID, agentID *string) string {
	if accountID != nil {
		return c.Equal("account_id", *accountID)
	}
	return c.Equal("agent_id", *agentID)
}

// AccountQuickReplies lists an account's library, by title.
func (s *Store) AccountQuickReplies(ctx context.Context, accountID string) ([]QuickReply, error) {
	if !validUUID(accountID) {
		return nil, ErrNotFound
	}
	sb := pg.NewSelectBuilder()
	sb.Select(quickReplyColumns).From("quick_replies").Where(sb.Equal("account_id", accountID)).OrderBy("lower(title)", "id")
	return queryAll(ctx, s.DB, sb, scanQuickReply)
}

// AgentQuickReplies lists what an agent may use: its personal replies and the
// libraries of the accounts whose queues it belongs to. q (when not empty)
// matches a title containing it or a tag starting with it, ignoring case; the
// replies in locale come first (a reply "en" fits a customer's "en_US"), then
// those for any locale (""), then the rest. pageUUID, when set, adds the
// library of that page's account (the conversation's, which an agent who got
// it by transfer may not share a queue with).
func (s *Store) AgentQuickReplies(ctx context.Context, agentID, pageUUID, q, locale string) ([]QuickReply, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(quickReplyColumns).From("quick_replies r")
	accounts := "SELECT qu.account_id FROM queue_members m JOIN queues qu ON qu.id = m.queue_id WHERE m.agent_id = " + sb.Var(agentID)
	if pageUUID != "" {
		accounts += " UNION SELECT p.account_id FROM pages p WHERE p.id = " + sb.Var(pageUUID)
	}
	sb.Where(sb.Or(
		sb.Equal("r.agent_id", agentID),
		"r.account_id IN ("+accounts+")",
	))
	if q != "" {
		pattern := likeEscape(q)
		sb.Where(sb.Or(
			"r.title ILIKE "+sb.Var("%"+pattern+"%"),
			"EXISTS (SELECT 1 FROM unnest(r.tags) t WHERE t ILIKE "+sb.Var(pattern+"%")+")",
		))
	}
	loc := sb.Var(locale)
	sb.OrderBy("CASE WHEN r.locale <> '' AND (lower(r.locale) = lower("+loc+") OR lower("+loc+") LIKE lower(r.locale) || '\\_%') THEN 0 "+
		"WHEN r.locale = '' THEN 1 ELSE 2 END", "lower(r.title)", "r.id").Limit(50)
	return queryAll(ctx, s.DB, sb, scanQuickReply)
}

// likeEscape makes s match itself in a LIKE pattern.
func likeEscape(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}
