package workflows_test

import (
	"reflect"
	"testing"
	"time"

	"fbchannel/activities"
	"fbchannel/calendar"
	"fbchannel/store"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

const allDayQueueID = "queue-24-7"

// weekdayHours is a team open Monday to Friday, 09:00–17:00, in zone.
func weekdayHours(zone string, exceptions ...calendar.Exception) *calendar.Hours {
	h := calendar.Weekly(zone, calendar.Weekdays, calendar.Range{"09:00", "17:00"})
	h.Exceptions = exceptions
	return &h
}

// everyDayHours is a team open every day, 09:00–17:00, in zone.
func everyDayHours(zone string) *calendar.Hours {
	h := calendar.Weekly(zone, calendar.Days, calendar.Range{"09:00", "17:00"})
	return &h
}

// allDay is a queue open around the clock.
func allDay() *calendar.Hours {
	h := calendar.Weekly("UTC", calendar.Days, calendar.Range{"00:00", "24:00"})
	return &h
}

func localTime(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// hoursFixture is a conversation whose routed queue has rules: OpenConversation
// answers them instead of queueing, and EnqueueConversation and
// ReleaseHeldConversation answer as the store does, noting when they ran.
type hoursFixture struct {
	*conversationFixture
	enqueue  func(store.QueueingRequest) (store.QueueingDecision, error)
	release  func(string) (string, error)
	released []time.Time // workflow time of each release
}

func newHoursConversation(t *testing.T, start time.Time, rules store.QueueingRules) *hoursFixture {
	f := &hoursFixture{conversationFixture: newConversation(t)}
	f.env.SetStartTime(start)
	f.openConversation = func(in activities.OpenConversationInput) (activities.OpenConversationResult, error) {
		rec, err := f.recordInbound(activities.RecordInboundInput{ConversationID: in.ConversationID, Events: in.Events})
		return activities.OpenConversationResult{Served: true, CustomerID: "customer-1", QueueID: "default-queue", Recorded: rec,
			RoutedQueueID: rules.QueueID, Rules: &rules}, err
	}
	f.enqueue = func(req store.QueueingRequest) (store.QueueingDecision, error) {
		d := store.QueueingDecision{QueueID: req.Rules.QueueID}
		if req.OutOfHours {
			d.Reason, d.Action, d.NextOpening, d.HoldUntil = store.ReasonOutOfHours, req.Rules.OutOfHours.Action, req.NextOpening, req.HoldUntil
			switch d.Action {
			case store.ActionTransfer:
				d.QueueID = *req.Rules.OutOfHours.QueueID
			case store.ActionEnd:
				d.QueueID = ""
			}
		}
		return d, nil
	}
	f.release = func(string) (string, error) {
		f.released = append(f.released, f.env.Now().UTC())
		return rules.QueueID, nil
	}
	stub(f.env, f.log, a.EnqueueConversation, &f.enqueue)
	stub(f.env, f.log, a.ReleaseHeldConversation, &f.release)
	return f
}

// stateAfter runs the conversation opened by a message at start, reads its
// state after d and cancels it at until.
func (f *hoursFixture) stateAfter(start time.Time, d, until time.Duration) contract.ConversationState {
	f.t.Helper()
	var st contract.ConversationState
	f.at(d, func() { st = f.state() })
	f.cancelAt(until)
	f.startNew(inbound("m_1", start))
	f.requireCanceled()
	return st
}

// outOfHoursNotices lists the out-of-hours notices asked for.
func (f *hoursFixture) outOfHoursNotices() []activities.SendNoticeInput {
	var out []activities.SendNoticeInput
	for _, in := range inputsOf[activities.SendNoticeInput](f.log, a.SendNotice) {
		if in.Kind == activities.NoticeOutOfHours {
			out = append(out, in)
		}
	}
	return out
}

// TestOutOfHoursAssignAnywayWaitsForTheOpening: a message at 22:00 on a weekday
// (and on the evenings before the DST changes, and before a holiday) is told the
// next opening, and the conversation enters its queue exactly then: not before
// (the queue cannot assign what it does not hold).
func TestOutOfHoursAssignAnywayWaitsForTheOpening(t *testing.T) {
	for _, tc := range []struct {
		name    string
		start   time.Time
		hours   *calendar.Hours
		opening time.Time // UTC
	}{
		{"weekday evening in Amsterdam", localTime(t, "Europe/Amsterdam", "2026-12-07 22:00"), weekdayHours("Europe/Amsterdam"),
			time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)},
		{"before a holiday", localTime(t, "Europe/Amsterdam", "2026-12-07 22:00"),
			weekdayHours("Europe/Amsterdam", calendar.Exception{Date: "2026-12-08", Closed: true}),
			time.Date(2026, 12, 9, 8, 0, 0, 0, time.UTC)},
		{"Friday before New York springs forward", localTime(t, "America/New_York", "2026-03-06 18:00"), weekdayHours("America/New_York"),
			time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)},
		{"Friday before Amsterdam falls back", localTime(t, "Europe/Amsterdam", "2026-10-23 18:00"), weekdayHours("Europe/Amsterdam"),
			time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)},
		{"the night Amsterdam springs forward", localTime(t, "Europe/Amsterdam", "2026-03-28 22:00"), everyDayHours("Europe/Amsterdam"),
			time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)},
		{"the night New York falls back", localTime(t, "America/New_York", "2026-10-31 22:00"), everyDayHours("America/New_York"),
			time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := store.QueueingRules{QueueID: testQueueID, Hours: tc.hours, OutOfHours: store.OutOfHours{Action: store.ActionAssignAnyway}}
			f := newHoursConversation(t, tc.start, rules)
			var justBefore, justAfter contract.ConversationState
			wait := tc.opening.Sub(tc.start)
			f.at(wait-time.Minute, func() { justBefore = f.state() })
			f.at(wait+time.Minute, func() { justAfter = f.state() })
			f.cancelAt(wait + time.Hour)
			f.startNew(inbound("m_1", tc.start))
			f.requireCanceled()

			reqs := inputsOf[store.QueueingRequest](f.log, a.EnqueueConversation)
			if len(reqs) != 1 || !reqs[0].OutOfHours || !reqs[0].NextOpening.Equal(tc.opening) || !reqs[0].HoldUntil.Equal(tc.opening) {
				t.Fatalf("EnqueueConversation asked %+v, want once, out of hours, held until %v", reqs, tc.opening)
			}
			notices := f.outOfHoursNotices()
			if len(notices) != 1 || !notices[0].NextOpening.Equal(tc.opening) || notices[0].TimeZone != tc.hours.TimeZone {
				t.Fatalf("out-of-hours notices %+v, want one naming %v in %s", notices, tc.opening, tc.hours.TimeZone)
			}
			if len(f.released) != 1 || !f.released[0].Equal(tc.opening) {
				t.Fatalf("released at %v, want once at the opening %v", f.released, tc.opening)
			}
			if justBefore.QueueID != "" || justBefore.HoldUntil.IsZero() {
				t.Errorf("a minute before the opening: queue %q, held until %v; want held, in no queue", justBefore.QueueID, justBefore.HoldUntil)
			}
			if justAfter.QueueID != testQueueID || !justAfter.HoldUntil.IsZero() {
				t.Errorf("a minute after the opening: queue %q, held until %v; want in its queue", justAfter.QueueID, justAfter.HoldUntil)
			}
			if slicesContain(f.notices, activities.NoticeGreeting) {
				t.Errorf("notices %v: the queue greeting was sent to a customer told the team is closed", f.notices)
			}
		})
	}
}

func slicesContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestOutOfHoursTransferGoesToTheOpenQueueAtOnce: with transfer, the 22:00
// message is told the opening and queued in the 24/7 queue at once.
func TestOutOfHoursTransferGoesToTheOpenQueueAtOnce(t *testing.T) {
	start := localTime(t, "Europe/Amsterdam", "2026-12-07 22:00")
	to := allDayQueueID
	rules := store.QueueingRules{QueueID: testQueueID, Hours: weekdayHours("Europe/Amsterdam"),
		OutOfHours: store.OutOfHours{Action: store.ActionTransfer, QueueID: &to}, TransferHours: allDay()}
	f := newHoursConversation(t, start, rules)
	st := f.stateAfter(start, time.Second, 24*time.Hour)

	reqs := inputsOf[store.QueueingRequest](f.log, a.EnqueueConversation)
	if len(reqs) != 1 || !reqs[0].OutOfHours || !reqs[0].HoldUntil.IsZero() {
		t.Fatalf("EnqueueConversation asked %+v, want once, out of hours, not held (the 24/7 queue is open)", reqs)
	}
	if st.QueueID != allDayQueueID || !st.HoldUntil.IsZero() {
		t.Errorf("a second after the message: queue %q held until %v, want the 24/7 queue at once", st.QueueID, st.HoldUntil)
	}
	if len(f.outOfHoursNotices()) != 1 {
		t.Errorf("notices %v, want the out-of-hours message", f.notices)
	}
	if len(f.released) != 0 {
		t.Errorf("released %v, want nothing held", f.released)
	}
}

// TestOutOfHoursEndClosesWithTheMessage: with end, the customer is told the
// opening and the conversation closes, reason out_of_hours.
func TestOutOfHoursEndClosesWithTheMessage(t *testing.T) {
	start := localTime(t, "Europe/Amsterdam", "2026-12-07 22:00")
	rules := store.QueueingRules{QueueID: testQueueID, Hours: weekdayHours("Europe/Amsterdam"), OutOfHours: store.OutOfHours{Action: store.ActionEnd}}
	f := newHoursConversation(t, start, rules)
	f.startNew(inbound("m_1", start))
	f.requireClosedAfter(activities.NoticeOutOfHours, contract.CloseReasonOutOfHours)
}

