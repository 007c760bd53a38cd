package store

// Assignment, pick and transfer: every decision that gives a conversation to an
// agent, and the locking that makes double assignment and over-capacity
// impossible. Each decision is one transaction that locks the conversation's row
// (FOR UPDATE), then the agent's row, and counts the agent's load (the capacity
// units of all its assigned conversations, across every queue) after taking the
// agent's lock. Two decisions about one conversation serialise on its row lock
// and the second finds it no longer waiting; two about one agent serialise on
// the agent's lock and the second sees the first's conversation in the load.

import (
	"context"
	"database/sql"
	"errors"
	"fbchannel/workflows/contract"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
)

// lockConversation takes the conversation's row lock: recording, assigning and
// closing one conversation happen one after another.
func lockConversation(ctx context.Context, tx *sql.Tx, id string) (status string, agentID *string, err error) {
	return conversationHolder(ctx, tx, id, true)
}

// conversationHolder reads the conversation's status and agent, taking its row
// lock FOR UPDATE when forUpdate.
func conversationHolder(ctx context.Context, q querier, id string, forUpdate bool) (status string, agentID *string, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("status", "agent_id").From("conversations").Where(sb.Equal("id", id))
	if forUpdate {
		sb.ForUpdate()
	}
	err = queryRow(ctx, q, sb).Scan(&status, &agentID)
	return status, agentID, notFound(err, "conversation")
}

// Assigned is one assignment: made by a queue pass, a pick or a transfer. It is
// what the conversation's workflow is told, as it is.
type Assigned = contract.Assignment

// QueuePass is the outcome of one assignment pass over a queue.
type QueuePass struct {
	Assigned []Assigned
	// NextOverflowAt is when the first waiting conversation reaches its
	// workstream's maximum wait (nil when none can overflow).
	NextOverflowAt *time.Time
	// DeferredTo lists higher-priority queues an available agent with room was
	// left to (see AssignQueue): their work comes first for that agent.
	DeferredTo []string
	// NextAffinityEndAt is when the first conversation waiting for its preferred
	// agents stops waiting (nil when none waits): the queue passes again then.
	NextAffinityEndAt *time.Time
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
//
// passKey (the queue workflow's run and pass number; "" for none) marks each
// assignment the pass makes. Called again with the same key — a retry of the
// pass whose earlier attempt's answer was lost — it first answers those
// assignments as they stand, so their conversations are told all the same.
func (s *Store) AssignQueue(ctx context.Context, queueID string, max int, passKey string) (QueuePass, error) {
	var pass QueuePass
	if !validUUID(queueID) {
		return pass, nil
	}
	priority, found, err := queuePriority(ctx, s.DB, queueID)
	if err != nil || !found {
		return pass, err
	}
	if pass.Assigned, err = assignedByPass(ctx, s.DB, passKey); err != nil {
		return pass, err
	}
	deferred := map[string]bool{}
	var held []string // waiting for their preferred agents, who had no room
	for len(pass.Assigned) < max {
		var a *Assigned
		var holds string
		err = s.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			if a, holds, err = assignOne(ctx, tx, queueID, priority, deferred, held); err != nil || a == nil || passKey == "" {
				return err
			}
			ub := pg.NewUpdateBuilder()
			ub.Update("conversations").Set(ub.Assign("pass_key", passKey)).Where(ub.Equal("id", a.ConversationID))
			_, err = exec(ctx, tx, ub)
			return err
		})
		if err != nil {
			break
		}
		if holds != "" {
			held = append(held, holds)
			continue
		}
		if a == nil {
			break
		}
		pass.Assigned = append(pass.Assigned, *a)
	}
	pass.DeferredTo = slices.Sorted(maps.Keys(deferred))
	if err != nil {
		return pass, err
	}
	if pass.NextOverflowAt, err = nextOverflow(ctx, s.DB, queueID); err != nil {
		return pass, err
	}
	pass.NextAffinityEndAt, err = nextAffinityEnd(ctx, s.DB, queueID)
	return pass, err
}

