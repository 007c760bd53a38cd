package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/lib/pq"
)

// Agent roles (agents.role, migration 0017). Every agent works conversations; a
// supervisor also watches the queues an admin gives it.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
)

// Supervision is an agent's role and the queues it supervises.
type Supervision struct {
	AgentID  string   `json:"agent_id"`
	Role     string   `json:"role"`
	QueueIDs []string `json:"queue_ids"`
}

// GetSupervision reads an agent's role and supervised queues (ErrNotFound for an
// unknown agent).
func (s *Store) GetSupervision(ctx context.Context, agentID string) (Supervision, error) {
	return getSupervision(ctx, s.DB, agentID)
}

func getSupervision(ctx context.Context, q querier, agentID string) (Supervision, error) {
	sup := Supervision{AgentID: agentID, QueueIDs: []string{}}
	if !validUUID(agentID) {
		return sup, fmt.Errorf("agent: %w", ErrNotFound)
	}
	if err := columnByID(ctx, q, "agents", "role", agentID, false, &sup.Role); err != nil {
		return sup, notFound(err, "agent")
	}
	sb := pg.NewSelectBuilder()
	sb.Select("queue_id::text").From("supervisor_queues").Where(sb.Equal("agent_id", agentID)).OrderBy("queue_id")
	ids, err := queryIDs(ctx, q, sb)
	if err != nil {
		return sup, err
	}
	sup.QueueIDs = ids
	return sup, nil
}

// SetSupervision gives an agent its role and replaces its supervised queues, in
// one transaction. Queues must exist (an unknown one is a 400 naming it, and
// nothing changes); an agent with role "agent" supervises nothing.
func (s *Store) SetSupervision(ctx context.Context, agentID, role string, queueIDs []string) (Supervision, error) {
	if role != RoleAgent && role != RoleSupervisor {
		return Supervision{}, invalidf("role must be %q or %q", RoleAgent, RoleSupervisor)
	}
	if role == RoleAgent && len(queueIDs) > 0 {
		return Supervision{}, invalidf("queue_ids: only a supervisor supervises queues")
	}
	queueIDs = slices.Clone(queueIDs)
	slices.Sort(queueIDs)
	queueIDs = slices.Compact(queueIDs)
	for _, id := range queueIDs {
		if !validUUID(id) {
			return Supervision{}, invalidf("queue_ids: %q is not a queue id", id)
		}
	}
	if !validUUID(agentID) {
		return Supervision{}, fmt.Errorf("agent: %w", ErrNotFound)
	}
	var sup Supervision
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		if err := columnByID(ctx, tx, "agents", "id", agentID, true, &id); err != nil {
			return notFound(err, "agent")
		}
		if len(queueIDs) > 0 {
			sb := pg.NewSelectBuilder()
			sb.Select("id::text").From("queues").Where("id = ANY(" + sb.Var(pq.Array(queueIDs)) + "::uuid[])")
			found, err := queryIDs(ctx, tx, sb)
			if err != nil {
				return err
			}
			for _, q := range queueIDs {
				if !slices.Contains(found, q) {
					return invalidf("queue_ids: no queue has the id %s", q)
				}
			}
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("agents").Set(ub.Assign("role", role)).Where(ub.Equal("id", agentID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		db := pg.NewDeleteBuilder()
		db.DeleteFrom("supervisor_queues").Where(db.Equal("agent_id", agentID))
		if _, err := exec(ctx, tx, db); err != nil {
			return err
		}
		if len(queueIDs) > 0 {
			ib := pg.NewInsertBuilder()
			ib.InsertInto("supervisor_queues").Cols("agent_id", "queue_id")
			for _, q := range queueIDs {
				ib.Values(agentID, q)
			}
			if _, err := exec(ctx, tx, ib); err != nil {
				return err
			}
		}
		var err error
		sup, err = getSupervision(ctx, tx, agentID)
		return err
	})
	return sup, err
}

// SupervisedQueueIDs lists the queues an agent supervises: none unless its role
// is supervisor (a demoted agent's rows would not count even if left behind).
func (s *Store) SupervisedQueueIDs(ctx context.Context, agentID string) ([]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("sq.queue_id::text").From("supervisor_queues sq").Join("agents a", "a.id = sq.agent_id").
		Where(sb.Equal("sq.agent_id", agentID), sb.Equal("a.role", RoleSupervisor)).OrderBy("sq.queue_id")
	return queryIDs(ctx, s.DB, sb)
}

// SupervisesQueue says whether an agent supervises a queue.
func (s *Store) SupervisesQueue(ctx context.Context, agentID, queueID string) (bool, error) {
	if !validUUID(queueID) {
		return false, nil
	}
	ids, err := s.SupervisedQueueIDs(ctx, agentID)
	return slices.Contains(ids, queueID), err
}

// SupervisorConversations lists the conversations of the given queues (all
// queues when queueIDs is nil: the admin), open ones first, newest first, at
// most limit. It is the minimal supervisor page's list; the live floor is later.
func (s *Store) SupervisorConversations(ctx context.Context, queueIDs []string, limit int) ([]Conversation, error) {
	if queueIDs != nil && len(queueIDs) == 0 {
		return []Conversation{}, nil
	}
	sb := conversationSelect()
	if queueIDs != nil {
		sb.Where("c.queue_id = ANY(" + sb.Var(pq.Array(queueIDs)) + "::uuid[])")
	} else {
		sb.Where("c.queue_id IS NOT NULL")
	}
	sb.OrderBy("(c.status = 'closed')", "c.opened_at DESC", "c.id").Limit(limit)
	return queryAll(ctx, s.DB, sb, scanConversation)
}
