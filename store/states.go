package store

// Conversation states as Omnichannel defines them (issue 13): on hold and wrap-up.
// Each change is one transaction that locks the conversation's row (and, when it
// gives the agent capacity back or takes it, the agent's row, in that order, as
// every assignment does) and writes the agent's event with it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
)

// Wrap-up blocking modes of a workstream.
const (
	WrapUpBlockAlways  = "always"
	WrapUpBlockNever   = "never"
	WrapUpBlockSeconds = "seconds"
)

// DefaultHoldReturnSeconds is how long a held conversation the customer wrote to
// waits for its agent to have room before it is routed again, unless the
// workstream says otherwise.
const DefaultHoldReturnSeconds = 300

// WrapUpRule is a workstream's wrap-up: whether it takes the agent's capacity
// (always, never, or for Seconds, after which the wrap-up ends by itself).
type WrapUpRule struct {
	Block   string `json:"block"`
	Seconds *int   `json:"seconds,omitempty"`
}

// StateRules are a workstream's settings for conversation states; they are part
// of the workstream's JSON.
type StateRules struct {
	// WrapUp nil: ending a conversation closes it at once.
	WrapUp *WrapUpRule `json:"wrap_up"`
	// HoldReturnSeconds: see DefaultHoldReturnSeconds.
	HoldReturnSeconds int `json:"hold_return_s"`
	// Offer: auto-accept, or offer with a countdown (offers.go).
	Offer OfferRule `json:"offer"`
}

// holdsCapacity is the condition (on conversations aliased x) of a conversation
// that takes its agent's capacity: active, offered, or in a wrap-up that blocks.
const holdsCapacity = "(x.status IN ('assigned', 'offered') OR (x.status = 'wrap_up' AND x.wrap_up_blocks))"

// agentLoad sums the capacity units the agent's conversations take (%v: the agent's id).
const agentLoad = "coalesce((SELECT sum(x.units) FROM conversations x WHERE x.agent_id = %v AND " + holdsCapacity + "), 0)"

func stateRules(ctx context.Context, q querier, workstreamID string) (StateRules, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("wrap_up_block", "wrap_up_seconds", "hold_return_seconds", "offer_auto_accept", "offer_countdown_seconds", "offer_missed_to_away").
		From("workstreams").Where(sb.Equal("id", workstreamID))
	var r StateRules
	var block sql.NullString
	var seconds, countdown, missed sql.NullInt64
	var autoAccept sql.NullBool
	if err := queryRow(ctx, q, sb).Scan(&block, &seconds, &r.HoldReturnSeconds, &autoAccept, &countdown, &missed); err != nil {
		return r, notFound(err, "workstream")
	}
	r.Offer = offerRule(autoAccept, countdown, missed)
	if block.Valid {
		r.WrapUp = &WrapUpRule{Block: block.String}
		if seconds.Valid {
			n := int(seconds.Int64)
			r.WrapUp.Seconds = &n
		}
	}
	return r, nil
}

func saveStateRules(ctx context.Context, tx *sql.Tx, workstreamID string, r StateRules) error {
	var block, seconds any
	if r.WrapUp != nil {
		block = r.WrapUp.Block
		if r.WrapUp.Seconds != nil {
			seconds = *r.WrapUp.Seconds
		}
	}
	if r.HoldReturnSeconds == 0 {
		r.HoldReturnSeconds = DefaultHoldReturnSeconds
	}
	if r.Offer == (OfferRule{}) {
		r.Offer = offerRule(sql.NullBool{}, sql.NullInt64{}, sql.NullInt64{})
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("workstreams").Set(ub.Assign("wrap_up_block", block), ub.Assign("wrap_up_seconds", seconds),
		ub.Assign("hold_return_seconds", r.HoldReturnSeconds), ub.Assign("offer_auto_accept", r.Offer.AutoAccept),
		ub.Assign("offer_countdown_seconds", r.Offer.CountdownSeconds), ub.Assign("offer_missed_to_away", r.Offer.MissedToAway)).
		Where(ub.Equal("id", workstreamID))
	_, err := exec(ctx, tx, ub)
	return err
}

// stateEvent tells the agent the conversation's new state (conversation.state).
func stateEvent(ctx context.Context, tx *sql.Tx, agentID, conversationID, status string, extra map[string]any) error {
	data := map[string]any{"status": status}
	for k, v := range extra {
		data[k] = v
	}
	return insertEvent(ctx, tx, agentID, "conversation.state", conversationID, "state:"+conversationID+":"+status+":"+uuid.NewString(), data)
}

// Hold puts the agent's active conversation on hold: it stays the agent's and
// takes none of its capacity. It answers the agent's queues (to use the capacity)
// and the conversation's state_seq after the hold, for the workflow's signal; 0
// when nothing changed (holding a held conversation changes nothing).
func (s *Store) Hold(ctx context.Context, conversationID, agentID string) (queues []string, seq int64, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		status, owner, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if owner == nil || *owner != agentID {
			return fmt.Errorf("conversation: %w", ErrNotFound)
		}
		switch status {
		case "on_hold":
			return nil
		case "assigned":
		default:
			return &Refused{Code: "conversation_not_active", Message: "This conversation is " + status + "; only an active conversation can be put on hold."}
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "on_hold"), "held_at = now()").Where(ub.Equal("id", conversationID)).
			Returning("state_seq")
		if err := queryRow(ctx, tx, ub).Scan(&seq); err != nil {
			return err
		}
		if queues, err = s.AgentQueues(ctx, tx, agentID); err != nil {
			return err
		}
		return stateEvent(ctx, tx, agentID, conversationID, "on_hold", nil)
	})
	return queues, seq, err
}