// waitingPushSQL selects a queue's waiting push-mode conversations, oldest first;
// the caller supplies the queue (%v) and what to select. A conversation waiting
// for its preferred agents is left out: it is not work any agent can take.
const waitingPushFrom = "FROM conversations c LEFT JOIN workstreams w ON w.id = c.workstream_id " +
	"WHERE c.queue_id = %v AND c.status = 'waiting' AND coalesce(w.distribution_mode, 'push') = 'push' " +
	"AND NOT coalesce(c.affinity_until > now(), false) " +
	"ORDER BY c.enqueued_at, c.id LIMIT 1"

// queuePriority is the queue's priority (found false: no such queue).
func queuePriority(ctx context.Context, q querier, queueID string) (priority int, found bool, err error) {
	err = columnByID(ctx, q, "queues", "priority", queueID, false, &priority)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return priority, err == nil, err
}

// assignOne assigns the queue's oldest waiting conversation not held (assignHead).
// A conversation that waits for its preferred agents, none of whom can take it
// now, is set aside for the rest of the pass (holds names it).
func assignOne(ctx context.Context, tx *sql.Tx, queueID string, priority int, deferred map[string]bool, held []string) (a *Assigned, holds string, err error) {
	h, err := lockWaitingHead(ctx, tx, queueID, held)
	if err != nil || h == nil {
		return nil, "", err
	}
	a, holding, err := assignHead(ctx, tx, h, priority, deferred)
	if holding {
		return nil, h.ConversationID, nil
	}
	return a, "", err
}

// assignHead gives the locked head of a queue to its preferred agents first (by
// rank), else to the longest-idle available member with room; holding: it waits
// for its preferred agents, none of whom could take it now.
func assignHead(ctx context.Context, tx *sql.Tx, h *waitingHead, priority int, deferred map[string]bool) (a *Assigned, holding bool, err error) {
	if len(h.preferred) > 0 {
		if a, err := assignPreferred(ctx, tx, h); err != nil || a != nil {
			return a, false, err
		}
		if h.holding {
			return nil, true, nil
		}
	}
	a, err = assignLongestIdle(ctx, tx, h, priority, deferred)
	return a, false, err
}

