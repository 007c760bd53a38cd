package workflows_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

const testOverflowQueueID = "queue-overflow"

// queueFixture is a QueueWorkflow whose AssignQueue answers from a script, one
// answer per call (then nothing to assign), whose OverflowWaiting and WakeQueues
// calls are logged with the workflow time they happened at, and whose signals to
// conversations are recorded.
type queueFixture struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	log     *activityLog
	answers []activities.AssignQueueResult
	// after answers every pass once the script is used up.
	after activities.AssignQueueResult
	// lostAnswers fails that many AssignQueue attempts first (as an attempt
	// whose answer never came back).
	lostAnswers int

	overflowAt []time.Time
	wakes      [][]string
	// overflow answers OverflowWaiting after its call time is logged.
	overflow func() activities.OverflowWaitingResult

	// signals is guarded by mu: the test environment runs the external signals a
	// pass sends together on goroutines of their own, in no fixed order.
	mu        sync.Mutex
	signals   []externalSignal
	signalErr func(workflowID string) error
}

// sortedSignals are the recorded signals by workflow ID: a pass sends its
// signals together, so their order is not the workflow's to keep.
func (f *queueFixture) sortedSignals() []externalSignal {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.signals)
	slices.SortStableFunc(out, func(x, y externalSignal) int { return strings.Compare(x.workflowID, y.workflowID) })
	return out
}

type externalSignal struct {
	workflowID, runID, name string
	arg                     any
}

func newQueue(t *testing.T, answers ...activities.AssignQueueResult) *queueFixture {
	f := &queueFixture{t: t, env: newTestEnv(t), log: &activityLog{}, answers: answers}
	f.signalErr = func(string) error { return nil }
	assignQueue := func(activities.AssignQueueInput) (activities.AssignQueueResult, error) {
		if f.lostAnswers > 0 {
			f.lostAnswers--
			return activities.AssignQueueResult{}, errors.New("the attempt's answer was lost")
		}
		if len(f.answers) == 0 {
			return f.after, nil
		}
		next := f.answers[0]
		f.answers = f.answers[1:]
		return next, nil
	}
	stub(f.env, f.log, a.AssignQueue, &assignQueue)
	f.overflow = func() activities.OverflowWaitingResult {
		f.after = activities.AssignQueueResult{} // the due conversation left the queue
		return activities.OverflowWaitingResult{QueueIDs: []string{testOverflowQueueID}}
	}
	overflow := func(activities.OverflowWaitingInput) (activities.OverflowWaitingResult, error) {
		f.overflowAt = append(f.overflowAt, f.env.Now())
		return f.overflow(), nil
	}
	stub(f.env, f.log, a.OverflowWaiting, &overflow)
	wake := func(in activities.WakeQueuesInput) error {
		f.wakes = append(f.wakes, in.QueueIDs)
		return nil
	}
	stubErr(f.env, f.log, a.WakeQueues, &wake)
	f.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(namespace, workflowID, runID, signalName string, arg any) error {
			f.mu.Lock()
			f.signals = append(f.signals, externalSignal{workflowID, runID, signalName, arg})
			f.mu.Unlock()
			return f.signalErr(workflowID)
		})
	return f
}

// run starts the queue workflow and, at the given time, ends it the way Temporal
// would: by suggesting continue-as-new and waking it.
func (f *queueFixture) run(endAt time.Duration) {
	f.env.RegisterDelayedCallback(func() {
		f.env.SetContinueAsNewSuggested(true)
		f.env.SignalWorkflow(contract.SignalQueueWake, struct{}{})
	}, endAt)
	f.env.ExecuteWorkflow(workflows.QueueWorkflow, contract.QueueInput{QueueID: testQueueID})
	var can *workflow.ContinueAsNewError
	if err := f.env.GetWorkflowError(); !errors.As(err, &can) {
		f.t.Fatalf("queue workflow ended with %v, want continue-as-new", err)
	}
}

