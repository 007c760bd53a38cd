package store

// The supervisors' live floor (issue 14): what is happening now in the queues a
// supervisor watches. Everything is read in one snapshot transaction, so the
// queues, agents and conversations of one answer agree with each other.

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"
)

// ServiceLevelThreshold is how soon a conversation must be accepted to count as
// served in time for the floor's service level (service_level_1h).
const ServiceLevelThreshold = 60 * time.Second

// floorConversationLimit bounds the floor's conversation list.
const floorConversationLimit = 500

// Floor is the supervisor's view of its queues now.
type Floor struct {
	Queues        []FloorQueue        `json:"queues"`
	Agents        []FloorAgent        `json:"agents"`
	Conversations []FloorConversation `json:"conversations"`
}

// FloorQueue is one queue's figures. States counts its conversations that are
// not closed by status, whatever statuses exist (waiting, assigned, bot, and
// any added later).
type FloorQueue struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Waiting         int            `json:"waiting"`
	LongestWaitS    int            `json:"longest_wait_s"`
	AgentsAvailable int            `json:"agents_available"`
	CapacityUsed    int            `json:"capacity_used"`
	CapacityTotal   int            `json:"capacity_total"`
	ServiceLevel1h  *float64       `json:"service_level_1h"`
	States          map[string]int `json:"states"`
}

// FloorAgent is one member of the supervised queues.
type FloorAgent struct {
	ID                  string                   `json:"id"`
	Name                string                   `json:"name"`
	Presence            string                   `json:"presence"`
	PresenceSince       time.Time                `json:"presence_since"`
	PresenceS           int                      `json:"presence_s"`
	Load                int                      `json:"load"`
	Capacity            int                      `json:"capacity"`
	OffersDeclinedToday int                      `json:"offers_declined_today"`
	QueueIDs            []string                 `json:"queue_ids"`
	Conversations       []FloorAgentConversation `json:"conversations"`
}

// FloorAgentConversation is an agent's open conversation and how long it has
// been in its status.
type FloorAgentConversation struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	StateSince time.Time `json:"state_since"`
	StateS     int       `json:"state_s"`
	Customer   string    `json:"customer"`
	QueueID    *string   `json:"queue_id"`
	WaitS      *int      `json:"wait_s"`
}

// FloorConversation is one row of the floor's conversation list. WaitS is the
// time since the customer's last message when nobody has answered it yet (null
// once an agent or the page wrote after it).
type FloorConversation struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	StateSince time.Time `json:"state_since"`
	StateS     int       `json:"state_s"`
	QueueID    *string   `json:"queue_id"`
	QueueName  string    `json:"queue_name"`
	AgentID    *string   `json:"agent_id"`
	AgentName  string    `json:"agent_name"`
	PageID     string    `json:"page_id"`
	PageUUID   string    `json:"page_uuid"`
	PageName   string    `json:"page_name"`
	Customer   Customer  `json:"customer"`
	WaitS      *int      `json:"wait_s"`
	OpenedAt   time.Time `json:"opened_at"`
}

// FloorFilter narrows the floor's conversation list; empty fields do not
// filter. Without a State only conversations that are not closed are listed.
type FloorFilter struct {
	State   string
	QueueID string
	AgentID string
	// Page is a page's id (ours) or its Facebook page id.
	Page     string
	MinWaitS int
}

// unansweredSince is when the customer's last message still waits for an
// answer: NULL once an agent, a supervisor or the page wrote after it.
const unansweredSince = "CASE WHEN c.last_customer_message_at IS NOT NULL AND NOT EXISTS (" +
	"SELECT 1 FROM messages om WHERE om.conversation_id = c.id AND om.direction = 'outbound' " +
	"AND om.sender IN ('agent', 'page', 'supervisor') AND om.created_at >= c.last_customer_message_at) " +
	"THEN c.last_customer_message_at END"

// SupervisorFloor reads the floor of the given queues (every queue when
// queueIDs is nil: the admin).
func (s *Store) SupervisorFloor(ctx context.Context, queueIDs []string, f FloorFilter) (Floor, error) {
	floor := Floor{Queues: []FloorQueue{}, Agents: []FloorAgent{}, Conversations: []FloorConversation{}}
	if queueIDs != nil && len(queueIDs) == 0 {
		return floor, nil
	}
	var scope any // nil: every queue
	if queueIDs != nil {
		scope = pq.Array(queueIDs)
	}
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		var now time.Time
		if err := tx.QueryRowContext(ctx, "SELECT now()").Scan(&now); err != nil {
			return err
		}
		var err error
		if floor.Queues, err = floorQueues(ctx, tx, scope); err != nil {
			return err
		}
		if floor.Agents, err = floorAgents(ctx, tx, scope, now); err != nil {
			return err
		}
		floor.Conversations, err = floorConversations(ctx, tx, scope, f, now)
		return err
	})
	return floor, err
}