// returnFromHold gives the held conversation the customer wrote to back to its
// agent, when the agent is available with room for it (counted under the agent's
// row lock, as for every assignment); otherwise back is false and it stays on hold.
// seq is its state_seq once back. The caller holds the conversation's row lock.
func returnFromHold(ctx context.Context, tx *sql.Tx, conversationID, agentID string) (back bool, seq int64, err error) {
	free, err := lockAgentFree(ctx, tx, agentID, true)
	if errors.Is(err, errAgentUnavailable) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	var units int
	if err := columnByID(ctx, tx, "conversations", "units", conversationID, false, &units); err != nil {
		return false, 0, err
	}
	if free < units {
		return false, 0, nil
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set(ub.Assign("status", "assigned"), "held_at = NULL").Where(ub.Equal("id", conversationID)).
		Returning("state_seq")
	if err := queryRow(ctx, tx, ub).Scan(&seq); err != nil {
		return false, 0, err
	}
	return true, seq, stateEvent(ctx, tx, agentID, conversationID, "assigned", map[string]any{"reason": "customer_wrote"})
}

// holdReturnAfter is the workstream's hold-return timeout of the conversation.
func holdReturnAfter(ctx context.Context, q querier, conversationID string) (time.Duration, error) {
	b := sqlbuilder.Buildf("SELECT coalesce((SELECT w.hold_return_seconds FROM workstreams w WHERE w.id = c.workstream_id), %v) "+
		"FROM conversations c WHERE c.id = %v", DefaultHoldReturnSeconds, conversationID)
	var seconds int
	err := queryRow(ctx, q, b).Scan(&seconds)
	return time.Duration(seconds) * time.Second, err
}

// HoldReturn is what the hold-return timeout did.
type HoldReturn struct {
	// Status: assigned (back with its agent), waiting (routed again, in QueueID),
	// or whatever the conversation had become meanwhile (nothing was done).
	Status  string
	QueueID string
	// Seq is the conversation's state_seq after the change (0: nothing was
	// done): the workflow ignores a result older than a signal it applied.
	Seq int64
}

// ReturnHeld runs when the hold-return timeout of a held conversation the
// customer wrote to has passed: it goes back to its agent if the agent has room
// now, otherwise it waits in its queue for the next agent (the agent is told,
// conversation.state with status waiting).
func (s *Store) ReturnHeld(ctx context.Context, conversationID string) (HoldReturn, error) {
	var out HoldReturn
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, agentID, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		out.Status = status
		if status != "on_hold" || agentID == nil {
			return nil
		}
		back, seq, err := returnFromHold(ctx, tx, conversationID, *agentID)
		out.Seq = seq
		if err != nil || back {
			out.Status = "assigned"
			return err
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "waiting"), "agent_id = NULL", "held_at = NULL", "assigned_at = NULL",
			"enqueued_at = now()").Where(ub.Equal("id", conversationID)).Returning("coalesce(queue_id::text, '')", "state_seq")
		if err := queryRow(ctx, tx, ub).Scan(&out.QueueID, &out.Seq); err != nil {
			return err
		}
		out.Status = "waiting"
		// The agent's consults end with the conversation's leaving it, as at a transfer.
		if err := endActiveConsults(ctx, tx, conversationID, *agentID, "", ""); err != nil {
			return err
		}
		return stateEvent(ctx, tx, *agentID, conversationID, "waiting", map[string]any{"reason": "hold_return_timeout"})
	})
	return out, err
}

