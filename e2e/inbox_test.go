//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/api"
	"fbchannel/messenger"
	"fbchannel/ops"
	"fbchannel/simulator"
)

// starterProcess is one more starter replica over the stack's database: its
// HTTP server and its relay, with its own Temporal client.
type starterProcess struct {
	url       string
	http      *httptest.Server
	stopRelay func()
}

func (st *stack) startStarter(c client.Client, maxBytes int64) *starterProcess {
	st.t.Helper()
	m := ops.NewStarter()
	r, stop := st.startRelay(c, m)
	srv := &api.Server{
		Store: st.store, Temporal: c, TaskQueue: st.taskQueue, PublicBaseURL: st.api.URL,
		AdminToken: st.adminToken, WebhookMaxBytes: maxBytes, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Relay: r,
	}
	h := httptest.NewServer(srv.Handler())
	st.t.Cleanup(h.Close)
	return &starterProcess{url: h.URL, http: h, stopRelay: stop}
}

// kill stops the replica at once, as SIGKILL would: no more requests, and its
// relay stops wherever it was.
func (p *starterProcess) kill() {
	p.http.CloseClientConnections()
	p.stopRelay()
	p.http.Close()
}

// deliver posts one signed delivery to a starter and wants 200 within
// Facebook's 5 seconds.
func deliver(t *testing.T, base string, ch channel, body []byte) {
	t.Helper()
	start := time.Now()
	code, resp := post(t, base+"/webhooks/facebook/"+ch.PageUUID, body, messenger.Sign(ch.AppSecret, body))
	if code != 200 {
		t.Fatalf("delivery: %d %s, want 200", code, resp)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("delivery answered after %s; Facebook gives up after 5 s", took)
	}
}