// assignLongestIdle gives the head to the longest-idle available member with room
// that no higher-priority queue claims; the agent who left the customer unanswered
// (passedOver) comes last, so it gets the conversation back only when nobody else
// can, and so do those offered it more often (a decline or a missed offer).
func assignLongestIdle(ctx context.Context, tx *sql.Tx, h *waitingHead, priority int, deferred map[string]bool) (*Assigned, error) {
	a, units, queueID := h.Assigned, h.units, h.QueueID
	// The free capacity read here is only a first filter, the decision counts
	// again under the agent's lock.
	candidates := sqlbuilder.Buildf("SELECT a.id FROM agents a JOIN queue_members m ON m.agent_id = a.id "+
		"WHERE m.queue_id = %v AND a.presence = 'available' "+
		"AND a.capacity - "+strings.Replace(agentLoad, "%v", "a.id", 1)+" >= %v "+
		"ORDER BY a.id::text = %v, "+fewestOffersFirst+", a.last_assigned_at, a.id", queueID, units, h.passedOver, a.ConversationID)
	ids, err := queryIDs(ctx, tx, candidates)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		free, err := lockAgentFree(ctx, tx, id, true)
		if errors.Is(err, errAgentUnavailable) {
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
		return &a, h.give(ctx, tx, &a)
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
	if errors.Is(err, sql.ErrNoRows) {
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
	ub.Update("conversations").Set(set...).Where(ub.Equal("id", a.ConversationID)).Returning("assigned_at", "state_seq")
	if err := queryRow(ctx, tx, ub).Scan(&a.AssignedAt, &a.Seq); err != nil {
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

// lockAgentFree takes the agent's row lock and answers its free capacity units,
// counted after the lock so that concurrent decisions about the agent see each
// other. With availableOnly, an agent that is not available answers
// errAgentUnavailable; otherwise a missing agent is ErrNotFound.
func lockAgentFree(ctx context.Context, tx *sql.Tx, agentID string, availableOnly bool) (int, error) {
	lock := pg.NewSelectBuilder()
	lock.Select("capacity").From("agents").Where(lock.Equal("id", agentID))
	if availableOnly {
		lock.Where(lock.Equal("presence", "available"))
	}
	lock.ForUpdate()
	var capacity int
	if err := queryRow(ctx, tx, lock).Scan(&capacity); err != nil {
		switch {
		case errors.Is(err, sql.ErrNoRows) && availableOnly:
			return 0, errAgentUnavailable
		case errors.Is(err, sql.ErrNoRows):
			return 0, fmt.Errorf("agent: %w", ErrNotFound)
		}
		return 0, err
	}
	load := sqlbuilder.Buildf("SELECT "+agentLoad, agentID)
	var used int
	if err := queryRow(ctx, tx, load).Scan(&used); err != nil {
		return 0, err
	}
	return capacity - used, nil
}

// Picked is a conversation an agent took from a queue.
type Picked = Assigned

// Pick gives a waiting conversation to an agent who is a member of its queue.
// Two agents picking at once serialise on the conversation's row lock and the
// second finds it no longer waiting (a *Refused wrapping ErrNotWaiting);
// capacity is counted under the agent's row lock, as for every assignment.
func (s *Store) Pick(ctx context.Context, conversationID, agentID string) (Picked, error) {
	var a Picked
	if !validUUID(conversationID) {
		return a, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("c.status", "coalesce(c.queue_id::text, '')", "c.page_id", "cu.psid", "coalesce(w.capacity_units, 1)").
			From("conversations c").Join("customers cu", "cu.id = c.customer_id").
			JoinWithOption("LEFT", "workstreams w", "w.id = c.workstream_id").
			Where(sb.Equal("c.id", conversationID)).ForUpdate()
		sb.SQL("OF c")
		var status string
		var units int
		if err := queryRow(ctx, tx, sb).Scan(&status, &a.QueueID, &a.PageID, &a.PSID, &units); err != nil {
			return notFound(err, "conversation")
		}
		member := pg.NewSelectBuilder()
		member.Select("count(*)").From("queue_members").Where(member.Equal("queue_id", a.QueueID), member.Equal("agent_id", agentID))
		var n int
		if a.QueueID != "" {
			if err := queryRow(ctx, tx, member).Scan(&n); err != nil {
				return err
			}
		}
		if n == 0 {
			return fmt.Errorf("conversation: %w", ErrNotFound) // not in a queue of this agent
		}
		if status != "waiting" {
			return &Refused{Code: "already_assigned", Message: "Someone else took this conversation first (or it closed); pick another one.", Err: ErrNotWaiting}
		}
		free, err := lockAgentFree(ctx, tx, agentID, false)
		if err != nil {
			return err
		}
		if free < units {
			return &Refused{Code: "capacity_exceeded", Message: fmt.Sprintf(
				"You have %d capacity units free and this conversation needs %d; close a conversation first.", max(free, 0), units)}
		}
		a.ConversationID, a.AgentID = conversationID, agentID
		return assignTo(ctx, tx, &a, units, "")
	})
	return a, err
}

// TransferRequest moves an agent's conversation to another agent or to a queue.
type TransferRequest struct {
	ConversationID string
	FromAgentID    string
	ToAgentID      string
	ToQueueID      string
	Note           string
	// ConsultID, when set, turns that consult into this transfer to its
	// consultant (ToAgentID): the consult ends in the same transaction.
	ConsultID string
	// Supervisor, when set, makes it a supervisor's reassignment (FromAgentID is
	// then empty): any agent's open conversation, or a waiting one, of a
	// supervised queue; the target queue must be supervised too. Force gives it
	// to the target agent even without room.
	Supervisor *Supervisor
	Force      bool
}

// Transferred is what the caller tells Temporal after a transfer: the new
// assignment (to an agent) and the queues to wake: the first agent's (its
// capacity is free) and the target queue.
type Transferred struct {
	Assignment *Assigned
	WakeQueues []string
}

// Transfer hands the conversation over in one transaction holding its row lock
// (and the target agent's): the first agent's capacity is released, the target
// agent's taken (refused when it has no room), or the conversation waits in the
// target queue behind those already waiting there. The caller has checked the
// request (one target, given as an id; the note's length).
func (s *Store) Transfer(ctx context.Context, req TransferRequest) (Transferred, error) {
	var out Transferred
	if !validUUID(req.ConversationID) {
		return out, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("c.status", "coalesce(c.agent_id::text, '')", "coalesce(c.queue_id::text, '')", "c.page_id", "cu.psid", "c.units", "p.account_id").
			From("conversations c").Join("customers cu", "cu.id = c.customer_id").Join("pages p", "p.id = c.page_uuid").
			Where(sb.Equal("c.id", req.ConversationID)).ForUpdate()
		sb.SQL("OF c")
		var status, agentID, queueID, pageID, psid, accountID string
		var units int
		if err := queryRow(ctx, tx, sb).Scan(&status, &agentID, &queueID, &pageID, &psid, &units, &accountID); err != nil {
			return notFound(err, "conversation")
		}
		by := req.FromAgentID
		if sup := req.Supervisor; sup != nil {
			if !sup.Supervises(queueID) {
				return fmt.Errorf("conversation: %w", ErrNotFound)
			}
			if status != "assigned" && status != "waiting" {
				return &Refused{Code: "conversation_not_open", Message: "This conversation is " + status + "; only a waiting or open conversation can be reassigned."}
			}
			if req.ToAgentID != "" && req.ToAgentID == agentID {
				return invalidf("agent_id: the conversation is already this agent's.")
			}
			if req.ToQueueID != "" && !sup.Supervises(req.ToQueueID) {
				return invalidf("queue_id: you supervise no queue with id %s.", req.ToQueueID)
			}
			by = sup.AgentID
		} else {
			if agentID != req.FromAgentID {
				return fmt.Errorf("conversation: %w", ErrNotFound)
			}
			if status != "assigned" {
				return &Refused{Code: "conversation_not_open", Message: "This conversation is " + status + "; only an open conversation can be transferred."}
			}
		}
		var freed []string
		if agentID != "" {
			var err error
			if freed, err = s.AgentQueues(ctx, tx, agentID); err != nil {
				return err
			}
		}
		event := map[string]any{"note": req.Note}
		if req.ToAgentID != "" {
			var presence, name string
			ps := pg.NewSelectBuilder()
			ps.Select("presence", "name").From("agents").Where(ps.Equal("id", req.ToAgentID))
			if err := queryRow(ctx, tx, ps).Scan(&presence, &name); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return invalidf("agent_id: no agent has id %s.", req.ToAgentID)
				}
				return err
			}
			free, err := lockAgentFree(ctx, tx, req.ToAgentID, false)
			if err != nil {
				return err
			}
			if presence == "offline" {
				return &Refused{Code: "agent_offline", Message: name + " is offline; transfer to an agent who is signed in, or to a queue."}
			}
			if free < units && !req.Force {
				return &Refused{Code: "agent_at_capacity", Message: fmt.Sprintf(
					"%s has %d capacity units free and this conversation needs %d; transfer to another agent or to a queue.", name, max(free, 0), units)}
			}
			a := Assigned{ConversationID: req.ConversationID, PageID: pageID, PSID: psid, AgentID: req.ToAgentID, QueueID: queueID}
			if err := setTransferNote(ctx, tx, req.ConversationID, req.Note, by); err != nil {
				return err
			}
			if err := assignTo(ctx, tx, &a, units, by); err != nil {
				return err
			}
			if req.ConsultID != "" {
				if err := endConsultForTransfer(ctx, tx, req); err != nil {
					return err
				}
			}
			out.Assignment = &a
			event["to_agent_id"] = req.ToAgentID
		} else {
			if err := queueOfAccount(ctx, tx, req.ToQueueID, accountID); err != nil {
				return fmt.Errorf("queue_id: %w", err)
			}
			if err := setTransferNote(ctx, tx, req.ConversationID, req.Note, by); err != nil {
				return err
			}
			// Behind everyone already waiting in the target queue; it may overflow
			// from there after the workstream's maximum wait, like any arrival.
			ub := pg.NewUpdateBuilder()
			ub.Update("conversations").Set(ub.Assign("status", "waiting"), "agent_id = NULL", ub.Assign("queue_id", req.ToQueueID),
				"enqueued_at = now()", "overflow_from = NULL", "overflowed_at = NULL", "assigned_at = NULL", forgetAffinity).
				Where(ub.Equal("id", req.ConversationID))
			if _, err := exec(ctx, tx, ub); err != nil {
				return err
			}
			event["to_queue_id"] = req.ToQueueID
			freed = append(freed, req.ToQueueID)
		}
		// The consults were the first agent's invitations: they end with its
		// hold on the conversation (the consult's own, above, as transferred).
		if err := endActiveConsults(ctx, tx, req.ConversationID, agentID, by, req.ToAgentID); err != nil {
			return err
		}
		out.WakeQueues = uniqueIDs(freed)
		if sup := req.Supervisor; sup != nil {
			event["force"] = req.Force
			if err := recordSupervisorAction(ctx, tx, *sup, ActionReassign, req.ConversationID, event); err != nil {
				return err
			}
			event["by_supervisor"] = sup.Ref()
		}
		if agentID == "" {
			return nil // it was waiting: no agent to tell
		}
		return insertEvent(ctx, tx, agentID, "conversation.transferred", req.ConversationID,
			"transferred:"+req.ConversationID+":"+uuid.NewString(), event)
	})
	return out, err
}

