//go:build integration

package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"fbchannel/app"
	"fbchannel/store"
)

// The service KPIs (issue 14, part 4) over "a seeded day": conversations made
// through the real workflows (webhook, routing, queue assignment, transfers,
// closes), whose times are then moved in SQL to known values.
//
// Why shift rather than a controlled clock: the times the KPIs read are written
// by Postgres (now() in the store and in the 0026 trigger) and by the real
// workflows on a real dev server, which has no time skipping; the time-skipping
// test environment has no Postgres, routing or HTTP. So the flows run for real,
// and each KPI time is then set in SQL: the conversation's first-queue and
// acceptance times, its queue answers and the agent events the handle-time
// segments read (kpiPin fails if a flow wrote more or fewer of them than the
// day says, so the shift cannot hide a broken flow).
//
// Offers (accept/decline/expire) come with another branch; until they exist the
// test writes the conversation.offer_ended events that branch will write.

var kpiDay = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// kpiAt is a time of the seeded day, "09:11:30".
func kpiAt(hms string) time.Time {
	t, err := time.Parse("15:04:05", hms)
	if err != nil {
		panic(err)
	}
	return kpiDay.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

// kpiTimeline is what one conversation's KPI times are to be.
type kpiTimeline struct {
	queued  string
	answers [][2]string // each queue wait an agent ended: entered, answered
	events  []string    // its conversation.assigned/transferred/closed events, in the order written
	closed  string
}

// kpiPin moves one conversation's KPI times to the timeline.
func (st *stack) kpiPin(convID string, tl kpiTimeline) {
	st.t.Helper()
	ctx := context.Background()
	var accepted any
	if len(tl.answers) > 0 {
		accepted = kpiAt(tl.answers[0][1])
	}
	if _, err := st.db.ExecContext(ctx, `UPDATE conversations SET opened_at = $2, queued_at = $2, enqueued_at = $2, accepted_at = $3, closed_at = $4 WHERE id = $1`,
		convID, kpiAt(tl.queued), accepted, kpiAt(tl.closed)); err != nil {
		st.t.Fatal(err)
	}
	pin := func(what, idQuery, update string, times []string, stamp func(i int) []any) {
		rows, err := st.db.QueryContext(ctx, idQuery, convID)
		if err != nil {
			st.t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				st.t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != len(times) {
			st.t.Fatalf("conversation %s has %d %s, the day says %d", convID, len(ids), what, len(times))
		}
		for i, id := range ids {
			if _, err := st.db.ExecContext(ctx, update, append([]any{id}, stamp(i)...)...); err != nil {
				st.t.Fatal(err)
			}
		}
	}
	pin("queue answers", `SELECT ctid::text FROM queue_answers WHERE conversation_id = $1 ORDER BY answered_at`,
		`UPDATE queue_answers SET entered_at = $2, answered_at = $3 WHERE ctid = $1::tid`, make([]string, len(tl.answers)),
		func(i int) []any { return []any{kpiAt(tl.answers[i][0]), kpiAt(tl.answers[i][1])} })
	pin("segment events", `SELECT id::text FROM agent_events WHERE conversation_id = $1
		AND name IN ('conversation.assigned', 'conversation.transferred', 'conversation.closed') ORDER BY agent_events.id`,
		`UPDATE agent_events SET created_at = $2 WHERE id = $1::bigint`, tl.events,
		func(i int) []any { return []any{kpiAt(tl.events[i])} })
}

// kpiSeededDay is the day both KPI tests read:
//
//	queue General (default, target 60 s), queue Billing (rule: text contains "billing", target 5 s)
//	c1 General  queued 09:00:00, Ann answers 09:00:20, Ann closes 09:05:20           (B declined an offer)
//	c2 General  queued 09:10:00, Ann answers 09:11:30, Ann → Bob 09:13:30, Bob closes 09:21:30
//	c3 Billing  queued 09:20:00, Ann answers 09:20:10, Ann → General 09:22:10,
//	            Bob answers 09:23:00, Bob closes 09:27:00
//	c4 General  queued 09:30:00, closed unanswered 09:34:00
//	c5 Billing  queued 09:40:00, closed unanswered 09:41:00
//	c6 General  queued 10:00:00, Ann answers 10:00:40, Ann closes 10:10:40           (an offer to Bob expired)
type kpiSeed struct {
	ch               channel
	general, billing string
	ann, bob         agent
	conv             [7]string // conv[1..6]
}

func (st *stack) kpiSeededDay() kpiSeed {
	st.t.Helper()
	var s kpiSeed
	s.ch = st.connectPage()
	s.general = s.ch.QueueID
	s.billing = st.rtQueue(s.ch.AccountID, "Billing", 0)
	st.rtRules(st.rtWorkstreamID(s.ch), rtRule("billing", s.billing, rtCond("message.text", "contains", "billing")))
	st.rtPatch("/api/v1/queues/"+s.billing, map[string]any{"service_level_seconds": 5})
	s.ann, s.bob = st.createAgent("Ann", 5), st.createAgent("Bob", 5)
	st.rtJoin(s.billing, s.ann)
	st.rtJoin(s.billing, s.bob)
	ctx := context.Background()
	psid := func(i int) string { return fmt.Sprintf("kpi-%d-%s", i, randomHex(3)) }

	// c4, c5: nobody is signed in; they wait, and close unanswered (the close the
	// workflow makes after the workstream's inactivity time, hours away on a real
	// server: the same store call).
	for i, text := range map[int]string{4: "hello four", 5: "billing five"} {
		p := psid(i)
		st.customerSays(s.ch, p, text, "")
		queue := s.general
		if i == 5 {
			queue = s.billing
		}
		s.conv[i] = st.rtWait(p, "waits", waitingIn(queue)).ID
		if _, _, err := st.store.CloseConversation(ctx, s.conv[i], "", "inactive", ""); err != nil {
			st.t.Fatal(err)
		}
	}
	closedBy := func(a agent, convID string) {
		st.rtClose(a, convID)
		st.eventually("closed event", 30*time.Second, func() bool {
			return st.count("agent_events", "conversation_id = $1 AND name = 'conversation.closed'", convID) == 1
		})
	}
	transfer := func(a agent, convID string, body map[string]any) {
		var out map[string]any
		if code := st.call("POST", "/api/v1/conversations/"+convID+"/transfer", a.Token, body, &out); code != 200 {
			st.t.Fatalf("transfer: %d %v", code, out)
		}
	}

	// c1: Ann answers and closes.
	st.setPresence(s.ann, "available")
	st.setPresence(s.bob, "away")
	p := psid(1)
	st.customerSays(s.ch, p, "hello one", "")
	s.conv[1] = st.rtWait(p, "assigned to Ann", assignedTo(s.ann)).ID
	closedBy(s.ann, s.conv[1])

	// c2: Ann answers and transfers to Bob, who closes.
	p = psid(2)
	st.customerSays(s.ch, p, "hello two", "")
	s.conv[2] = st.rtWait(p, "assigned to Ann", assignedTo(s.ann)).ID
	transfer(s.ann, s.conv[2], map[string]any{"agent_id": s.bob.ID})
	st.rtWait(p, "assigned to Bob", assignedTo(s.bob))
	closedBy(s.bob, s.conv[2])

	// c3: Ann answers in Billing and transfers to General, where Bob answers.
	p = psid(3)
	st.customerSays(s.ch, p, "billing three", "")
	s.conv[3] = st.rtWait(p, "assigned to Ann", assignedTo(s.ann)).ID
	st.setPresence(s.ann, "away")
	transfer(s.ann, s.conv[3], map[string]any{"queue_id": s.general})
	st.setPresence(s.bob, "available")
	st.rtWait(p, "assigned to Bob", assignedTo(s.bob))
	closedBy(s.bob, s.conv[3])
	st.setPresence(s.bob, "away")
	st.setPresence(s.ann, "available")

	// c6: Ann answers and closes.
	p = psid(6)
	st.customerSays(s.ch, p, "hello six", "")
	s.conv[6] = st.rtWait(p, "assigned to Ann", assignedTo(s.ann)).ID
	closedBy(s.ann, s.conv[6])

	// Offers, as the offers branch records them.
	for i, offer := range []struct{ conv, outcome string }{{s.conv[1], "declined"}, {s.conv[6], "expired"}} {
		if _, err := st.db.ExecContext(ctx, `INSERT INTO agent_events (agent_id, name, conversation_id, dedup_key, data)
			VALUES ($1, 'conversation.offer_ended', $2::uuid, $3, jsonb_build_object('conversation_id', $2::uuid::text, 'outcome', $4::text))`,
			s.bob.ID, offer.conv, fmt.Sprintf("kpi-offer-%d-%s", i, offer.conv), offer.outcome); err != nil {
			st.t.Fatal(err)
		}
	}

	st.kpiPin(s.conv[1], kpiTimeline{queued: "09:00:00", answers: [][2]string{{"09:00:00", "09:00:20"}},
		events: []string{"09:00:20", "09:05:20"}, closed: "09:05:20"})
	// Assigned to Ann, assigned to Bob and Ann's transferred (one transaction), Bob's closed.
	st.kpiPin(s.conv[2], kpiTimeline{queued: "09:10:00", answers: [][2]string{{"09:10:00", "09:11:30"}},
		events: []string{"09:11:30", "09:13:30", "09:13:30", "09:21:30"}, closed: "09:21:30"})
	// Assigned to Ann, Ann's transferred, assigned to Bob, Bob's closed.
	st.kpiPin(s.conv[3], kpiTimeline{queued: "09:20:00", answers: [][2]string{{"09:20:00", "09:20:10"}, {"09:22:10", "09:23:00"}},
		events: []string{"09:20:10", "09:22:10", "09:23:00", "09:27:00"}, closed: "09:27:00"})
	st.kpiPin(s.conv[4], kpiTimeline{queued: "09:30:00", closed: "09:34:00"})
	st.kpiPin(s.conv[5], kpiTimeline{queued: "09:40:00", closed: "09:41:00"})
	st.kpiPin(s.conv[6], kpiTimeline{queued: "10:00:00", answers: [][2]string{{"10:00:00", "10:00:40"}},
		events: []string{"10:00:40", "10:10:40"}, closed: "10:10:40"})
	return s
}

// kpiSupervisor is a new supervisor of the queues.
func (st *stack) kpiSupervisor(queues ...string) agent {
	st.t.Helper()
	sue := st.createAgent("Sue", 1)
	if code := st.call("PUT", "/api/v1/agents/"+sue.ID+"/supervision", st.adminToken,
		map[string]any{"role": "supervisor", "queue_ids": queues}, nil); code != 200 {
		st.t.Fatalf("supervision: %d", code)
	}
	return sue
}

// kpiRow is a report row, as the API's JSON and CSV carry it.
type kpiRow = store.KPIRow

func kpiString(r kpiRow) string {
	return fmt.Sprintf("%s %s in=%d served=%d abandoned=%d first_wait=%g sta=%g sl=%g aht=%g transfer=%g decline=%g timeout=%g",
		r.Bucket.Format(time.RFC3339), r.Name, r.Incoming, r.Served, r.Abandoned, r.FirstWaitAvgS, r.SpeedToAnswerAvgS,
		r.ServiceLevel, r.AHTS, r.TransferRate, r.DeclineRate, r.OfferTimeoutRate)
}

func kpiSame(r, o kpiRow) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	return r.Bucket.Equal(o.Bucket) && r.Key == o.Key && r.Incoming == o.Incoming && r.Served == o.Served &&
		r.Abandoned == o.Abandoned && near(r.FirstWaitAvgS, o.FirstWaitAvgS) && near(r.SpeedToAnswerAvgS, o.SpeedToAnswerAvgS) &&
		near(r.ServiceLevel, o.ServiceLevel) && near(r.AHTS, o.AHTS) && near(r.TransferRate, o.TransferRate) &&
		near(r.DeclineRate, o.DeclineRate) && near(r.OfferTimeoutRate, o.OfferTimeoutRate)
}

func kpiPath(by, interval, format string) string {
	v := url.Values{"from": {kpiDay.Format(time.RFC3339)}, "to": {kpiDay.Add(24 * time.Hour).Format(time.RFC3339)}, "by": {by}, "interval": {interval}}
	if format != "" {
		v.Set("format", format)
	}
	return "/api/v1/reports/kpis?" + v.Encode()
}

// kpiJSON reads the report as JSON.
func (st *stack) kpiJSON(token, by, interval string) []kpiRow {
	st.t.Helper()
	var out struct{ Rows []kpiRow }
	if code := st.call("GET", kpiPath(by, interval, ""), token, nil, &out); code != 200 {
		st.t.Fatalf("kpis by %s: %d", by, code)
	}
	return out.Rows
}

// kpiCSV reads the report as CSV, by its header's column names.
func (st *stack) kpiCSV(token, by, interval string) []kpiRow {
	st.t.Helper()
	req, _ := http.NewRequest("GET", st.api.URL+kpiPath(by, interval, "csv"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		st.t.Fatalf("csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(records) == 0 {
		st.t.Fatalf("csv: %v %v", records, err)
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	var rows []kpiRow
	for _, rec := range records[1:] {
		num := func(name string) float64 {
			i, ok := col[name]
			if !ok {
				st.t.Fatalf("csv has no column %s: %v", name, records[0])
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				st.t.Fatalf("csv %s: %q", name, rec[i])
			}
			return v
		}
		bucket, err := time.Parse(time.RFC3339, rec[col["bucket"]])
		if err != nil {
			st.t.Fatalf("csv bucket %q", rec[col["bucket"]])
		}
		rows = append(rows, kpiRow{Bucket: bucket, Key: rec[col["key"]], Name: rec[col["name"]],
			Incoming: int(num("incoming")), Served: int(num("served")), Abandoned: int(num("abandoned")),
			FirstWaitAvgS: num("first_wait_avg_s"), SpeedToAnswerAvgS: num("speed_to_answer_avg_s"), ServiceLevel: num("service_level"),
			AHTS: num("aht_s"), TransferRate: num("transfer_rate"), DeclineRate: num("decline_rate"), OfferTimeoutRate: num("offer_timeout_rate")})
	}
	return rows
}

// requireKPIs fails unless got is exactly want (in order).
func requireKPIs(t *testing.T, what string, got, want []kpiRow) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = kpiSame(got[i], want[i])
	}
	if !ok {
		var g, w []string
		for _, r := range got {
			g = append(g, kpiString(r))
		}
		for _, r := range want {
			w = append(w, kpiString(r))
		}
		t.Fatalf("%s:\n got  %s\n want %s", what, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
}

func TestKPIsSeededDay(t *testing.T) {
	st := newStack(t)
	s := st.kpiSeededDay()
	day := kpiDay
	hour := func(h int) time.Time { return kpiDay.Add(time.Duration(h) * time.Hour) }

	// By queue, by hand. General: c1, c2, c4, c6 entered it; c1, c2, c6 served
	// (first waits 20, 90, 40); c4 abandoned; its answers 20, 90, 50 (c3's second
	// wait, after the transfer to General), 40 against 60 s: 3 of 4; handle time
	// c1 300, c2 120 + 480, c6 600 over 3 handled; c2 transferred (1 of 3 served);
	// offers: c1's declined, c6's expired. Billing: c3 and c5 entered it; c3
	// served after 10 s, answered after 10 s against 5 s: missed; handle time
	// 120 + 240; transferred; c5 abandoned.
	general := kpiRow{Bucket: day, Key: s.general, Incoming: 4, Served: 3, Abandoned: 1, FirstWaitAvgS: 50, SpeedToAnswerAvgS: 50,
		ServiceLevel: 0.75, AHTS: 500, TransferRate: 1.0 / 3, DeclineRate: 0.5, OfferTimeoutRate: 0.5}
	billing := kpiRow{Bucket: day, Key: s.billing, Incoming: 2, Served: 1, Abandoned: 1, FirstWaitAvgS: 10, SpeedToAnswerAvgS: 10,
		ServiceLevel: 0, AHTS: 360, TransferRate: 1}
	// Ordered by name: the default queue ("Acme Support default queue"), Billing.
	byQueue := []kpiRow{general, billing}
	requireKPIs(t, "by queue, JSON", st.kpiJSON(st.adminToken, "queue", "day"), byQueue)
	requireKPIs(t, "by queue, CSV", st.kpiCSV(st.adminToken, "queue", "day"), byQueue)

	// By agent. Ann: sessions c1, c2, c3, c6, each first answered by her (waits
	// 20, 90, 10, 40; against 60, 60, 5, 60: 2 of 4), her segments 300, 120,
	// 120, 600 over 4 conversations, 2 of 4 transferred away. Bob: sessions c2
	// and c3 plus a declined and an expired offer reached him; he answered c3
	// after 50 s (within General's 60), segments 480 and 240, no transfers.
	ann := kpiRow{Bucket: day, Key: s.ann.ID, Incoming: 4, Served: 4, FirstWaitAvgS: 40, SpeedToAnswerAvgS: 40, ServiceLevel: 0.5,
		AHTS: 285, TransferRate: 0.5}
	bob := kpiRow{Bucket: day, Key: s.bob.ID, Incoming: 4, Served: 2, FirstWaitAvgS: 0, SpeedToAnswerAvgS: 50, ServiceLevel: 1,
		AHTS: 360, DeclineRate: 0.5, OfferTimeoutRate: 0.5}
	byAgent := []kpiRow{ann, bob}
	requireKPIs(t, "by agent, JSON", st.kpiJSON(st.adminToken, "agent", "day"), byAgent)
	requireKPIs(t, "by agent, CSV", st.kpiCSV(st.adminToken, "agent", "day"), byAgent)

	// By queue and hour: General's 09:00 has c1, c2, c4 and c3's second answer.
	generalNine := kpiRow{Bucket: hour(9), Key: s.general, Incoming: 3, Served: 2, Abandoned: 1, FirstWaitAvgS: 55,
		SpeedToAnswerAvgS: 160.0 / 3, ServiceLevel: 2.0 / 3, AHTS: 450, TransferRate: 0.5, DeclineRate: 1}
	billingNine := billing
	billingNine.Bucket = hour(9)
	generalTen := kpiRow{Bucket: hour(10), Key: s.general, Incoming: 1, Served: 1, FirstWaitAvgS: 40, SpeedToAnswerAvgS: 40,
		ServiceLevel: 1, AHTS: 600, OfferTimeoutRate: 1}
	byHour := []kpiRow{generalNine, billingNine, generalTen}
	requireKPIs(t, "by queue and hour, JSON", st.kpiJSON(st.adminToken, "queue", "hour"), byHour)
	requireKPIs(t, "by queue and hour, CSV", st.kpiCSV(st.adminToken, "queue", "hour"), byHour)

	// Page and workstream: the one page and its workstream have the day's whole
	// traffic: 6 entered, 4 served (waits 20, 90, 10, 40), 2 abandoned, 5
	// answers (20, 90, 10, 50, 40; 3 within their queue's target), handle time
	// 300 + 600 + 360 + 600 over 4, 2 of 4 transferred, 2 offers.
	whole := kpiRow{Bucket: day, Key: s.ch.PageUUID, Incoming: 6, Served: 4, Abandoned: 2, FirstWaitAvgS: 40, SpeedToAnswerAvgS: 42,
		ServiceLevel: 0.6, AHTS: 465, TransferRate: 0.5, DeclineRate: 0.5, OfferTimeoutRate: 0.5}
	requireKPIs(t, "by page", st.kpiJSON(st.adminToken, "page", "day"), []kpiRow{whole})
	whole.Key = st.rtWorkstreamID(s.ch)
	requireKPIs(t, "by workstream", st.kpiCSV(st.adminToken, "workstream", "day"), []kpiRow{whole})

	// A supervisor of Billing sees Billing's facts only; an agent gets 403.
	sue := st.kpiSupervisor(s.billing)
	requireKPIs(t, "supervisor of Billing", st.kpiJSON(sue.Token, "queue", "day"), []kpiRow{billing})
	var refused map[string]any
	if code := st.call("GET", kpiPath("queue", "day", ""), s.ann.Token, nil, &refused); code != 403 {
		t.Fatalf("an agent reading KPIs: %d %v", code, refused)
	}

	// Bad parameters: 400 with a message naming the problem.
	for _, bad := range []struct{ query, mentions string }{
		{"to=2026-11-03T00:00:00Z", "from is required"},
		{"from=yesterday&to=2026-11-03T00:00:00Z", "from must be an RFC 3339"},
		{"from=2026-11-03T00:00:00Z&to=2026-11-02T00:00:00Z", "from must be before to"},
		{"from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&by=floor", "by must be one of"},
		{"from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&interval=week", "interval must be one of"},
		{"from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&format=xml", "format must be json or csv"},
	} {
		var out map[string]map[string]string
		code := st.call("GET", "/api/v1/reports/kpis?"+bad.query, st.adminToken, nil, &out)
		if code != 400 || out["error"]["code"] != "invalid_request" || !strings.Contains(out["error"]["message"], bad.mentions) {
			t.Errorf("%s: %d %v, want 400 mentioning %q", bad.query, code, out, bad.mentions)
		}
	}
}

// The worker's /metrics has the first wait and handle time of a served
// conversation as histograms, equal to the times in the database.
func TestKPIHistogramsObserveAServedConversation(t *testing.T) {
	st := newStack(t)
	ch, ann, _, convID := st.conversationOnNewPage("Ann", 1, "kpi-metrics-"+randomHex(3), "hello")
	st.agentCloses(ann, convID)
	st.eventually("closed event", 30*time.Second, func() bool {
		return st.count("agent_events", "conversation_id = $1 AND name = 'conversation.closed'", convID) == 1
	})
	var wait, handle float64
	if err := st.db.QueryRow(`SELECT extract(epoch FROM accepted_at - queued_at)::float8,
		extract(epoch FROM (SELECT created_at FROM agent_events WHERE conversation_id = c.id AND name = 'conversation.closed')
		                 - (SELECT created_at FROM agent_events WHERE conversation_id = c.id AND name = 'conversation.assigned'))::float8
		FROM conversations c WHERE id = $1`, convID).Scan(&wait, &handle); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(app.WorkerMetrics(st.db, nil).Handler())
	defer srv.Close()
	mfs := opsScrape(t, srv.URL)
	for _, h := range []struct {
		name string
		want float64
	}{{"fbchannel_first_wait_seconds", wait}, {"fbchannel_handle_time_seconds", handle}} {
		m, ok := opsSample(mfs, h.name, map[string]string{"queue": ch.QueueID})
		if !ok || m.Histogram == nil {
			t.Fatalf("%s{queue=%s} missing: %v", h.name, ch.QueueID, mfs[h.name])
		}
		hist := m.Histogram
		if hist.GetSampleCount() != 1 || math.Abs(hist.GetSampleSum()-h.want) > 1e-6 {
			t.Errorf("%s: count %d sum %g, want 1 observation of %g", h.name, hist.GetSampleCount(), hist.GetSampleSum(), h.want)
		}
		// The one observation is in every bucket whose bound is at or above it.
		for _, b := range hist.Bucket {
			want := uint64(0)
			if b.GetUpperBound() >= h.want {
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("%s bucket le=%g: %d, want %d", h.name, b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
}
