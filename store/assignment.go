package store

import (
	"context"
	"database/sql"

	"github.com/google/uuid"
)

// OpenConversation creates the customer (once per page and PSID) and the
// conversation, waiting but not yet in a queue: RouteConversation puts it in one
// once its first messages and the customer's profile are known. Idempotent on
// conversationID. The returned queue is the page's default, for reference.
func (s *Store) OpenConversation(ctx context.Context, conversationID, pageUUID, pageID, psid string) (served bool, customerID, queueID string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("w.default_queue_id").From("pages p").Join("workstreams w", "w.id = p.workstream_id").
			Where(sb.Equal("p.id", pageUUID), sb.Equal("p.page_id", pageID), sb.NotIn("p.provisioning_status", "deleting", "deleted"))
		if err := queryRow(ctx, tx, sb).Scan(&queueID); err != nil {
			if err == sql.ErrNoRows {
				return nil // not a page we serve (any more)
			}
			return err
		}
		ib := pg.NewInsertBuilder()
		ib.InsertInto("customers").Cols("id", "page_id", "psid").Values(uuid.NewString(), pageID, psid)
		// DO UPDATE (a no-op) rather than DO NOTHING, so RETURNING gives the existing id.
		ib.SQL("ON CONFLICT (page_id, psid) DO UPDATE SET psid = EXCLUDED.psid").Returning("id")
		if err := queryRow(ctx, tx, ib).Scan(&customerID); err != nil {
			return err
		}
		ib = pg.NewInsertBuilder()
		ib.InsertInto("conversations").Cols("id", "page_uuid", "page_id", "customer_id", "status").
			Values(conversationID, pageUUID, pageID, customerID, "waiting")
		ib.SQL("ON CONFLICT (id) DO NOTHING")
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		served = true
		return nil
	})
	return served, customerID, queueID, err
}

// Assigned is one assignment made by AssignWaiting.
type Assigned struct {
	ConversationID string
	PageID         string
	PSID           string
	AgentID        string
	QueueID        string
}

// AssignWaiting assigns the queue's waiting conversations, oldest first, each to
// the longest-idle available member with room, until either runs out or max is
// reached. Each assignment is one transaction holding the conversation's and the
// agent's row locks, and capacity is counted after the agent's lock is taken: a
// conversation is assigned at most once and no agent goes over capacity, whatever
// runs concurrently.
func (s *Store) AssignWaiting(ctx context.Context, queueID string, max int) ([]Assigned, error) {
	var done []Assigned
	for len(done) < max {
		var a *Assigned
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			a, err = assignOne(ctx, tx, queueID)
			return err
		})
		if err != nil {
			return done, err
		}
		if a == nil {
			break
		}
		done = append(done, *a)
	}
	return done, nil
}

func assignOne(ctx context.Context, tx *sql.Tx, queueID string) (*Assigned, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("c.id", "c.page_id", "cu.psid").From("conversations c").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.queue_id", queueID), sb.Equal("c.status", "waiting")).
		OrderBy("c.enqueued_at", "c.id").Limit(1).ForUpdate()
	sb.SQL("OF c")
	var a Assigned
	if err := queryRow(ctx, tx, sb).Scan(&a.ConversationID, &a.PageID, &a.PSID); err != nil {
		if err == sql.ErrNoRows {
			return nil, nil
		}
		return nil, err
	}
	a.QueueID = queueID

	candidates := pg.NewSelectBuilder()
	candidates.Select("a.id").From("agents a").Join("queue_members m", "m.agent_id = a.id").
		Where(candidates.Equal("m.queue_id", queueID), candidates.Equal("a.presence", "available"), "a.capacity > 0").
		OrderBy("a.last_assigned_at", "a.id")
	rows, err := query(ctx, tx, candidates)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		lock := pg.NewSelectBuilder()
		lock.Select("capacity").From("agents").Where(lock.Equal("id", id), lock.Equal("presence", "available")).ForUpdate()
		var capacity int
		if err := queryRow(ctx, tx, lock).Scan(&capacity); err != nil {
			if err == sql.ErrNoRows {
				continue // went away meanwhile
			}
			return nil, err
		}
		load := pg.NewSelectBuilder()
		load.Select("count(*)").From("conversations").Where(load.Equal("agent_id", id), load.Equal("status", "assigned"))
		var open int
		if err := queryRow(ctx, tx, load).Scan(&open); err != nil {
			return nil, err
		}
		if open >= capacity {
			continue
		}
		a.AgentID = id
		return &a, assignTo(ctx, tx, a)
	}
	return nil, nil
}

func assignTo(ctx context.Context, tx *sql.Tx, a Assigned) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set(ub.Assign("status", "assigned"), ub.Assign("agent_id", a.AgentID), ub.Assign("queue_id", a.QueueID)).
		Where(ub.Equal("id", a.ConversationID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return err
	}
	ub = pg.NewUpdateBuilder()
	ub.Update("agents").Set("last_assigned_at = now()").Where(ub.Equal("id", a.AgentID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return err
	}
	return announceAssignment(ctx, tx, a.ConversationID, a.AgentID)
}

// announceAssignment tells the agent about the conversation and replays the
// messages it already has, so nothing received before the assignment is missed.
func announceAssignment(ctx context.Context, tx *sql.Tx, conversationID, agentID string) error {
	s := &Store{}
	conv, err := s.conversation(ctx, tx, conversationID)
	if err != nil {
		return err
	}
	assignment := uuid.NewString() // one announcement per assignment, even to the same agent again
	if err := insertEvent(ctx, tx, agentID, "conversation.assigned", conversationID, "assigned:"+assignment,
		map[string]any{"conversation": conv}); err != nil {
		return err
	}
	messages, err := s.messages(ctx, tx, conversationID)
	if err != nil {
		return err
	}
	for _, m := range messages {
		if m.Direction != "inbound" {
			continue
		}
		if err := insertEvent(ctx, tx, agentID, "message.received", conversationID, "received:"+m.ID+":"+assignment,
			map[string]any{"message": m}); err != nil {
			return err
		}
	}
	return nil
}