// Ended is what ending a conversation did.
type Ended struct {
	// Status is wrap_up, or closed when the workstream has no wrap-up.
	Status string
	// AgentID had the conversation ("" if none); QueueIDs are its queues, woken
	// for the capacity the end may free.
	AgentID  string
	QueueIDs []string
	// WrapUpLimit > 0: the wrap-up ends by itself after it (blocking the
	// agent's capacity meanwhile).
	WrapUpLimit time.Duration
}

// EndConversation is the agent's end: the conversation goes to wrap-up when its
// workstream has one, otherwise it closes (as CloseConversation). Ending twice
// answers the same. byAgent is the agent who ends it, as for CloseConversation.
func (s *Store) EndConversation(ctx context.Context, conversationID, byAgent, reason, disposition string) (Ended, error) {
	var out Ended
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, agentID, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if err := stillAssignedTo(status, agentID, byAgent); err != nil {
			return err
		}
		b := sqlbuilder.Buildf("SELECT w.wrap_up_block, w.wrap_up_seconds FROM conversations c JOIN workstreams w ON w.id = c.workstream_id "+
			"WHERE c.id = %v", conversationID)
		var block sql.NullString
		var seconds sql.NullInt64
		if err := queryRow(ctx, tx, b).Scan(&block, &seconds); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if block.String == WrapUpBlockSeconds {
			out.WrapUpLimit = time.Duration(seconds.Int64) * time.Second
		}
		out.Status = status
		if status == "wrap_up" || status == "closed" {
			if agentID != nil {
				out.AgentID = *agentID
			}
			return nil
		}
		if !block.Valid || agentID == nil {
			out.Status = "closed"
			out.QueueIDs, out.AgentID, err = s.closeLocked(ctx, tx, conversationID, status, agentID, reason, disposition)
			return err
		}
		out.Status, out.AgentID = "wrap_up", *agentID
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "wrap_up"), ub.Assign("close_reason", reason), ub.Assign("disposition", disposition),
			"held_at = NULL", "wrap_up_started_at = now()", ub.Assign("wrap_up_blocks", block.String != WrapUpBlockNever)).
			Where(ub.Equal("id", conversationID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		if out.QueueIDs, err = s.AgentQueues(ctx, tx, *agentID); err != nil {
			return err
		}
		if err := stateEvent(ctx, tx, *agentID, conversationID, "wrap_up", map[string]any{"wrap_up": map[string]any{
			"block": block.String, "seconds": seconds.Int64}}); err != nil {
			return err
		}
		// The customer's side has ended: the wrap-up is the agent's own, so the
		// consultants leave now (consult.ended), as at a close.
		return endConsultsAtClose(ctx, tx, conversationID, *agentID)
	})
	return out, err
}

// FinishWrapUp closes a conversation in wrap-up: the agent finished it (agentID
// set: it must be the conversation's agent) or its time ran out (agentID "").
// An empty disposition keeps the one given at the end. It answers the agent's
// queues when the wrap-up held its capacity; finishing twice changes nothing.
func (s *Store) FinishWrapUp(ctx context.Context, conversationID, agentID, reason, disposition string) (queues []string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		status, owner, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if agentID != "" && (owner == nil || *owner != agentID) {
			return fmt.Errorf("conversation: %w", ErrNotFound)
		}
		switch {
		case status == "closed":
			return nil
		case status != "wrap_up":
			return &Refused{Code: "not_in_wrap_up", Message: "This conversation is " + status + "; end it first (POST .../end)."}
		}
		ub := pg.NewUpdateBuilder()
		set := []string{ub.Assign("status", "closed"), "closed_at = now()", "wrap_up_ended_at = now()"}
		if disposition != "" {
			set = append(set, ub.Assign("disposition", disposition))
		}
		if reason != "" {
			set = append(set, ub.Assign("close_reason", reason))
		}
		ub.Update("conversations").Set(set...).Where(ub.Equal("id", conversationID)).Returning("wrap_up_blocks", "close_reason", "disposition")
		var blocked bool
		var closeReason, finalDisposition string
		if err := queryRow(ctx, tx, ub).Scan(&blocked, &closeReason, &finalDisposition); err != nil {
			return err
		}
		if owner == nil {
			return nil
		}
		if blocked {
			if queues, err = s.AgentQueues(ctx, tx, *owner); err != nil {
				return err
			}
		}
		if err := stateEvent(ctx, tx, *owner, conversationID, "closed", nil); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, *owner, "conversation.closed", conversationID, "closed:"+conversationID+":"+uuid.NewString(),
			map[string]any{"reason": closeReason, "disposition": finalDisposition}); err != nil {
			return err
		}
		// None are left since the wrap-up began; this ends any a conversation
		// that went into wrap-up before that rule still has.
		return endConsultsAtClose(ctx, tx, conversationID, *owner)
	})
	return queues, err
}
