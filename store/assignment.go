package store

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
)

// OpenConversation creates the customer (once per page and PSID) and the
// conversation, waiting but not yet in a queue: RouteConversation puts it in one
// once its first messages and the customer's profile are known. The conversation
// belongs to the page's workstream of this moment. Idempotent on conversationID.
// The returned queue is the page's default, for reference.
func (s *Store) OpenConversation(ctx context.Context, conversationID, pageUUID, pageID, psid string) (served bool, customerID, queueID string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("w.default_queue_id", "w.id").From("pages p").Join("workstreams w", "w.id = p.workstream_id").
			Where(sb.Equal("p.id", pageUUID), sb.Equal("p.page_id", pageID), sb.NotIn("p.provisioning_status", "deleting", "deleted"))
		var workstreamID string
		if err := queryRow(ctx, tx, sb).Scan(&queueID, &workstreamID); err != nil {
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
		ib.InsertInto("conversations").Cols("id", "page_uuid", "page_id", "customer_id", "status", "workstream_id").
			Values(conversationID, pageUUID, pageID, customerID, "waiting", workstreamID)
		ib.SQL("ON CONFLICT (id) DO NOTHING")
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		served = true
		return nil
	})
	return served, customerID, queueID, err
}

// Assigned is one assignment: made by a queue pass, a pick or a transfer.
type Assigned struct {
	ConversationID string
	PageID         string
	PSID           string
	AgentID        string
	QueueID        string
	// AssignedAt orders decisions about one conversation: its workflow ignores a
	// signal about an older one that arrives late.
	AssignedAt time.Time
}

// QueuePass is the outcome of one assignment pass over a queue.
type QueuePass struct {
	Assigned []Assigned
	// NextOverflowAt is when the first waiting conversation reaches its
	// workstream's maximum wait (nil when none can overflow).
	NextOverflowAt *time.Time
	// DeferredTo lists higher-priority queues an available agent with room was
	// left to (see AssignQueue): their work comes first for that agent.
	DeferredTo []string
}

// AssignQueue assigns the queue's waiting push-mode conversations, oldest first
// (FIFO), each to the longest-idle available member with room for its capacity
// units, until either runs out or max is reached. Each assignment is one
// transaction that locks the conversation's row and then the agent's, and counts
// the agent's load (units of its assigned conversations, across all queues) after
// taking the agent's lock: a conversation is assigned at most once and no agent
// goes over capacity, whatever runs concurrently (other queues' passes, picks,
// transfers).
//
// Priority: an agent is not given this queue's conversation while a queue of
// higher priority that it belongs to has a waiting push conversation whose units
// fit the agent's free capacity; that queue's own pass gives the agent its
// oldest conversation instead, so an agent always takes the oldest conversation
// of its highest-priority queue with work it can take. Such agents are reported
// in DeferredTo, so the queue workflow looks again shortly (the higher queue may
// give its work to someone else).
func (s *Store) AssignQueue(ctx context.Context, queueID string, max int) (QueuePass, error) {
	var pass QueuePass
	if !validUUID(queueID) {
		return pass, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("priority").From("queues").Where(sb.Equal("id", queueID))
	var priority int
	if err := queryRow(ctx, s.DB, sb).Scan(&priority); err != nil {
		if err == sql.ErrNoRows {
			return pass, nil
		}
		return pass, err
	}
	deferred := map[string]bool{}
	var err error
	for len(pass.Assigned) < max {
		var a *Assigned
		err = s.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			a, err = assignOne(ctx, tx, queueID, priority, deferred)
			return err
		})
		if err != nil || a == nil {
			break
		}
		pass.Assigned = append(pass.Assigned, *a)
	}
	for id := range deferred {
		pass.DeferredTo = append(pass.DeferredTo, id)
	}
	sort.Strings(pass.DeferredTo)
	if err != nil {
		return pass, err
	}
	pass.NextOverflowAt, err = nextOverflow(ctx, s.DB, queueID)
	return pass, err
}

