package store

// Supervisor actions on a conversation (issue 14): monitor, join (a note or a
// message as the page), reassign (assign.go's Transfer) and force close (the
// conversation workflow's close). Each is audited in supervisor_actions and
// tells the conversation's agent with an agent event, in the transaction of
// its own change where it has one.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Supervisor actions, as supervisor_actions.action records them.
const (
	ActionMonitor  = "monitor"
	ActionJoin     = "join"
	ActionReassign = "reassign"
	ActionClose    = "close"
)

// SenderSupervisor marks a message or note a supervisor wrote into a
// conversation it joined.
const SenderSupervisor = "supervisor"

// CloseReasonSupervisor is the close reason of a supervisor's force close.
const CloseReasonSupervisor = "supervisor_closed"

// Supervisor is who acts: a supervising agent, or the admin token (AgentID
// empty, Name "Admin"). Queues are the ones it supervises, nil for every queue.
type Supervisor struct {
	AgentID string
	Name    string
	Queues  []string
}

// Supervises says whether the supervisor may act in the queue.
func (s Supervisor) Supervises(queueID string) bool {
	return queueID != "" && (s.Queues == nil || slices.Contains(s.Queues, queueID))
}

// Ref names the supervisor in events: {"id" (null for the admin), "name"}.
func (s Supervisor) Ref() map[string]any {
	var id any
	if s.AgentID != "" {
		id = s.AgentID
	}
	return map[string]any{"id": id, "name": s.Name}
}

func (s Supervisor) agentID() any {
	if s.AgentID == "" {
		return nil
	}
	return s.AgentID
}

func recordSupervisorAction(ctx context.Context, q querier, sup Supervisor, action, conversationID string, details map[string]any) error {
	body, err := json.Marshal(details)
	if err != nil {
		return err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("supervisor_actions").Cols("supervisor_id", "action", "conversation_id", "details").
		Values(sup.agentID(), action, conversationID, string(body))
	_, err = exec(ctx, q, ib)
	return err
}

// SupervisedConversation reads a conversation the supervisor may act on:
// ErrNotFound for one outside its queues, as for one that does not exist.
func (s *Store) SupervisedConversation(ctx context.Context, sup Supervisor, id string) (Conversation, error) {
	c, err := s.GetConversation(ctx, id)
	if err == nil && (c.QueueID == nil || !sup.Supervises(*c.QueueID)) {
		err = fmt.Errorf("conversation: %w", ErrNotFound)
	}
	return c, err
}

// supervised is a conversation locked for a supervisor's action.
type supervised struct {
	status  string
	agentID *string
	pageID  string
}

// lockSupervised locks a conversation the supervisor may act on: ErrNotFound
// for one outside its queues, as for one that does not exist.
func lockSupervised(ctx context.Context, tx *sql.Tx, sup Supervisor, id string) (supervised, error) {
	var c supervised
	if !validUUID(id) {
		return c, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	sb := pg.NewSelectBuilder()
	sb.Select("status", "agent_id", "page_id", "coalesce(queue_id::text, '')").From("conversations").Where(sb.Equal("id", id)).ForUpdate()
	var queueID string
	if err := queryRow(ctx, tx, sb).Scan(&c.status, &c.agentID, &c.pageID, &queueID); err != nil {
		return c, notFound(err, "conversation")
	}
	if !sup.Supervises(queueID) {
		return c, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	return c, nil
}

// MonitorConversation records that the supervisor watches the conversation and
// tells its agent (conversation.monitored).
func (s *Store) MonitorConversation(ctx context.Context, sup Supervisor, conversationID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		c, err := lockSupervised(ctx, tx, sup, conversationID)
		if err != nil {
			return err
		}
		agentID := c.agentID
		if err := recordSupervisorAction(ctx, tx, sup, ActionMonitor, conversationID, map[string]any{}); err != nil {
			return err
		}
		if agentID == nil {
			return nil
		}
		return insertEvent(ctx, tx, *agentID, "conversation.monitored", conversationID, "monitored:"+uuid.NewString(),
			map[string]any{"by_supervisor": sup.Ref()})
	})
}

// SupervisorNote stores a supervisor's internal note on a conversation it
// joined: audited, marked as the supervisor's (sender "supervisor"), and told to
// the agent as note.added, in one transaction.
func (s *Store) SupervisorNote(ctx context.Context, sup Supervisor, conversationID, text string) (Message, error) {
	var m Message
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := lockSupervised(ctx, tx, sup, conversationID); err != nil {
			return err
		}
		var err error
		if m, err = s.insertNote(ctx, tx, conversationID, sup.agentID(), SenderSupervisor, text); err != nil {
			return err
		}
		return recordSupervisorAction(ctx, tx, sup, ActionJoin, conversationID, map[string]any{"note_id": m.ID})
	})
	return m, err
}