// setTransferNote records the transfer's note and who made it (by: an agent, a
// supervising agent, or "" for the admin).
func setTransferNote(ctx context.Context, tx *sql.Tx, conversationID, note, by string) error {
	ub := pg.NewUpdateBuilder()
	transferredBy := ub.Assign("transferred_by", by)
	if by == "" {
		transferredBy = "transferred_by = NULL"
	}
	ub.Update("conversations").Set(ub.Assign("transfer_note", note), transferredBy, "transferred_at = now()").
		Where(ub.Equal("id", conversationID))
	_, err := exec(ctx, tx, ub)
	return err
}

// ReopenConversation gives a closed conversation back to the agent.
func (s *Store) ReopenConversation(ctx context.Context, conversationID, agentID string) (Conversation, time.Time, error) {
	var conv Conversation
	var lastCustomer sql.NullTime
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, _, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if status == "closed" {
			// The same agent takes it back while available and with room for it
			// (counted under the agent's row lock, like every assignment);
			// otherwise it waits in its queue for the next agent.
			free, lockErr := lockAgentFree(ctx, tx, agentID, true)
			if lockErr != nil && !errors.Is(lockErr, errAgentUnavailable) {
				return lockErr
			}
			var need int
			if err := columnByID(ctx, tx, "conversations", "units", conversationID, false, &need); err != nil {
				return err
			}
			takeBack := lockErr == nil && free >= need
			ub := pg.NewUpdateBuilder()
			if takeBack {
				ub.Update("conversations").Set(ub.Assign("status", "assigned"), ub.Assign("agent_id", agentID),
					"closed_at = NULL", ub.Assign("close_reason", "")).Where(ub.Equal("id", conversationID))
			} else {
				ub.Update("conversations").Set(ub.Assign("status", "waiting"), "agent_id = NULL", "enqueued_at = now()",
					"closed_at = NULL", ub.Assign("close_reason", "")).Where(ub.Equal("id", conversationID))
			}
			if _, err := exec(ctx, tx, ub); err != nil {
				return err
			}
			if takeBack {
				if err := announceAssignment(ctx, tx, conversationID, agentID); err != nil {
					return err
				}
			}
		}
		if conv, err = s.conversation(ctx, tx, conversationID); err != nil {
			return err
		}
		return columnByID(ctx, tx, "conversations", "last_customer_message_at", conversationID, false, &lastCustomer)
	})
	return conv, lastCustomer.Time, err
}