// inScope is the condition "queue column col is one of the supervised queues".
func inScope(sb *sqlbuilder.SelectBuilder, col string, scope any) string {
	if scope == nil {
		return col + " IS NOT NULL"
	}
	return col + " = ANY(" + sb.Var(scope) + "::uuid[])"
}

func floorQueues(ctx context.Context, tx *sql.Tx, scope any) ([]FloorQueue, error) {
	sb := pg.NewSelectBuilder()
	threshold := sb.Var(int(ServiceLevelThreshold / time.Second))
	// The members' load counts all their assigned conversations, in any queue:
	// that is what their capacity is measured against.
	sb.Select("q.id", "q.name",
		"(SELECT count(*) FROM conversations c WHERE c.queue_id = q.id AND c.status = 'waiting')",
		"coalesce((SELECT extract(epoch FROM now() - min(c.enqueued_at))::int FROM conversations c WHERE c.queue_id = q.id AND c.status = 'waiting'), 0)",
		"(SELECT count(*) FROM queue_members m JOIN agents a ON a.id = m.agent_id WHERE m.queue_id = q.id AND a.presence = 'available')",
		"coalesce((SELECT sum(x.units) FROM queue_members m JOIN agents a ON a.id = m.agent_id JOIN conversations x ON x.agent_id = a.id AND "+holdsCapacity+" "+
			"WHERE m.queue_id = q.id AND a.presence <> 'offline'), 0)",
		"coalesce((SELECT sum(a.capacity) FROM queue_members m JOIN agents a ON a.id = m.agent_id WHERE m.queue_id = q.id AND a.presence <> 'offline'), 0)",
		// Service level: of the conversations accepted in the last hour and
		// those waiting now past the threshold, the share accepted within it.
		"(SELECT count(*) FILTER (WHERE c.assigned_at - c.enqueued_at <= make_interval(secs => "+threshold+"))::float8 / nullif(count(*), 0) "+
			"FROM conversations c WHERE c.queue_id = q.id AND c.enqueued_at IS NOT NULL AND ("+
			"c.assigned_at >= now() - interval '1 hour' OR (c.status = 'waiting' AND c.enqueued_at < now() - make_interval(secs => "+threshold+"))))",
		"coalesce((SELECT jsonb_object_agg(st.status, st.n) FROM (SELECT c.status, count(*) AS n FROM conversations c "+
			"WHERE c.queue_id = q.id AND c.status <> 'closed' GROUP BY c.status) st), '{}')").
		From("queues q").Where(inScope(sb, "q.id", scope)).OrderBy("q.priority DESC", "q.name", "q.id")
	return queryAll(ctx, tx, sb, func(row rowScanner) (FloorQueue, error) {
		var q FloorQueue
		var states []byte
		err := row.Scan(&q.ID, &q.Name, &q.Waiting, &q.LongestWaitS, &q.AgentsAvailable, &q.CapacityUsed, &q.CapacityTotal, &q.ServiceLevel1h, &states)
		if err == nil {
			err = json.Unmarshal(states, &q.States)
		}
		return q, err
	})
}

