package store

import (
	"context"
	"database/sql"
	"time"
)

// Reasons a reply fails without Facebook having refused it.
const (
	// ReasonOutcomeUnknown: the Send API was called but the desk never learned
	// whether Facebook took the reply, and no echo came to tell.
	ReasonOutcomeUnknown = "outcome_unknown"
	// ReasonNotSent: the reply was stored but never handed to the workflow that
	// sends it (the starter died, or the update was lost).
	ReasonNotSent = "not_sent"
)

// BeginSendAttempt records, in its own commit, that the Send API is about to be
// called for a message. It reports false when the message is no longer waiting to
// be sent, or an attempt is already recorded: the caller must not call Facebook
// then. The conditional UPDATE is re-evaluated under the row lock, so it and
// MarkNotSent (the sweeper) cannot both win.
func (s *Store) BeginSendAttempt(ctx context.Context, messageID string) (bool, error) {
	ub := pg.NewUpdateBuilder()
	ub.Update("messages").Set("send_attempted_at = now()", "updated_at = now()").
		Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"), ub.IsNull("send_attempted_at"), ub.IsNull("facebook_message_id"))
	res, err := exec(ctx, s.DB, ub)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ClearSendAttempt takes an attempt back when Facebook refused the message (an
// error answer says it was not sent), so a later send (a parked reply once the page
// is re-authorised, a retry after a rate limit) may call Facebook again.
func (s *Store) ClearSendAttempt(ctx context.Context, messageID string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("messages").Set("send_attempted_at = NULL", "updated_at = now()").
		Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"), ub.IsNull("facebook_message_id"))
	_, err := exec(ctx, s.DB, ub)
	return err
}

// SendAttempt is what a retried send knows about an earlier attempt.
type SendAttempt struct {
	Status string
	// FacebookMessageID is the id Facebook gave the message: recorded on the row
	// (MarkSent, or the echo recorded by the conversation workflow) or found on a
	// stored echo whose metadata is the message id ("" if neither).
	FacebookMessageID string
	// Since is how long ago the attempt was recorded, by the database's clock.
	Since time.Duration
}

// SendAttemptOf looks for the proof that an attempted send reached Facebook.
func (s *Store) SendAttemptOf(ctx context.Context, messageID string) (SendAttempt, error) {
	sb := pg.NewSelectBuilder()
	echo := pg.NewSelectBuilder()
	echo.Select("e.payload->'message'->>'mid'").From("inbound_events e").
		Where("e.page_id = m.page_id", echo.Equal("e.kind", "echo"), "e.payload->'message'->>'metadata' = m.id::text").Limit(1)
	sb.Select("m.status", "coalesce(m.facebook_message_id, ("+sb.Var(echo)+"), '')",
		"coalesce(extract(epoch FROM now() - m.send_attempted_at), 0)").
		From("messages m").Where(sb.Equal("m.id", messageID))
	var a SendAttempt
	var seconds float64
	err := queryRow(ctx, s.DB, sb).Scan(&a.Status, &a.FacebookMessageID, &seconds)
	a.Since = time.Duration(seconds * float64(time.Second))
	return a, notFound(err, "message")
}

// UnsentReply is an agent's reply that has been waiting to be handed over too long.
type UnsentReply struct {
	ID             string
	ConversationID string
	PageID         string
	PSID           string
}

// UnsentReplies lists agents' replies still 'sending', with no send attempt,
// stored more than olderThan ago (oldest first, at most limit).
func (s *Store) UnsentReplies(ctx context.Context, olderThan time.Duration, limit int) ([]UnsentReply, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("m.id", "m.conversation_id", "c.page_id", "cu.psid").From("messages m").
		Join("conversations c", "c.id = m.conversation_id").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("m.status", "sending"), sb.Equal("m.sender", "agent"), sb.IsNull("m.send_attempted_at"),
			"m.created_at < now() - make_interval(secs => "+sb.Var(olderThan.Seconds())+")").
		OrderBy("m.created_at").Limit(limit)
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (UnsentReply, error) {
		var r UnsentReply
		err := row.Scan(&r.ID, &r.ConversationID, &r.PageID, &r.PSID)
		return r, err
	})
}

// MarkNotSent fails a reply that was never handed to Facebook and tells its agent.
// It changes nothing (and reports false) once a send attempt is recorded or the
// reply left 'sending', or while it is younger than olderThan: the same
// conditions as UnsentReplies, checked again under the row lock.
func (s *Store) MarkNotSent(ctx context.Context, messageID string, olderThan time.Duration, message string) (bool, error) {
	var done bool
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "failed"), ub.Assign("reason", ReasonNotSent), ub.Assign("error", message),
			"updated_at = now()").
			Where(ub.Equal("id", messageID), ub.Equal("status", "sending"), ub.IsNull("send_attempted_at"),
				"created_at < now() - make_interval(secs => "+ub.Var(olderThan.Seconds())+")")
		res, err := exec(ctx, tx, ub)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		done = true
		return s.notifyMessage(ctx, tx, messageID)
	})
	return done, err
}

// LatestConversation is the id of the customer's most recently opened
// conversation on a page; ErrNotFound when there is none.
func (s *Store) LatestConversation(ctx context.Context, pageID, psid string) (string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("c.id").From("conversations c").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.page_id", pageID), sb.Equal("cu.psid", psid)).OrderBy("c.opened_at").Desc().Limit(1)
	var id string
	err := queryRow(ctx, s.DB, sb).Scan(&id)
	return id, notFound(err, "conversation")
}

// ConversationCustomerErased says whether the conversation's customer had their
// data erased (their stored webhook events are gone and will not come back).
func (s *Store) ConversationCustomerErased(ctx context.Context, conversationID string) (bool, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("cu.erased_at IS NOT NULL").From("conversations c").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.id", conversationID))
	var erased bool
	err := queryRow(ctx, s.DB, sb).Scan(&erased)
	return erased, notFound(err, "conversation")
}
