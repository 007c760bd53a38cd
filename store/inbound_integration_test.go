//go:build integration

package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A batch of a conversation's stored events is recorded in one transaction, in
// the order given: messages, an edit of an earlier one of the same batch, and
// an event that is not stored (reported missing, the others recorded). A retry
// of the whole batch records nothing twice, and the messaging window is the
// latest customer time of the batch.
func TestRecordInboundRecordsABatchOnceInOrder(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	psid := "psid-" + randomHex(6)
	conv := uuid.NewString()
	o, err := f.s.OpenConversation(f.ctx, conv, p.ID, p.PageID, psid)
	f.must(err)
	if !o.Served {
		t.Fatal("the page serves no conversations")
	}
	event := func(key, body string, at int64) InboundEvent {
		return InboundEvent{PageID: p.PageID, PageUUID: p.ID, EventKey: key, PSID: psid, Kind: "message",
			Payload: []byte(fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,%s}`, psid, p.PageID, at, body))}
	}
	stored := []InboundEvent{
		event("k1", `"message":{"mid":"mid-1","text":"one"}`, 1_700_000_001_000),
		event("k2", `"message":{"mid":"mid-2","text":"two"}`, 1_700_000_003_000),
		event("k3", `"message_edit":{"mid":"mid-1","text":"one, edited","num_edit":1}`, 1_700_000_002_000),
	}
	wantTranscript := []string{"one, edited", "two"}
	for i := 4; i <= 11; i++ { // same timestamp: the transcript keeps the batch's order
		stored = append(stored, event(fmt.Sprint("k", i), fmt.Sprintf(`"message":{"mid":"mid-%d","text":"m%d"}`, i, i), 1_700_000_003_000))
		wantTranscript = append(wantTranscript, fmt.Sprint("m", i))
	}
	_, err = f.s.SaveInbox(f.ctx, Unfenced, stored, nil)
	f.must(err)
	keys := []InboundKey{{p.PageID, "k1"}, {p.PageID, "k-missing"}, {p.PageID, "k2"}, {p.PageID, "k3"}}
	for _, e := range stored[3:] {
		keys = append(keys, InboundKey{p.PageID, e.EventKey})
	}

	recs, err := f.s.RecordInbound(f.ctx, conv, keys)
	f.must(err)
	if len(recs) != len(keys) {
		t.Fatalf("%d records for %d events", len(recs), len(keys))
	}
	for i := range keys {
		want := struct{ recorded, missing bool }{true, false}
		switch keys[i].EventKey {
		case "k-missing":
			want.recorded, want.missing = false, true
		case "k3": // the edit changes a message, it adds none
			want.recorded = false
		}
		if recs[i].Recorded != want.recorded || recs[i].Missing != want.missing {
			t.Errorf("event %s: recorded %v missing %v, want %v %v", keys[i].EventKey, recs[i].Recorded, recs[i].Missing, want.recorded, want.missing)
		}
	}
	transcript := func() []string {
		rows, err := f.s.DB.QueryContext(f.ctx, `SELECT text FROM messages WHERE conversation_id = $1 ORDER BY created_at, id`, conv)
		f.must(err)
		defer rows.Close()
		var texts []string
		for rows.Next() {
			var s string
			f.must(rows.Scan(&s))
			texts = append(texts, s)
		}
		f.must(rows.Err())
		return texts
	}
	if got, want := fmt.Sprintf("%q", transcript()), fmt.Sprintf("%q", wantTranscript); got != want {
		t.Errorf("transcript %s, want %s", got, want)
	}
	var window time.Time
	f.must(f.s.DB.QueryRowContext(f.ctx, `SELECT last_customer_message_at FROM conversations WHERE id = $1`, conv).Scan(&window))
	if want := time.UnixMilli(1_700_000_003_000); !window.Equal(want) {
		t.Errorf("last customer message at %s, want %s (the batch's latest)", window, want)
	}

	// The activity's retry: nothing new, nothing twice.
	recs, err = f.s.RecordInbound(f.ctx, conv, keys)
	f.must(err)
	for i, r := range recs {
		if r.Recorded {
			t.Errorf("event %s recorded again", keys[i].EventKey)
		}
	}
	if got, want := fmt.Sprintf("%q", transcript()), fmt.Sprintf("%q", wantTranscript); got != want {
		t.Errorf("after the retry the transcript is %s, want %s", got, want)
	}

	// A conversation that is gone (its customer's data erased) records nothing.
	recs, err = f.s.RecordInbound(f.ctx, uuid.NewString(), keys[:1])
	if err != nil || !recs[0].Missing {
		t.Errorf("into a missing conversation: %+v, %v; want the event missing and no error", recs, err)
	}
}
