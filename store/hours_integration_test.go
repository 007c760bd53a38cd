//go:build integration

package store

// The decision before queueing (hours.go) against a real Postgres: the overflow
// counts under the queue's lock, a conversation is decided once, a manual
// transfer is never judged, and a conversation held out of hours is not in its
// queue (so no pass can assign it) until its release.

import (
	"testing"
	"time"

	"fbchannel/calendar"
)

// enqueueRouted routes a new waiting conversation of the page and decides its
// queueing as the conversation workflow does, out of hours when told.
func (f *fixture) enqueueRouted(p Page, outOfHours bool, holdUntil time.Time) (string, QueueingDecision) {
	f.t.Helper()
	id := f.waiting(p)
	queueID, rules, err := f.s.RouteConversation(f.ctx, id)
	f.must(err)
	if rules == nil || rules.QueueID != queueID {
		f.t.Fatalf("routing answered queue %s and rules %+v, want the rules to decide with", queueID, rules)
	}
	d, err := f.s.EnqueueConversation(f.ctx, QueueingRequest{ConversationID: id, Rules: *rules, OutOfHours: outOfHours,
		NextOpening: holdUntil, HoldUntil: holdUntil})
	f.must(err)
	return id, d
}

func (f *fixture) queueOf(conversationID string) string {
	f.t.Helper()
	var q *string
	f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT queue_id::text FROM conversations WHERE id = $1", conversationID).Scan(&q))
	if q == nil {
		return ""
	}
	return *q
}

func (f *fixture) setRules(p Page, change func(*Workstream)) Workstream {
	f.t.Helper()
	w, err := f.s.UpdateWorkstream(f.ctx, p.WorkstreamID, func(w *Workstream) error { change(w); return nil })
	f.must(err)
	return w
}

func TestOverflowBeforeQueueingDecidesOnceUnderTheQueueLock(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	spill, err := f.s.CreateQueue(f.ctx, Queue{AccountID: p.AccountID, Name: "Spill"})
	f.must(err)
	w := f.setRules(p, func(w *Workstream) {
		w.Overflow = &Overflow{MaxWaiting: 2, Action: ActionTransfer, QueueID: &spill.ID}
	})
	supervisor := f.agent(1)
	f.exec("UPDATE agents SET role = 'supervisor' WHERE id = $1", supervisor)
	f.exec("INSERT INTO supervisor_queues (agent_id, queue_id) VALUES ($1, $2)", supervisor, w.DefaultQueueID)

	// Six conversations decide at once against a queue that takes two.
	const n = 6
	ids := make([]string, n)
	rules := make([]*QueueingRules, n)
	for i := range ids {
		ids[i] = f.waiting(p)
		_, rules[i], err = f.s.RouteConversation(f.ctx, ids[i])
		f.must(err)
	}
	decisions, errs := race(n, func(i int) (QueueingDecision, error) {
		return f.s.EnqueueConversation(f.ctx, QueueingRequest{ConversationID: ids[i], Rules: *rules[i]})
	})
	queued, overflowed := 0, 0
	for i, d := range decisions {
		f.must(errs[i])
		switch {
		case d.Reason == "" && f.queueOf(ids[i]) == w.DefaultQueueID:
			queued++
		case d.Reason == ReasonMaxWaiting && d.Action == ActionTransfer && d.QueueID == spill.ID && f.queueOf(ids[i]) == spill.ID:
			overflowed++
		default:
			t.Fatalf("conversation %d: decision %+v, in queue %q", i, d, f.queueOf(ids[i]))
		}
	}
	if queued != 2 || overflowed != n-2 {
		t.Fatalf("%d queued and %d overflowed, want 2 (max_waiting) and %d", queued, overflowed, n-2)
	}
	// Asked again (a retried activity), each answers its decision and records nothing more.
	for i := range ids {
		d, err := f.s.EnqueueConversation(f.ctx, QueueingRequest{ConversationID: ids[i], Rules: *rules[i]})
		f.must(err)
		if d != decisions[i] {
			t.Fatalf("conversation %d decided %+v, then %+v", i, decisions[i], d)
		}
	}
	if got := f.number("SELECT count(*) FROM queueing_decisions WHERE reason = 'max_waiting' AND queue_id = $1", w.DefaultQueueID); got != n-2 {
		t.Fatalf("%d decisions recorded, want %d (one per overflowed conversation)", got, n-2)
	}
	if got := f.number("SELECT count(*) FROM agent_events WHERE agent_id = $1 AND name = 'conversation.queueing_decided'", supervisor); got != n-2 {
		t.Fatalf("the supervisor got %d events, want %d", got, n-2)
	}

	// A manual transfer into the full queue is not judged: it enters the queue.
	// (The conversation to transfer overflows to the spill queue, where the agent picks it.)
	agent := f.agent(1)
	f.must(f.s.AddQueueMember(f.ctx, spill.ID, agent))
	f.pickMode(p)
	mine := f.waiting(p)
	_, rules0, err := f.s.RouteConversation(f.ctx, mine)
	f.must(err)
	_, err = f.s.EnqueueConversation(f.ctx, QueueingRequest{ConversationID: mine, Rules: *rules0})
	f.must(err)
	if _, err := f.s.Pick(f.ctx, mine, agent); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Transfer(f.ctx, TransferRequest{ConversationID: mine, FromAgentID: agent, ToQueueID: w.DefaultQueueID}); err != nil {
		t.Fatal(err)
	}
	if q := f.queueOf(mine); q != w.DefaultQueueID {
		t.Fatalf("transferred into queue %q, want the full queue %s", q, w.DefaultQueueID)
	}
	if got := f.number("SELECT count(*) FROM queueing_decisions WHERE conversation_id = $1 AND to_queue_id = $2", mine, spill.ID); got != 1 {
		t.Fatal("the manual transfer was judged by the overflow (its one decision is the routing's, to the spill queue)")
	}
	if got := f.number("SELECT count(*) FROM conversations WHERE queue_id = $1 AND status = 'waiting'", w.DefaultQueueID); got != 3 {
		t.Fatalf("the full queue holds %d, want 3 (2 and the transferred one)", got)
	}
}

