//go:build integration

package store

// Preferred agents and affinity against a real Postgres: who a queue pass gives
// a returning customer's conversation to, the wait for a busy preferred agent,
// the ranked preferred agents of a contact, the re-offer that passes an agent
// over, and the race of queue passes with affinity on.
// Run: go test -count=1 -tags integration -run Affinity ./store/

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
)

// affinity sets the workstream's affinity rule.
func (f *fixture) affinity(p Page, a Affinity) {
	f.t.Helper()
	_, err := f.s.UpdateWorkstream(f.ctx, p.WorkstreamID, func(w *Workstream) error { w.Affinity = a; return nil })
	f.must(err)
}

// returning opens a conversation for psid after a closed one that agentID had,
// closed daysAgo, and routes it.
func (f *fixture) returning(p Page, psid, agentID string, daysAgo int) string {
	f.t.Helper()
	before := uuid.NewString()
	_, err := f.s.OpenConversation(f.ctx, before, p.ID, p.PageID, psid)
	f.must(err)
	f.exec("UPDATE conversations SET status = 'closed', agent_id = $2, queue_id = $3, closed_at = now() - make_interval(days => $4) WHERE id = $1",
		before, agentID, p.DefaultQueueID, daysAgo)
	return f.open(p, psid)
}

// open opens and routes a conversation of psid.
func (f *fixture) open(p Page, psid string) string {
	f.t.Helper()
	id := uuid.NewString()
	_, err := f.s.OpenConversation(f.ctx, id, p.ID, p.PageID, psid)
	f.must(err)
	_, _, err = f.s.RouteConversation(f.ctx, id)
	f.must(err)
	return id
}

// idleSince makes the agent longest-idle (or the opposite): the queue's normal
// choice is the agent with the oldest last assignment.
func (f *fixture) idleSince(agentID string, ago time.Duration) {
	f.exec("UPDATE agents SET last_assigned_at = now() - make_interval(secs => $2) WHERE id = $1", agentID, ago.Seconds())
}

func (f *fixture) presence(agentID, presence string) {
	f.t.Helper()
	_, err := f.s.SetPresence(f.ctx, agentID, presence)
	f.must(err)
}

func (f *fixture) pass(p Page) QueuePass {
	f.t.Helper()
	pass, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 100, "")
	f.must(err)
	return pass
}

// passGives makes a pass over the page's queue and requires the conversation
// assigned to want ("": still waiting).
func (f *fixture) passGives(p Page, conversationID, want string) {
	f.t.Helper()
	f.pass(p)
	f.requireAgent(conversationID, want)
}

func (f *fixture) requireAgent(conversationID, want string) {
	f.t.Helper()
	if status, agent := f.conversationAgent(conversationID); agent != want || (want != "" && status != "assigned") {
		f.t.Fatalf("conversation %s is %s with agent %q, want %q", conversationID, status, agent, want)
	}
}

// A customer who returns within the affinity days goes to the agent of their last
// conversation, although another agent has been idle longer; after the days, the
// longest-idle agent gets them as anyone.
func TestAffinityReturningCustomerGoesToPreviousAgent(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	previous, idle := f.agent(3), f.agent(3)
	f.idleSince(idle, time.Hour)
	f.affinity(p, Affinity{Days: 7, Fallback: AffinityRoute})

	within := f.returning(p, "psid-within", previous, 6)
	f.passGives(p, within, previous)

	f.idleSince(idle, time.Hour)
	after := f.returning(p, "psid-after", previous, 8)
	f.passGives(p, after, idle)
}

// With the fallback "wait", a conversation whose previous agent has no room waits
// for it (and does not hold up the line behind it) until the wait ends, then goes
// to someone else; the queue is told when the wait ends.
func TestAffinityWaitsForBusyPreviousAgentThenRoutesNormally(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	previous, other := f.agent(1), f.agent(2)
	f.affinity(p, Affinity{Days: 7, WaitSeconds: 600, Fallback: AffinityWait})
	busy := f.open(p, "psid-busy")
	f.exec("UPDATE conversations SET status = 'assigned', agent_id = $2, units = 1 WHERE id = $1", busy, previous)

	held := f.returning(p, "psid-held", previous, 1)
	behind := f.open(p, "psid-new")
	pass := f.pass(p)
	f.requireAgent(held, "")
	f.requireAgent(behind, other)
	if pass.NextAffinityEndAt == nil || time.Until(*pass.NextAffinityEndAt) < 590*time.Second {
		t.Fatalf("NextAffinityEndAt %v, want about 600 s from now", pass.NextAffinityEndAt)
	}

	// The previous agent frees its room within the wait: it gets the customer.
	f.exec("UPDATE conversations SET status = 'closed' WHERE id = $1", busy)
	f.passGives(p, held, previous)

	// Busy again for the next returning customer, and the wait ends (the
	// queue's timer is tested in workflows): someone else gets it.
	again := f.returning(p, "psid-again", previous, 1)
	f.passGives(p, again, "")
	f.exec("UPDATE conversations SET affinity_until = now() - interval '1 second' WHERE id = $1", again)
	if pass := f.pass(p); pass.NextAffinityEndAt != nil {
		t.Fatalf("NextAffinityEndAt %v after the wait ended, want none", pass.NextAffinityEndAt)
	}
	f.requireAgent(again, other)
}