// requireClosedAfter checks the run told the customer notice (and nothing else)
// and ended, the conversation closed for reason.
func (f *hoursFixture) requireClosedAfter(notice, reason string) {
	f.t.Helper()
	if !f.env.IsWorkflowCompleted() || f.env.GetWorkflowError() != nil {
		f.t.Fatalf("workflow completed %v with %v, want closed and done", f.env.IsWorkflowCompleted(), f.env.GetWorkflowError())
	}
	closes := inputsOf[activities.CloseConversationInput](f.log, a.CloseConversation)
	if len(closes) != 1 || closes[0].Reason != reason {
		f.t.Fatalf("closes %+v, want one with reason %s", closes, reason)
	}
	if want := []string{notice}; !reflect.DeepEqual(f.notices, want) {
		f.t.Errorf("notices %v, want %v", f.notices, want)
	}
}

// TestOpenHoursQueueAsRouted: inside the hours nothing is decided and the
// greeting goes as always.
func TestOpenHoursQueueAsRouted(t *testing.T) {
	start := localTime(t, "Europe/Amsterdam", "2026-12-08 10:00")
	rules := store.QueueingRules{QueueID: testQueueID, Hours: weekdayHours("Europe/Amsterdam"), OutOfHours: store.OutOfHours{Action: store.ActionEnd}}
	f := newHoursConversation(t, start, rules)
	st := f.stateAfter(start, time.Second, time.Hour)
	if reqs := inputsOf[store.QueueingRequest](f.log, a.EnqueueConversation); len(reqs) != 1 || reqs[0].OutOfHours {
		t.Fatalf("EnqueueConversation asked %+v, want once, in hours", reqs)
	}
	if st.QueueID != testQueueID || !reflect.DeepEqual(f.notices, []string{activities.NoticeGreeting}) {
		t.Errorf("queue %q, notices %v; want queued with the greeting", st.QueueID, f.notices)
	}
}

// TestOverflowEndClosesWithQueueFull: the store found the queue full and the
// workstream ends such conversations.
func TestOverflowEndClosesWithQueueFull(t *testing.T) {
	rules := store.QueueingRules{QueueID: testQueueID, Overflow: &store.Overflow{MaxWaiting: 2, Action: store.ActionEnd}}
	f := newHoursConversation(t, testStart, rules)
	f.enqueue = func(store.QueueingRequest) (store.QueueingDecision, error) {
		return store.QueueingDecision{Reason: store.ReasonMaxWaiting, Action: store.ActionEnd}, nil
	}
	f.startNew(inbound("m_1", testStart))
	f.requireClosedAfter(activities.NoticeQueueFull, contract.CloseReasonQueueFull)
}

// TestBotHandoverOutOfHoursIsHeld: a bot that hands over at night routes the
// conversation into the same judgement: told the opening, held until it.
func TestBotHandoverOutOfHoursIsHeld(t *testing.T) {
	start := localTime(t, "Europe/Amsterdam", "2026-12-07 22:00")
	rules := store.QueueingRules{QueueID: testQueueID, Hours: weekdayHours("Europe/Amsterdam"), OutOfHours: store.OutOfHours{Action: store.ActionAssignAnyway}}
	f := newHoursConversation(t, start, rules)
	f.openConversation = func(in activities.OpenConversationInput) (activities.OpenConversationResult, error) {
		return f.opened(in, activities.OpenConversationResult{Served: true, CustomerID: "customer-1", HasBot: true})
	}
	f.askBot = func(activities.AskBotInput) (activities.AskBotResult, error) {
		return activities.AskBotResult{Handoff: true}, nil
	}
	f.routeConversation = func(activities.RouteConversationInput) (activities.RouteConversationResult, error) {
		return activities.RouteConversationResult{QueueID: testQueueID, Rules: &rules}, nil
	}
	opening := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)
	f.stateAfter(start, time.Minute, opening.Sub(start)+time.Hour)
	if n := len(f.outOfHoursNotices()); n != 1 {
		t.Fatalf("%d out-of-hours notices, want 1", n)
	}
	if len(f.released) != 1 || !f.released[0].Equal(opening) {
		t.Fatalf("released at %v, want once at %v", f.released, opening)
	}
}

// TestContinuedRunKeepsItsHold: a run that continues as new while held (its
// history grew) releases the conversation at the same opening.
func TestContinuedRunKeepsItsHold(t *testing.T) {
	start := localTime(t, "Europe/Amsterdam", "2026-12-07 23:00")
	opening := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)
	f := newHoursConversation(t, start, store.QueueingRules{QueueID: testQueueID})
	f.cancelAt(opening.Sub(start) + time.Hour)
	f.env.ExecuteWorkflow(workflows.ConversationWorkflow, contract.ConversationInput{PageID: testPageID, PSID: testPSID, State: &contract.ConversationState{
		ConversationID: "conv-held", CustomerID: "customer-1", PageUUID: testPageUUID, PageID: testPageID, PSID: testPSID,
		Status: contract.StatusWaiting, LastCustomerMessageAt: start.Add(-time.Hour), HoldUntil: opening,
	}})
	f.requireCanceled()
	if len(f.released) != 1 || !f.released[0].Equal(opening) {
		t.Fatalf("released at %v, want once at %v", f.released, opening)
	}
}