func textBatch(t *testing.T, ch channel, at int64, texts ...simulator.CustomerText) []byte {
	t.Helper()
	b, err := simulator.TextBatch(ch.PageID, at, texts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// transcript is a customer's inbound texts in the order its conversations
// recorded them, and how many times each message id was recorded.
func (st *stack) transcript(ch channel, psid string) (texts []string, perMID map[string]int) {
	st.t.Helper()
	rows, err := st.db.Query(`SELECT m.text, coalesce(m.facebook_message_id, '') FROM messages m
		JOIN conversations c ON c.id = m.conversation_id JOIN customers cu ON cu.id = c.customer_id
		WHERE cu.page_id = $1 AND cu.psid = $2 AND m.direction = 'inbound' ORDER BY m.created_at, m.id`, ch.PageID, psid)
	if err != nil {
		st.t.Fatal(err)
	}
	defer rows.Close()
	perMID = map[string]int{}
	for rows.Next() {
		var text, mid string
		if err := rows.Scan(&text, &mid); err != nil {
			st.t.Fatal(err)
		}
		texts = append(texts, text)
		perMID[mid]++
	}
	return texts, perMID
}

func (st *stack) pending() int { return st.count("inbound_events", "relayed_at IS NULL") }

// Temporal unreachable: nine deliveries of three customers are answered 200 and
// wait in the inbox. The starter that took them is killed before handing them on;
// a new starter on the same database hands them on once Temporal is back: each
// message once, in order, in its customer's transcript, and the agent has them.
func TestInboundSurvivesTemporalDownAndAKilledStarter(t *testing.T) {
	// The stack's own starter is cut off from Temporal for good after set-up, so
	// only the starters of this test can hand anything on.
	workerClient, address := outageTemporal(t)
	cutOff := newTCPProxy(t, address)
	st := newStack(t, func(st *stack) { st.starterClient, st.workerClient = cutOff.client(), workerClient })
	ch := st.connectPage()
	a := st.createAgent("ada", 10)
	st.setPresence(a, "available")
	cutOff.down()

	temporal := newTCPProxy(t, address)
	first := st.startStarter(temporal.client(), 64<<10)
	temporal.down()

	customers := []string{"2900000000000301", "2900000000000302", "2900000000000303"}
	base := time.Now().UnixMilli()
	for i := range 3 {
		for j, psid := range customers {
			deliver(t, first.url, ch, textBatch(t, ch, base+int64(3*i+j), simulator.CustomerText{
				PSID: psid, MID: fmt.Sprintf("m_down_%d_%d", j, i), Text: fmt.Sprintf("customer %d message %d", j, i),
			}))
		}
	}
	if n := st.pending(); n != 9 {
		t.Fatalf("%d events pending in the inbox, want 9", n)
	}

	// The backlog shows, and the starter stays ready (Temporal down only warns).
	mfs := opsScrape(t, first.url)
	if v := opsValue(mfs, "fbchannel_inbox_pending_events", nil); v != 9 {
		t.Errorf("fbchannel_inbox_pending_events = %v, want 9", v)
	}
	if v := opsValue(mfs, "fbchannel_inbox_oldest_pending_seconds", nil); v <= 0 {
		t.Errorf("fbchannel_inbox_oldest_pending_seconds = %v, want > 0", v)
	}
	if code, body := httpGet(t, first.url+"/readyz"); code != 200 || !strings.Contains(body, "temporal") {
		t.Errorf("/readyz with Temporal unreachable: %d %s, want 200 naming temporal", code, body)
	}

	first.kill()
	if n := st.pending(); n != 9 {
		t.Fatalf("%d events pending after the kill, want 9: nothing could have been handed on", n)
	}

	second := st.startStarter(temporal.client(), 64<<10)
	temporal.up()

	for j, psid := range customers {
		want := []string{fmt.Sprintf("customer %d message 0", j), fmt.Sprintf("customer %d message 1", j), fmt.Sprintf("customer %d message 2", j)}
		st.eventually(psid+"'s three messages recorded", 60*time.Second, func() bool {
			texts, _ := st.transcript(ch, psid)
			return len(texts) >= 3
		})
		texts, perMID := st.transcript(ch, psid)
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("%s's transcript = %q, want %q", psid, texts, want)
		}
		for mid, n := range perMID {
			if n != 1 {
				t.Errorf("%s recorded %d times", mid, n)
			}
		}
	}

	// The agent has all three conversations, each with its three messages in order.
	st.eventually("three conversations assigned to the agent", 60*time.Second, func() bool {
		return st.count("conversations", "agent_id = $1 AND status = 'assigned'", a.ID) == 3
	})
	var mine []map[string]any
	st.call("GET", "/api/v1/me/conversations", a.Token, nil, &mine)
	for _, c := range mine {
		var conv struct {
			Customer struct{ PSID string }
			Messages []struct{ Text, Direction string }
		}
		st.call("GET", fmt.Sprint("/api/v1/conversations/", c["id"]), a.Token, nil, &conv)
		var texts []string
		for _, m := range conv.Messages {
			if m.Direction == "inbound" {
				texts = append(texts, m.Text)
			}
		}
		j := slices.Index(customers, conv.Customer.PSID)
		want := fmt.Sprintf("customer %d message 0|customer %d message 1|customer %d message 2", j, j, j)
		if strings.Join(texts, "|") != want {
			t.Errorf("the agent sees %s's conversation as %q, want %q", conv.Customer.PSID, texts, want)
		}
	}
	if n := st.pending(); n != 0 {
		t.Errorf("%d events still pending", n)
	}
	st.eventually("the new starter's backlog gauge at zero", 10*time.Second, func() bool {
		return opsValue(opsScrape(t, second.url), "fbchannel_inbox_pending_events", nil) == 0
	})
}

// Two starter replicas share one inbox under a steady flow of deliveries while
// Temporal goes away and comes back: every message is recorded once, in each
// customer's order, and none waits more than a few seconds once Temporal is back.
func TestInboundTwoRelaysShareTheInboxThroughAnOutage(t *testing.T) {
	workerClient, address := outageTemporal(t)
	cutOff := newTCPProxy(t, address)
	st := newStack(t, func(st *stack) { st.starterClient, st.workerClient = cutOff.client(), workerClient })
	ch := st.connectPage()
	cutOff.down()

	temporal := newTCPProxy(t, address)
	replicas := []*starterProcess{st.startStarter(temporal.client(), 64<<10), st.startStarter(temporal.client(), 64<<10)}

	customers := []string{"2900000000000401", "2900000000000402", "2900000000000403", "2900000000000404"}
	sent := map[string][]string{}
	var backAt time.Time
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 120; i++ {
		<-tick.C
		switch i {
		case 30:
			temporal.down()
		case 80:
			temporal.up()
			backAt = time.Now()
		}
		psid := customers[i%len(customers)]
		text := fmt.Sprintf("%s says %d", psid, i)
		sent[psid] = append(sent[psid], text)
		deliver(t, replicas[i%2].url, ch, textBatch(t, ch, time.Now().UnixMilli(), simulator.CustomerText{
			PSID: psid, MID: fmt.Sprintf("m_flow_%d", i), Text: text,
		}))
	}

	st.eventually("every message handed on", 60*time.Second, func() bool { return st.pending() == 0 })
	for _, psid := range customers {
		st.eventually(psid+"'s messages recorded", 60*time.Second, func() bool {
			texts, _ := st.transcript(ch, psid)
			return len(texts) >= len(sent[psid])
		})
		texts, perMID := st.transcript(ch, psid)
		if strings.Join(texts, "|") != strings.Join(sent[psid], "|") {
			t.Errorf("%s's transcript = %q, want %q", psid, texts, sent[psid])
		}
		for mid, n := range perMID {
			if n != 1 {
				t.Errorf("%s recorded %d times", mid, n)
			}
		}
	}

	// How long each event waited for the relay once Temporal was reachable
	// (from its commit, or from Temporal's return for those committed before).
	var worst float64
	if err := st.db.QueryRow(`SELECT coalesce(max(extract(epoch FROM relayed_at - greatest(received_at, $1))), 0)::float8
		FROM inbound_events WHERE page_id = $2`, backAt, ch.PageID).Scan(&worst); err != nil {
		t.Fatal(err)
	}
	t.Logf("longest wait for the relay after Temporal was back: %.2f s", worst)
	if worst > 6 {
		t.Errorf("an event waited %.1f s for the relay after Temporal was back, want a few seconds at most", worst)
	}
}

// One delivery carries a readable event, an event with wrong-typed fields and
// another readable event: 200, both readable ones recorded, the unreadable one
// stored with its reason and counted. A redelivery adds nothing.
func TestInboundUnreadableEventIsKeptAndCostsNothing(t *testing.T) {
	st, ch := newPageStack(t)
	psid := "2900000000000501"
	at := time.Now().UnixMilli()
	body := []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":"%s","time":%d,"messaging":[
		{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":"%d","message":{"mid":"m_odd_1","text":"first"}},
		{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":%d,"message":{"mid":"m_odd_2","text":{"not":"text"}}},
		{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":%d,"message":{"mid":"m_odd_3","text":"third","seq":"7"}}]}]}`,
		ch.PageID, at, psid, ch.PageID, at, psid, ch.PageID, at+1, psid, ch.PageID, at+2))
	// Each starter counts what it answered; the stack may run several.
	unreadable := func() (n float64) {
		for _, u := range st.starterURLs() {
			n += opsValue(opsScrape(t, u), "fbchannel_webhook_unreadable_events_total", nil)
		}
		return n
	}
	before := unreadable()
	for range 2 { // a redelivery changes nothing
		code, resp := post(t, ch.CallbackURL, body, messenger.Sign(ch.AppSecret, body))
		var answer struct{ Accepted, Unreadable int }
		_ = json.Unmarshal([]byte(resp), &answer)
		if code != 200 || answer.Accepted != 2 || answer.Unreadable != 1 {
			t.Fatalf("delivery: %d %s, want 200 with 2 accepted and 1 unreadable", code, resp)
		}
	}
	st.eventually("both readable messages recorded", 30*time.Second, func() bool {
		texts, _ := st.transcript(ch, psid)
		return len(texts) >= 2
	})
	texts, perMID := st.transcript(ch, psid)
	if strings.Join(texts, "|") != "first|third" || perMID["m_odd_1"] != 1 || perMID["m_odd_3"] != 1 {
		t.Fatalf("transcript = %q %v, want first|third once each", texts, perMID)
	}

	var pageID, gotPSID, reason, raw string
	if err := st.db.QueryRow(`SELECT page_id, psid, reason, convert_from(raw, 'UTF8') FROM inbound_unreadable`).Scan(&pageID, &gotPSID, &reason, &raw); err != nil {
		t.Fatalf("the unreadable event is not stored once: %v (rows: %d)", err, st.count("inbound_unreadable", "true"))
	}
	if pageID != ch.PageID || gotPSID != psid || !strings.Contains(reason, "message.text") || !strings.Contains(raw, `"m_odd_2"`) {
		t.Fatalf("unreadable row: page %s psid %s reason %q raw %s", pageID, gotPSID, reason, raw)
	}
	if d := unreadable() - before; d != 2 {
		t.Errorf("fbchannel_webhook_unreadable_events_total rose by %v, want 2 (one per delivery)", d)
	}
	if st.count("inbound_events", "page_id = $1", ch.PageID) != 2 {
		t.Errorf("inbound_events holds %d events, want the 2 readable ones", st.count("inbound_events", "page_id = $1", ch.PageID))
	}
}

// A delivery of 1000 message events from 100 customers is answered 200 within
// Facebook's timeout and every message reaches its transcript, in order.
func TestInboundLargeBatchReachesEveryTranscript(t *testing.T) {
	st, ch := newPageStack(t)
	starter := st.startStarter(temporalClient, 1<<20)

	var texts []simulator.CustomerText
	for i := range 10 {
		for c := range 100 {
			psid := fmt.Sprint(2900000000010000 + c)
			texts = append(texts, simulator.CustomerText{PSID: psid, MID: fmt.Sprintf("m_big_%d_%d", c, i), Text: fmt.Sprintf("%d", i)})
		}
	}
	deliver(t, starter.url, ch, textBatch(t, ch, time.Now().UnixMilli(), texts...))
	if n := st.count("inbound_events", "page_id = $1", ch.PageID); n != 1000 {
		t.Fatalf("%d events committed, want 1000", n)
	}
	st.eventually("1000 messages recorded", 180*time.Second, func() bool {
		return st.count("messages", "page_id = $1 AND direction = 'inbound'", ch.PageID) >= 1000
	})
	for c := range 100 {
		psid := fmt.Sprint(2900000000010000 + c)
		got, perMID := st.transcript(ch, psid)
		if strings.Join(got, ",") != "0,1,2,3,4,5,6,7,8,9" || len(perMID) != 10 {
			t.Fatalf("%s's transcript = %q, want 0..9 once each", psid, got)
		}
	}
}
