//go:build integration

package store

import (
	"testing"

	"github.com/google/uuid"
)

// opened opens conversation id of customer psid on the page with no events
// (OpenWithFirstEvents; again with the same id, as an activity retry does).
func (f *fixture) opened(p Page, id, psid string) Opened {
	f.t.Helper()
	o, err := f.s.OpenWithFirstEvents(f.ctx, id, p.ID, p.PageID, psid, nil, true)
	f.must(err)
	if !o.Served || !o.Routed || o.RoutedQueueID != p.DefaultQueueID {
		f.t.Fatalf("conversation %s not routed to the page's default queue: %+v", id, o)
	}
	return o
}

// The opening's own pass gives a conversation that heads its queue to an agent
// at once, overtakes nobody, and a retry answers the decision already made.
func TestOpeningAssignsOnlyTheQueueHeadAtOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	first, firstPSID := uuid.NewString(), "psid-"+randomHex(6)
	if o := f.opened(p, first, firstPSID); o.Assigned != nil || len(o.DeferredTo) > 0 {
		t.Fatalf("no agent yet, but %+v", o)
	}
	agent := f.agent(5)
	second, secondPSID := uuid.NewString(), "psid-"+randomHex(6)
	if o := f.opened(p, second, secondPSID); o.Assigned != nil {
		t.Fatalf("the second conversation overtook the first: %+v", o.Assigned)
	}
	if status, _ := f.conversationAgent(second); status != "waiting" {
		t.Fatalf("second conversation %s, want waiting", status)
	}

	a := f.opened(p, first, firstPSID).Assigned // a retry of the first opening, now the head with an agent
	if a == nil || a.AgentID != agent || a.ConversationID != first || a.QueueID != p.DefaultQueueID || a.Seq == 0 || a.PSID != firstPSID {
		t.Fatalf("head not assigned to the agent: %+v", a)
	}
	again := f.opened(p, first, firstPSID).Assigned
	if again == nil || again.AgentID != a.AgentID || again.Seq != a.Seq || !again.AssignedAt.Equal(a.AssignedAt) {
		t.Fatalf("asked again: %+v, want the decision %+v", again, a)
	}
	if n := f.assignedEvents(first); n != 1 {
		t.Fatalf("%d conversation.assigned events, want 1", n)
	}
	if b := f.opened(p, second, secondPSID).Assigned; b == nil || b.AgentID != agent {
		t.Fatalf("second conversation, now the head: %+v", b)
	}
}

// An agent whose higher-priority queue has work is left to it, as in a queue pass.
func TestOpeningLeavesTheAgentToAHigherPriorityQueue(t *testing.T) {
	f := newFixture(t)
	low, high := f.page(), f.page()
	f.exec("UPDATE queues SET priority = 10 WHERE id = $1", high.DefaultQueueID)
	f.waiting(high)
	f.agent(1) // joins both queues
	o := f.opened(low, uuid.NewString(), "psid-"+randomHex(6))
	if o.Assigned != nil || len(o.DeferredTo) != 1 || o.DeferredTo[0] != high.DefaultQueueID {
		t.Fatalf("assigned %+v, deferred to %v; want none, deferred to %s", o.Assigned, o.DeferredTo, high.DefaultQueueID)
	}
}

// An event not stored yet holds the opening before routing (the rules may read
// the first message) until the last try, which routes without it.
func TestOpeningWaitsForAMissingEventBeforeRouting(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	f.agent(1)
	id, psid := uuid.NewString(), "psid-"+randomHex(6)
	keys := []InboundKey{{PageID: p.PageID, EventKey: "never-stored"}}
	o, err := f.s.OpenWithFirstEvents(f.ctx, id, p.ID, p.PageID, psid, keys, true)
	f.must(err)
	if !o.Served || o.Routed || len(o.Records) != 1 || !o.Records[0].Missing {
		t.Fatalf("opening with a missing event: %+v", o)
	}
	if n := f.number("SELECT count(*) FROM conversations WHERE id = $1 AND status = 'waiting' AND queue_id IS NULL", id); n != 1 {
		t.Fatal("the conversation was routed without its first event")
	}
	if o, err = f.s.OpenWithFirstEvents(f.ctx, id, p.ID, p.PageID, psid, keys, false); err != nil || !o.Routed || o.Assigned == nil {
		t.Fatalf("the last try: %+v, %v; want routed and assigned", o, err)
	}
}

// The opening's pass racing the queue workflow's passes assigns the conversation
// once, and the opening reports that decision.
func TestOpeningRacingQueuePassesAssignsOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	f.agents(3, 1)
	for range 3 {
		conv := f.waiting(p)
		var psid string
		f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT cu.psid FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1", conv).Scan(&psid))
		out, errs := race(4, func(i int) (string, error) {
			if i == 0 {
				a, err := f.s.OpenWithFirstEvents(f.ctx, conv, p.ID, p.PageID, psid, nil, true)
				if a.Assigned == nil {
					return "", err
				}
				return a.Assigned.AgentID, err
			}
			pass, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10, "")
			for _, a := range pass.Assigned {
				return a.AgentID, err
			}
			return "", err
		})
		for i, err := range errs {
			f.must(err)
			if i > 0 && out[i] != "" && out[i] != out[0] {
				t.Fatalf("the opening says %q, a queue pass %s", out[0], out[i])
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
