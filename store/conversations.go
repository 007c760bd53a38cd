package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"
)

// Customer, Conversation and Message are the shapes of CONTRACT.md.
type Customer struct {
	ID         string `json:"id"`
	PSID       string `json:"psid"`
	Name       string `json:"name"`
	ProfilePic string `json:"profile_pic"`
	Locale     string `json:"locale,omitempty"`
}

// AgentRef names an agent in another record.
type AgentRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type Window struct {
	ExpiresAt       *time.Time `json:"expires_at"`
	HumanAgentUntil *time.Time `json:"human_agent_until"`
}

type Conversation struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	PageID      string     `json:"page_id"`
	PageUUID    string     `json:"page_uuid"`
	Customer    Customer   `json:"customer"`
	AgentID     *string    `json:"agent_id"`
	QueueID     *string    `json:"queue_id"`
	OpenedAt    time.Time  `json:"opened_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	CloseReason string     `json:"close_reason,omitempty"`
	Disposition string     `json:"disposition,omitempty"`
	// What the workstream's bot handed over with, when it had the conversation first.
	BotHandoffReason string `json:"bot_handoff_reason,omitempty"`
	BotSummary       string `json:"bot_summary,omitempty"`
	// TransferNote is the note of the last transfer, for the agent it went to.
	TransferNote string `json:"transfer_note,omitempty"`
	// TransferredBy names the agent who made the last transfer (id and name).
	TransferredBy *AgentRef `json:"transferred_by,omitempty"`
	// HumanAgentTag is the workstream's setting; the window shows what it allows.
	HumanAgentTag bool `json:"-"`
	// AgentAttachments: the workstream lets agents send files (by URL).
	AgentAttachments bool      `json:"agent_attachments"`
	Window           Window    `json:"window"`
	Messages         []Message `json:"messages,omitempty"`
	// Previous lists the customer's earlier conversations on this page, newest first.
	Previous []PreviousConversation `json:"previous_conversations,omitempty"`
	// Contact is the contact the customer is linked to (null when none); only
	// GetConversation loads it (store/contacts.go).
	Contact ContactField `json:"contact,omitzero"`
	// PrivacyNoticeURL is the account's privacy notice, for the desk to show.
	PrivacyNoticeURL string `json:"privacy_notice_url,omitempty"`
	// The list row (store/desklist.go): filled by AgentConversations and GetConversation.
	UnreadCount  int             `json:"unread_count"`
	LastMessage  *MessagePreview `json:"last_message"`
	WaitingSince *time.Time      `json:"waiting_since"`
	WaitColours  WaitColours     `json:"wait_colours"`
	// Consults are the conversation's active consultants (store/consults.go);
	// only GetConversation loads them.
	Consults []Consult `json:"consults,omitempty"`
}

type Attachment struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type Message struct {
	ID                string       `json:"id"`
	ConversationID    string       `json:"conversation_id"`
	Direction         string       `json:"direction"`
	Sender            string       `json:"sender"`
	Kind              string       `json:"kind"`
	Text              string       `json:"text"`
	Attachments       []Attachment `json:"attachments"`
	Status            string       `json:"status"`
	Error             string       `json:"error"`
	Reason            string       `json:"reason,omitempty"`
	FacebookMessageID *string      `json:"facebook_message_id"`
	AgentID           *string      `json:"agent_id,omitempty"`
	CreatedAt         time.Time    `json:"created_at"`
	// ErasedAt is set when the customer's data was erased: text and attachments
	// are gone, and the transcript shows a "deleted" marker (store/privacy.go).
	ErasedAt *time.Time `json:"erased_at,omitempty"`
	// Reactions are the customer's and the agent's reactions (store/reactions.go).
	Reactions []Reaction `json:"reactions,omitempty"`
}

// StandardMessagingWindow mirrors workflows.StandardMessagingWindow for the views;
// the workflow is the one that enforces it.
const StandardMessagingWindow = 24 * time.Hour
const humanAgentWindow = 7 * 24 * time.Hour

const conversationColumns = "c.id, c.status, c.page_id, c.page_uuid, cu.id, cu.psid, cu.name, cu.profile_pic, cu.locale, " +
	"c.agent_id, c.queue_id, c.opened_at, c.closed_at, c.close_reason, c.disposition, c.bot_handoff_reason, c.bot_summary, c.transfer_note, c.last_customer_message_at, w.human_agent_tag, " +
	"c.transferred_by, coalesce(tb.name, ''), " +
	"coalesce(w.agent_attachments, true)"

func conversationSelect() *sqlbuilder.SelectBuilder {
	sb := pg.NewSelectBuilder()
	sb.Select(conversationColumns).From("conversations c").
		Join("customers cu", "cu.id = c.customer_id").
		Join("pages p", "p.id = c.page_uuid").
		JoinWithOption("LEFT", "workstreams w", "w.id = p.workstream_id").
		JoinWithOption("LEFT", "agents tb", "tb.id = c.transferred_by")
	return sb
}

func scanConversation(row interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var lastCustomer *time.Time
	var humanAgent sql.NullBool
	var transferredBy sql.NullString
	var transferredByName string
	err := row.Scan(&c.ID, &c.Status, &c.PageID, &c.PageUUID, &c.Customer.ID, &c.Customer.PSID, &c.Customer.Name,
		&c.Customer.ProfilePic, &c.Customer.Locale, &c.AgentID, &c.QueueID, &c.OpenedAt, &c.ClosedAt, &c.CloseReason,
		&c.Disposition, &c.BotHandoffReason, &c.BotSummary, &c.TransferNote, &lastCustomer, &humanAgent, &transferredBy, &transferredByName,
		&c.AgentAttachments)
	if err != nil {
		return c, err
	}
	c.HumanAgentTag = humanAgent.Bool
	if transferredBy.Valid {
		c.TransferredBy = &AgentRef{ID: transferredBy.String, Name: transferredByName}
	}
	if lastCustomer != nil {
		expires := lastCustomer.Add(StandardMessagingWindow)
		c.Window.ExpiresAt = &expires
		if humanAgent.Bool {
			until := lastCustomer.Add(humanAgentWindow)
			c.Window.HumanAgentUntil = &until
		}
	}
	return c, nil
}

// GetConversation returns one conversation with its messages, oldest first.
func (s *Store) GetConversation(ctx context.Context, id string) (Conversation, error) {
	if !validUUID(id) {
		return Conversation{}, ErrNotFound
	}
	c, err := s.conversation(ctx, s.DB, id)
	if err != nil {
		return c, err
	}
	if c.Messages, err = s.messages(ctx, s.DB, id); err != nil {
		return c, err
	}
	if c.Previous, err = s.previousConversations(ctx, c.Customer.ID, c.ID, c.OpenedAt); err != nil {
		return c, err
	}
	if c.Contact, err = customerContact(ctx, s.DB, c.Customer.ID); err != nil {
		return c, err
	}
	if c.PrivacyNoticeURL, err = pagePrivacyNoticeURL(ctx, s.DB, c.PageUUID); err != nil {
		return c, err
	}
	if c.Consults, err = s.ActiveConsults(ctx, c.ID); err != nil {
		return c, err
	}
	one := []Conversation{c}
	err = s.addListActivity(ctx, one)
	return one[0], err
}

// PreviousConversation summarises an earlier conversation with the same customer.
type PreviousConversation struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	OpenedAt    time.Time  `json:"opened_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	CloseReason string     `json:"close_reason,omitempty"`
	Disposition string     `json:"disposition,omitempty"`
	LastMessage string     `json:"last_message"`
}