func (f *queueFixture) passes() int {
	return count(f.log.names(), a.AssignQueue)
}

func assignment(n int) contract.Assignment {
	return contract.Assignment{
		ConversationID: fmt.Sprintf("conversation-%d", n), PageID: testPageID, PSID: fmt.Sprintf("psid-%d", n),
		AgentID: testAgentID, QueueID: testQueueID,
	}
}

func assigned(as ...contract.Assignment) activities.AssignQueueResult {
	return activities.AssignQueueResult{Assignments: as}
}

func TestQueueSignalsEachAssignedConversation(t *testing.T) {
	a1, a2 := assignment(1), assignment(2)
	f := newQueue(t, assigned(a1, a2))
	f.run(time.Hour)

	inputs := inputsOf[activities.AssignQueueInput](f.log, a.AssignQueue)
	if len(inputs) == 0 || inputs[0].QueueID != testQueueID || inputs[0].Max != 50 || inputs[0].PassKey == "" {
		t.Fatalf("AssignQueue inputs %+v, want the queue, a batch of 50 and the pass's key", inputs)
	}
	want := []externalSignal{
		{contract.ConversationWorkflowID(testPageID, "psid-1"), "", contract.SignalAssigned, a1},
		{contract.ConversationWorkflowID(testPageID, "psid-2"), "", contract.SignalAssigned, a2},
	}
	if got := f.sortedSignals(); !reflect.DeepEqual(got, want) {
		t.Errorf("signals\n got %+v\nwant %+v", got, want)
	}
}

// Every attempt of one pass carries the same key (a retry answers what an earlier
// attempt assigned: store.AssignQueue), and each pass a key of its own.
func TestQueuePassKeepsItsKeyAcrossAttempts(t *testing.T) {
	f := newQueue(t, assigned(), assigned(assignment(1)))
	f.lostAnswers = 2
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(contract.SignalQueueWake, struct{}{}) }, 20*time.Minute)
	f.run(time.Hour)

	inputs := inputsOf[activities.AssignQueueInput](f.log, a.AssignQueue)
	if len(inputs) < 4 {
		t.Fatalf("%d AssignQueue attempts, want 3 of the first pass and one of the second", len(inputs))
	}
	first := inputs[0].PassKey
	if first == "" || inputs[1].PassKey != first || inputs[2].PassKey != first {
		t.Errorf("the first pass's attempts had keys %q, %q, %q; want one key", first, inputs[1].PassKey, inputs[2].PassKey)
	}
	if inputs[3].PassKey == first || inputs[3].PassKey == "" {
		t.Errorf("the second pass has key %q, the first %q: want another", inputs[3].PassKey, first)
	}
	if len(f.signals) != 1 || f.signals[0].arg != assignment(1) {
		t.Errorf("signals %+v, want the second pass's assignment", f.signals)
	}
}

func TestQueueWakeSignalTriggersAnotherPass(t *testing.T) {
	f := newQueue(t, assigned(), assigned(assignment(1)))
	var before, after int
	f.env.RegisterDelayedCallback(func() { before = f.passes() }, 10*time.Minute)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(contract.SignalQueueWake, struct{}{}) }, 20*time.Minute)
	f.env.RegisterDelayedCallback(func() { after = f.passes() }, 30*time.Minute)
	f.run(time.Hour)

	if before != 1 {
		t.Errorf("%d passes before any wake, want 1 (the start)", before)
	}
	if after != 2 {
		t.Errorf("%d passes after one wake, want 2", after)
	}
	if len(f.signals) != 1 || f.signals[0].arg != assignment(1) {
		t.Errorf("signals %+v, want the assignment of the second pass", f.signals)
	}
}