// InsertSupervisorReply stores a supervisor's message to the customer, sent as
// the page, as "sending" for the conversation workflow to send (like an
// agent's reply): audited, and shown to the conversation's agent at once
// (message.received); its statuses reach that agent too (notifyMessage).
func (s *Store) InsertSupervisorReply(ctx context.Context, sup Supervisor, conversationID, text string) (Message, error) {
	var m Message
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		c, err := lockSupervised(ctx, tx, sup, conversationID)
		if err != nil {
			return err
		}
		agentID := c.agentID
		if c.status == "closed" {
			return &Refused{Code: "conversation_not_open", Message: "This conversation is closed; a supervisor writes only into open conversations."}
		}
		id := uuid.NewString()
		ib := pg.NewInsertBuilder()
		ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "status", "agent_id").
			Values(id, conversationID, c.pageID,
				"outbound", SenderSupervisor, "text", text, "sending", sup.agentID())
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		if m, err = s.GetMessage(ctx, tx, id); err != nil {
			return err
		}
		if err := recordSupervisorAction(ctx, tx, sup, ActionJoin, conversationID, map[string]any{"message_id": id}); err != nil {
			return err
		}
		if agentID == nil {
			return nil
		}
		return insertEvent(ctx, tx, *agentID, "message.received", conversationID, "received:"+id+":"+*agentID,
			map[string]any{"message": m, "by_supervisor": sup.Ref()})
	})
	return m, err
}

// SupervisorClosed audits a supervisor's force close once its workflow closed
// the conversation, with the reason, which the agent also reads as a note. It
// answers whether the close that happened was a supervisor's: a concurrent
// close by the agent (or the customer's window) may have won, and then nothing
// is recorded.
func (s *Store) SupervisorClosed(ctx context.Context, sup Supervisor, conversationID, reason string) (bool, error) {
	won := false
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		c, err := lockSupervised(ctx, tx, sup, conversationID)
		if err != nil {
			return err
		}
		var closeReason string
		if err := columnByID(ctx, tx, "conversations", "close_reason", conversationID, false, &closeReason); err != nil {
			return err
		}
		if c.status != "closed" || closeReason != CloseReasonSupervisor {
			return nil
		}
		// Two supervisors closing at once: the first to record it is the one.
		ab := pg.NewSelectBuilder()
		ab.Select("count(*)").From("supervisor_actions").Where(ab.Equal("conversation_id", conversationID), ab.Equal("action", ActionClose))
		var n int
		if err := queryRow(ctx, tx, ab).Scan(&n); err != nil || n > 0 {
			return err
		}
		won = true
		if _, err := s.insertNote(ctx, tx, conversationID, sup.agentID(), SenderSupervisor, "Closed by "+sup.Name+": "+reason); err != nil {
			return err
		}
		return recordSupervisorAction(ctx, tx, sup, ActionClose, conversationID, map[string]any{"reason": reason})
	})
	return won, err
}

// SupervisorAction is one audited action.
type SupervisorAction struct {
	ID             int64           `json:"id"`
	SupervisorID   *string         `json:"supervisor_id"`
	Action         string          `json:"action"`
	ConversationID string          `json:"conversation_id"`
	Details        json.RawMessage `json:"details"`
	CreatedAt      time.Time       `json:"created_at"`
}

// SupervisorActions lists a conversation's audited actions, oldest first.
func (s *Store) SupervisorActions(ctx context.Context, conversationID string) ([]SupervisorAction, error) {
	if !validUUID(conversationID) {
		return []SupervisorAction{}, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id", "supervisor_id", "action", "conversation_id", "details", "created_at").From("supervisor_actions").
		Where(sb.Equal("conversation_id", conversationID)).OrderBy("id")
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (SupervisorAction, error) {
		var a SupervisorAction
		var details []byte
		err := row.Scan(&a.ID, &a.SupervisorID, &a.Action, &a.ConversationID, &details, &a.CreatedAt)
		a.Details = details
		return a, err
	})
}
