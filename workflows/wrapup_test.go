package workflows_test

import (
	"testing"
	"time"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// A workstream whose wrap-up blocks the agent for 30 s: nothing gives the agent
// its capacity back before 30 s (no FinishWrapUp, which closes the wrap-up and
// wakes the agent's queues), and at 30 s the durable timer does.
func TestWrapUpBlocksTheAgentForItsSeconds(t *testing.T) {
	env := newTestEnv(t)
	log := &activityLog{}
	var finishedAt []time.Time
	finish := func(activities.FinishWrapUpInput) error {
		finishedAt = append(finishedAt, env.Now())
		return nil
	}
	stubErr(env, log, a.FinishWrapUp, &finish)
	env.RegisterDelayedCallback(func() {
		if len(finishedAt) != 0 {
			t.Errorf("the wrap-up freed the agent after %s, before its 30 s", finishedAt[0].Sub(testStart))
		}
	}, 29*time.Second)
	env.ExecuteWorkflow(workflows.WrapUpWorkflow, contract.WrapUpInput{ConversationID: "c1", PageID: "p", PSID: "u", AgentID: "ag", Limit: 30 * time.Second})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("wrap-up did not end: %v", env.GetWorkflowError())
	}
	if len(finishedAt) != 1 || finishedAt[0].Sub(testStart) != 30*time.Second {
		t.Fatalf("FinishWrapUp at %v, want once at 30 s", finishedAt)
	}
}

// The agent finishing first ends the wrap-up's workflow without the timer's
// FinishWrapUp (the API closed it already).
func TestWrapUpFinishedByTheAgentEndsTheWorkflow(t *testing.T) {
	env := newTestEnv(t)
	log := &activityLog{}
	finish := func(activities.FinishWrapUpInput) error { return nil }
	stubErr(env, log, a.FinishWrapUp, &finish)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalWrapUpFinished, struct{}{}) }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WrapUpWorkflow, contract.WrapUpInput{ConversationID: "c1", Limit: 30 * time.Second})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("wrap-up did not end: %v", env.GetWorkflowError())
	}
	if n := count(log.names(), a.FinishWrapUp); n != 0 {
		t.Fatalf("FinishWrapUp called %d times after the agent finished", n)
	}
}
