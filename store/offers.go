package store

// Accept or decline (issue 13, part 2). In a workstream that does not auto-accept,
// a queue pass offers the conversation to the agent it would have assigned: the
// offer takes the agent's capacity, and the conversation becomes active only when
// the agent accepts. A decline or the countdown running out puts it back in its
// place in the queue, and the next pass offers it to the eligible agent who has
// had it fewest times. Every offer's end is an agent event,
// conversation.offer_ended {"outcome": accepted|declined|expired}, in the
// transaction that ends it.

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
)

// Offer defaults of a workstream.
const (
	DefaultOfferCountdownSeconds = 120
	DefaultOfferMissedToAway     = 3
)

// OfferRule is a workstream's offer setting.
type OfferRule struct {
	// AutoAccept (the default): conversations are assigned, not offered.
	AutoAccept       bool `json:"auto_accept"`
	CountdownSeconds int  `json:"countdown_s"`
	// MissedToAway: after this many offers in a row run out, the agent is away.
	MissedToAway int `json:"missed_to_away"`
}

// Outcomes of an offer.
const (
	OfferAccepted = "accepted"
	OfferDeclined = "declined"
	OfferExpired  = "expired"
)

// offerSetting is the offer part of a conversation's workstream, as a queue pass
// reads it (offerSettingColumns, on workstreams w, which may be missing).
type offerSetting struct {
	autoAccept       bool
	countdownSeconds int
}

const offerSettingColumns = "coalesce(w.offer_auto_accept, true), coalesce(w.offer_countdown_seconds, 120)"

// fewestOffersFirst orders candidate agents a by how often they were offered the
// conversation (%v): one who declined or missed it comes after every other
// eligible agent has had it.
const fewestOffersFirst = "(SELECT count(*) FROM conversation_offers o WHERE o.conversation_id = %v AND o.agent_id = a.id)"