// With the fallback "route", a busy previous agent means another agent at once.
func TestAffinityRouteFallbackAssignsAnotherAgentAtOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	previous, other := f.agent(1), f.agent(1)
	f.affinity(p, Affinity{Days: 7, WaitSeconds: 600, Fallback: AffinityRoute})
	f.presence(previous, "away")
	c := f.returning(p, "psid-1", previous, 1)
	f.passGives(p, c, other)
}

// A contact's preferred agents are tried in rank order, before the previous agent.
func TestAffinityPreferredAgentsAreRanked(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	first, second, previous := f.agent(2), f.agent(2), f.agent(2)
	f.affinity(p, Affinity{Days: 7, Fallback: AffinityRoute})
	contact, err := f.s.CreateContact(f.ctx, Contact{Name: "Ada", PreferredAgents: []string{first, second}})
	f.must(err)
	if got, err := f.s.contact(f.ctx, f.s.DB, contact.ID, false); err != nil || fmt.Sprint(got.PreferredAgents) != fmt.Sprint([]string{first, second}) {
		t.Fatalf("preferred agents %v (%v), want %v", got.PreferredAgents, err, []string{first, second})
	}
	// The customer is linked to the contact, then the conversation routed again.
	routedAsContact := func(conversationID string) {
		f.exec("UPDATE customers SET contact_id = $2 WHERE id = (SELECT customer_id FROM conversations WHERE id = $1)", conversationID, contact.ID)
		f.exec("UPDATE conversations SET queue_id = NULL WHERE id = $1", conversationID)
		_, _, err := f.s.RouteConversation(f.ctx, conversationID)
		f.must(err)
		f.pass(p)
	}
	f.presence(first, "away")
	c1 := f.returning(p, "psid-ada", previous, 1)
	routedAsContact(c1)
	f.requireAgent(c1, second)

	f.presence(first, "available")
	c2 := f.open(p, "psid-ada-2")
	routedAsContact(c2)
	f.requireAgent(c2, first)

	// An unknown agent is refused and changes nothing.
	_, err = f.s.UpdateContact(f.ctx, contact.ID, func(c *Contact) error { c.PreferredAgents = []string{uuid.NewString()}; return nil })
	if _, ok := err.(*InvalidInput); !ok {
		t.Fatalf("unknown preferred agent: %v, want *InvalidInput", err)
	}
	if got, _ := f.s.contact(f.ctx, f.s.DB, contact.ID, false); len(got.PreferredAgents) != 2 {
		t.Fatalf("preferred agents %v after a refused change, want the two before", got.PreferredAgents)
	}
}

// A conversation its agent left unanswered goes back to the queue and to another
// agent when one is eligible; to the same agent only when nobody else can take it.
func TestAffinityReofferPassesTheAgentOver(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	slow, other := f.agent(2), f.agent(2)
	f.idleSince(other, 0)
	f.idleSince(slow, time.Hour)
	c := f.open(p, "psid-1")
	f.passGives(p, c, slow)

	out, err := f.s.ReofferUnanswered(f.ctx, c, slow, time.Now())
	f.must(err)
	if !out.Done || out.QueueID != p.DefaultQueueID {
		t.Fatalf("re-offer %+v, want done in the default queue", out)
	}
	f.requireAgent(c, "")
	f.passGives(p, c, other)

	// Again, with the slow agent away: the agent passed over is the only one
	// left, and gets it back.
	_, err = f.s.ReofferUnanswered(f.ctx, c, other, time.Now())
	f.must(err)
	if again, err := f.s.ReofferUnanswered(f.ctx, c, other, time.Now()); err != nil || again.Done {
		t.Fatalf("second re-offer of a waiting conversation: %+v %v, want nothing done", again, err)
	}
	f.presence(slow, "away")
	f.passGives(p, c, other)
	if n := f.assignedEvents(c); n != 3 {
		t.Fatalf("%d conversation.assigned events, want 3", n)
	}
}

// The race of queue passes again, with affinity on: every customer returns to
// one of the agents (who share two queues), some waiting for their agent. Still
// each conversation is assigned at most once and no agent goes over capacity.
func TestAffinityRacingQueuePassesAssignEachConversationOnceWithinCapacity(t *testing.T) {
	f := newFixture(t)
	p1, p2 := f.page(), f.page()
	agents := []string{f.agent(3), f.agent(2), f.agent(1)}
	capacity := map[string]int{agents[0]: 3, agents[1]: 2, agents[2]: 1}
	f.affinity(p1, Affinity{Days: 7, WaitSeconds: 600, Fallback: AffinityWait})
	f.affinity(p2, Affinity{Days: 7, Fallback: AffinityRoute})
	var convs []string
	for i := range 10 {
		convs = append(convs,
			f.returning(p1, fmt.Sprintf("psid-a-%d", i), agents[rand.IntN(3)], 1),
			f.returning(p2, fmt.Sprintf("psid-b-%d", i), agents[rand.IntN(3)], 1))
	}

	seen := f.racePassesFillingAgents(p1, p2, capacity)
	for _, c := range convs {
		want := 0
		if seen[c] != "" {
			want = 1
		}
		if n := f.assignedEvents(c); n != want {
			t.Fatalf("conversation %s has %d conversation.assigned events, want %d", c, n, want)
		}
	}
}