func TestHeldConversationEntersItsQueueOnlyWhenReleased(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	w := f.setRules(p, func(w *Workstream) {
		w.OperatingHours = &calendar.Hours{TimeZone: "Europe/Amsterdam", Weekly: map[string][]calendar.Range{"mon": {{"09:00", "17:00"}}}}
		w.OutOfHours = &OutOfHours{Action: ActionAssignAnyway}
	})
	agent := f.agent(1)
	opening := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)
	id, d := f.enqueueRouted(p, true, opening)
	if d.Reason != ReasonOutOfHours || d.Action != ActionAssignAnyway || d.QueueID != w.DefaultQueueID || !d.HoldUntil.Equal(opening) {
		t.Fatalf("decision %+v, want held for the default queue until %v", d, opening)
	}
	if q := f.queueOf(id); q != "" {
		t.Fatalf("held conversation is in queue %q before the opening", q)
	}
	pass, err := f.s.AssignQueue(f.ctx, w.DefaultQueueID, 10, "")
	f.must(err)
	if len(pass.Assigned) != 0 {
		t.Fatalf("a pass assigned %+v before the opening", pass.Assigned)
	}
	queueID, err := f.s.ReleaseHeldConversation(f.ctx, id)
	f.must(err)
	if queueID != w.DefaultQueueID || f.queueOf(id) != w.DefaultQueueID {
		t.Fatalf("released into %q (now in %q), want the default queue", queueID, f.queueOf(id))
	}
	pass, err = f.s.AssignQueue(f.ctx, w.DefaultQueueID, 10, "")
	f.must(err)
	if len(pass.Assigned) != 1 || pass.Assigned[0].ConversationID != id || pass.Assigned[0].AgentID != agent {
		t.Fatalf("after the release the pass assigned %+v, want the held conversation to the agent", pass.Assigned)
	}
	if got := f.number("SELECT count(*) FROM queueing_decisions WHERE conversation_id = $1 AND released_at IS NOT NULL", id); got != 1 {
		t.Fatal("the release is not recorded")
	}
}

// The out-of-hours message names the opening in the workstream's language and
// the calendar's zone.
func TestOutOfHoursNoticeNamesTheOpeningInTheLanguage(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	f.setRules(p, func(w *Workstream) { w.Language = "nl-NL" })
	id := f.waiting(p)
	notice, err := f.s.OpeningNotice(f.ctx, id, AutomatedOutOfHours, time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC), "Europe/Amsterdam")
	f.must(err)
	if want := "Bedankt voor je bericht! We zijn nu gesloten en weer bereikbaar op dinsdag 8 december om 09:00 (CET)."; !notice.Enabled || notice.Text != want {
		t.Fatalf("notice %+v, want on by default with %q", notice, want)
	}
}