// waitingPushSQL selects a queue's waiting push-mode conversations, oldest first;
// the caller supplies the queue (%v) and what to select.
const waitingPushFrom = "FROM conversations c LEFT JOIN workstreams w ON w.id = c.workstream_id " +
	"WHERE c.queue_id = %v AND c.status = 'waiting' AND coalesce(w.distribution_mode, 'push') = 'push' " +
	"ORDER BY c.enqueued_at, c.id LIMIT 1"

func assignOne(ctx context.Context, tx *sql.Tx, queueID string, priority int, deferred map[string]bool) (*Assigned, error) {
	var a Assigned
	var units int
	head := sqlbuilder.Buildf("SELECT c.id, c.page_id, cu.psid, coalesce(w.capacity_units, 1) "+
		"FROM conversations c JOIN customers cu ON cu.id = c.customer_id LEFT JOIN workstreams w ON w.id = c.workstream_id "+
		"WHERE c.queue_id = %v AND c.status = 'waiting' AND coalesce(w.distribution_mode, 'push') = 'push' "+
		"ORDER BY c.enqueued_at, c.id LIMIT 1 FOR UPDATE OF c", queueID)
	if err := queryRow(ctx, tx, head).Scan(&a.ConversationID, &a.PageID, &a.PSID, &units); err != nil {
		if err == sql.ErrNoRows {
			return nil, nil
		}
		return nil, err
	}
	a.QueueID = queueID

	// Longest-idle first; the free capacity read here is only a first filter,
	// the decision counts again under the agent's lock.
	candidates := sqlbuilder.Buildf("SELECT a.id FROM agents a JOIN queue_members m ON m.agent_id = a.id "+
		"WHERE m.queue_id = %v AND a.presence = 'available' "+
		"AND a.capacity - coalesce((SELECT sum(x.units) FROM conversations x WHERE x.agent_id = a.id AND x.status = 'assigned'), 0) >= %v "+
		"ORDER BY a.last_assigned_at, a.id", queueID, units)
	ids, err := queryIDs(ctx, tx, candidates)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		free, err := lockAgentFree(ctx, tx, id, true)
		if err == sql.ErrNoRows {
			continue // no longer available
		}
		if err != nil {
			return nil, err
		}
		if free < units {
			continue
		}
		higher, err := higherQueueWithWork(ctx, tx, id, priority, free)
		if err != nil {
			return nil, err
		}
		if higher != "" {
			deferred[higher] = true
			continue
		}
		a.AgentID = id
		return &a, assignTo(ctx, tx, &a, units, "")
	}
	return nil, nil
}

// higherQueueWithWork names a queue of the agent with a priority above priority
// whose oldest waiting push conversation fits in free units, or "".
func higherQueueWithWork(ctx context.Context, tx *sql.Tx, agentID string, priority, free int) (string, error) {
	q := sqlbuilder.Buildf("SELECT h.id FROM queue_members hm JOIN queues h ON h.id = hm.queue_id "+
		"WHERE hm.agent_id = %v AND h.priority > %v "+
		"AND coalesce((SELECT coalesce(w.capacity_units, 1) "+strings.Replace(waitingPushFrom, "%v", "h.id", 1)+"), 2147483647) <= %v "+
		"ORDER BY h.priority DESC, h.id LIMIT 1", agentID, priority, free)
	var id string
	err := queryRow(ctx, tx, q).Scan(&id)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return id, err
}

// overflowDue selects the queue's (%v) waiting conversations that may overflow:
// their workstream has a maximum wait and an overflow queue other than this one,
// and they have not overflowed before.
const overflowable = "c.queue_id = %v AND c.status = 'waiting' AND c.overflow_from IS NULL " +
	"AND w.max_wait_seconds IS NOT NULL AND w.overflow_queue_id IS NOT NULL AND w.overflow_queue_id <> c.queue_id"

