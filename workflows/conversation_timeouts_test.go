package workflows_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// timedConversation is a conversation of a workstream with the given timeouts,
// whose reminders and re-offers are logged with the workflow time they happened at.
type timedConversation struct {
	*conversationFixture
	remindedAt, reofferedAt []time.Duration
}

func newTimedConversation(t *testing.T, timeouts contract.ConversationTimeouts) *timedConversation {
	f := &timedConversation{conversationFixture: newConversation(t)}
	f.openConversation = func(in activities.OpenConversationInput) (activities.OpenConversationResult, error) {
		return f.opened(in, activities.OpenConversationResult{Served: true, CustomerID: "customer-1", Timeouts: timeouts})
	}
	remind := func(activities.RemindAgentInput) error {
		f.remindedAt = append(f.remindedAt, f.env.Now().Sub(testStart))
		return nil
	}
	stubErr(f.env, f.log, a.RemindAgent, &remind)
	reoffer := func(activities.ReofferUnansweredInput) (activities.ReofferUnansweredResult, error) {
		f.reofferedAt = append(f.reofferedAt, f.env.Now().Sub(testStart))
		return activities.ReofferUnansweredResult{Requeued: true, QueueID: testQueueID}, nil
	}
	stub(f.env, f.log, a.ReofferUnanswered, &reoffer)
	return f
}

func (f *timedConversation) customerWrites(key string, at time.Duration) {
	f.at(at, func() { f.env.SignalWorkflow(contract.SignalInbound, inbound(key, testStart.Add(at))) })
}

// The customer does not answer the agent: customer_s after the agent's last
// reply the conversation closes with the customer_timeout message. A customer
// message stops the timer and the agent's next reply starts it again.
func TestCustomerNonResponseClosesWithTheMessage(t *testing.T) {
	f := newTimedConversation(t, contract.ConversationTimeouts{Customer: 10 * time.Minute})
	f.at(time.Minute, f.assign)
	f.at(2*time.Minute, func() { f.reply("r_1") })
	f.customerWrites("m_2", 8*time.Minute) // before the 12-minute deadline
	f.at(9*time.Minute, func() { f.reply("r_2") })
	f.startNew(inbound("m_1", testStart))

	if !f.env.IsWorkflowCompleted() || f.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v with %v, want the run to end after closing", f.env.IsWorkflowCompleted(), f.env.GetWorkflowError())
	}
	closes := inputsOf[activities.CloseConversationInput](f.log, a.CloseConversation)
	if len(closes) != 1 || closes[0].Reason != contract.CloseReasonCustomerTimeout {
		t.Fatalf("CloseConversation inputs %+v, want one with reason %s", closes, contract.CloseReasonCustomerTimeout)
	}
	if want := testStart.Add(19 * time.Minute); !f.env.Now().Equal(want) {
		t.Errorf("closed at %v, want %v (10 minutes after the agent's last reply)", f.env.Now(), want)
	}
	if n := len(f.notices); n == 0 || f.notices[n-1] != activities.NoticeCustomerTimeout {
		t.Errorf("notices %v, want the customer_timeout message last, before the close", f.notices)
	}
}

// The agent does not answer: after agent_remind_s the agent is reminded, after
// agent_reoffer_s the conversation goes back to its queue. The next agent's time
// counts from its assignment, and a reply stops the timers.
func TestAgentNonResponseRemindsThenRequeues(t *testing.T) {
	f := newTimedConversation(t, contract.ConversationTimeouts{AgentRemind: 5 * time.Minute, AgentReoffer: 10 * time.Minute})
	var afterReoffer contract.ConversationState
	f.at(time.Minute, f.assign)
	f.at(15*time.Minute, func() { afterReoffer = f.state() })
	f.at(20*time.Minute, f.assign) // the queue gives it to an agent again
	f.at(27*time.Minute, func() { f.reply("r_1") })
	f.cancelAt(2 * time.Hour)
	f.startNew(inbound("m_1", testStart))
	f.requireCanceled()

	if want := []time.Duration{6 * time.Minute, 25 * time.Minute}; !reflect.DeepEqual(f.remindedAt, want) {
		t.Errorf("reminded at %v, want %v (5 minutes after each assignment)", f.remindedAt, want)
	}
	if want := []time.Duration{11 * time.Minute}; !reflect.DeepEqual(f.reofferedAt, want) {
		t.Errorf("re-offered at %v, want %v (10 minutes after the first assignment; the second agent replied)", f.reofferedAt, want)
	}
	if afterReoffer.Status != contract.StatusWaiting || afterReoffer.AgentID != "" {
		t.Errorf("after the re-offer the conversation is %s with %q, want waiting without an agent", afterReoffer.Status, afterReoffer.AgentID)
	}
	reminders := inputsOf[activities.RemindAgentInput](f.log, a.RemindAgent)
	if len(reminders) != 2 || !reminders[0].WaitingSince.Equal(testStart.Add(time.Minute)) || reminders[0].AgentID != testAgentID {
		t.Errorf("reminders %+v, want the first about the wait since the assignment at 1m", reminders)
	}
}

// A customer who keeps writing does not push the agent's deadline back: it
// counts from the first unanswered message.
func TestAgentTimeoutCountsFromTheFirstUnansweredMessage(t *testing.T) {
	f := newTimedConversation(t, contract.ConversationTimeouts{AgentRemind: 5 * time.Minute})
	f.at(time.Minute, f.assign)
	f.at(2*time.Minute, func() { f.reply("r_1") })
	f.customerWrites("m_2", 3*time.Minute)
	f.customerWrites("m_3", 6*time.Minute)
	f.cancelAt(time.Hour)
	f.startNew(inbound("m_1", testStart))
	f.requireCanceled()

	if want := []time.Duration{8 * time.Minute}; !reflect.DeepEqual(f.remindedAt, want) {
		t.Errorf("reminded at %v, want %v", f.remindedAt, want)
	}
	if slices.Contains(f.log.names(), "ReofferUnanswered") {
		t.Errorf("re-offered without agent_reoffer_s")
	}
}
