package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"

	"fbchannel/messenger"
)

// InboundEvent is one webhook event as stored in inbound_events.
type InboundEvent struct {
	PageID   string
	EventKey string
	PSID     string
	Kind     string
	Payload  []byte
}

// SaveInboundEvents stores webhook events before their workflows are signalled, so
// history carries references only. A redelivered event changes nothing.
func SaveInboundEvents(ctx context.Context, q querier, events []InboundEvent) error {
	if len(events) == 0 {
		return nil
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("inbound_events").Cols("page_id", "event_key", "psid", "kind", "payload")
	for _, e := range events {
		ib.Values(e.PageID, e.EventKey, e.PSID, e.Kind, string(e.Payload))
	}
	ib.SQL("ON CONFLICT (page_id, event_key) DO NOTHING")
	_, err := exec(ctx, q, ib)
	return err
}

// OpenConversation creates the customer (once per page and PSID) and the
// conversation, waiting in the page's default queue. Idempotent on conversationID.
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
		ib.InsertInto("conversations").Cols("id", "page_uuid", "page_id", "customer_id", "status", "queue_id", "enqueued_at").
			Values(conversationID, pageUUID, pageID, customerID, "waiting", queueID, sqlbuilder.Raw("now()"))
		ib.SQL("ON CONFLICT (id) DO NOTHING")
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		served = true
		return nil
	})
	return served, customerID, queueID, err
}

// lockConversation takes the conversation's row lock: recording, assigning and
// closing one conversation happen one after another.
func lockConversation(ctx context.Context, tx *sql.Tx, id string) (status string, agentID *string, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("status", "agent_id").From("conversations").Where(sb.Equal("id", id)).ForUpdate()
	err = queryRow(ctx, tx, sb).Scan(&status, &agentID)
	return status, agentID, notFound(err, "conversation")
}

// RecordInbound turns one stored webhook event into the transcript. It returns
// whether something new was recorded and, for events that open or restart
// Messenger's window, the customer's time.
func (s *Store) RecordInbound(ctx context.Context, conversationID, pageID, eventKey string) (recorded bool, customerAt time.Time, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("payload").From("inbound_events").Where(sb.Equal("page_id", pageID), sb.Equal("event_key", eventKey))
		var payload []byte
		if err := queryRow(ctx, tx, sb).Scan(&payload); err != nil {
			return notFound(err, "inbound event")
		}
		var ev messenger.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return err
		}
		_, agentID, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		at := time.UnixMilli(ev.Timestamp).UTC()
		if ev.Timestamp == 0 {
			at = time.Now().UTC()
		}
		switch ev.Kind() {
		case "message", "postback":
			m := inboundMessage(ev)
			m.ConversationID = conversationID
			recorded, err = insertMessage(ctx, tx, pageID, m, at)
			if err != nil {
				return err
			}
			customerAt = at
			if recorded && agentID != nil {
				if err := insertEvent(ctx, tx, *agentID, "message.received", conversationID, "received:"+m.ID,
					map[string]any{"message": m}); err != nil {
					return err
				}
			}
		case "reaction", "referral":
			customerAt = at // these restart the window but add no message
		case "echo":
			recorded, err = s.recordEcho(ctx, tx, conversationID, pageID, ev, at)
			if err != nil {
				return err
			}
		case "delivery":
			if err := markDelivered(ctx, tx, conversationID, agentID, ev.Delivery); err != nil {
				return err
			}
		case "read":
			if err := markRead(ctx, tx, conversationID, agentID, ev.Read.Watermark); err != nil {
				return err
			}
		}
		if !customerAt.IsZero() {
			ub := pg.NewUpdateBuilder()
			ub.Update("conversations").Set("last_customer_message_at = greatest(last_customer_message_at, " + ub.Var(customerAt) + ")").
				Where(ub.Equal("id", conversationID))
			if _, err := exec(ctx, tx, ub); err != nil {
				return err
			}
		}
		return nil
	})
	return recorded, customerAt, err
}

func inboundMessage(ev messenger.Event) Message {
	m := Message{ID: uuid.NewString(), Direction: "inbound", Sender: "customer", Kind: "text", Status: "received", Attachments: []Attachment{}}
	switch {
	case ev.Postback != nil:
		m.Kind, m.Text = "postback", ev.Postback.Title
		if ev.Postback.MID != "" {
			mid := ev.Postback.MID
			m.FacebookMessageID = &mid
		}
	case ev.Message != nil:
		mid := ev.Message.MID
		m.FacebookMessageID = &mid
		m.Text = ev.Message.Text
		for _, a := range ev.Message.Attachments {
			url := a.Payload.URL
			if url == "" {
				url = a.URL
			}
			m.Attachments = append(m.Attachments, Attachment{Type: a.Type, URL: url})
		}
		switch {
		case ev.Message.QuickReply != nil:
			m.Kind = "quick_reply"
		case len(m.Attachments) > 0:
			m.Kind = "attachment"
		}
	}
	return m
}

