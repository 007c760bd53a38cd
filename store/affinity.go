package store

// Preferred agents and affinity (issue 15, part 3). When a conversation is
// routed, the agents it should go to first are decided once and kept on its row
// (preferred_agents, ranked): its contact's preferred agents, then the agent of
// the customer's last conversation within the workstream's affinity days. The
// queue's assignment pass (assignOne) tries them first, under the same locks as
// every assignment; with the fallback "wait" the conversation waits for them until
// affinity_until, and the queue workflow sleeps on a durable timer until then.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"
)

// Affinity is a workstream's affinity rule.
type Affinity struct {
	// Days: a customer whose last conversation closed within this many days goes
	// to that conversation's agent (0: off).
	Days int `json:"days"`
	// WaitSeconds is how long a conversation waits for its preferred agent with
	// the fallback "wait".
	WaitSeconds int `json:"wait_s"`
	// Fallback is what happens when no preferred agent is available with room:
	// "route" (routed normally at once) or "wait" (up to WaitSeconds).
	Fallback string `json:"fallback"`
}

// Affinity fallbacks.
const (
	AffinityRoute = "route"
	AffinityWait  = "wait"
)

// Timeouts are a workstream's conversation timeouts, in seconds (0: off).
type Timeouts struct {
	// CustomerSeconds: after the agent's last message, no customer reply for this
	// long closes the conversation with the customer_timeout message.
	CustomerSeconds int `json:"customer_s"`
	// AgentRemindSeconds: the customer waits unanswered this long: the agent is
	// reminded (conversation.reminder).
	AgentRemindSeconds int `json:"agent_remind_s"`
	// AgentReofferSeconds: the customer waits unanswered this long: the
	// conversation goes back to its queue, for another agent if one is eligible.
	AgentReofferSeconds int `json:"agent_reoffer_s"`
}

// MaxPreferredAgents is how many preferred agents a contact may have.
const MaxPreferredAgents = 3

// loadWorkstreamRules reads the workstream's affinity and timeouts into w.
func loadWorkstreamRules(ctx context.Context, q querier, w *Workstream) error {
	sb := pg.NewSelectBuilder()
	sb.Select("affinity_days", "affinity_wait_s", "affinity_fallback", "timeout_customer_s", "timeout_agent_remind_s",
		"timeout_agent_reoffer_s").From("workstreams").Where(sb.Equal("id", w.ID))
	return queryRow(ctx, q, sb).Scan(&w.Affinity.Days, &w.Affinity.WaitSeconds, &w.Affinity.Fallback,
		&w.Timeouts.CustomerSeconds, &w.Timeouts.AgentRemindSeconds, &w.Timeouts.AgentReofferSeconds)
}