// assignOpening is the queue's pass for one conversation that has just entered
// it, made by the opening itself (OpenWithFirstEvents) so a customer's first
// message reaches an agent without waking the queue's workflow. It assigns the
// conversation only when it heads its queue — the oldest waiting push
// conversation — by the queue pass's own rules (preferred agents, priority,
// longest idle, offers): nobody who waited longer is overtaken. Otherwise it
// leaves the decision to the queue's workflow (nil), noting in deferred the
// higher-priority queues an agent was left to, as AssignQueue does.
//
// A conversation already assigned or offered answers that decision, so a retry
// whose first attempt committed still tells the conversation.
func assignOpening(ctx context.Context, tx *sql.Tx, conversationID, queueID string, deferred map[string]bool) (*Assigned, error) {
	priority, found, err := queuePriority(ctx, tx, queueID)
	if err != nil || !found {
		return nil, err
	}
	h, err := lockWaitingHead(ctx, tx, queueID, nil)
	if err != nil {
		return nil, err
	}
	if h == nil || h.ConversationID != conversationID {
		// Not waiting (assigned already?), or behind others: the queue decides.
		return currentAssignment(ctx, tx, conversationID)
	}
	a, _, err := assignHead(ctx, tx, h, priority, deferred)
	return a, err
}

// assignedByPass is what the queue pass passKey assigned or offered, as it
// stands now (oldest decision first); none for "".
func assignedByPass(ctx context.Context, q querier, passKey string) ([]Assigned, error) {
	if passKey == "" {
		return nil, nil
	}
	list, err := queryAll(ctx, q, sqlbuilder.Buildf(assignmentSelect+"c.pass_key = %v AND c.status IN ('assigned', 'offered') "+
		"ORDER BY coalesce(c.offered_at, c.assigned_at), c.id", passKey), scanAssignment)
	var out []Assigned
	for _, a := range list {
		if a != nil {
			out = append(out, *a)
		}
	}
	return out, err
}