func insertMessage(ctx context.Context, tx *sql.Tx, pageID string, m Message, at time.Time) (bool, error) {
	attachments, err := json.Marshal(m.Attachments)
	if err != nil {
		return false, err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "attachments",
		"status", "facebook_message_id", "sent_at").
		Values(m.ID, m.ConversationID, pageID, m.Direction, m.Sender, m.Kind, m.Text, string(attachments), m.Status, m.FacebookMessageID, at)
	ib.SQL("ON CONFLICT (page_id, facebook_message_id) WHERE facebook_message_id IS NOT NULL DO NOTHING")
	res, err := exec(ctx, tx, ib)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// recordEcho keeps our own sends from being recorded twice (they carry our message
// id as metadata) and records what the page sent from elsewhere.
func (s *Store) recordEcho(ctx context.Context, tx *sql.Tx, conversationID, pageID string, ev messenger.Event, at time.Time) (bool, error) {
	if validUUID(ev.Message.Metadata) {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("facebook_message_id", ev.Message.MID), "updated_at = now()").
			Where(ub.Equal("id", ev.Message.Metadata), ub.IsNull("facebook_message_id"))
		_, err := exec(ctx, tx, ub)
		return false, err
	}
	m := inboundMessage(ev)
	m.ConversationID, m.Direction, m.Sender, m.Status = conversationID, "outbound", "page", "sent"
	m.Error = "sent outside the desk"
	return insertMessage(ctx, tx, pageID, m, at)
}

func markDelivered(ctx context.Context, tx *sql.Tx, conversationID string, agentID *string, d *messenger.Delivery) error {
	ub := pg.NewUpdateBuilder()
	where := []string{ub.Equal("conversation_id", conversationID), ub.Equal("direction", "outbound"), ub.Equal("status", "sent")}
	if len(d.MIDs) > 0 {
		mids := make([]any, len(d.MIDs))
		for i, mid := range d.MIDs {
			mids[i] = mid
		}
		where = append(where, ub.In("facebook_message_id", mids...))
	} else {
		where = append(where, ub.LessEqualThan("sent_at", time.UnixMilli(d.Watermark).UTC()))
	}
	ub.Update("messages").Set(ub.Assign("status", "delivered"), "updated_at = now()").Where(where...).Returning("id")
	return notifyStatus(ctx, tx, ub, conversationID, agentID, "delivered")
}

func markRead(ctx context.Context, tx *sql.Tx, conversationID string, agentID *string, watermark int64) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("messages").Set(ub.Assign("status", "read"), "updated_at = now()").Where(
		ub.Equal("conversation_id", conversationID), ub.Equal("direction", "outbound"),
		ub.In("status", "sent", "delivered"), ub.LessEqualThan("sent_at", time.UnixMilli(watermark).UTC()),
	).Returning("id")
	return notifyStatus(ctx, tx, ub, conversationID, agentID, "read")
}

func notifyStatus(ctx context.Context, tx *sql.Tx, ub *sqlbuilder.UpdateBuilder, conversationID string, agentID *string, status string) error {
	rows, err := query(ctx, tx, ub)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if agentID == nil {
		return rows.Err()
	}
	for _, id := range ids {
		if err := insertEvent(ctx, tx, *agentID, "message.status", conversationID, "status:"+id+":"+status,
			map[string]any{"message_id": id, "status": status, "error": ""}); err != nil {
			return err
		}
	}
	return rows.Err()
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

// MarkSent records a successful send and tells the agent.
func (s *Store) MarkSent(ctx context.Context, messageID, facebookMessageID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "sent"), ub.Assign("facebook_message_id", facebookMessageID),
			"sent_at = now()", "updated_at = now()").Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

// MarkFailed records a failed send with its reason and tells the agent.
func (s *Store) MarkFailed(ctx context.Context, messageID, reason, message string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "failed"), ub.Assign("reason", reason), ub.Assign("error", message),
			"updated_at = now()").Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

func (s *Store) notifyMessage(ctx context.Context, tx *sql.Tx, messageID string) error {
	m, err := s.GetMessage(ctx, tx, messageID)
	if err != nil || m.AgentID == nil {
		return err
	}
	return insertEvent(ctx, tx, *m.AgentID, "message.status", m.ConversationID, "status:"+m.ID+":"+m.Status,
		map[string]any{"message_id": m.ID, "status": m.Status, "error": m.Error, "reason": m.Reason, "facebook_message_id": m.FacebookMessageID})
}

// OutboundToSend is what SendMessage needs from the database.
type OutboundToSend struct {
	Message        Message
	PageUUID       string
	PSID           string
	StillAssigned  bool // the conversation is open and still the sending agent's
	AlreadySentMID string
}

// OutboundToSend loads a reply and checks that its agent still owns the conversation.
func (s *Store) OutboundToSend(ctx context.Context, messageID string) (OutboundToSend, error) {
	var o OutboundToSend
	m, err := s.GetMessage(ctx, s.DB, messageID)
	if err != nil {
		return o, err
	}
	o.Message = m
	if m.Status != "sending" && m.Status != "queued" && m.FacebookMessageID != nil {
		o.AlreadySentMID = *m.FacebookMessageID
	}
	sb := pg.NewSelectBuilder()
	sb.Select("c.page_uuid", "cu.psid", "c.status", "c.agent_id").From("conversations c").
		Join("customers cu", "cu.id = c.customer_id").Where(sb.Equal("c.id", m.ConversationID))
	var status string
	var agentID *string
	if err := queryRow(ctx, s.DB, sb).Scan(&o.PageUUID, &o.PSID, &status, &agentID); err != nil {
		return o, notFound(err, "conversation")
	}
	o.StillAssigned = status == "assigned" && agentID != nil && m.AgentID != nil && *agentID == *m.AgentID
	return o, nil
}

