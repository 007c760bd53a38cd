package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"fbchannel/calendar"
)

// Queue is a queue as the admin API shows it.
type Queue struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	Priority  int    `json:"priority"`
	IsDefault bool   `json:"is_default"`
	// OperatingHours overrides the workstream's calendar for this queue (nil: the
	// workstream's applies).
	OperatingHours *calendar.Hours `json:"operating_hours"`
	// ServiceLevelSeconds is the queue's service level target: the KPI
	// service_level is the share of its answers within it.
	ServiceLevelSeconds int `json:"service_level_seconds"`
}

// DefaultServiceLevelSeconds is a new queue's service level target.
const DefaultServiceLevelSeconds = 60

// CreateQueue stores q (its values checked by the caller) as a queue of its
// account; an account that is not active is an *InvalidInput.
func (s *Store) CreateQueue(ctx context.Context, q Queue) (Queue, error) {
	q.ID = uuid.NewString()
	if q.ServiceLevelSeconds == 0 {
		q.ServiceLevelSeconds = DefaultServiceLevelSeconds
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := lockActiveAccount(ctx, tx, q.AccountID); err != nil {
			return err
		}
		ib := pg.NewInsertBuilder()
		ib.InsertInto("queues").Cols("id", "account_id", "name", "priority", "service_level_seconds").
			Values(q.ID, q.AccountID, q.Name, q.Priority, q.ServiceLevelSeconds)
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		return saveQueueHours(ctx, tx, q.ID, q.OperatingHours)
	})
	return q, err
}

// lockActiveAccount locks the account a new queue or workstream is to belong
// to (so that it cannot be deleted meanwhile); one that is missing or not
// active is an *InvalidInput.
func lockActiveAccount(ctx context.Context, tx *sql.Tx, accountID string) error {
	var status string
	if err := columnByID(ctx, tx, "accounts", "status", accountID, true, &status); err != nil || status != "active" {
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return invalidf("account_id: no active account has id %s.", accountID)
	}
	return nil
}

func (s *Store) queue(ctx context.Context, q querier, id string) (Queue, error) {
	if !validUUID(id) {
		return Queue{}, ErrNotFound
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id", "coalesce(account_id::text, '')", "name", "priority", "is_default", "service_level_seconds").From("queues").Where(sb.Equal("id", id))
	var out Queue
	err := queryRow(ctx, q, sb).Scan(&out.ID, &out.AccountID, &out.Name, &out.Priority, &out.IsDefault, &out.ServiceLevelSeconds)
	if err != nil {
		return out, notFound(err, "queue")
	}
	out.OperatingHours, err = queueHours(ctx, q, id)
	return out, err
}

// UpdateQueue renames a queue or changes its priority or service level target:
// change edits the queue as it is (its error is returned as it is) and the
// name, priority and target are saved.
func (s *Store) UpdateQueue(ctx context.Context, id string, change func(*Queue) error) (Queue, error) {
	q, err := s.queue(ctx, s.DB, id)
	if err != nil {
		return q, err
	}
	if err := change(&q); err != nil {
		return Queue{}, err
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("queues").Set(ub.Assign("name", q.Name), ub.Assign("priority", q.Priority), ub.Assign("service_level_seconds", q.ServiceLevelSeconds)).
			Where(ub.Equal("id", id))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return saveQueueHours(ctx, tx, id, q.OperatingHours)
	})
	return q, err
}