// saveWorkstreamRules writes w's affinity and timeouts (checked by the caller).
func saveWorkstreamRules(ctx context.Context, tx *sql.Tx, w Workstream) error {
	if w.Affinity.Fallback == "" {
		w.Affinity.Fallback = AffinityRoute
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("workstreams").Set(ub.Assign("affinity_days", w.Affinity.Days), ub.Assign("affinity_wait_s", w.Affinity.WaitSeconds),
		ub.Assign("affinity_fallback", w.Affinity.Fallback), ub.Assign("timeout_customer_s", w.Timeouts.CustomerSeconds),
		ub.Assign("timeout_agent_remind_s", w.Timeouts.AgentRemindSeconds), ub.Assign("timeout_agent_reoffer_s", w.Timeouts.AgentReofferSeconds)).
		Where(ub.Equal("id", w.ID))
	_, err := exec(ctx, tx, ub)
	return err
}

// preferredAgentsColumn selects a contact's (ct) preferred agents, ranked.
const preferredAgentsColumn = "coalesce((SELECT array_agg(pa.agent_id::text ORDER BY pa.rank) FROM contact_preferred_agents pa " +
	"WHERE pa.contact_id = ct.id), '{}')"

// setPreferredAgents replaces the contact's preferred agents with agentIDs,
// ranked in order (checked by the caller: at most MaxPreferredAgents, no
// repeats); an agent that does not exist is an *InvalidInput.
func setPreferredAgents(ctx context.Context, tx *sql.Tx, contactID string, agentIDs []string) error {
	for _, id := range agentIDs {
		sb := pg.NewSelectBuilder()
		sb.Select("count(*)").From("agents").Where(sb.Equal("id", id))
		var n int
		if validUUID(id) {
			if err := queryRow(ctx, tx, sb).Scan(&n); err != nil {
				return err
			}
		}
		if n == 0 {
			return invalidf("preferred_agents: no agent has id %s.", id)
		}
	}
	db := pg.NewDeleteBuilder()
	db.DeleteFrom("contact_preferred_agents").Where(db.Equal("contact_id", contactID))
	if _, err := exec(ctx, tx, db); err != nil {
		return err
	}
	for i, id := range agentIDs {
		ib := pg.NewInsertBuilder()
		ib.InsertInto("contact_preferred_agents").Cols("contact_id", "rank", "agent_id").Values(contactID, i+1, id)
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
	}
	return nil
}

// decideAffinity records, as the conversation is routed, the agents it goes to
// first and until when it waits for them. Called under the conversation's row lock.
func decideAffinity(ctx context.Context, tx *sql.Tx, conversationID, workstreamID string) error {
	q := sqlbuilder.Buildf("SELECT w.affinity_days, w.affinity_wait_s, w.affinity_fallback, c.customer_id, "+
		"coalesce((SELECT array_agg(pa.agent_id::text ORDER BY pa.rank) FROM customers cu JOIN contact_preferred_agents pa ON pa.contact_id = cu.contact_id "+
		"WHERE cu.id = c.customer_id), '{}') "+
		"FROM conversations c, workstreams w WHERE c.id = %v AND w.id = %v", conversationID, workstreamID)
	var days, wait int
	var fallback, customerID string
	var preferred pq.StringArray
	if err := queryRow(ctx, tx, q).Scan(&days, &wait, &fallback, &customerID, &preferred); err != nil {
		return notFound(err, "conversation")
	}
	if days > 0 {
		// The agent of the customer's last conversation that an agent had,
		// closed within the days.
		last := sqlbuilder.Buildf("SELECT agent_id::text FROM conversations WHERE customer_id = %v AND id <> %v "+
			"AND status = 'closed' AND agent_id IS NOT NULL AND closed_at >= now() - make_interval(days => %v) "+
			"ORDER BY closed_at DESC, id LIMIT 1", customerID, conversationID, days)
		var agent string
		err := queryRow(ctx, tx, last).Scan(&agent)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if !containsString(preferred, agent) {
				preferred = append(preferred, agent)
			}
		}
	}
	ub := pg.NewUpdateBuilder()
	set := []string{ub.Assign("preferred_agents", pq.StringArray(append([]string{}, preferred...))), "affinity_until = NULL"}
	if len(preferred) > 0 && fallback == AffinityWait && wait > 0 {
		set[1] = "affinity_until = now() + " + ub.Var(fmt.Sprintf("%d seconds", wait)) + "::interval"
	}
	ub.Update("conversations").Set(set...).Where(ub.Equal("id", conversationID))
	_, err := exec(ctx, tx, ub)
	return err
}

// forgetAffinity drops the conversation's preferred agents: a manual transfer or
// a re-offer decides anew.
const forgetAffinity = "preferred_agents = '{}', affinity_until = NULL"

// waitingHead is the oldest waiting conversation of a queue pass (locked), with
// its affinity.
type waitingHead struct {
	Assigned
	units      int
	preferred  []string
	holding    bool   // it waits for its preferred agents (affinity_until not passed)
	passedOver string // the agent who left it unanswered ("" if none)
	offer      offerSetting
}

// give assigns the head to a.AgentID, or offers it when its workstream offers.
func (h *waitingHead) give(ctx context.Context, tx *sql.Tx, a *Assigned) error {
	if !h.offer.autoAccept {
		return offerTo(ctx, tx, a, h.units, h.offer.countdownSeconds)
	}
	return assignTo(ctx, tx, a, h.units, "")
}

// lockWaitingHead locks the queue's oldest waiting push conversation that this
// pass has not set aside (held: it waits for its preferred agents, who had no room).
func lockWaitingHead(ctx context.Context, tx *sql.Tx, queueID string, held []string) (*waitingHead, error) {
	h := waitingHead{}
	var preferred pq.StringArray
	head := sqlbuilder.Buildf("SELECT c.id, c.page_id, cu.psid, coalesce(w.capacity_units, 1), c.preferred_agents::text[], "+
		"coalesce(c.affinity_until > now(), false), coalesce(c.passed_over_agent_id::text, ''), "+offerSettingColumns+" "+
		"FROM conversations c JOIN customers cu ON cu.id = c.customer_id LEFT JOIN workstreams w ON w.id = c.workstream_id "+
		"WHERE c.queue_id = %v AND c.status = 'waiting' AND coalesce(w.distribution_mode, 'push') = 'push' "+
		"AND NOT (c.id = ANY(%v::uuid[])) "+
		"ORDER BY c.enqueued_at, c.id LIMIT 1 FOR UPDATE OF c", queueID, pq.StringArray(append([]string{}, held...))) // nil would be NULL
	if err := queryRow(ctx, tx, head).Scan(&h.ConversationID, &h.PageID, &h.PSID, &h.units, &preferred, &h.holding, &h.passedOver, &h.offer.autoAccept, &h.offer.countdownSeconds); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	h.QueueID, h.preferred = queueID, preferred
	return &h, nil
}