func (s *Store) previousConversations(ctx context.Context, customerID, exceptID string, before time.Time) ([]PreviousConversation, error) {
	return customerConversations(ctx, s.DB, customerID, exceptID, before, "")
}

func (s *Store) conversation(ctx context.Context, q querier, id string) (Conversation, error) {
	sb := conversationSelect()
	sb.Where(sb.Equal("c.id", id))
	c, err := scanConversation(queryRow(ctx, q, sb))
	return c, notFound(err, "conversation")
}

// AgentConversations lists an agent's conversations, open ones first, newest first.
func (s *Store) AgentConversations(ctx context.Context, agentID string) ([]Conversation, error) {
	sb := conversationSelect()
	// Conversations the agent consults on are listed with its own (store/consults.go).
	sb.Where(sb.Or(sb.Equal("c.agent_id", agentID),
		"c.id IN (SELECT conversation_id FROM conversation_consults WHERE status = 'active' AND agent_id = "+sb.Var(agentID)+")")).
		OrderBy("(c.status = 'closed')", "c.opened_at DESC").Limit(200)
	list, err := queryAll(ctx, s.DB, sb, scanConversation)
	if err != nil {
		return nil, err
	}
	return list, s.addListActivity(ctx, list)
}

const messageColumns = "id, conversation_id, direction, sender, kind, text, attachments, status, error, reason, facebook_message_id, agent_id, created_at, erased_at, " + reactionsColumn

