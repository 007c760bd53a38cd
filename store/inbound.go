package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"

	"fbchannel/messenger"
)

// InboundRecord is what recording one webhook event did.
type InboundRecord struct {
	// Recorded: something new entered the transcript.
	Recorded bool
	// CustomerAt is the customer's time for events that open or restart
	// Messenger's window (zero for the others).
	CustomerAt time.Time
	// AttachmentRefused: the customer sent a file the workstream does not take.
	AttachmentRefused bool
	// BackFromHold: the customer wrote to the conversation on hold and it is
	// active with its agent again. HoldReturnAfter > 0: it stays on hold because
	// its agent has no room (or is not available); after that long it goes back to
	// the agent or is routed again (ReturnHeld).
	BackFromHold    bool
	HoldReturnAfter time.Duration
	// Seq is the conversation's state_seq once back from hold (0 otherwise).
	Seq int64
	// Missing: the event is not in inbound_events (nothing was recorded).
	Missing bool
}

// InboundKey names one stored webhook event: its page and Facebook's key.
type InboundKey struct {
	PageID   string
	EventKey string
}

// RecordInbound turns stored webhook events of one conversation into its
// transcript, in the order given, in one transaction: one commit (one WAL
// flush) for a batch rather than one per event, which is what a burst costs
// Postgres and the webhooks' inserts that share its log. Each event's writes are
// idempotent (the transcript's unique keys), so a retry of the whole batch
// redoes nothing twice. An event not in inbound_events is reported Missing and
// skipped; the others are recorded.
func (s *Store) RecordInbound(ctx context.Context, conversationID string, keys []InboundKey) (out []InboundRecord, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		out, err = s.recordInbound(ctx, tx, conversationID, keys)
		return err
	})
	return out, err
}

