//go:build integration

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fbchannel/calendar"
)

// Issue 15, parts 1 and 2: operating hours and overflow before queueing, through
// the webhook, the admin API, Postgres, a Temporal dev server and the simulator.

// allDayHours is a calendar open around the clock (a 24/7 queue's own).
func allDayHours() calendar.Hours {
	return calendar.Weekly("UTC", calendar.Days, calendar.Range{"00:00", "24:00"})
}

// closedTodayHours is every day 09:00–17:00 UTC with today and tomorrow closed
// (holidays), so the team is closed whenever the test runs, even across
// midnight, and opens the day after tomorrow at 09:00 UTC.
func closedTodayHours(now time.Time) (calendar.Hours, time.Time) {
	h := calendar.Weekly("UTC", calendar.Days, calendar.Range{"09:00", "17:00"})
	today := now.UTC().Truncate(24 * time.Hour)
	h.Exceptions = []calendar.Exception{
		{Date: today.Format(time.DateOnly), Closed: true},
		{Date: today.AddDate(0, 0, 1).Format(time.DateOnly), Closed: true},
	}
	return h, today.AddDate(0, 0, 2).Add(9 * time.Hour)
}

// newHoursStack is a stack with a connected page, its workstream, and a second
// queue of the account (where conversations go instead).
func newHoursStack(t *testing.T, queueName string) (st *stack, ch channel, workstreamID, queueID string) {
	t.Helper()
	st = newStack(t)
	ch = st.connectPage()
	return st, ch, st.rtWorkstreamID(ch), st.rtQueue(ch.AccountID, queueName, 0)
}

type queueingDecisionRow struct{ Reason, Action, ToQueueID, QueueID string }

