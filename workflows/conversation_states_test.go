package workflows_test

import (
	"testing"
	"time"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// offer tells the conversation it is offered to the agent, as the queue does.
func (f *conversationFixture) offer(agentID string, countdown time.Duration) {
	now := f.env.Now()
	f.env.SignalWorkflow(contract.SignalAssigned, contract.Assignment{
		ConversationID: f.state().ConversationID, PageID: testPageID, PSID: testPSID, AgentID: agentID, QueueID: testQueueID,
		AssignedAt: now, Offered: true, OfferExpiresAt: now.Add(countdown),
	})
}

// expiries stubs ExpireOffer, answering expired, and logs when it ran.
func (f *conversationFixture) expiries() *[]time.Duration {
	var at []time.Duration
	expire := func(in activities.ExpireOfferInput) (activities.ExpireOfferResult, error) {
		at = append(at, f.env.Now().Sub(testStart))
		return activities.ExpireOfferResult{Expired: true, QueueID: testQueueID}, nil
	}
	stub(f.env, f.log, a.ExpireOffer, &expire)
	return &at
}

// An offer's countdown is a durable timer: the offer runs out exactly at its
// expiry, and the next offer (to another agent) gets a countdown of its own.
func TestOfferCountdownRunsOutOnATimer(t *testing.T) {
	f := newConversation(t)
	expired := f.expiries()
	f.at(time.Minute, func() { f.offer("agent-a", 2*time.Minute) })
	f.at(time.Minute+119*time.Second, func() {
		if len(*expired) != 0 {
			t.Errorf("offer ran out early, at %v", *expired)
		}
		if st := f.state(); st.Status != contract.StatusOffered || st.Offer == nil {
			t.Errorf("state while offered: %s %+v", st.Status, st.Offer)
		}
	})
	f.at(5*time.Minute, func() { f.offer("agent-b", 2*time.Minute) })
	f.at(time.Hour, func() { f.closeNow() })
	f.startNew(inbound("m_1", testStart))
	if want := []time.Duration{3 * time.Minute, 7 * time.Minute}; len(*expired) != 2 || (*expired)[0] != want[0] || (*expired)[1] != want[1] {
		t.Fatalf("offers ran out at %v, want %v", *expired, want)
	}
}

// Accepted in time (the assignment that follows the accept), the countdown is
// cancelled: the offer never runs out.
func TestAcceptedOfferDoesNotRunOut(t *testing.T) {
	f := newConversation(t)
	expired := f.expiries()
	f.at(time.Minute, func() { f.offer("agent-a", 2*time.Minute) })
	f.at(90*time.Second, func() {
		f.env.SignalWorkflow(contract.SignalAssigned, contract.Assignment{
			ConversationID: f.state().ConversationID, PageID: testPageID, PSID: testPSID, AgentID: "agent-a", QueueID: testQueueID,
			AssignedAt: f.env.Now(),
		})
	})
	f.at(10*time.Minute, func() {
		if st := f.state(); st.Status != contract.StatusAssigned || st.Offer != nil {
			t.Errorf("after accept: %s %+v", st.Status, st.Offer)
		}
	})
	f.at(time.Hour, func() { f.closeNow() })
	f.startNew(inbound("m_1", testStart))
	if len(*expired) != 0 {
		t.Fatalf("an accepted offer ran out at %v", *expired)
	}
}

// holdReturnAfterM2 answers recording the customer's m_2 as the database does for a
// held conversation whose agent has no room: the hold-return timeout is 5 minutes.
func (f *conversationFixture) holdReturnAfterM2() {
	record := f.recordInbound
	f.recordInbound = func(in activities.RecordInboundInput) (activities.RecordInboundResult, error) {
		res, err := record(in)
		if in.Events[0].EventKey == "m_2" {
			res.HoldReturnAfter = 5 * time.Minute
		}
		return res, err
	}
}

// A customer message to a held conversation whose agent has no room starts the
// hold-return timeout, a durable timer: ReturnHeld runs once, when it has passed.
func TestHoldReturnTimeoutRunsOnATimer(t *testing.T) {
	f := newConversation(t)
	var returned []time.Duration
	returnHeld := func(activities.ReturnHeldInput) (activities.ReturnHeldResult, error) {
		returned = append(returned, f.env.Now().Sub(testStart))
		return activities.ReturnHeldResult{Status: contract.StatusWaiting, QueueID: testQueueID}, nil
	}
	stub(f.env, f.log, a.ReturnHeld, &returnHeld)
	f.holdReturnAfterM2()
	f.at(time.Minute, f.assign)
	f.at(2*time.Minute, func() {
		f.env.SignalWorkflow(contract.SignalStateChanged, contract.StateChange{ConversationID: f.state().ConversationID, Status: contract.StatusOnHold})
	})
	f.at(10*time.Minute, func() { f.env.SignalWorkflow(contract.SignalInbound, inbound("m_2", testStart.Add(10*time.Minute))) })
	f.at(14*time.Minute, func() {
		if st := f.state(); st.Status != contract.StatusOnHold || len(returned) != 0 {
			t.Errorf("before the timeout: %s, returned %v", st.Status, returned)
		}
	})
	f.at(time.Hour, func() {
		if st := f.state(); st.Status != contract.StatusWaiting || st.AgentID != "" {
			t.Errorf("after the timeout: %s agent %q", st.Status, st.AgentID)
		}
		f.closeNow()
	})
	f.startNew(inbound("m_1", testStart))
	if len(returned) != 1 || returned[0] != 15*time.Minute {
		t.Fatalf("ReturnHeld at %v, want once at 15m", returned)
	}
}

// stateChanged tells the conversation a state the service committed, numbered seq.
func (f *conversationFixture) stateChanged(status string, seq int64) {
	f.env.SignalWorkflow(contract.SignalStateChanged, contract.StateChange{ConversationID: f.state().ConversationID, Status: status, Seq: seq})
}

// An "assigned" delivered late (a retried activity), after the hold that followed
// it in Postgres, is ignored: the run stays on hold.
func TestLateAssignedAfterHoldIsIgnored(t *testing.T) {
	f := newConversation(t)
	assignedAt := testStart.Add(time.Minute)
	f.at(2*time.Minute, func() { f.stateChanged(contract.StatusOnHold, 2) })
	f.at(3*time.Minute, func() {
		f.env.SignalWorkflow(contract.SignalAssigned, contract.Assignment{
			ConversationID: f.state().ConversationID, PageID: testPageID, PSID: testPSID, AgentID: testAgentID, QueueID: testQueueID,
			AssignedAt: assignedAt, Seq: 1,
		})
	})
	f.at(10*time.Minute, func() {
		if st := f.state(); st.Status != contract.StatusOnHold || st.StateSeq != 2 || st.AnnounceAgent {
			t.Errorf("after a late assigned: %s seq %d announce %v", st.Status, st.StateSeq, st.AnnounceAgent)
		}
		f.closeNow()
	})
	f.startNew(inbound("m_1", testStart))
}

// An offer's "assigned" delivered after its decline is ignored: the conversation
// stays waiting, with no countdown that would expire an offer long gone.
func TestLateOfferAfterDeclineIsIgnored(t *testing.T) {
	f := newConversation(t)
	expired := f.expiries()
	offeredAt := testStart.Add(time.Minute)
	f.at(2*time.Minute, func() { f.stateChanged(contract.StatusWaiting, 2) })
	f.at(3*time.Minute, func() {
		f.env.SignalWorkflow(contract.SignalAssigned, contract.Assignment{
			ConversationID: f.state().ConversationID, PageID: testPageID, PSID: testPSID, AgentID: "agent-a", QueueID: testQueueID,
			AssignedAt: offeredAt, Offered: true, OfferExpiresAt: offeredAt.Add(time.Hour), Seq: 1,
		})
	})
	f.at(10*time.Minute, func() {
		if st := f.state(); st.Status != contract.StatusWaiting || st.Offer != nil || st.AgentID != "" || st.StateSeq != 2 {
			t.Errorf("after a late offer: %s %+v agent %q seq %d", st.Status, st.Offer, st.AgentID, st.StateSeq)
		}
		f.closeNow()
	})
	f.startNew(inbound("m_1", testStart))
	if len(*expired) != 0 {
		t.Fatalf("the declined offer ran out at %v", *expired)
	}
}

// ReturnHeld wakes the queue before its result is in: the queue's assignment
// (a higher Seq) may reach the run first, and the older result does not undo it.
func TestReturnHeldResultOlderThanAnAssignmentIsIgnored(t *testing.T) {
	f := newConversation(t)
	returnHeld := func(activities.ReturnHeldInput) (activities.ReturnHeldResult, error) {
		return activities.ReturnHeldResult{Status: contract.StatusWaiting, QueueID: testQueueID, Seq: 3}, nil
	}
	stub(f.env, f.log, a.ReturnHeld, &returnHeld)
	f.holdReturnAfterM2()
	f.at(2*time.Minute, func() { f.stateChanged(contract.StatusOnHold, 2) })
	f.at(10*time.Minute, func() { f.env.SignalWorkflow(contract.SignalInbound, inbound("m_2", testStart.Add(10*time.Minute))) })
	f.at(12*time.Minute, func() {
		f.env.SignalWorkflow(contract.SignalAssigned, contract.Assignment{
			ConversationID: f.state().ConversationID, PageID: testPageID, PSID: testPSID, AgentID: testAgentID, QueueID: testQueueID,
			AssignedAt: f.env.Now(), Seq: 4,
		})
	})
	f.at(time.Hour, func() {
		if st := f.state(); st.Status != contract.StatusAssigned || st.AgentID != testAgentID || st.StateSeq != 4 {
			t.Errorf("after an older ReturnHeld result: %s agent %q seq %d", st.Status, st.AgentID, st.StateSeq)
		}
		f.closeNow()
	})
	f.startNew(inbound("m_1", testStart))
}