// CloseConversation closes and tells the agent; it returns the agent's queues so
// their workflows can use the freed capacity. Closing twice is harmless.
func (s *Store) CloseConversation(ctx context.Context, conversationID, reason, disposition string) ([]string, error) {
	var queues []string
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, agentID, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if agentID != nil {
			if queues, err = s.AgentQueues(ctx, tx, *agentID); err != nil {
				return err
			}
		}
		if status == "closed" {
			return nil
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("status", "closed"), ub.Assign("close_reason", reason),
			ub.Assign("disposition", disposition), "closed_at = now()").
			Where(ub.Equal("id", conversationID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		if agentID == nil {
			return nil
		}
		return insertEvent(ctx, tx, *agentID, "conversation.closed", conversationID, "closed:"+conversationID,
			map[string]any{"reason": reason, "disposition": disposition})
	})
	return queues, err
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
			ub := pg.NewUpdateBuilder()
			ub.Update("conversations").Set(ub.Assign("status", "assigned"), ub.Assign("agent_id", agentID),
				"closed_at = NULL", ub.Assign("close_reason", "")).Where(ub.Equal("id", conversationID))
			if _, err := exec(ctx, tx, ub); err != nil {
				return err
			}
			if err := announceAssignment(ctx, tx, conversationID, agentID); err != nil {
				return err
			}
		}
		if conv, err = s.conversation(ctx, tx, conversationID); err != nil {
			return err
		}
		sb := pg.NewSelectBuilder()
		sb.Select("last_customer_message_at").From("conversations").Where(sb.Equal("id", conversationID))
		return queryRow(ctx, tx, sb).Scan(&lastCustomer)
	})
	return conv, lastCustomer.Time, err
}

// SaveProfile stores what Facebook told us about a customer.
func (s *Store) SaveProfile(ctx context.Context, customerID, name, pic, locale string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("customers").Set(ub.Assign("name", name), ub.Assign("profile_pic", pic), ub.Assign("locale", locale),
		"profile_fetched_at = now()").Where(ub.Equal("id", customerID))
	_, err := exec(ctx, s.DB, ub)
	return err
}

// CustomerForProfile says whose profile to fetch, and whether it is fresh enough.
func (s *Store) CustomerForProfile(ctx context.Context, customerID string, freshFor time.Duration) (psid string, fresh bool, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("psid", "profile_fetched_at").From("customers").Where(sb.Equal("id", customerID))
	var fetched sql.NullTime
	if err := queryRow(ctx, s.DB, sb).Scan(&psid, &fetched); err != nil {
		return "", false, notFound(err, "customer")
	}
	return psid, fetched.Valid && time.Since(fetched.Time) < freshFor, nil
}

// MarkQueued records that a reply waits for its page to be re-authorised.
func (s *Store) MarkQueued(ctx context.Context, messageID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "queued"), ub.Assign("reason", "page_needs_reauth"),
			ub.Assign("error", "The page needs re-authorisation; this reply will be sent once it is."), "updated_at = now()").
			Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

// ConversationsWithParkedReplies lists (page id, PSID) of open conversations of a
// page that hold replies waiting for re-authorisation.
func (s *Store) ConversationsWithParkedReplies(ctx context.Context, pageUUID string) ([][2]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("DISTINCT c.page_id", "cu.psid").From("messages m").
		Join("conversations c", "c.id = m.conversation_id").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.page_uuid", pageUUID), sb.Equal("m.status", "queued"), sb.NotEqual("c.status", "closed"))
	rows, err := query(ctx, s.DB, sb)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var pageID, psid string
		if err := rows.Scan(&pageID, &psid); err != nil {
			return nil, err
		}
		out = append(out, [2]string{pageID, psid})
	}
	return out, rows.Err()
}

// PageStatus reads a page's provisioning status.
func (s *Store) PageStatus(ctx context.Context, pageUUID string) (string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("provisioning_status").From("pages").Where(sb.Equal("id", pageUUID))
	var status string
	err := queryRow(ctx, s.DB, sb).Scan(&status)
	return status, notFound(err, "page")
}

// InsertSystemMessage stores an automated message of the service; idempotent on id.
func (s *Store) InsertSystemMessage(ctx context.Context, id, conversationID, text string) error {
	conv, err := s.conversation(ctx, s.DB, conversationID)
	if err != nil {
		return err
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "status", "agent_id").
		Values(id, conversationID, conv.PageID, "outbound", "system", "text", text, "sending", conv.AgentID)
	ib.SQL("ON CONFLICT (id) DO NOTHING")
	_, err = exec(ctx, s.DB, ib)
	return err
}