func scanMessage(row interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var attachments, reactions []byte
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Direction, &m.Sender, &m.Kind, &m.Text, &attachments, &m.Status,
		&m.Error, &m.Reason, &m.FacebookMessageID, &m.AgentID, &m.CreatedAt, &m.ErasedAt, &reactions); err != nil {
		return m, err
	}
	if err := json.Unmarshal(reactions, &m.Reactions); err != nil {
		return m, err
	}
	m.Attachments = []Attachment{}
	if err := json.Unmarshal(attachments, &m.Attachments); err != nil {
		return m, err
	}
	return m, nil
}

func (s *Store) messages(ctx context.Context, q querier, conversationID string) ([]Message, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(messageColumns).From("messages").Where(sb.Equal("conversation_id", conversationID)).OrderBy("created_at", "id")
	return queryAll(ctx, q, sb, scanMessage)
}

// GetMessage reads one message.
func (s *Store) GetMessage(ctx context.Context, q querier, id string) (Message, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(messageColumns).From("messages").Where(sb.Equal("id", id))
	m, err := scanMessage(queryRow(ctx, q, sb))
	return m, notFound(err, "message")
}

// InsertAgentReply stores an agent's reply as "sending" before the workflow sends it,
// so the text lives in Postgres and the workflow carries only the id.
func (s *Store) InsertAgentReply(ctx context.Context, conversationID, pageID, agentID, text string, attachments []Attachment) (string, error) {
	id := uuid.NewString()
	kind := "text"
	if len(attachments) > 0 {
		kind = "attachment"
	} else {
		attachments = []Attachment{}
	}
	body, err := json.Marshal(attachments)
	if err != nil {
		return "", err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "attachments", "status", "agent_id").
		Values(id, conversationID, pageID, "outbound", "agent", kind, text, string(body), "sending", agentID)
	_, err = exec(ctx, s.DB, ib)
	return id, err
}

// DeleteUnsentReply removes a reply the workflow refused to take.
func (s *Store) DeleteUnsentReply(ctx context.Context, id string) error {
	db := pg.NewDeleteBuilder()
	db.DeleteFrom("messages").Where(db.Equal("id", id), db.Equal("status", "sending"))
	_, err := exec(ctx, s.DB, db)
	return err
}

// Event is one entry of an agent's SSE stream.
type Event struct {
	ID   int64           `json:"id"`
	Name string          `json:"name"`
	Data json.RawMessage `json:"data"`
}

// insertEvent appends to an agent's event log; dedupKey makes a retried writer harmless.
func insertEvent(ctx context.Context, tx querier, agentID, name, conversationID, dedupKey string, data map[string]any) error {
	data["conversation_id"] = conversationID
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("agent_events").Cols("agent_id", "name", "conversation_id", "dedup_key", "data").
		Values(agentID, name, conversationID, dedupKey, string(body))
	ib.SQL("ON CONFLICT (dedup_key) DO NOTHING")
	if _, err = exec(ctx, tx, ib); err != nil {
		return err
	}
	return copyToConsultants(ctx, tx, agentID, name, conversationID, dedupKey, body)
}

// EventsSince returns an agent's events after afterID, oldest first, leaving out
// the ids in except (those a stream has already sent).
func (s *Store) EventsSince(ctx context.Context, agentID string, afterID int64, except []int64, limit int) ([]Event, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id", "name", "data").From("agent_events").
		Where(sb.Equal("agent_id", agentID), sb.GreaterThan("id", afterID)).OrderBy("id").Limit(limit)
	if len(except) > 0 {
		sb.Where("NOT (id = ANY(" + sb.Var(pq.Array(except)) + "))")
	}
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (e Event, err error) {
		var data []byte
		err = row.Scan(&e.ID, &e.Name, &data)
		e.Data = data
		return e, err
	})
}

// LatestEventID is where a fresh SSE stream (no Last-Event-ID) starts.
func (s *Store) LatestEventID(ctx context.Context, agentID string) (int64, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("coalesce(max(id), 0)").From("agent_events").Where(sb.Equal("agent_id", agentID))
	var id int64
	err := queryRow(ctx, s.DB, sb).Scan(&id)
	return id, err
}
