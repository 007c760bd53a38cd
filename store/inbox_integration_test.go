//go:build integration

package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Concurrent deliveries share statements (group commit) and lose none of the
// inbox's promises: every event is stored once, a delivery's events keep their
// order, a redelivery inserts nothing (and is told so), and a delivery Postgres
// refuses fails alone.
func TestConcurrentDeliveriesCommitOnceInOrder(t *testing.T) {
	f := newFixture(t)
	const deliveries, perDelivery, redeliveries = 60, 5, 20
	delivery := func(i int) []InboundEvent {
		var events []InboundEvent
		for j := range perDelivery {
			events = append(events, InboundEvent{PageID: "page", EventKey: fmt.Sprintf("m_%02d_%d", i, j), PSID: fmt.Sprint("psid-", i%8),
				Kind: "message", Payload: []byte(fmt.Sprintf(`{"timestamp":%d}`, j))})
		}
		return events
	}
	bad := []InboundEvent{{PageID: "page", EventKey: "m_bad", PSID: "psid-bad", Kind: "message", Payload: []byte(`{`)}}

	inserted := make([]int, deliveries+redeliveries+1)
	errs := make([]error, len(inserted))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range inserted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			events := bad
			switch {
			case i < deliveries:
				events = delivery(i)
			case i < deliveries+redeliveries:
				events = delivery(i - deliveries) // Facebook redelivers while the first is being written
			}
			inserted[i], errs[i] = f.s.SaveInbox(f.ctx, Unfenced, events, nil)
		}()
	}
	close(start)
	wg.Wait()

	total := 0
	for i, err := range errs {
		switch {
		case i == len(errs)-1:
			if err == nil {
				t.Error("the delivery with an unstorable payload was accepted")
			}
		case err != nil:
			t.Errorf("delivery %d: %v", i, err)
		default:
			total += inserted[i]
		}
	}
	if total != deliveries*perDelivery {
		t.Errorf("the deliveries were told %d events were new, want %d", total, deliveries*perDelivery)
	}
	rows, err := f.s.DB.QueryContext(f.ctx, `SELECT event_key FROM inbound_events ORDER BY seq`)
	f.must(err)
	defer rows.Close()
	last := map[string]int{} // delivery → its last event's index seen
	seen := map[string]bool{}
	for rows.Next() {
		var key string
		f.must(rows.Scan(&key))
		if seen[key] || key == "m_bad" {
			t.Errorf("%s stored twice or wrongly", key)
		}
		seen[key] = true
		parts := strings.Split(key, "_")
		var j int
		fmt.Sscan(parts[2], &j)
		if prev, ok := last[parts[1]]; ok && j != prev+1 || !ok && j != 0 {
			t.Errorf("event %s committed out of its delivery's order", key)
		}
		last[parts[1]] = j
	}
	f.must(rows.Err())
	if len(seen) != deliveries*perDelivery {
		t.Errorf("%d events stored, want %d", len(seen), deliveries*perDelivery)
	}
}

// Values reach the inbox as they came, whatever quotes and backslashes they
// hold (the insert quotes them into its text).
func TestInboxKeepsQuotesAndBackslashes(t *testing.T) {
	f := newFixture(t)
	e := InboundEvent{PageID: `pa'ge`, EventKey: `m_'); DROP TABLE inbound_events; --\`, PSID: `ps\'id`, Kind: "message",
		Payload: []byte(`{"text":"it's a \\ and a \" and \\u0041"}`), TraceParent: `00-'x'-01`}
	if n, err := f.s.SaveInbox(f.ctx, Unfenced, []InboundEvent{e, e}, nil); err != nil || n != 1 {
		t.Fatalf("SaveInbox: %d new, %v", n, err)
	}
	var got InboundEvent
	var payload string
	f.must(f.s.DB.QueryRowContext(f.ctx, `SELECT page_id, event_key, psid, kind, payload::text, traceparent FROM inbound_events`).
		Scan(&got.PageID, &got.EventKey, &got.PSID, &got.Kind, &payload, &got.TraceParent))
	got.Payload = []byte(payload)
	if want := `{"text": "it's a \\ and a \" and \\u0041"}`; got.PageID != e.PageID || got.EventKey != e.EventKey || got.PSID != e.PSID ||
		got.TraceParent != e.TraceParent || payload != want {
		t.Errorf("stored %+v (payload %s), want %+v (payload %s)", got, payload, e, want)
	}
}