// AddQueueMember puts an agent in a queue (again: no change).
func (s *Store) AddQueueMember(ctx context.Context, queueID, agentID string) error {
	if err := s.queueAndAgentExist(ctx, queueID, agentID); err != nil {
		return err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("queue_members").Cols("queue_id", "agent_id").Values(queueID, agentID).SQL("ON CONFLICT DO NOTHING")
	_, err := exec(ctx, s.DB, ib)
	return err
}

// RemoveQueueMember takes an agent out of a queue; its conversations stay its own.
func (s *Store) RemoveQueueMember(ctx context.Context, queueID, agentID string) error {
	if err := s.queueAndAgentExist(ctx, queueID, agentID); err != nil {
		return err
	}
	db := pg.NewDeleteBuilder()
	db.DeleteFrom("queue_members").Where(db.Equal("queue_id", queueID), db.Equal("agent_id", agentID))
	_, err := exec(ctx, s.DB, db)
	return err
}

// queueAndAgentExist answers ErrNotFound unless both exist: a membership
// change needs both.
func (s *Store) queueAndAgentExist(ctx context.Context, queueID, agentID string) error {
	if _, err := s.queue(ctx, s.DB, queueID); err != nil {
		return err
	}
	return s.agentExists(ctx, agentID)
}

func (s *Store) agentExists(ctx context.Context, agentID string) error {
	if !validUUID(agentID) {
		return fmt.Errorf("agent: %w", ErrNotFound)
	}
	var id string
	return notFound(columnByID(ctx, s.DB, "agents", "id", agentID, false, &id), "agent")
}

// IsQueueMember says whether the agent is in the queue.
func (s *Store) IsQueueMember(ctx context.Context, queueID, agentID string) (bool, error) {
	if !validUUID(queueID) {
		return false, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("count(*)").From("queue_members").Where(sb.Equal("queue_id", queueID), sb.Equal("agent_id", agentID))
	var n int
	err := queryRow(ctx, s.DB, sb).Scan(&n)
	return n > 0, err
}

// UpdateAgentCapacity sets an agent's capacity (units). Lowering it below the
// agent's load takes nothing away: the agent only gets no new work until under it.
func (s *Store) UpdateAgentCapacity(ctx context.Context, agentID string, capacity int) error {
	if !validUUID(agentID) {
		return fmt.Errorf("agent: %w", ErrNotFound)
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("agents").Set(ub.Assign("capacity", capacity)).Where(ub.Equal("id", agentID))
	res, err := exec(ctx, s.DB, ub)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("agent: %w", ErrNotFound)
	}
	return nil
}

// AgentLoad is an agent as the supervisor sees it in a queue.
type AgentLoad struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Presence          string `json:"presence"`
	Capacity          int    `json:"capacity"`
	Load              int    `json:"load"` // capacity units taken by open conversations
	OpenConversations int    `json:"open_conversations"`
	RemainingCapacity int    `json:"remaining_capacity"`
}

// QueueView is the supervisor's view of a queue.
type QueueView struct {
	Queue
	// Length is the number of conversations waiting in the queue.
	Length             int         `json:"length"`
	OldestWaitingSince *time.Time  `json:"oldest_waiting_since"`
	OldestWaitSeconds  int         `json:"oldest_wait_seconds"`
	AgentsAvailable    int         `json:"agents_available"`
	Agents             []AgentLoad `json:"agents"`
}

// agentLoadColumns reads agents with their load; the caller adds the FROM's
// joins. open_conversations counts every conversation the agent holds that is
// not closed — active (assigned), offered, on hold or in wrap-up —, as the
// supervisor floor lists an agent's conversations; load counts only those that
// take capacity. A waiting conversation has no agent, so it is in no agent's count.
var agentLoadColumns = "a.id, a.name, a.presence, a.capacity, " +
	strings.Replace(agentLoad, "%v", "a.id", 1) + ", " +
	"(SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND " + agentHolds + ")"

// agentHolds is the condition (on conversations aliased x) of a conversation
// that is still its agent's: every status but closed (the floor's rule).
const agentHolds = "x.status <> 'closed'"

func scanAgentLoad(row rowScanner) (AgentLoad, error) {
	var a AgentLoad
	err := row.Scan(&a.ID, &a.Name, &a.Presence, &a.Capacity, &a.Load, &a.OpenConversations)
	a.RemainingCapacity = max(0, a.Capacity-a.Load)
	return a, err
}

// QueueViews is the supervisor view of the account's queues (every queue when
// accountID is ""), highest priority first.
func (s *Store) QueueViews(ctx context.Context, accountID string) ([]QueueView, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id").From("queues")
	if accountID != "" {
		if !validUUID(accountID) {
			return nil, ErrNotFound
		}
		if err := accountExists(ctx, s.DB, accountID); err != nil {
			return nil, err
		}
		sb.Where(sb.Equal("account_id", accountID))
	}
	sb.OrderBy("priority DESC", "name", "id")
	ids, err := queryIDs(ctx, s.DB, sb)
	if err != nil {
		return nil, err
	}
	views := []QueueView{}
	for _, id := range ids {
		v, err := s.QueueView(ctx, id)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// QueueView is one queue with its length, oldest wait, available agents and
// each member's load, read in one snapshot.
func (s *Store) QueueView(ctx context.Context, id string) (QueueView, error) {
	var v QueueView
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		q, err := s.queue(ctx, tx, id)
		if err != nil {
			return err
		}
		v.Queue = q
		sb := pg.NewSelectBuilder()
		sb.Select("count(*)", "min(enqueued_at)", "coalesce(extract(epoch FROM now() - min(enqueued_at))::int, 0)").
			From("conversations").Where(sb.Equal("queue_id", id), sb.Equal("status", "waiting"))
		if err := queryRow(ctx, tx, sb).Scan(&v.Length, &v.OldestWaitingSince, &v.OldestWaitSeconds); err != nil {
			return err
		}
		members := pg.NewSelectBuilder()
		members.Select(agentLoadColumns).From("agents a").Join("queue_members m", "m.agent_id = a.id").
			Where(members.Equal("m.queue_id", id)).OrderBy("a.name", "a.id")
		if v.Agents, err = queryAll(ctx, tx, members, scanAgentLoad); err != nil {
			return err
		}
		for _, a := range v.Agents {
			if a.Presence == "available" {
				v.AgentsAvailable++
			}
		}
		return nil
	})
	return v, err
}

// AgentView is one agent with its open conversations and remaining capacity.
type AgentView struct {
	AgentLoad
	Email         string         `json:"email"`
	Queues        []Queue        `json:"queues"`
	Conversations []Conversation `json:"conversations"`
}

// AgentView reads an agent for the supervisor (or the agent itself).
func (s *Store) AgentView(ctx context.Context, agentID string) (AgentView, error) {
	var v AgentView
	if !validUUID(agentID) {
		return v, fmt.Errorf("agent: %w", ErrNotFound)
	}
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select(agentLoadColumns, "a.email").From("agents a").Where(sb.Equal("a.id", agentID))
		row := queryRow(ctx, tx, sb)
		if err := row.Scan(&v.ID, &v.Name, &v.Presence, &v.Capacity, &v.Load, &v.OpenConversations, &v.Email); err != nil {
			return notFound(err, "agent")
		}
		v.RemainingCapacity = max(0, v.Capacity-v.Load)
		qs := pg.NewSelectBuilder()
		qs.Select("q.id").From("queues q").Join("queue_members m", "m.queue_id = q.id").
			Where(qs.Equal("m.agent_id", agentID)).OrderBy("q.priority DESC", "q.name", "q.id")
		ids, err := queryIDs(ctx, tx, qs)
		if err != nil {
			return err
		}
		v.Queues = []Queue{}
		for _, id := range ids {
			q, err := s.queue(ctx, tx, id)
			if err != nil {
				return err
			}
			v.Queues = append(v.Queues, q)
		}
		cs := conversationSelect()
		// The conversations open_conversations counts (agentHolds, on c).
		cs.Where(cs.Equal("c.agent_id", agentID), strings.ReplaceAll(agentHolds, "x.", "c.")).OrderBy("c.opened_at")
		v.Conversations, err = queryAll(ctx, tx, cs, scanConversation)
		return err
	})
	return v, err
}

