package store

// Consults (issue 13): the primary agent invites another agent, or a queue's
// longest-idle available member, to look at a conversation with it. A consult is
// a row of conversation_consults, never an assignment: conversations.agent_id
// stays the primary's, so the consultant's capacity (counted from agent_id) is
// untouched, and every path that acts for the assigned agent (replies, close,
// transfer) still refuses the consultant. Each start or end is one transaction
// with its events to both sides, under the conversation's row lock, which also
// serialises the count against MaxConsults.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
)

// MaxConsults is how many agents may consult on one conversation at a time.
const MaxConsults = 5

// Consult statuses.
const (
	ConsultActive      = "active"
	ConsultEnded       = "ended"
	ConsultTransferred = "transferred"
)

// Consult is one consultant on a conversation, as the API shows it.
type Consult struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	AgentID        string     `json:"agent_id"`
	AgentName      string     `json:"agent_name"`
	InvitedBy      string     `json:"invited_by"`
	InvitedByName  string     `json:"invited_by_name"`
	Status         string     `json:"status"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
}

// ConsultRequest invites AgentID, or an available member of QueueID, onto the
// primary agent's conversation.
type ConsultRequest struct {
	ConversationID, PrimaryID string
	AgentID, QueueID          string
}

const consultColumns = "k.id, k.conversation_id, k.agent_id, a.name, k.invited_by, i.name, k.status, k.started_at, k.ended_at"

func consultSelect() *sqlbuilder.SelectBuilder {
	sb := pg.NewSelectBuilder()
	sb.Select(consultColumns).From("conversation_consults k").Join("agents a", "a.id = k.agent_id").Join("agents i", "i.id = k.invited_by")
	return sb
}

func scanConsult(row rowScanner) (Consult, error) {
	var k Consult
	err := row.Scan(&k.ID, &k.ConversationID, &k.AgentID, &k.AgentName, &k.InvitedBy, &k.InvitedByName, &k.Status, &k.StartedAt, &k.EndedAt)
	return k, err
}

func consultByID(ctx context.Context, q querier, conversationID, id string) (Consult, error) {
	if !validUUID(id) {
		return Consult{}, fmt.Errorf("consult: %w", ErrNotFound)
	}
	sb := consultSelect()
	sb.Where(sb.Equal("k.id", id), sb.Equal("k.conversation_id", conversationID))
	k, err := scanConsult(queryRow(ctx, q, sb))
	return k, notFound(err, "consult")
}

// ActiveConsults lists the conversation's consultants, first invited first.
func (s *Store) ActiveConsults(ctx context.Context, conversationID string) ([]Consult, error) {
	sb := consultSelect()
	sb.Where(sb.Equal("k.conversation_id", conversationID), sb.Equal("k.status", ConsultActive)).OrderBy("k.started_at", "k.id")
	return queryAll(ctx, s.DB, sb, scanConsult)
}

// IsConsultant says whether the agent consults on the conversation now.
func (s *Store) IsConsultant(ctx context.Context, conversationID, agentID string) (bool, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("count(*)").From("conversation_consults").
		Where(sb.Equal("conversation_id", conversationID), sb.Equal("agent_id", agentID), sb.Equal("status", ConsultActive))
	var n int
	err := queryRow(ctx, s.DB, sb).Scan(&n)
	return n > 0, err
}

// StartConsult invites a consultant. The conversation must be the primary's and
// open; the consultant must be available, not the primary and not consulting
// already; at most MaxConsults at a time. A queue gives its longest-idle
// available member who is neither.
func (s *Store) StartConsult(ctx context.Context, req ConsultRequest) (Consult, error) {
	var k Consult
	if !validUUID(req.ConversationID) {
		return k, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, agentID, err := lockConversation(ctx, tx, req.ConversationID)
		if err != nil {
			return err
		}
		if agentID == nil || *agentID != req.PrimaryID {
			return fmt.Errorf("conversation: %w", ErrNotFound)
		}
		switch status {
		case "closed", "waiting":
			return &Refused{Code: "conversation_not_open", Message: "This conversation is " + status + "; only an open conversation can have consultants."}
		case "wrap_up":
			return &Refused{Code: "conversation_not_open", Message: "This conversation has ended (you are wrapping it up); only an open conversation can have consultants."}
		}
		if status == "offered" {
			// Not the agent's until accepted: a declined or expired offer would
			// leave the consultant in a conversation nobody has.
			return &Refused{Code: "offer_not_accepted", Message: "This conversation is offered to you; accept it before inviting a consultant."}
		}
		var accountID string
		as := pg.NewSelectBuilder()
		as.Select("p.account_id").From("conversations c").Join("pages p", "p.id = c.page_uuid").Where(as.Equal("c.id", req.ConversationID))
		if err := queryRow(ctx, tx, as).Scan(&accountID); err != nil {
			return err
		}
		count := pg.NewSelectBuilder()
		count.Select("count(*)").From("conversation_consults").
			Where(count.Equal("conversation_id", req.ConversationID), count.Equal("status", ConsultActive))
		var n int
		if err := queryRow(ctx, tx, count).Scan(&n); err != nil {
			return err
		}
		if n >= MaxConsults {
			return &Refused{Code: "consult_limit", Message: fmt.Sprintf("This conversation has %d consultants already, the most it can have; end one first.", MaxConsults)}
		}
		consultant := req.AgentID
		if req.QueueID != "" {
			if err := queueOfAccount(ctx, tx, req.QueueID, accountID); err != nil {
				return fmt.Errorf("queue_id: %w", err)
			}
			if consultant, err = queueConsultant(ctx, tx, req); err != nil {
				return err
			}
		} else if err := checkConsultant(ctx, tx, req, accountID); err != nil {
			return err
		}
		id := uuid.NewString()
		ib := pg.NewInsertBuilder()
		ib.InsertInto("conversation_consults").Cols("id", "conversation_id", "agent_id", "invited_by").
			Values(id, req.ConversationID, consultant, req.PrimaryID)
		if _, err := exec(ctx, tx, ib); err != nil {
			if isUniqueViolation(err) {
				return &Refused{Code: "already_consulting", Message: "That agent is already consulting on this conversation.", Err: ErrConflict}
			}
			return err
		}
		if k, err = consultByID(ctx, tx, req.ConversationID, id); err != nil {
			return err
		}
		return tellConsultSides(ctx, tx, "consult.started", k, req.PrimaryID)
	})
	return k, err
}

// checkConsultant refuses an invited agent who is the primary, unknown outside
// the conversation's account, or not available.
func checkConsultant(ctx context.Context, tx *sql.Tx, req ConsultRequest, accountID string) error {
	if req.AgentID == req.PrimaryID {
		return invalidf("agent_id: the conversation is yours already; invite another agent.")
	}
	sb := pg.NewSelectBuilder()
	sb.Select("a.name", "a.presence").From("agents a").
		Where(sb.Equal("a.id", req.AgentID),
			"EXISTS (SELECT 1 FROM queue_members m JOIN queues q ON q.id = m.queue_id WHERE m.agent_id = a.id AND q.account_id = "+sb.Var(accountID)+")")
	var name, presence string
	if err := queryRow(ctx, tx, sb).Scan(&name, &presence); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return invalidf("agent_id: no agent of this account has id %s.", req.AgentID)
		}
		return err
	}
	if presence != "available" {
		return &Refused{Code: "agent_unavailable", Message: name + " is " + presence + "; invite an available agent, or a queue."}
	}
	return nil
}

// queueConsultant picks the queue's longest-idle available member who is not the
// primary and not consulting on the conversation already.
func queueConsultant(ctx context.Context, tx *sql.Tx, req ConsultRequest) (string, error) {
	sb := sqlbuilder.Buildf("SELECT a.id FROM agents a JOIN queue_members m ON m.agent_id = a.id "+
		"WHERE m.queue_id = %v AND a.presence = 'available' AND a.id <> %v "+
		"AND NOT EXISTS (SELECT 1 FROM conversation_consults k WHERE k.conversation_id = %v AND k.agent_id = a.id AND k.status = 'active') "+
		"ORDER BY a.last_assigned_at, a.id LIMIT 1", req.QueueID, req.PrimaryID, req.ConversationID)
	var id string
	if err := queryRow(ctx, tx, sb).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", &Refused{Code: "no_agent_available", Message: "Nobody in that queue is available to consult; try another queue or agent."}
		}
		return "", err
	}
	return id, nil
}

// EndConsult ends a consult; the primary agent or the consultant may.
func (s *Store) EndConsult(ctx context.Context, conversationID, consultID, agentID string) (Consult, error) {
	var k Consult
	if !validUUID(conversationID) {
		return k, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		_, primary, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if k, err = consultByID(ctx, tx, conversationID, consultID); err != nil {
			return err
		}
		isPrimary := primary != nil && *primary == agentID
		if !isPrimary && k.AgentID != agentID {
			return fmt.Errorf("consult: %w", ErrNotFound)
		}
		if k.Status != ConsultActive {
			return &Refused{Code: "consult_ended", Message: "This consult has ended already."}
		}
		k, err = endConsult(ctx, tx, k, agentID, ConsultEnded)
		if err != nil {
			return err
		}
		primaryID := k.InvitedBy
		if primary != nil {
			primaryID = *primary
		}
		return tellConsultSides(ctx, tx, "consult.ended", k, primaryID)
	})
	return k, err
}

// endConsult closes the consult's row with the given status; by is the agent
// who ended it, or "" when no agent did (the admin's reassignment).
func endConsult(ctx context.Context, tx *sql.Tx, k Consult, by, status string) (Consult, error) {
	ub := pg.NewUpdateBuilder()
	endedBy := "ended_by = NULL"
	if by != "" {
		endedBy = ub.Assign("ended_by", by)
	}
	ub.Update("conversation_consults").Set(ub.Assign("status", status), "ended_at = now()", endedBy).
		Where(ub.Equal("id", k.ID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return k, err
	}
	return consultByID(ctx, tx, k.ConversationID, k.ID)
}

// endConsultForTransfer ends the consultant's consult when the conversation is
// transferred to it, inside the transfer's transaction.
func endConsultForTransfer(ctx context.Context, tx *sql.Tx, req TransferRequest) error {
	k, err := consultByID(ctx, tx, req.ConversationID, req.ConsultID)
	if err != nil {
		return err
	}
	if k.Status != ConsultActive || k.AgentID != req.ToAgentID {
		return &Refused{Code: "consult_ended", Message: "This consult has ended already."}
	}
	if k, err = endConsult(ctx, tx, k, req.FromAgentID, ConsultTransferred); err != nil {
		return err
	}
	return tellConsultSides(ctx, tx, "consult.ended", k, req.FromAgentID)
}

// endConsultsAtClose ends the conversation's consults when it closes: the
// consultants got conversation.closed, then consult.ended takes the
// conversation off their lists.
func endConsultsAtClose(ctx context.Context, tx *sql.Tx, conversationID, primaryID string) error {
	return endActiveConsults(ctx, tx, conversationID, primaryID, primaryID, "")
}

// endActiveConsults ends every active consult of the conversation, each with
// the consult.ended a consult ended by hand gets, when the conversation leaves
// its primary agent (closed, transferred, reassigned): a consult is an
// invitation from that agent, so it must not outlive the agent's hold on the
// conversation. primaryID is the agent who had the conversation ("" for a
// waiting one: then each consult's inviter is told); by ended them ("" for
// the admin). A consultant who is the transfer's target (toAgentID) ends as
// transferred, as by the consult's own transfer, so its desk keeps the
// conversation that conversation.assigned just gave it.
func endActiveConsults(ctx context.Context, tx *sql.Tx, conversationID, primaryID, by, toAgentID string) error {
	sb := consultSelect()
	sb.Where(sb.Equal("k.conversation_id", conversationID), sb.Equal("k.status", ConsultActive))
	active, err := queryAll(ctx, tx, sb, scanConsult)
	if err != nil {
		return err
	}
	for _, k := range active {
		status := ConsultEnded
		if toAgentID != "" && k.AgentID == toAgentID {
			status = ConsultTransferred
		}
		if k, err = endConsult(ctx, tx, k, by, status); err != nil {
			return err
		}
		tell := primaryID
		if tell == "" {
			tell = k.InvitedBy
		}
		if err := tellConsultSides(ctx, tx, "consult.ended", k, tell); err != nil {
			return err
		}
	}
	return nil
}

// tellConsultSides writes the consult's event to the primary agent and the consultant.
func tellConsultSides(ctx context.Context, tx *sql.Tx, name string, k Consult, primaryID string) error {
	for _, agent := range []string{primaryID, k.AgentID} {
		if err := insertEvent(ctx, tx, agent, name, k.ConversationID, name+":"+k.ID+":"+k.Status+":"+agent,
			map[string]any{"consult": k}); err != nil {
			return err
		}
	}
	return nil
}

// consultedEvents are the conversation's events its consultants get too: what
// keeps their copy of the transcript live. Assignment and transfer events stay
// the primary's.
var consultedEvents = map[string]bool{
	"message.received": true, "message.status": true, "message.updated": true, "note.added": true,
	"message.reaction": true, "customer.updated": true, "conversation.closed": true,
}

// copyToConsultants writes an event the primary agent got to each active
// consultant as well (one statement; none when there are no consultants).
func copyToConsultants(ctx context.Context, tx querier, agentID, name, conversationID, dedupKey string, body []byte) error {
	if !consultedEvents[name] {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO agent_events (agent_id, name, conversation_id, dedup_key, data)
		SELECT agent_id, $1, conversation_id, $2::text || ':consult:' || agent_id::text, $3::jsonb FROM conversation_consults
		WHERE conversation_id = $4 AND status = 'active' AND agent_id <> $5
		ON CONFLICT (dedup_key) DO NOTHING`, name, dedupKey, string(body), conversationID, agentID)
	return err
}