// Wakes that arrive together (in one workflow task) are handled by one pass.
func TestQueueWakesTogetherMakeOnePass(t *testing.T) {
	f := newQueue(t)
	f.env.RegisterDelayedCallback(func() {
		for range 4 {
			f.env.SignalWorkflowSkippingWorkflowTask(contract.SignalQueueWake, struct{}{})
		}
		f.env.SignalWorkflow(contract.SignalQueueWake, struct{}{})
	}, 20*time.Minute)
	var after int
	f.env.RegisterDelayedCallback(func() { after = f.passes() }, 30*time.Minute)
	f.run(time.Hour)

	if after != 2 {
		t.Errorf("%d passes after five simultaneous wakes, want 2 (start + one)", after)
	}
}

func TestQueueFullBatchTriggersImmediateSecondPass(t *testing.T) {
	full := make([]contract.Assignment, 50)
	for i := range full {
		full[i] = assignment(i)
	}
	f := newQueue(t, assigned(full...), assigned(assignment(50)))
	var passes int
	f.env.RegisterDelayedCallback(func() { passes = f.passes() }, 10*time.Minute)
	f.run(time.Hour)

	if passes != 2 {
		t.Errorf("%d passes without any wake after a full batch, want 2", passes)
	}
	if len(f.signals) != 51 {
		t.Errorf("%d conversations told, want 51", len(f.signals))
	}
}

// A pass cut short by an error after some assignments is followed at once by
// another, without waiting for a wake.
func TestQueueIncompletePassTriggersImmediateSecondPass(t *testing.T) {
	first := assigned(assignment(1))
	first.Incomplete = true
	f := newQueue(t, first, assigned(assignment(2)))
	var passes int
	f.env.RegisterDelayedCallback(func() { passes = f.passes() }, 10*time.Minute)
	f.run(time.Hour)

	if passes != 2 || len(f.signals) != 2 {
		t.Errorf("%d passes and %d conversations told, want 2 and 2", passes, len(f.signals))
	}
}

// A conversation whose run has ended cannot be told; the queue goes on.
func TestQueueCarriesOnWhenConversationIsGone(t *testing.T) {
	f := newQueue(t, assigned(assignment(1), assignment(2)))
	f.signalErr = func(workflowID string) error {
		if workflowID == contract.ConversationWorkflowID(testPageID, "psid-1") {
			return errors.New("workflow not found")
		}
		return nil
	}
	var passes int
	f.env.RegisterDelayedCallback(func() { passes = f.passes() }, 30*time.Minute)
	f.run(time.Hour)

	if got := f.sortedSignals(); len(got) != 2 || got[1].arg != assignment(2) {
		t.Errorf("signals %+v, want the second conversation told despite the first failing", got)
	}
	if passes != 1 {
		t.Errorf("%d passes, want 1: a failed signal is not a reason to assign again", passes)
	}
}

// Overflow: the oldest waiting conversation reaches its workstream's maximum wait
// (5 minutes after the start); a durable timer fires then, OverflowWaiting moves it
// and the overflow queue is woken. Not a second earlier, and no new message or wake
// is needed.
func TestQueueOverflowsAfterMaxWait(t *testing.T) {
	deadline := testStart.Add(5 * time.Minute)
	f := newQueue(t)
	f.after = activities.AssignQueueResult{NextOverflowAt: deadline}
	var before, passes int
	f.env.RegisterDelayedCallback(func() { before = len(f.overflowAt) }, 5*time.Minute-time.Second)
	f.env.RegisterDelayedCallback(func() { passes = f.passes() }, 30*time.Minute)
	f.run(time.Hour)

	if before != 0 {
		t.Errorf("overflowed %d times before the maximum wait", before)
	}
	if len(f.overflowAt) != 1 || !f.overflowAt[0].Equal(deadline) {
		t.Fatalf("OverflowWaiting at %v, want once at %v", f.overflowAt, deadline)
	}
	if !reflect.DeepEqual(f.wakes, [][]string{{testOverflowQueueID}}) {
		t.Errorf("woken %v, want the overflow queue once", f.wakes)
	}
	if passes != 3 { // the start, the timer, the pass after the move
		t.Errorf("%d passes, want 3", passes)
	}
}