func floorAgents(ctx context.Context, tx *sql.Tx, scope any, now time.Time) ([]FloorAgent, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("a.id", "a.name", "a.presence", "a.presence_changed_at", "a.capacity",
		strings.Replace(agentLoad, "%v", "a.id", 1),
		"(SELECT count(*) FROM agent_events e WHERE e.agent_id = a.id AND e.name = 'conversation.offer_ended' "+
			"AND e.data->>'outcome' = 'declined' AND e.created_at >= date_trunc('day', now()))",
		"array(SELECT m2.queue_id::text FROM queue_members m2 WHERE m2.agent_id = a.id AND "+inScope(sb, "m2.queue_id", scope)+" ORDER BY m2.queue_id)").
		From("agents a").
		Where("EXISTS (SELECT 1 FROM queue_members m WHERE m.agent_id = a.id AND "+inScope(sb, "m.queue_id", scope)+")").
		OrderBy("a.name", "a.id")
	agents, err := queryAll(ctx, tx, sb, func(row rowScanner) (FloorAgent, error) {
		var a FloorAgent
		var queues pq.StringArray
		err := row.Scan(&a.ID, &a.Name, &a.Presence, &a.PresenceSince, &a.Capacity, &a.Load, &a.OffersDeclinedToday, &queues)
		a.QueueIDs = []string(queues)
		a.PresenceS = seconds(now.Sub(a.PresenceSince))
		a.Conversations = []FloorAgentConversation{}
		return a, err
	})
	if err != nil || len(agents) == 0 {
		return agents, err
	}
	ids := make([]string, len(agents))
	byID := map[string]*FloorAgent{}
	for i := range agents {
		ids[i] = agents[i].ID
		byID[agents[i].ID] = &agents[i]
	}
	cb := pg.NewSelectBuilder()
	cb.Select("c.agent_id::text", "c.id", "c.status", "c.status_changed_at", "coalesce(nullif(cu.name, ''), cu.psid)", "c.queue_id", unansweredSince).
		From("conversations c").Join("customers cu", "cu.id = c.customer_id").
		Where("c.agent_id = ANY("+cb.Var(pq.Array(ids))+"::uuid[])", "c.status <> 'closed'").
		OrderBy("c.status_changed_at", "c.id")
	type held struct {
		agent string
		conv  FloorAgentConversation
	}
	rows, err := queryAll(ctx, tx, cb, func(row rowScanner) (held, error) {
		var h held
		var since *time.Time
		err := row.Scan(&h.agent, &h.conv.ID, &h.conv.Status, &h.conv.StateSince, &h.conv.Customer, &h.conv.QueueID, &since)
		h.conv.StateS = seconds(now.Sub(h.conv.StateSince))
		h.conv.WaitS = waitSeconds(now, since)
		return h, err
	})
	for _, h := range rows {
		a := byID[h.agent]
		a.Conversations = append(a.Conversations, h.conv)
	}
	return agents, err
}

func floorConversations(ctx context.Context, tx *sql.Tx, scope any, f FloorFilter, now time.Time) ([]FloorConversation, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("c.id", "c.status", "c.status_changed_at", "c.queue_id", "coalesce(q.name, '')", "c.agent_id", "coalesce(a.name, '')",
		"c.page_id", "c.page_uuid", "p.name", "cu.id", "cu.psid", "cu.name", "c.opened_at", "w.since").
		From("conversations c").Join("customers cu", "cu.id = c.customer_id").Join("pages p", "p.id = c.page_uuid").
		JoinWithOption("LEFT", "queues q", "q.id = c.queue_id").JoinWithOption("LEFT", "agents a", "a.id = c.agent_id").
		Join("LATERAL (SELECT "+unansweredSince+" AS since) w", "true").
		Where(inScope(sb, "c.queue_id", scope))
	if f.State != "" {
		sb.Where(sb.Equal("c.status", f.State))
	} else {
		sb.Where("c.status <> 'closed'")
	}
	if f.QueueID != "" {
		sb.Where(sb.Equal("c.queue_id::text", f.QueueID))
	}
	if f.AgentID != "" {
		sb.Where(sb.Equal("c.agent_id::text", f.AgentID))
	}
	if f.Page != "" {
		sb.Where(sb.Or(sb.Equal("c.page_uuid::text", f.Page), sb.Equal("c.page_id", f.Page)))
	}
	if f.MinWaitS > 0 {
		sb.Where("w.since <= now() - make_interval(secs => " + sb.Var(f.MinWaitS) + ")")
	}
	// Longest unanswered first, then the oldest in their state.
	sb.OrderBy("w.since NULLS LAST", "c.status_changed_at", "c.id").Limit(floorConversationLimit)
	return queryAll(ctx, tx, sb, func(row rowScanner) (FloorConversation, error) {
		var c FloorConversation
		var since *time.Time
		err := row.Scan(&c.ID, &c.Status, &c.StateSince, &c.QueueID, &c.QueueName, &c.AgentID, &c.AgentName,
			&c.PageID, &c.PageUUID, &c.PageName, &c.Customer.ID, &c.Customer.PSID, &c.Customer.Name, &c.OpenedAt, &since)
		c.StateS = seconds(now.Sub(c.StateSince))
		c.WaitS = waitSeconds(now, since)
		return c, err
	})
}

func seconds(d time.Duration) int { return max(int(d/time.Second), 0) }

func waitSeconds(now time.Time, since *time.Time) *int {
	if since == nil {
		return nil
	}
	s := seconds(now.Sub(*since))
	return &s
}
