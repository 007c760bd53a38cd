package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"
	"time"

	"github.com/lib/pq"
)

// The inbox: a webhook delivery is answered once its events are committed in
// inbound_events; the relay (package relay) then signals each into its
// conversation workflow and marks it relayed. relayed_at IS NULL is pending.

// InboundEvent is one webhook event as stored in inbound_events.
type InboundEvent struct {
	PageID   string
	PageUUID string
	EventKey string
	PSID     string
	Kind     string
	Payload  []byte
	// TraceParent is the W3C traceparent of the delivery's request ("" untraced).
	TraceParent string
}

// UnreadableEvent is a part of a delivery that could not be read, kept raw with why.
type UnreadableEvent struct {
	PageID   string // "" when the entry's page id could not be read
	PageUUID string // the page whose callback URL received it
	PSID     string // "" when the sender could not be read
	Reason   string
	Raw      []byte
}

// inboxInsertRows bounds one INSERT's rows, far below Postgres's 65535
// parameters, for the largest delivery WEBHOOK_MAX_BYTES lets in.
const inboxInsertRows = 1000

// SaveInbox commits a delivery: its events and its unreadable parts, in one
// transaction of multi-row inserts. A redelivered event or unreadable part
// inserts nothing. Events are inserted in the order given, which is their
// commit order (seq). It answers how many events were new.
func (s *Store) SaveInbox(ctx context.Context, events []InboundEvent, unreadable []UnreadableEvent) (inserted int, err error) {
	if len(events) == 0 && len(unreadable) == 0 {
		return 0, nil
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		for start := 0; start < len(events); start += inboxInsertRows {
			ib := pg.NewInsertBuilder()
			ib.InsertInto("inbound_events").Cols("page_id", "page_uuid", "event_key", "psid", "kind", "payload", "traceparent")
			for _, e := range events[start:min(start+inboxInsertRows, len(events))] {
				ib.Values(e.PageID, nullUUID(e.PageUUID), e.EventKey, e.PSID, e.Kind, string(e.Payload), nullText(e.TraceParent))
			}
			ib.SQL("ON CONFLICT (page_id, event_key) DO NOTHING")
			res, err := exec(ctx, tx, ib)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			inserted += int(n)
		}
		for start := 0; start < len(unreadable); start += inboxInsertRows {
			ib := pg.NewInsertBuilder()
			ib.InsertInto("inbound_unreadable").Cols("page_id", "raw_sha256", "page_uuid", "psid", "reason", "raw")
			for _, u := range unreadable[start:min(start+inboxInsertRows, len(unreadable))] {
				sum := sha256.Sum256(u.Raw)
				ib.Values(storable(u.PageID), hex.EncodeToString(sum[:]), nullUUID(u.PageUUID), storable(u.PSID), storable(u.Reason), u.Raw)
			}
			ib.SQL("ON CONFLICT (page_id, raw_sha256) DO NOTHING")
			if _, err := exec(ctx, tx, ib); err != nil {
				return err
			}
		}
		return nil
	})
	return inserted, err
}

// storable makes text Postgres accepts whatever a delivery carried: no NUL,
// valid UTF-8.
func storable(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// InboxConversation names one customer's conversation on one page: the unit the
// relay hands on in order.
type InboxConversation struct {
	PageID string
	PSID   string
}

// PendingEvent is a committed event not yet relayed.
type PendingEvent struct {
	Seq       int64
	PageUUID  string
	PageID    string
	PSID      string
	EventKey  string
	Kind      string
	Timestamp int64 // Facebook's, in milliseconds; 0 when the event had none
	// TraceParent is the W3C traceparent of the delivery's request ("" untraced).
	TraceParent string
}

// PendingConversations lists up to limit conversations with pending events,
// the one whose oldest pending event was committed first first.
func (s *Store) PendingConversations(ctx context.Context, limit int) ([]InboxConversation, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("page_id", "psid").From("inbound_events").Where(sb.IsNull("relayed_at")).
		GroupBy("page_id", "psid").OrderBy("min(seq)").Limit(limit)
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (c InboxConversation, err error) {
		err = row.Scan(&c.PageID, &c.PSID)
		return c, err
	})
}

// relayLockClass is the first key of the relay's per-conversation advisory
// locks (the second is a hash of the conversation), apart from any other lock.
const relayLockClass = 7_246_012

// relayBatch bounds the events one conversation hands on in one transaction.
const relayBatch = 500

// RelayConversation hands one conversation's pending events, in commit order,
// to send, and marks those send accepted relayed. It holds the conversation's
// advisory transaction lock throughout, so two relays never hand on one
// conversation's events at once (and so never out of order); when another
// relay holds it, it does nothing and answers busy. The lock dies with its
// transaction, so a relay that crashes mid-way leaves nothing locked. send
// stops at its first error: the events after it stay pending, in order, and
// that error is returned after the accepted ones are marked.
func (s *Store) RelayConversation(ctx context.Context, c InboxConversation, send func(PendingEvent) error) (relayed int, busy bool, err error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback() //nolint:errcheck
	var locked bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`,
		relayLockClass, c.PageID+":"+c.PSID).Scan(&locked); err != nil {
		return 0, false, err
	}
	if !locked {
		return 0, true, nil
	}
	sb := pg.NewSelectBuilder()
	sb.Select("seq", "coalesce(page_uuid::text, '')", "page_id", "psid", "event_key", "kind",
		"coalesce((payload->>'timestamp')::bigint, 0)", "coalesce(traceparent, '')").
		From("inbound_events").
		Where(sb.Equal("page_id", c.PageID), sb.Equal("psid", c.PSID), sb.IsNull("relayed_at")).
		OrderBy("seq").Limit(relayBatch)
	pending, err := queryAll(ctx, tx, sb, func(row rowScanner) (e PendingEvent, err error) {
		err = row.Scan(&e.Seq, &e.PageUUID, &e.PageID, &e.PSID, &e.EventKey, &e.Kind, &e.Timestamp, &e.TraceParent)
		return e, err
	})
	if err != nil {
		return 0, false, err
	}
	var done []int64
	var sendErr error
	for _, e := range pending {
		if sendErr = send(e); sendErr != nil {
			break
		}
		done = append(done, e.Seq)
	}
	if len(done) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE inbound_events SET relayed_at = now() WHERE relayed_at IS NULL AND seq = ANY($1)`,
			pq.Array(done)); err != nil {
			return 0, false, err
		}
		if err := tx.Commit(); err != nil {
			return 0, false, err
		}
	}
	return len(done), false, sendErr
}

// InboxBacklog is what is waiting for the relay: how many events and how long
// ago the oldest of them was committed (zero when none).
func (s *Store) InboxBacklog(ctx context.Context) (pending int64, oldest time.Duration, err error) {
	var seconds float64
	err = s.DB.QueryRowContext(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8
		FROM inbound_events WHERE relayed_at IS NULL`).Scan(&pending, &seconds)
	return pending, time.Duration(max(seconds, 0) * float64(time.Second)), err
}