// currentAssignment is the conversation's assignment or offer as it stands (nil
// when it has none).
func currentAssignment(ctx context.Context, q querier, conversationID string) (*Assigned, error) {
	a, err := scanAssignment(queryRow(ctx, q, sqlbuilder.Buildf(assignmentSelect+"c.id = %v", conversationID)))
	return a, notFound(err, "conversation")
}

// assignmentSelect reads conversations' assignments (scanAssignment); the
// caller appends the condition.
const assignmentSelect = "SELECT c.id, c.page_id, cu.psid, c.status, coalesce(c.agent_id::text, ''), coalesce(c.queue_id::text, ''), " +
	"coalesce(CASE WHEN c.status = 'offered' THEN c.offered_at ELSE c.assigned_at END, now()), c.offer_expires_at, c.state_seq " +
	"FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE "

// scanAssignment scans a row of assignmentSelect: nil when the conversation is
// neither assigned nor offered.
func scanAssignment(row rowScanner) (*Assigned, error) {
	var a Assigned
	var status string
	var expires sql.NullTime
	if err := row.Scan(&a.ConversationID, &a.PageID, &a.PSID, &status, &a.AgentID, &a.QueueID, &a.AssignedAt, &expires, &a.Seq); err != nil {
		return nil, err
	}
	if (status != "assigned" && status != "offered") || a.AgentID == "" {
		return nil, nil
	}
	if status == "offered" {
		a.Offered, a.OfferExpiresAt = true, expires.Time
	}
	return &a, nil
}