// WaitingConversation is a conversation waiting in a queue, as members see it to pick.
type WaitingConversation struct {
	Conversation
	EnqueuedAt       time.Time `json:"enqueued_at"`
	WaitSeconds      int       `json:"wait_seconds"`
	DistributionMode string    `json:"distribution_mode"`
	// Preview is the customer's first message, so an agent knows what it picks.
	Preview string `json:"preview"`
}

// QueueConversations lists a queue's waiting conversations, oldest first (the
// order the queue serves them).
func (s *Store) QueueConversations(ctx context.Context, queueID string, limit int) ([]WaitingConversation, error) {
	if _, err := s.queue(ctx, s.DB, queueID); err != nil {
		return nil, err
	}
	sb := conversationSelect()
	sb.Select(conversationColumns, "c.enqueued_at", "coalesce(extract(epoch FROM now() - c.enqueued_at)::int, 0)",
		"coalesce(cw.distribution_mode, 'push')", "coalesce(("+firstTextSQL+"), '')").
		JoinWithOption("LEFT", "workstreams cw", "cw.id = c.workstream_id").
		Where(sb.Equal("c.queue_id", queueID), sb.Equal("c.status", "waiting")).
		OrderBy("c.enqueued_at", "c.id").Limit(limit)
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (WaitingConversation, error) {
		var w WaitingConversation
		var enqueued sql.NullTime
		extra := []any{&enqueued, &w.WaitSeconds, &w.DistributionMode, &w.Preview}
		conv, err := scanConversation(scanExtra{row, extra})
		w.Conversation, w.EnqueuedAt = conv, enqueued.Time
		return w, err
	})
}

// scanExtra lets scanConversation read a row with more columns after its own.
type scanExtra struct {
	row   rowScanner
	extra []any
}

func (s scanExtra) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra...)...) }

// firstTextSQL is the text of the conversation's first inbound message with text.
const firstTextSQL = "SELECT fm.text FROM messages fm WHERE fm.conversation_id = c.id AND fm.direction = 'inbound' AND fm.text <> '' " +
	"ORDER BY fm.sent_at NULLS LAST, fm.created_at, fm.id LIMIT 1"