// Wakes before the deadline (new conversations, agents) do not push the overflow
// back: each pass reports the same deadline and the timer is re-armed for it.
func TestQueueOverflowDeadlineHoldsThroughWakes(t *testing.T) {
	deadline := testStart.Add(5 * time.Minute)
	f := newQueue(t)
	f.after = activities.AssignQueueResult{NextOverflowAt: deadline}
	for i := 1; i <= 4; i++ {
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(contract.SignalQueueWake, struct{}{}) }, time.Duration(i)*time.Minute)
	}
	f.run(time.Hour)

	if len(f.overflowAt) != 1 || !f.overflowAt[0].Equal(deadline) {
		t.Fatalf("OverflowWaiting at %v, want once at %v", f.overflowAt, deadline)
	}
}

// A deadline already past when the pass ends is acted on at once; when the move
// finds nothing due (the database's clock behind), the next try waits a second
// instead of spinning.
func TestQueueOverflowPastDeadlineIsImmediateThenPaced(t *testing.T) {
	deadline := testStart.Add(-time.Minute)
	f := newQueue(t)
	f.after = activities.AssignQueueResult{NextOverflowAt: deadline}
	// The first two attempts move nothing; the third finds the conversation due.
	f.overflow = func() activities.OverflowWaitingResult {
		if len(f.overflowAt) == 3 {
			f.after = activities.AssignQueueResult{}
		}
		return activities.OverflowWaitingResult{}
	}
	f.run(time.Hour)

	if len(f.overflowAt) != 3 || !f.overflowAt[0].Equal(testStart) {
		t.Fatalf("OverflowWaiting at %v, want 3 tries, the first at the start", f.overflowAt)
	}
	for i := 1; i < 3; i++ {
		if gap := f.overflowAt[i].Sub(f.overflowAt[i-1]); gap < time.Second {
			t.Errorf("tries %d and %d only %v apart", i, i+1, gap)
		}
	}
	if len(f.wakes) != 0 {
		t.Errorf("woken %v with nothing moved", f.wakes)
	}
}

// An agent left to a higher-priority queue: that queue is woken, and this one looks
// again a second later without a wake (the higher queue may have given its work to
// someone else, and then the agent is this queue's).
func TestQueueRechecksAfterDeferringToHigherPriority(t *testing.T) {
	f := newQueue(t, activities.AssignQueueResult{DeferredTo: []string{"queue-high"}}, assigned(assignment(1)))
	var passes int
	f.env.RegisterDelayedCallback(func() { passes = f.passes() }, time.Minute)
	f.run(time.Hour)

	if !reflect.DeepEqual(f.wakes, [][]string{{"queue-high"}}) {
		t.Errorf("woken %v, want the higher-priority queue", f.wakes)
	}
	if passes != 2 || len(f.signals) != 1 {
		t.Errorf("%d passes and %d assignments after a minute, want the recheck's pass and its assignment", passes, len(f.signals))
	}
}

// A conversation waiting for its preferred agents makes the queue pass again when
// the wait ends, on a durable timer, without any wake: then it goes to anyone.
func TestQueuePassesAgainWhenAffinityWaitEnds(t *testing.T) {
	f := newQueue(t,
		activities.AssignQueueResult{NextAffinityEndAt: testStart.Add(2 * time.Minute)},
		assigned(assignment(1)))
	var before, after int
	f.env.RegisterDelayedCallback(func() { before = f.passes() }, 2*time.Minute-time.Second)
	f.env.RegisterDelayedCallback(func() { after = f.passes() }, 2*time.Minute+time.Second)
	f.run(time.Hour)

	if before != 1 || after != 2 {
		t.Fatalf("passes %d before the wait ended and %d after, want 1 and 2", before, after)
	}
	if got := f.sortedSignals(); len(got) != 1 || got[0].workflowID != contract.ConversationWorkflowID(testPageID, "psid-1") {
		t.Fatalf("signals %+v, want the conversation told its agent once", got)
	}
}