func (s *Store) recordInbound(ctx context.Context, tx *sql.Tx, conversationID string, keys []InboundKey) ([]InboundRecord, error) {
	out := make([]InboundRecord, len(keys))
	payloads, err := inboundPayloads(ctx, tx, keys)
	if err != nil {
		return out, err
	}
	status, agentID, err := lockConversation(ctx, tx, conversationID)
	if errors.Is(err, ErrNotFound) {
		// Gone (the customer's data erased): nothing to record them into.
		for i := range out {
			out[i].Missing = true
		}
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var customerAt time.Time
	for i, k := range keys {
		payload, ok := payloads[eventKey{k.PageID, k.EventKey}]
		if !ok {
			out[i].Missing = true
			continue
		}
		if out[i], err = s.recordEvent(ctx, tx, conversationID, k, payload, status, agentID); err != nil {
			return out, err
		}
		if out[i].BackFromHold {
			status = "assigned" // as returnFromHold left it
		}
		if out[i].CustomerAt.After(customerAt) {
			customerAt = out[i].CustomerAt
		}
	}
	if customerAt.IsZero() {
		return out, nil
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set("last_customer_message_at = greatest(last_customer_message_at, " + ub.Var(customerAt) + ")").
		Where(ub.Equal("id", conversationID))
	_, err = exec(ctx, tx, ub)
	return out, err
}

// inboundPayloads reads the stored events' payloads: one index scan per page
// (a conversation's events are all of its page).
func inboundPayloads(ctx context.Context, tx *sql.Tx, keys []InboundKey) (map[eventKey][]byte, error) {
	byPage := map[string][]string{}
	var pages []string
	for _, k := range keys {
		if _, ok := byPage[k.PageID]; !ok {
			pages = append(pages, k.PageID)
		}
		byPage[k.PageID] = append(byPage[k.PageID], k.EventKey)
	}
	payloads := make(map[eventKey][]byte, len(keys))
	for _, page := range pages {
		sb := pg.NewSelectBuilder()
		sb.Select("event_key", "payload").From("inbound_events").
			Where(sb.Equal("page_id", page), "event_key = ANY("+sb.Var(pq.Array(byPage[page]))+")")
		type stored struct {
			key     string
			payload []byte
		}
		found, err := queryAll(ctx, tx, sb, func(row rowScanner) (e stored, err error) {
			err = row.Scan(&e.key, &e.payload)
			return e, err
		})
		if err != nil {
			return nil, err
		}
		for _, e := range found {
			payloads[eventKey{page, e.key}] = e.payload
		}
	}
	return payloads, nil
}

// recordEvent records one stored event, in the conversation's transaction
// (its row locked; status and agentID as they are now).
func (s *Store) recordEvent(ctx context.Context, tx *sql.Tx, conversationID string, k InboundKey, payload []byte, status string, agentID *string) (InboundRecord, error) {
	var out InboundRecord
	pageID, eventKey := k.PageID, k.EventKey
	var ev messenger.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return out, err
	}
	at := time.UnixMilli(ev.Timestamp).UTC()
	if ev.Timestamp == 0 {
		at = time.Now().UTC()
	}
	var err error
	switch ev.Kind() {
	case "reaction":
		// A reaction shows on the message it reacts to (store/reactions.go),
		// not as a message of its own; it still restarts the window.
		if _, err := recordCustomerReaction(ctx, tx, pageID, conversationID, agentID, ev.Reaction); err != nil {
			return out, err
		}
		out.CustomerAt = at
	case "message", "postback", "referral":
		if ev.Message != nil && ev.Message.IsDeleted {
			return out, updateMessage(ctx, tx, pageID, agentID, conversationID, ev.Message.MID, "", "deleted")
		}
		m := inboundMessage(ev)
		m.ConversationID, m.CreatedAt = conversationID, at
		if m.Kind == "attachment" {
			refused, err := refuseCustomerAttachments(ctx, tx, conversationID, &m)
			if err != nil {
				return out, err
			}
			out.AttachmentRefused = refused
		}
		recorded, err := insertMessage(ctx, tx, pageID, eventKey, m, at)
		if err != nil {
			return out, err
		}
		out.Recorded = recorded
		out.AttachmentRefused = out.AttachmentRefused && recorded
		out.CustomerAt = at // each of these opens or restarts Messenger's window
		if recorded && agentID != nil {
			if err := insertEvent(ctx, tx, *agentID, "message.received", conversationID, "received:"+m.ID,
				map[string]any{"message": m}); err != nil {
				return out, err
			}
		}
		if recorded && agentID != nil && status == "on_hold" {
			if out.BackFromHold, out.Seq, err = returnFromHold(ctx, tx, conversationID, *agentID); err != nil {
				return out, err
			}
			if !out.BackFromHold {
				if out.HoldReturnAfter, err = holdReturnAfter(ctx, tx, conversationID); err != nil {
					return out, err
				}
			}
		}
	case "message_edit":
		return out, updateMessage(ctx, tx, pageID, agentID, conversationID, ev.MessageEdit.MID, ev.MessageEdit.Text, "")
	case "echo":
		out.Recorded, err = s.recordEcho(ctx, tx, conversationID, pageID, eventKey, ev, at)
	case "delivery":
		err = markDelivered(ctx, tx, conversationID, agentID, ev.Delivery)
	case "read":
		err = markRead(ctx, tx, conversationID, agentID, ev.Read.Watermark)
	}
	return out, err
}

// refuseCustomerAttachments applies the workstream's attachment policy: when it
// does not take customer attachments, the files are not kept (no URL is stored)
// and the message says what was refused, so the agent knows the customer tried.
func refuseCustomerAttachments(ctx context.Context, tx *sql.Tx, conversationID string, m *Message) (bool, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("coalesce(w.customer_attachments, true)").From("conversations c").
		Join("pages p", "p.id = c.page_uuid").
		JoinWithOption("LEFT", "workstreams w", "w.id = coalesce(p.workstream_id, c.workstream_id)").
		Where(sb.Equal("c.id", conversationID))
	var allowed bool
	if err := queryRow(ctx, tx, sb).Scan(&allowed); err != nil {
		return false, notFound(err, "conversation")
	}
	if allowed {
		return false, nil
	}
	types := make([]string, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		types = append(types, a.Type)
	}
	m.Attachments = []Attachment{}
	m.Reason = ReasonAttachmentRefused
	m.Error = "The customer sent an attachment (" + strings.Join(types, ", ") +
		"); this workstream does not accept customer attachments, so it was not kept."
	return true, nil
}

// ReasonAttachmentRefused marks an inbound message whose files the workstream refused.
const ReasonAttachmentRefused = "attachment_refused"

// likeStickerID is the sticker Messenger sends for the thumbs-up ("like") button.
const likeStickerID = 369239263222822

func inboundMessage(ev messenger.Event) Message {
	m := Message{ID: uuid.NewString(), Direction: "inbound", Sender: "customer", Kind: "text", Status: "received", Attachments: []Attachment{}}
	switch {
	case ev.Postback != nil:
		m.Kind, m.Text = "postback", ev.Postback.Title
		if ev.Postback.MID != "" {
			mid := ev.Postback.MID
			m.FacebookMessageID = &mid
		}
	case ev.Referral != nil:
		m.Kind = "referral"
		m.Text = strings.TrimSpace("Came from " + strings.ToLower(ev.Referral.Source) + " " + ev.Referral.Ref)
	case ev.Message != nil:
		mid := ev.Message.MID
		m.FacebookMessageID = &mid
		m.Text = ev.Message.Text
		for _, a := range ev.Message.Attachments {
			url := a.Payload.URL
			if url == "" {
				url = a.URL
			}
			kind := a.Type
			if a.Payload.StickerID != 0 {
				kind = "sticker"
				if a.Payload.StickerID == likeStickerID {
					m.Text = "👍"
				}
			}
			m.Attachments = append(m.Attachments, Attachment{Type: kind, URL: url})
		}
		switch {
		case ev.Message.QuickReply != nil:
			m.Kind = "quick_reply"
		case len(m.Attachments) > 0 && m.Attachments[0].Type == "sticker":
			m.Kind = "sticker"
		case len(m.Attachments) > 0:
			m.Kind = "attachment"
		}
	}
	return m
}

// updateMessage applies an edit (new text) or an unsend (kind "deleted") to a
// message the customer sent, and tells the agent.
func updateMessage(ctx context.Context, tx *sql.Tx, pageID string, agentID *string, conversationID, mid, text, kind string) error {
	ub := pg.NewUpdateBuilder()
	set := []string{"updated_at = now()"}
	if kind == "deleted" {
		set = append(set, ub.Assign("kind", "deleted"), ub.Assign("text", ""), "attachments = '[]'")
	} else {
		set = append(set, ub.Assign("text", text), "edited_at = now()")
	}
	// An erased message stays erased, whatever the customer edits later.
	ub.Update("messages").Set(set...).Where(ub.Equal("page_id", pageID), ub.Equal("facebook_message_id", mid), ub.IsNull("erased_at")).
		Returning("id")
	var id string
	if err := queryRow(ctx, tx, ub).Scan(&id); err != nil {
		if err == sql.ErrNoRows {
			return nil // an edit of a message we never had
		}
		return err
	}
	if agentID == nil {
		return nil
	}
	s := &Store{}
	m, err := s.GetMessage(ctx, tx, id)
	if err != nil {
		return err
	}
	return insertEvent(ctx, tx, *agentID, "message.updated", conversationID, "updated:"+id+":"+uuid.NewString(),
		map[string]any{"message": m})
}

func insertMessage(ctx context.Context, tx *sql.Tx, pageID, eventKey string, m Message, at time.Time) (bool, error) {
	attachments, err := json.Marshal(m.Attachments)
	if err != nil {
		return false, err
	}
	ib := pg.NewInsertBuilder()
	// created_at orders the transcript: the clock of this statement, not the
	// transaction's start (now()), since one transaction records a batch.
	ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "attachments",
		"status", "error", "reason", "facebook_message_id", "sent_at", "event_key", "created_at").
		Values(m.ID, m.ConversationID, pageID, m.Direction, m.Sender, m.Kind, m.Text, string(attachments), m.Status,
			m.Error, m.Reason, m.FacebookMessageID, at, eventKey, sqlbuilder.Raw("clock_timestamp()"))
	// Either unique index (Facebook message id, or webhook event key) makes a
	// redelivered event a no-op.
	ib.SQL("ON CONFLICT DO NOTHING")
	res, err := exec(ctx, tx, ib)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// recordEcho keeps our own sends from being recorded twice (they carry our message
// id as metadata) and records what the page sent from elsewhere.
func (s *Store) recordEcho(ctx context.Context, tx *sql.Tx, conversationID, pageID, eventKey string, ev messenger.Event, at time.Time) (bool, error) {
	if validUUID(ev.Message.Metadata) {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("facebook_message_id", ev.Message.MID), "updated_at = now()").
			Where(ub.Equal("id", ev.Message.Metadata), ub.IsNull("facebook_message_id"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return false, err
		}
		// A reply reported "outcome unknown" (its send was attempted, the desk lost
		// track, no echo came in time) that Facebook echoes after all was sent: say so.
		ub = pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "sent"), ub.Assign("reason", ""), ub.Assign("error", ""),
			"sent_at = coalesce(sent_at, now())", "updated_at = now()").
			Where(ub.Equal("id", ev.Message.Metadata), ub.Equal("status", "failed"), ub.Equal("reason", ReasonOutcomeUnknown),
				ub.Equal("facebook_message_id", ev.Message.MID))
		res, err := exec(ctx, tx, ub)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return false, s.notifyMessage(ctx, tx, ev.Message.Metadata)
		}
		return false, nil
	}
	m := inboundMessage(ev)
	// Sender "page" is how the transcript says "sent outside the desk".
	m.ConversationID, m.Direction, m.Sender, m.Status = conversationID, "outbound", "page", "sent"
	return insertMessage(ctx, tx, pageID, eventKey, m, at)
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