// offerTo records an offer decided under the conversation's and the agent's row
// locks (as assignTo records an assignment) and tells the agent, with the
// customer's first message, in the same transaction.
func offerTo(ctx context.Context, tx *sql.Tx, a *Assigned, units, countdownSeconds int) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set(ub.Assign("status", "offered"), ub.Assign("agent_id", a.AgentID), ub.Assign("units", units),
		ub.Assign("queue_id", a.QueueID), "offered_at = clock_timestamp()",
		"offer_expires_at = clock_timestamp() + make_interval(secs => "+ub.Var(countdownSeconds)+")").
		Where(ub.Equal("id", a.ConversationID)).Returning("offered_at", "offer_expires_at", "state_seq")
	if err := queryRow(ctx, tx, ub).Scan(&a.AssignedAt, &a.OfferExpiresAt, &a.Seq); err != nil {
		return err
	}
	a.Offered = true
	ub = pg.NewUpdateBuilder()
	ub.Update("agents").Set("last_assigned_at = now()").Where(ub.Equal("id", a.AgentID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("conversation_offers").Cols("conversation_id", "agent_id", "offered_at", "expires_at").
		Values(a.ConversationID, a.AgentID, a.AssignedAt, a.OfferExpiresAt)
	if _, err := exec(ctx, tx, ib); err != nil {
		return err
	}
	s := &Store{}
	conv, err := s.conversation(ctx, tx, a.ConversationID)
	if err != nil {
		return err
	}
	first := sqlbuilder.Buildf("SELECT coalesce((SELECT text FROM messages WHERE conversation_id = %v AND direction = 'inbound' "+
		"ORDER BY created_at, id LIMIT 1), '')", a.ConversationID)
	var firstMessage string
	if err := queryRow(ctx, tx, first).Scan(&firstMessage); err != nil {
		return err
	}
	return insertEvent(ctx, tx, a.AgentID, "conversation.offered", a.ConversationID, "offered:"+a.ConversationID+":"+uuid.NewString(),
		map[string]any{"conversation": conv, "expires_at": a.OfferExpiresAt.UTC(), "countdown_s": countdownSeconds, "first_message": firstMessage})
}

// lockOffer locks the conversation and answers its offered_at when it is offered
// to the agent; otherwise a *Refused (409, offer_gone).
func lockOffer(ctx context.Context, tx *sql.Tx, conversationID, agentID string) (offeredAt time.Time, status string, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("status", "coalesce(agent_id::text, '')", "offered_at").From("conversations").Where(sb.Equal("id", conversationID)).ForUpdate()
	var owner string
	var at sql.NullTime
	if err := queryRow(ctx, tx, sb).Scan(&status, &owner, &at); err != nil {
		return offeredAt, "", notFound(err, "conversation")
	}
	if status != "offered" || owner != agentID {
		// Only an agent who was offered the conversation learns that it exists.
		had := pg.NewSelectBuilder()
		had.Select("count(*)").From("conversation_offers").Where(had.Equal("conversation_id", conversationID), had.Equal("agent_id", agentID))
		var n int
		if err := queryRow(ctx, tx, had).Scan(&n); err != nil {
			return offeredAt, status, err
		}
		if n == 0 {
			return offeredAt, status, fmt.Errorf("conversation: %w", ErrNotFound)
		}
		return offeredAt, status, &Refused{Code: "offer_gone", Message: "This offer is no longer yours: it was declined, ran out or was withdrawn."}
	}
	return at.Time, status, nil
}

// endOffer records how the offer ended and tells the agent
// (conversation.offer_ended); a decision (accept or decline) resets the agent's
// run of missed offers.
func endOffer(ctx context.Context, tx *sql.Tx, conversationID, agentID string, offeredAt time.Time, outcome string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("conversation_offers").Set(ub.Assign("outcome", outcome), "ended_at = now()").
		Where(ub.Equal("conversation_id", conversationID), ub.Equal("offered_at", offeredAt), "outcome IS NULL")
	if _, err := exec(ctx, tx, ub); err != nil {
		return err
	}
	if outcome != OfferExpired {
		ub = pg.NewUpdateBuilder()
		ub.Update("agents").Set("missed_offers = 0").Where(ub.Equal("id", agentID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
	}
	return insertEvent(ctx, tx, agentID, "conversation.offer_ended", conversationID,
		"offer_ended:"+conversationID+":"+offeredAt.UTC().Format(time.RFC3339Nano), map[string]any{"outcome": outcome})
}

// requeueOffered puts an offered conversation back in its place in its queue; seq
// is its state_seq after that.
func requeueOffered(ctx context.Context, tx *sql.Tx, conversationID string) (queueID string, seq int64, err error) {
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set(ub.Assign("status", "waiting"), "agent_id = NULL", "offered_at = NULL", "offer_expires_at = NULL").
		Where(ub.Equal("id", conversationID)).Returning("coalesce(queue_id::text, '')", "state_seq")
	err = queryRow(ctx, tx, ub).Scan(&queueID, &seq)
	return queueID, seq, err
}

// AcceptOffer makes the conversation offered to the agent active with it: the
// assignment (conversation.assigned, with the messages so far) and the offer's
// end in one transaction. Accepting twice answers the same assignment; an offer
// that is gone is a *Refused (offer_gone).
func (s *Store) AcceptOffer(ctx context.Context, conversationID, agentID string) (Assigned, error) {
	var a Assigned
	if !validUUID(conversationID) {
		return a, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		offeredAt, status, err := lockOffer(ctx, tx, conversationID, agentID)
		if err != nil {
			if status == "assigned" {
				return s.currentAssignment(ctx, tx, conversationID, agentID, &a, err)
			}
			return err
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "assigned"), "assigned_at = clock_timestamp()", "offer_expires_at = NULL").
			Where(ub.Equal("id", conversationID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		if err := endOffer(ctx, tx, conversationID, agentID, offeredAt, OfferAccepted); err != nil {
			return err
		}
		if err := announceAssignment(ctx, tx, conversationID, agentID); err != nil {
			return err
		}
		return s.currentAssignment(ctx, tx, conversationID, agentID, &a, nil)
	})
	return a, err
}

// currentAssignment reads the conversation's assignment to the agent into a, or
// answers refused when it is not the agent's.
func (s *Store) currentAssignment(ctx context.Context, tx *sql.Tx, conversationID, agentID string, a *Assigned, refused error) error {
	b := sqlbuilder.Buildf("SELECT c.page_id, cu.psid, coalesce(c.queue_id::text, ''), c.assigned_at, c.state_seq FROM conversations c "+
		"JOIN customers cu ON cu.id = c.customer_id WHERE c.id = %v AND c.agent_id = %v AND c.status = 'assigned'", conversationID, agentID)
	err := queryRow(ctx, tx, b).Scan(&a.PageID, &a.PSID, &a.QueueID, &a.AssignedAt, &a.Seq)
	if err == sql.ErrNoRows && refused != nil {
		return refused
	}
	a.ConversationID, a.AgentID = conversationID, agentID
	return err
}

// DeclineOffer puts the conversation offered to the agent back in its queue (the
// caller wakes QueueID); the agent is offered it again only after every other
// eligible agent has had it. seq is the conversation's state_seq after the
// decline, for the workflow's signal.
func (s *Store) DeclineOffer(ctx context.Context, conversationID, agentID string) (queueID string, seq int64, err error) {
	if !validUUID(conversationID) {
		return "", 0, fmt.Errorf("conversation: %w", ErrNotFound)
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		offeredAt, _, err := lockOffer(ctx, tx, conversationID, agentID)
		if err != nil {
			return err
		}
		if queueID, seq, err = requeueOffered(ctx, tx, conversationID); err != nil {
			return err
		}
		return endOffer(ctx, tx, conversationID, agentID, offeredAt, OfferDeclined)
	})
	return queueID, seq, err
}

// OfferExpiry is what the end of an offer's countdown did.
type OfferExpiry struct {
	// Expired: the offer was still open and ran out; the conversation waits in
	// QueueID again. False when it was accepted or declined in time.
	Expired bool
	QueueID string
	// Away: the agent missed its workstream's number of offers in a row and is
	// away now (told by presence.changed).
	Away bool
}

// ExpireOffer ends the agent's offer of offeredAt when its countdown has run out
// and it is still open; the agent's run of missed offers grows, and at the
// workstream's missed_to_away the agent is set away and told why.
func (s *Store) ExpireOffer(ctx context.Context, conversationID, agentID string, offeredAt time.Time) (OfferExpiry, error) {
	var out OfferExpiry
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		at, _, err := lockOffer(ctx, tx, conversationID, agentID)
		if _, gone := err.(*Refused); gone || (err == nil && !at.Equal(offeredAt)) {
			return nil // accepted or declined in time, or a later offer
		}
		if err != nil {
			return err
		}
		if out.QueueID, _, err = requeueOffered(ctx, tx, conversationID); err != nil {
			return err
		}
		out.Expired = true
		if err := endOffer(ctx, tx, conversationID, agentID, offeredAt, OfferExpired); err != nil {
			return err
		}
		b := sqlbuilder.Buildf("UPDATE agents SET missed_offers = missed_offers + 1 WHERE id = %v "+
			"RETURNING missed_offers, presence, (SELECT coalesce(w.offer_missed_to_away, %v) FROM conversations c "+
			"LEFT JOIN workstreams w ON w.id = c.workstream_id WHERE c.id = %v)", agentID, DefaultOfferMissedToAway, conversationID)
		var missed, limit int
		var presence string
		if err := queryRow(ctx, tx, b).Scan(&missed, &presence, &limit); err != nil {
			return err
		}
		if missed < limit || presence != "available" {
			return nil
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("agents").Set(ub.Assign("presence", "away"), "presence_changed_at = now()", "missed_offers = 0").Where(ub.Equal("id", agentID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		out.Away = true
		return insertEvent(ctx, tx, agentID, "presence.changed", conversationID, "away:"+agentID+":"+uuid.NewString(), map[string]any{
			"status": "away", "reason": "missed_offers", "missed": missed,
			"message": fmt.Sprintf("You missed %d offers in a row, so your status is now away. Set yourself available to get conversations again.", missed),
		})
	})
	return out, err
}

func offerRule(autoAccept sql.NullBool, countdown, missed sql.NullInt64) OfferRule {
	r := OfferRule{AutoAccept: true, CountdownSeconds: DefaultOfferCountdownSeconds, MissedToAway: DefaultOfferMissedToAway}
	if autoAccept.Valid {
		r.AutoAccept = autoAccept.Bool
	}
	if countdown.Valid {
		r.CountdownSeconds = int(countdown.Int64)
	}
	if missed.Valid {
		r.MissedToAway = int(missed.Int64)
	}
	return r
}