func (st *stack) queueingDecisions(conversationID string) []queueingDecisionRow {
	st.t.Helper()
	rows, err := st.db.Query(`SELECT reason, action, coalesce(to_queue_id::text, ''), queue_id::text FROM queueing_decisions WHERE conversation_id = $1`, conversationID)
	if err != nil {
		st.t.Fatal(err)
	}
	defer rows.Close()
	var out []queueingDecisionRow
	for rows.Next() {
		var d queueingDecisionRow
		if err := rows.Scan(&d.Reason, &d.Action, &d.ToQueueID, &d.QueueID); err != nil {
			st.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// A customer who writes while the team is closed is told when it opens and goes
// at once to the 24/7 queue, whose agent gets the conversation. The rules are
// checked on save: a bad one is a 400 that changes nothing.
func TestOutOfHoursTransferThroughTheWebhook(t *testing.T) {
	st, ch, ws, night := newHoursStack(t, "24/7")
	wsPath := "/api/v1/workstreams/" + ws
	hours, opening := closedTodayHours(time.Now())

	// The 24/7 queue has no hours of its own yet: it would be closed with the workstream.
	var out map[string]any
	if code := st.call("PATCH", wsPath, st.adminToken, map[string]any{"operating_hours": hours,
		"out_of_hours": map[string]any{"action": "transfer", "queue_id": night}}, &out); code != 400 || !strings.Contains(errorMessage(out), "no operating_hours of its own") {
		t.Fatalf("transfer to a queue without hours: %d %v, want 400", code, out)
	}
	q := st.rtPatch("/api/v1/queues/"+night, map[string]any{"operating_hours": allDayHours()})
	if oh, _ := q["operating_hours"].(map[string]any); oh["time_zone"] != "UTC" {
		t.Fatalf("queue hours not saved: %v", q)
	}
	saved := st.rtPatch(wsPath, map[string]any{"operating_hours": hours, "out_of_hours": map[string]any{"action": "transfer", "queue_id": night}})
	for _, bad := range []map[string]any{
		{"operating_hours": map[string]any{"time_zone": "Mars/Olympus", "weekly": map[string]any{"mon": [][]string{{"09:00", "17:00"}}}}},
		{"operating_hours": map[string]any{"time_zone": "UTC", "weekly": map[string]any{"mon": [][]string{{"09:00", "25:00"}}}}},
		{"operating_hours": map[string]any{"time_zone": "UTC", "weekly": map[string]any{"mon": [][]string{{"09:00", "13:00"}, {"12:00", "17:00"}}}}},
		{"operating_hours": map[string]any{"timezone": "UTC"}},
		{"out_of_hours": map[string]any{"action": "transfer", "queue_id": "7a8f5a52-3a43-4c7a-9d1e-6a2f3b1c0d9e"}},
		{"out_of_hours": map[string]any{"action": "transfer"}},
		{"out_of_hours": map[string]any{"action": "later"}},
		{"overflow": map[string]any{"max_waiting": 0, "action": "end"}},
		{"overflow": map[string]any{"max_waiting": 3, "action": "transfer", "queue_id": "7a8f5a52-3a43-4c7a-9d1e-6a2f3b1c0d9e"}},
	} {
		if code := st.call("PATCH", wsPath, st.adminToken, bad, &out); code != 400 || errorMessage(out) == "" {
			t.Errorf("PATCH %v: %d %v, want 400 with a message", bad, code, out)
		}
	}
	if code := st.call("PATCH", "/api/v1/queues/"+night, st.adminToken, map[string]any{"operating_hours": map[string]any{"time_zone": "Nowhere/City", "weekly": map[string]any{}}}, &out); code != 400 {
		t.Errorf("queue with a bad zone: %d %v, want 400", code, out)
	}
	var after map[string]any
	st.call("GET", wsPath, st.adminToken, nil, &after)
	if fmt.Sprint(after) != fmt.Sprint(saved) {
		t.Fatalf("a refused PATCH changed the workstream:\nbefore %v\nafter  %v", saved, after)
	}

	nightAgent, events := st.availableAgent("Night", 2)
	st.rtLeave(ch.QueueID, nightAgent)
	st.rtJoin(night, nightAgent)
	convID := st.customerAssigned(events, ch, "psid-late", "Hello, anyone there?")
	c := st.rtWait("psid-late", "assigned in the 24/7 queue", assignedTo(nightAgent))
	if c.ID != convID || c.QueueID != night {
		t.Fatalf("conversation %+v, want %s in the 24/7 queue", c, convID)
	}
	if d := st.queueingDecisions(convID); len(d) != 1 || d[0].Reason != "out_of_hours" || d[0].Action != "transfer" || d[0].ToQueueID != night || d[0].QueueID != ch.QueueID {
		t.Fatalf("decisions %+v, want one: out_of_hours, transfer to the 24/7 queue", d)
	}
	want := "back " + opening.Format("Monday") + " " + fmt.Sprint(opening.Day()) + " " + opening.Format("January") + " at 09:00 (UTC)"
	st.eventually("the out-of-hours message", 30*time.Second, func() bool {
		for _, text := range st.sentTexts() {
			if strings.Contains(text, want) {
				return true
			}
		}
		return false
	})
}

// The default queue takes one waiting conversation; the next overflows to the
// spill queue once (its decision recorded with the reason), and a manual
// transfer into the full queue is not judged.
func TestOverflowBeforeQueueingThroughTheWebhook(t *testing.T) {
	st, ch, ws, spill := newHoursStack(t, "Spill")
	wsPath := "/api/v1/workstreams/" + ws
	saved := st.rtPatch(wsPath, map[string]any{"overflow": map[string]any{"max_waiting": 1, "action": "transfer", "queue_id": spill}})
	if of, _ := saved["overflow"].(map[string]any); of["max_waiting"] != 1.0 || of["queue_id"] != spill {
		t.Fatalf("overflow not saved: %v", saved)
	}
	helper, events := st.availableAgent("Spill helper", 2)
	st.rtLeave(ch.QueueID, helper)
	st.rtJoin(spill, helper)

	st.customerSays(ch, "psid-first", "first", "")
	first := st.rtWait("psid-first", "waiting in the default queue", waitingIn(ch.QueueID))
	secondID := st.customerAssigned(events, ch, "psid-second", "second")
	second := st.rtWait("psid-second", "assigned from the spill queue", assignedTo(helper))
	if second.ID != secondID || second.QueueID != spill {
		t.Fatalf("second conversation %+v, want assigned from the spill queue", second)
	}
	if d := st.queueingDecisions(secondID); len(d) != 1 || d[0].Reason != "max_waiting" || d[0].Action != "transfer" || d[0].ToQueueID != spill {
		t.Fatalf("decisions %+v, want one: max_waiting, transfer to the spill queue", d)
	}
	if d := st.queueingDecisions(first.ID); len(d) != 0 {
		t.Fatalf("the first conversation was judged %+v, want queued as routed", d)
	}

	// The helper hands the second conversation back to the full queue: it waits there.
	if code := st.call("POST", "/api/v1/conversations/"+secondID+"/transfer", helper.Token, map[string]any{"queue_id": ch.QueueID}, nil); code != 200 {
		t.Fatalf("transfer to the full queue: %d", code)
	}
	st.rtWait("psid-second", "waiting in the full default queue", waitingIn(ch.QueueID))
	if d := st.queueingDecisions(secondID); len(d) != 1 {
		t.Fatalf("decisions %+v after the manual transfer, want still the one", d)
	}
}

// The admin console edits the hours and the overflow: a bad zone is refused
// inline and saves nothing; the corrected form is saved as the API shows it.
func TestDeskAdminHoursEditorInBrowser(t *testing.T) {
	requireChromium(t)
	st, ch, ws, spill := newHoursStack(t, "Spill")

	b := startBrowser(t)
	tb := signInAdmin(st, b, ch.AccountID)
	settings := fmt.Sprintf(`#workstreams button[data-workstream=%q]`, ws)
	tb.waitFor("the workstream", `document.querySelector('`+settings+`')`, 10*time.Second)
	tb.click(settings)
	tb.waitFor("the hours editor", `!document.querySelector("#workstream-view").hidden && document.querySelector("#ws-hours-form") !== null`, 10*time.Second)

	setHours := func(zone string) {
		tb.mustEval(fmt.Sprintf(`document.querySelector("#ws-hours").value = JSON.stringify({time_zone: %q, weekly: {mon: [["09:00", "17:00"]]}})`, zone), nil)
	}
	setHours("Mars/Olympus")
	tb.choose("#ws-ooh-action", "end")
	tb.click("#ws-hours-save")
	tb.waitFor("the refusal inline", `[...document.querySelectorAll("#ws-hours-form .form-error")].some(e => !e.hidden && e.textContent.includes("not an IANA time zone") && e.textContent.includes("Nothing was saved"))`, 10*time.Second)
	if w := st.getWorkstream(ws); w["operating_hours"] != nil || w["out_of_hours"] != nil {
		t.Fatalf("a refused change was saved: %v", w)
	}

	setHours("Europe/Amsterdam")
	tb.setField("#ws-max-waiting", "3")
	tb.choose("#ws-overflow-action", "transfer")
	tb.choose("#ws-overflow-queue", spill)
	tb.clearToasts()
	tb.click("#ws-hours-save")
	tb.waitFor("saved", `[...document.querySelectorAll("#toasts .toast")].some(e => e.textContent === "Hours and overflow saved.")`, 10*time.Second)
	w := st.getWorkstream(ws)
	hours, _ := w["operating_hours"].(map[string]any)
	ooh, _ := w["out_of_hours"].(map[string]any)
	of, _ := w["overflow"].(map[string]any)
	if hours["time_zone"] != "Europe/Amsterdam" || ooh["action"] != "end" || of["max_waiting"] != 3.0 || of["action"] != "transfer" || of["queue_id"] != spill {
		t.Fatalf("saved: hours %v, out of hours %v, overflow %v", hours, ooh, of)
	}
}

// With assign_anyway a customer who writes shortly before the opening is held
// out of the queue (an available agent does not get the conversation) and
// assigned when the team opens, by the real queue workflow after the
// conversation's durable timer. The opening is a minute or two away, so the
// test waits that long (on the assignment, not a sleep).
func TestOutOfHoursAssignAnywayIsAssignedAtTheOpening(t *testing.T) {
	// The opening is chosen once the stack is up (its start takes long on a busy
	// machine), with half a minute at least to write before it.
	st, ch, ws, _ := newHoursStack(t, "Unused")
	now := time.Now().UTC()
	opening := now.Truncate(time.Minute).Add(time.Minute)
	if opening.Sub(now) < 30*time.Second {
		opening = opening.Add(time.Minute)
	}
	if opening.Day() != now.Day() {
		t.Skip("too close to midnight UTC for a same-day opening")
	}
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{
		"operating_hours": calendar.Weekly("UTC", calendar.Days, calendar.Range{opening.Format("15:04"), "24:00"}),
		"out_of_hours":    map[string]any{"action": "assign_anyway"},
	})
	early, _ := st.availableAgent("Early", 1)
	st.customerSays(ch, "psid-early", "Are you open yet?", "")

	var convID string
	st.eventually("the conversation held", 30*time.Second, func() bool {
		c, ok := st.rtConversation("psid-early")
		if ok {
			convID = c.ID
		}
		return ok && len(st.queueingDecisions(c.ID)) == 1
	})
	if d := st.queueingDecisions(convID)[0]; d.Reason != "out_of_hours" || d.Action != "assign_anyway" || d.ToQueueID != ch.QueueID {
		t.Fatalf("decision %+v, want out_of_hours, assign_anyway for the default queue", d)
	}
	if c, _ := st.rtConversation("psid-early"); c.Status != "waiting" || c.QueueID != "" || time.Now().After(opening) {
		t.Fatalf("before the opening: %+v, want waiting in no queue (now %v, opening %v)", c, time.Now().UTC(), opening)
	}
	var c rtConv
	st.eventually("assigned at the opening", 3*time.Minute, func() bool {
		c, _ = st.rtConversation("psid-early")
		return c.Status == "assigned"
	})
	var assignedAt time.Time
	if err := st.db.QueryRow(`SELECT assigned_at FROM conversations WHERE id = $1`, c.ID).Scan(&assignedAt); err != nil {
		t.Fatal(err)
	}
	if c.AgentID != early.ID || assignedAt.Before(opening) {
		t.Fatalf("assigned to %s at %v, want the available agent at or after the opening %v", c.AgentID, assignedAt.UTC(), opening)
	}
}
