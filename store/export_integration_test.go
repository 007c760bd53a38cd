//go:build integration

package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The export's keyset walks cross page boundaries without losing or repeating a
// row, even when every conversation opened at the same instant and every
// message has the same time (the id breaks the ties), and leave out erased
// customers and conversations outside the range.
func TestExportKeysetPagesAcrossTies(t *testing.T) {
	f := newFixture(t)
	ctx, db := f.ctx, f.s.DB
	accountID, pageUUID := uuid.NewString(), uuid.NewString()
	const pageID = "910000000000001"
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inRange := 2*exportConversationPage + 50
	bigMessages := 2*exportMessagePage + 345
	for _, s := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO accounts (id, name, app_id) VALUES ($1, 'Export', 'export-app')`, []any{accountID}},
		{`INSERT INTO pages (id, account_id, page_id, name, verify_token, webhook_id) VALUES ($1, $2, $3, 'P', 'v', $1)`, []any{pageUUID, accountID, pageID}},
		// Customers 1..n+3: n in range (all opened at the same instant), one
		// before it, one at its end (excluded: the range is half-open), one erased.
		{`INSERT INTO customers (id, page_id, psid, name, erased_at)
			SELECT md5('cu' || i)::uuid, $1, i::text, 'C' || i, CASE WHEN i = $2::int + 3 THEN now() END FROM generate_series(1, $2::int + 3) i`, []any{pageID, inRange}},
		{`INSERT INTO conversations (id, page_uuid, page_id, customer_id, status, opened_at)
			SELECT md5('co' || i)::uuid, $1, $2, md5('cu' || i)::uuid, 'closed',
				CASE WHEN i = $4::int + 1 THEN $3::timestamptz - interval '1 second'
				     WHEN i = $4::int + 2 THEN $3::timestamptz + interval '1 hour' ELSE $3::timestamptz END
			FROM generate_series(1, $4::int + 3) i`, []any{pageUUID, pageID, at, inRange}},
		// Conversation 1 holds many messages, all at the same instant; each other one, one message.
		{`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, status, created_at)
			SELECT gen_random_uuid(), md5('co1')::uuid, $1, 'inbound', 'customer', 'text', 'm' || n, 'received', $2
			FROM generate_series(1, $3::int) n`, []any{pageID, at, bigMessages}},
		{`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, status, created_at)
			SELECT gen_random_uuid(), md5('co' || i)::uuid, $1, 'internal', 'agent', 'note', 'note ' || i, 'sent', $2
			FROM generate_series(2, $3::int + 3) i`, []any{pageID, at, inRange}},
	} {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			t.Fatalf("%.50s: %v", s.q, err)
		}
	}

	var ids []string
	err := f.s.EachExportConversation(ctx, accountID, at.Add(-time.Millisecond), at.Add(time.Hour), func(c ExportConversation) error {
		ids = append(ids, c.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != inRange || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != inRange {
		t.Fatalf("%d conversations exported (want %d, sorted by id, each once)", len(ids), inRange)
	}

	big := ids[slices.IndexFunc(ids, func(id string) bool { return id == mustMD5UUID(t, f, "co1") })]
	var msgIDs []string
	if err := f.s.EachExportMessage(ctx, big, func(m ExportMessage) error {
		if m.Internal {
			t.Errorf("a customer's message marked internal: %+v", m)
		}
		msgIDs = append(msgIDs, m.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(msgIDs) != bigMessages || !slices.IsSorted(msgIDs) || len(slices.Compact(slices.Clone(msgIDs))) != bigMessages {
		t.Fatalf("%d messages exported (want %d, sorted by id, each once)", len(msgIDs), bigMessages)
	}

	var out bytes.Buffer
	flushes := 0
	stats, err := f.s.WriteAccountExport(ctx, &out, func() { flushes++ }, accountID, at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the erased customer's conversation and the one at the range's end.
	wantLines := inRange + 1
	if stats.Conversations != int64(wantLines) || flushes != wantLines || stats.Messages != int64(bigMessages+inRange) || stats.Bytes != int64(out.Len()) {
		t.Fatalf("stats %+v, %d flushes", stats, flushes)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 8<<20)
	lines, notes := 0, 0
	for sc.Scan() {
		var line struct {
			Customer struct{ Name string }
			Messages []ExportMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		for _, m := range line.Messages {
			if m.Kind == "note" && m.Internal {
				notes++
			}
		}
		lines++
	}
	if lines != wantLines || notes != inRange {
		t.Fatalf("%d lines, %d internal notes", lines, notes)
	}

	// One conversation: an erased customer's is gone, an unknown one not found.
	erased := mustMD5UUID(t, f, "co"+itoa(inRange+3))
	if _, err := f.s.ExportConversationByID(ctx, erased); !errors.Is(err, ErrGone) {
		t.Fatalf("erased customer's conversation: %v", err)
	}
	if _, err := f.s.ExportConversationByID(ctx, uuid.NewString()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown conversation: %v", err)
	}
}

func mustMD5UUID(t *testing.T, f *fixture, s string) string {
	t.Helper()
	var id string
	if err := f.s.DB.QueryRowContext(f.ctx, `SELECT md5($1)::uuid::text`, s).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func itoa(i int) string { return strconv.Itoa(i) }