// nextOverflow is when the queue's first waiting conversation reaches its maximum wait.
func nextOverflow(ctx context.Context, q querier, queueID string) (*time.Time, error) {
	b := sqlbuilder.Buildf("SELECT min(c.enqueued_at + make_interval(secs => w.max_wait_seconds)) "+
		"FROM conversations c JOIN workstreams w ON w.id = c.workstream_id WHERE "+overflowable, queueID)
	var at sql.NullTime
	if err := queryRow(ctx, q, b).Scan(&at); err != nil || !at.Valid {
		return nil, err
	}
	return &at.Time, nil
}

// OverflowWaiting moves the queue's conversations that have waited their
// workstream's maximum wait to its overflow queue, keeping their place in line
// (enqueued_at): they are served there before those who have waited less. One
// UPDATE re-checks each row under its lock, so a conversation assigned meanwhile
// stays where it is. It answers the queues holding waiting conversations that
// overflowed from this queue (those just moved included, so a retry after a lost
// answer still wakes them).
func (s *Store) OverflowWaiting(ctx context.Context, queueID string) ([]string, error) {
	if !validUUID(queueID) {
		return nil, nil
	}
	move := sqlbuilder.Buildf("UPDATE conversations c SET queue_id = w.overflow_queue_id, overflow_from = c.queue_id, overflowed_at = now() "+
		"FROM workstreams w WHERE w.id = c.workstream_id AND "+overflowable+
		" AND c.enqueued_at + make_interval(secs => w.max_wait_seconds) <= now()", queueID)
	if _, err := exec(ctx, s.DB, move); err != nil {
		return nil, err
	}
	sb := pg.NewSelectBuilder()
	sb.Select("DISTINCT queue_id::text").From("conversations").
		Where(sb.Equal("overflow_from", queueID), sb.Equal("status", "waiting"), sb.IsNotNull("queue_id"))
	return queryIDs(ctx, s.DB, sb)
}

// assignTo records an assignment decided under the conversation's and the
// agent's row locks, and tells the agent in the same transaction.
func assignTo(ctx context.Context, tx *sql.Tx, a *Assigned, units int, transferredBy string) error {
	ub := pg.NewUpdateBuilder()
	set := []string{ub.Assign("status", "assigned"), ub.Assign("agent_id", a.AgentID), ub.Assign("units", units), "assigned_at = clock_timestamp()"}
	if a.QueueID != "" {
		set = append(set, ub.Assign("queue_id", a.QueueID))
	}
	ub.Update("conversations").Set(set...).Where(ub.Equal("id", a.ConversationID)).Returning("assigned_at")
	if err := queryRow(ctx, tx, ub).Scan(&a.AssignedAt); err != nil {
		return err
	}
	ub = pg.NewUpdateBuilder()
	ub.Update("agents").Set("last_assigned_at = now()").Where(ub.Equal("id", a.AgentID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return err
	}
	return announce(ctx, tx, a.ConversationID, a.AgentID, transferredBy)
}

// announceAssignment tells the agent about the conversation and replays the
// messages it already has, so nothing received before the assignment is missed.
func announceAssignment(ctx context.Context, tx *sql.Tx, conversationID, agentID string) error {
	return announce(ctx, tx, conversationID, agentID, "")
}

// announce writes conversation.assigned (with the transfer note, if any, and who
// transferred it) and a message.received for each message the conversation has.
func announce(ctx context.Context, tx *sql.Tx, conversationID, agentID, transferredBy string) error {
	s := &Store{}
	conv, err := s.conversation(ctx, tx, conversationID)
	if err != nil {
		return err
	}
	data := map[string]any{"conversation": conv}
	if conv.TransferNote != "" {
		data["note"] = conv.TransferNote
	}
	if transferredBy != "" {
		data["transferred_by"] = transferredBy
	}
	assignment := uuid.NewString() // one announcement per assignment, even to the same agent again
	if err := insertEvent(ctx, tx, agentID, "conversation.assigned", conversationID, "assigned:"+assignment, data); err != nil {
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