// assignPreferred gives the head to the first of its preferred agents (by rank)
// who is a member of the queue, available, and has room, counted under the
// agent's row lock like every assignment. The priority rule does not apply: the
// customer's own agent is the point of affinity. It answers nil when none could
// take it.
func assignPreferred(ctx context.Context, tx *sql.Tx, h *waitingHead) (*Assigned, error) {
	for _, id := range h.preferred {
		if id == h.passedOver {
			continue
		}
		member := pg.NewSelectBuilder()
		member.Select("count(*)").From("queue_members").Where(member.Equal("queue_id", h.QueueID), member.Equal("agent_id", id))
		var n int
		if err := queryRow(ctx, tx, member).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		free, err := lockAgentFree(ctx, tx, id, true)
		if errors.Is(err, errAgentUnavailable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if free < h.units {
			continue
		}
		a := h.Assigned
		a.AgentID = id
		return &a, h.give(ctx, tx, &a)
	}
	return nil, nil
}

// nextAffinityEnd is when the first conversation of the queue that waits for its
// preferred agents stops waiting (nil when none waits).
func nextAffinityEnd(ctx context.Context, q querier, queueID string) (*time.Time, error) {
	b := sqlbuilder.Buildf("SELECT min(affinity_until) FROM conversations WHERE queue_id = %v AND status = 'waiting' "+
		"AND affinity_until > now()", queueID)
	var at sql.NullTime
	if err := queryRow(ctx, q, b).Scan(&at); err != nil || !at.Valid {
		return nil, err
	}
	return &at.Time, nil
}

// RemindAgent tells the conversation's agent that the customer has waited
// unanswered since waitingSince (conversation.reminder), once per waitingSince;
// nothing when the conversation is no longer the agent's.
func (s *Store) RemindAgent(ctx context.Context, conversationID, agentID string, waitingSince time.Time) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		status, current, err := lockConversation(ctx, tx, conversationID)
		if err != nil || status != "assigned" || current == nil || *current != agentID {
			return err
		}
		return insertEvent(ctx, tx, agentID, "conversation.reminder", conversationID,
			fmt.Sprintf("reminder:%s:%s:%d", conversationID, agentID, waitingSince.UnixMilli()),
			map[string]any{"reason": "customer_waiting", "waiting_since": waitingSince.UTC()})
	})
}

// Requeued is the outcome of ReofferUnanswered.
type Requeued struct {
	// Done is false when the conversation was no longer the agent's (closed,
	// transferred): nothing changed.
	Done    bool
	QueueID string
	// WakeQueues: the conversation's queue, and the agent's (its capacity is free).
	WakeQueues []string
}

// ReofferUnanswered puts a conversation its agent left unanswered back in its
// queue, at its place in line of now, with that agent passed over: the queue gives
// it to anyone else eligible first, and to the same agent only when nobody else
// can take it. The agent is told (conversation.transferred with reason
// agent_no_response, so its desk drops the conversation like a transfer), once
// per waitingSince (the customer's wait the workflow re-offers for).
func (s *Store) ReofferUnanswered(ctx context.Context, conversationID, agentID string, waitingSince time.Time) (Requeued, error) {
	var out Requeued
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, current, err := lockConversation(ctx, tx, conversationID)
		if err != nil || status != "assigned" || current == nil || *current != agentID {
			return err
		}
		freed, err := s.AgentQueues(ctx, tx, agentID)
		if err != nil {
			return err
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "waiting"), "agent_id = NULL", "assigned_at = NULL", "enqueued_at = now()",
			ub.Assign("passed_over_agent_id", agentID), forgetAffinity).
			Where(ub.Equal("id", conversationID)).Returning("coalesce(queue_id::text, '')")
		if err := queryRow(ctx, tx, ub).Scan(&out.QueueID); err != nil {
			return err
		}
		out.Done = true
		out.WakeQueues = uniqueIDs(append([]string{out.QueueID}, freed...))
		// The agent's consults end with the conversation's leaving it, as at a transfer.
		if err := endActiveConsults(ctx, tx, conversationID, agentID, "", ""); err != nil {
			return err
		}
		return insertEvent(ctx, tx, agentID, "conversation.transferred", conversationID,
			fmt.Sprintf("reoffered:%s:%s:%d", conversationID, agentID, waitingSince.UnixMilli()),
			map[string]any{"to_queue_id": out.QueueID, "reason": "agent_no_response"})
	})
	return out, err
}
