//go:build integration

package store

import "testing"

// The opening's own pass (AssignOpening) gives a conversation that heads its
// queue to an agent at once, overtakes nobody, and answers a decision already
// made when asked again (an activity retry).
func TestAssignOpeningGivesOnlyTheQueueHeadAtOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	first := f.waiting(p)
	a, deferred, err := f.s.AssignOpening(f.ctx, first, p.DefaultQueueID)
	f.must(err)
	if a != nil || len(deferred) > 0 {
		t.Fatalf("no agent yet, but %+v (deferred to %v)", a, deferred)
	}
	agent := f.agent(5)
	second := f.waiting(p)
	if a, _, err = f.s.AssignOpening(f.ctx, second, p.DefaultQueueID); err != nil || a != nil {
		t.Fatalf("the second conversation overtook the first: %+v, %v", a, err)
	}
	if status, _ := f.conversationAgent(second); status != "waiting" {
		t.Fatalf("second conversation %s, want waiting", status)
	}

	a, _, err = f.s.AssignOpening(f.ctx, first, p.DefaultQueueID)
	f.must(err)
	if a == nil || a.AgentID != agent || a.ConversationID != first || a.QueueID != p.DefaultQueueID || a.Seq == 0 || a.PSID == "" {
		t.Fatalf("head not assigned to the agent: %+v", a)
	}
	again, _, err := f.s.AssignOpening(f.ctx, first, p.DefaultQueueID)
	f.must(err)
	if again == nil || again.AgentID != a.AgentID || again.Seq != a.Seq || !again.AssignedAt.Equal(a.AssignedAt) {
		t.Fatalf("asked again: %+v, want the decision %+v", again, a)
	}
	if n := f.assignedEvents(first); n != 1 {
		t.Fatalf("%d conversation.assigned events, want 1", n)
	}
	if b, _, err := f.s.AssignOpening(f.ctx, second, p.DefaultQueueID); err != nil || b == nil || b.AgentID != agent {
		t.Fatalf("second conversation, now the head: %+v, %v", b, err)
	}
}

// An agent whose higher-priority queue has work is left to it, as in a queue pass.
func TestAssignOpeningLeavesTheAgentToAHigherPriorityQueue(t *testing.T) {
	f := newFixture(t)
	low, high := f.page(), f.page()
	f.exec("UPDATE queues SET priority = 10 WHERE id = $1", high.DefaultQueueID)
	f.waiting(high)
	conv := f.waiting(low)
	f.agent(1) // joins both queues
	a, deferred, err := f.s.AssignOpening(f.ctx, conv, low.DefaultQueueID)
	f.must(err)
	if a != nil || len(deferred) != 1 || deferred[0] != high.DefaultQueueID {
		t.Fatalf("assigned %+v, deferred to %v; want none, deferred to %s", a, deferred, high.DefaultQueueID)
	}
}

// The opening's pass racing the queue workflow's passes assigns the conversation
// once, and both report the one decision.
func TestAssignOpeningRacingQueuePassesAssignsOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	f.agents(3, 1)
	for range 3 {
		conv := f.waiting(p)
		out, errs := race(4, func(i int) (string, error) {
			if i == 0 {
				a, _, err := f.s.AssignOpening(f.ctx, conv, p.DefaultQueueID)
				if a == nil {
					return "", err
				}
				return a.AgentID, err
			}
			pass, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10)
			for _, a := range pass.Assigned {
				return a.AgentID, err
			}
			return "", err
		})
		for i, err := range errs {
			f.must(err)
			if i > 0 && out[i] != "" && out[0] != "" && out[i] != out[0] {
				t.Fatalf("opening says %s, a queue pass %s", out[0], out[i])
			}
		}
		status, agent := f.conversationAgent(conv)
		if status != "assigned" || out[0] != agent {
			t.Fatalf("conversation %s with %q; the opening answered %q", status, agent, out[0])
		}
		if n := f.assignedEvents(conv); n != 1 {
			t.Fatalf("%d conversation.assigned events, want 1", n)
		}
	}
}
