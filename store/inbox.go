package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
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

// Unfenced is the version SaveInbox does not check: for writers whose events
// were not routed with WebhookAccounts (tools, tests).
const Unfenced int64 = 0

// SaveInbox commits a delivery: its events and its unreadable parts, in one
// transaction. A redelivered event or unreadable part inserts nothing. Events
// are inserted in the order given, which is their commit order (seq). It
// answers how many events were new.
//
// version is the WebhookLookup.Version the delivery was routed with: when pages
// or accounts changed since (the database's version is newer), nothing is
// stored and it answers ErrAccountsChanged. The check is part of the insert
// (same statement, or a shared lock on the version row in the transaction), so
// a delivery whose insert starts after a change commits is never stored on the
// old routing, however stale the caller's cache.
//
// Deliveries that arrive while another one is being written share the next
// statement (group commit, see inboxGroup): one round trip and one WAL flush
// for all of them instead of a transaction each, which is what bounds the
// webhook's throughput when Postgres shares its CPUs.
func (s *Store) SaveInbox(ctx context.Context, version int64, events []InboundEvent, unreadable []UnreadableEvent) (inserted int, err error) {
	switch {
	case len(events) == 0 && len(unreadable) == 0:
		return 0, nil
	case len(unreadable) == 0 && len(events) <= inboxGroupRows:
		return s.inbox.save(ctx, s.DB, version, events)
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		if version != Unfenced {
			// FOR SHARE: a change committing meanwhile bumps the version at its
			// commit, so it waits for this transaction (or this one reads its
			// new version).
			var current int64
			if err := tx.QueryRowContext(ctx, `SELECT version FROM webhook_accounts_version FOR SHARE`).Scan(&current); err != nil {
				return err
			}
			if current != version {
				return ErrAccountsChanged
			}
		}
		for start := 0; start < len(events); start += inboxInsertRows {
			n, err := insertInboundEvents(ctx, tx, Unfenced, events[start:min(start+inboxInsertRows, len(events))])
			if err != nil {
				return err
			}
			inserted += n
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
	if err != nil {
		inserted = 0
	}
	return inserted, err
}

// fencedEvents are one delivery's events and the version they were routed with.
type fencedEvents struct {
	version int64
	events  []InboundEvent
}

// insertInboundEvents inserts one delivery's events in their order with one
// statement (atomic by itself); a row already there (a redelivery) is
// skipped. It answers how many were new, or ErrAccountsChanged.
func insertInboundEvents(ctx context.Context, q querier, version int64, events []InboundEvent) (int, error) {
	fresh, current, err := insertFenced(ctx, q, []fencedEvents{{version, events}})
	if err != nil {
		return 0, err
	}
	if version != Unfenced && version != current {
		return 0, ErrAccountsChanged
	}
	return len(fresh), nil
}

// eventKey names an inbound event: its page and Facebook's key.
type eventKey struct{ page, event string }

// insertFenced inserts the deliveries' events in their order with one
// statement, each delivery's only if its version is the database's (or it is
// Unfenced), and skipping those already stored. It answers the keys inserted
// and the database's version, read in the same snapshot as the check.
func insertFenced(ctx context.Context, q querier, deliveries []fencedEvents) (map[eventKey]bool, int64, error) {
	rows, err := q.QueryContext(ctx, inboundEventsInsert(deliveries))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	fresh := map[eventKey]bool{}
	var current int64
	for rows.Next() {
		var page, event sql.NullString
		if err := rows.Scan(&current, &page, &event); err != nil {
			return nil, 0, err
		}
		if page.Valid {
			fresh[eventKey{page.String, event.String}] = true
		}
	}
	return fresh, current, rows.Err()
}

// inboundEventsInsert is the INSERT of the deliveries' events, in their order,
// skipping those already stored and those of a delivery routed with another
// version than webhook_accounts_version's. It returns the keys inserted, each
// with the version, and one more row (NULL keys) with the version. The values
// are quoted into the text (pq.QuoteLiteral) rather than bound as parameters:
// a statement without parameters is one round trip to Postgres instead of two
// (prepare, then execute), and this is the statement every webhook delivery
// waits for. No value can hold a NUL (the webhook stores such events as
// unreadable).
func inboundEventsInsert(deliveries []fencedEvents) string {
	var q strings.Builder
	q.WriteString(`WITH fence AS (SELECT version FROM webhook_accounts_version),
	ins AS (INSERT INTO inbound_events (page_id, page_uuid, event_key, psid, kind, payload, traceparent)
	SELECT page_id, page_uuid, event_key, psid, kind, payload, traceparent FROM (VALUES `)
	first := true
	for _, d := range deliveries {
		for _, e := range d.events {
			if !first {
				q.WriteString(", ")
			}
			first = false
			q.WriteString("(" + pq.QuoteLiteral(e.PageID) + ", " + literalOrNull(e.PageUUID) + "::uuid, " + pq.QuoteLiteral(e.EventKey) + ", " +
				pq.QuoteLiteral(e.PSID) + ", " + pq.QuoteLiteral(e.Kind) + ", " + pq.QuoteLiteral(string(e.Payload)) + "::jsonb, " +
				literalOrNull(e.TraceParent) + "::text, " + strconv.FormatInt(d.version, 10) + "::bigint)")
		}
	}
	q.WriteString(`) AS d (page_id, page_uuid, event_key, psid, kind, payload, traceparent, routed_at)
	WHERE d.routed_at = 0 OR d.routed_at = (SELECT version FROM fence)
	ON CONFLICT (page_id, event_key) DO NOTHING
	RETURNING page_id, event_key)
SELECT (SELECT version FROM fence), page_id, event_key FROM ins
UNION ALL SELECT version, NULL, NULL FROM fence`)
	return q.String()
}

// literalOrNull quotes s, or is NULL for "".
func literalOrNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return pq.QuoteLiteral(s)
}

// inboxGroupRows bounds the events of one group statement; a larger delivery
// is written alone.
const inboxGroupRows = inboxInsertRows

// inboxGroupTimeout bounds one group statement. The waiting deliveries keep
// their own deadlines; the statement is not cancelled when one of them gives
// up, since the others wait for it.
const inboxGroupTimeout = 5 * time.Second

// inboxWriters bounds the group statements in flight at once. More than one, so
// a delivery rarely waits for a whole statement of others before its own starts
// (on a busy host most of a statement is waiting for a CPU, not work); few, so
// that concurrent deliveries still share statements.
const inboxWriters = 4

// inboxGroup commits concurrent deliveries together. A delivery that finds a
// writer free writes at once (nothing waits for a timer); otherwise it joins the
// queue, and the next writer to finish writes the whole queue with one
// statement. Each statement is one multi-row
// INSERT in autocommit, so a delivery's events commit together (with the
// others of its group) or not at all. If a group statement fails, each of its
// deliveries is written alone, so one delivery Postgres refuses does not cost
// the others their acknowledgement.
type inboxGroup struct {
	mu      sync.Mutex
	queue   []*inboxWrite
	writers int // writers running
}

type inboxWrite struct {
	version  int64
	events   []InboundEvent
	inserted int
	err      error
	done     chan struct{}
}

func (g *inboxGroup) save(ctx context.Context, db *sql.DB, version int64, events []InboundEvent) (int, error) {
	w := &inboxWrite{version: version, events: events, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.writers < inboxWriters {
		// Writers run apart from every request, so each delivery keeps its
		// own deadline; a writer stops when the queue is empty.
		g.writers++
		go g.flush(db)
	}
	g.mu.Unlock()
	select {
	case <-w.done:
		return w.inserted, w.err
	case <-ctx.Done():
		// The events may still commit; Facebook's redelivery then inserts nothing.
		return 0, ctx.Err()
	}
}

// flushNext writes the queue's head: as many deliveries as fit in one statement.
// It reports false when the queue was empty (and so this writer stops).
func (g *inboxGroup) flushNext(db *sql.DB) bool {
	g.mu.Lock()
	var group []*inboxWrite
	rows := 0
	for len(g.queue) > 0 && (len(group) == 0 || rows+len(g.queue[0].events) <= inboxGroupRows) {
		rows += len(g.queue[0].events)
		group = append(group, g.queue[0])
		g.queue = g.queue[1:]
	}
	if len(group) == 0 {
		g.writers--
		g.mu.Unlock()
		return false
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), inboxGroupTimeout)
	defer cancel()
	writeGroup(ctx, db, group)
	return true
}

func (g *inboxGroup) flush(db *sql.DB) {
	for g.flushNext(db) {
	}
}

// writeGroup inserts the group's events in one statement, in queue order, and
// tells each delivery how many of its events were new (or that it was routed
// with an old version, ErrAccountsChanged).
func writeGroup(ctx context.Context, db *sql.DB, group []*inboxWrite) {
	defer func() {
		for _, w := range group {
			close(w.done)
		}
	}()
	if len(group) == 1 {
		group[0].inserted, group[0].err = insertInboundEvents(ctx, db, group[0].version, group[0].events)
		return
	}
	deliveries := make([]fencedEvents, len(group))
	for i, w := range group {
		deliveries[i] = fencedEvents{w.version, w.events}
	}
	fresh, current, err := insertFenced(ctx, db, deliveries)
	if err != nil {
		// Whatever Postgres refused, it refused for the whole group: each
		// delivery on its own, so only the one at fault fails.
		for _, w := range group {
			w.inserted, w.err = insertInboundEvents(ctx, db, w.version, w.events)
		}
		return
	}
	for _, w := range group {
		if w.version != Unfenced && w.version != current {
			w.err = ErrAccountsChanged
			continue
		}
		for _, e := range w.events {
			// A key two deliveries of the group carried is new for the first.
			if k := (eventKey{e.PageID, e.EventKey}); fresh[k] {
				w.inserted++
				delete(fresh, k)
			}
		}
	}
}

// storable makes text Postgres accepts whatever a delivery carried: no NUL,
// valid UTF-8.
func storable(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
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

// RelaySignalEvents bounds the events handed to send at once: one signal
// carries them, far below Temporal's payload limits (about 200 bytes each).
const RelaySignalEvents = 100

// RelayConversation hands one conversation's pending events, in commit order,
// to send in batches of at most RelaySignalEvents, and marks the batches send
// accepted relayed. It holds the conversation's advisory transaction lock
// throughout, so two relays never hand on one conversation's events at once
// (and so never out of order); when another relay holds it, it does nothing and
// answers busy. The lock dies with its transaction, so a relay that crashes
// mid-way leaves nothing locked. send stops at its first error: the events of
// that batch and after it stay pending, in order, and that error is returned
// after the accepted ones are marked.
func (s *Store) RelayConversation(ctx context.Context, c InboxConversation, send func([]PendingEvent) error) (relayed int, busy bool, err error) {
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
	for start := 0; start < len(pending); start += RelaySignalEvents {
		batch := pending[start:min(start+RelaySignalEvents, len(pending))]
		if sendErr = send(batch); sendErr != nil {
			break
		}
		for _, e := range batch {
			done = append(done, e.Seq)
		}
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
