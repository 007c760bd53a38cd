//go:build integration

package store

import (
	"errors"
	"testing"
	"time"
)

// consultStatuses maps each consultant of the conversation to its consult's status.
func (f *fixture) consultStatuses(conversationID string) map[string]string {
	f.t.Helper()
	rows, err := f.s.DB.QueryContext(f.ctx, "SELECT agent_id, status FROM conversation_consults WHERE conversation_id = $1", conversationID)
	f.must(err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var agent, status string
		f.must(rows.Scan(&agent, &status))
		out[agent] = status
	}
	f.must(rows.Err())
	return out
}

// consultEnded counts the consult.ended events the agent got for the conversation.
func (f *fixture) consultEnded(agentID, conversationID string) int {
	f.t.Helper()
	return f.number("SELECT count(*) FROM agent_events WHERE agent_id = $1 AND conversation_id = $2 AND name = 'consult.ended'", agentID, conversationID)
}

// A consult is the primary agent's invitation: an ordinary transfer (to an
// agent, or to a queue) and a supervisor's reassignment end every consult of
// the conversation in their transaction, with consult.ended to both sides; a
// consultant who receives the conversation ends as transferred.
func TestTransferAndReassignEndTheConsults(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	owner, c1, c2 := f.agent(2), f.agent(2), f.agent(2)
	conv := f.waiting(p)
	_, err := f.s.Pick(f.ctx, conv, owner)
	f.must(err)
	for _, c := range []string{c1, c2} {
		_, err := f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: owner, AgentID: c})
		f.must(err)
	}

	// To an agent, the consultant c1: its consult is the transfer, c2's ends.
	_, err = f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, FromAgentID: owner, ToAgentID: c1})
	f.must(err)
	if got := f.consultStatuses(conv); got[c1] != ConsultTransferred || got[c2] != ConsultEnded {
		t.Fatalf("consults after a transfer to the consultant: %v", got)
	}
	if f.consultEnded(owner, conv) != 2 || f.consultEnded(c1, conv) != 1 || f.consultEnded(c2, conv) != 1 {
		t.Fatal("consult.ended not sent to both sides of each consult")
	}
	if ok, err := f.s.IsConsultant(f.ctx, conv, c2); err != nil || ok {
		t.Fatalf("c2 still consults after the transfer: %v %v", ok, err)
	}

	// To a queue: c2, invited again by the new owner, is no consultant after it.
	_, err = f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: c1, AgentID: c2})
	f.must(err)
	_, err = f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, FromAgentID: c1, ToQueueID: p.DefaultQueueID})
	f.must(err)
	if n := f.number("SELECT count(*) FROM conversation_consults WHERE conversation_id = $1 AND status = 'active'", conv); n != 0 {
		t.Fatalf("%d consults active after a transfer to a queue", n)
	}
	if f.consultEnded(c2, conv) != 2 || f.consultEnded(c1, conv) != 2 {
		t.Fatal("consult.ended not sent after the transfer to a queue")
	}

	// The admin's reassignment (no agent ends it: ended_by stays empty).
	_, err = f.s.Pick(f.ctx, conv, owner)
	f.must(err)
	_, err = f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: owner, AgentID: c2})
	f.must(err)
	_, err = f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, ToAgentID: c1, Supervisor: &Supervisor{Name: "Admin"}})
	f.must(err)
	if n := f.number("SELECT count(*) FROM conversation_consults WHERE conversation_id = $1 AND status = 'ended' AND agent_id = $2 AND ended_by IS NULL", conv, c2); n != 1 {
		t.Fatalf("the admin's reassignment ended %d consults of c2, want 1", n)
	}
	if f.consultEnded(c2, conv) != 3 || f.consultEnded(owner, conv) != 3 {
		t.Fatal("consult.ended not sent after the reassignment")
	}
}

// open_conversations of a queue's member counts every conversation the agent
// holds that is not closed (the floor's rule), not only the active ones.
func TestQueueViewCountsHeldConversationsAsOpen(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	agent := f.agent(3)
	active, held, closed := f.waiting(p), f.waiting(p), f.waiting(p)
	for _, c := range []string{active, held, closed} {
		_, err := f.s.Pick(f.ctx, c, agent)
		f.must(err)
	}
	_, _, err := f.s.Hold(f.ctx, held, agent)
	f.must(err)
	_, _, err = f.s.CloseConversation(f.ctx, closed, "", "agent", "")
	f.must(err)
	f.waiting(p) // waiting in the queue: no agent's

	v, err := f.s.QueueView(f.ctx, p.DefaultQueueID)
	f.must(err)
	if len(v.Agents) != 1 || v.Agents[0].ID != agent {
		t.Fatalf("queue members: %+v", v.Agents)
	}
	if a := v.Agents[0]; a.OpenConversations != 2 || a.Load != 1 {
		t.Fatalf("open_conversations %d, load %d; want 2 (active and on hold), 1 (the hold frees capacity)", a.OpenConversations, a.Load)
	}
	av, err := f.s.AgentView(f.ctx, agent)
	f.must(err)
	if av.OpenConversations != 2 || len(av.Conversations) != 2 {
		t.Fatalf("agent view: open_conversations %d, %d conversations; want 2", av.OpenConversations, len(av.Conversations))
	}
}

// A conversation that leaves its agent other than by a transfer ends the agent's
// consults too: back to the queue at the hold-return timeout when the agent has
// no room, and re-offered when the agent did not answer the customer.
func TestLeavingTheAgentEndsTheConsults(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	owner, c := f.agent(1), f.agent(2)
	consulted := func(conv string) {
		t.Helper()
		_, err := f.s.Pick(f.ctx, conv, owner)
		f.must(err)
		_, err = f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: owner, AgentID: c})
		f.must(err)
	}

	held, other := f.waiting(p), f.waiting(p)
	consulted(held)
	_, _, err := f.s.Hold(f.ctx, held, owner)
	f.must(err)
	_, err = f.s.Pick(f.ctx, other, owner) // the hold freed the owner's one place
	f.must(err)
	back, err := f.s.ReturnHeld(f.ctx, held)
	f.must(err)
	if back.Status != "waiting" {
		t.Fatalf("hold return with no room: %s, want waiting", back.Status)
	}
	if got := f.consultStatuses(held); got[c] != ConsultEnded || f.consultEnded(c, held) != 1 || f.consultEnded(owner, held) != 1 {
		t.Fatalf("consults after the hold return to the queue: %v", got)
	}

	_, _, err = f.s.CloseConversation(f.ctx, other, "", "agent", "")
	f.must(err)
	unanswered := f.waiting(p)
	consulted(unanswered)
	out, err := f.s.ReofferUnanswered(f.ctx, unanswered, owner, time.Now())
	f.must(err)
	if !out.Done {
		t.Fatal("the unanswered conversation was not re-offered")
	}
	if got := f.consultStatuses(unanswered); got[c] != ConsultEnded || f.consultEnded(c, unanswered) != 1 {
		t.Fatalf("consults after the re-offer: %v", got)
	}
}

// Ending a conversation into wrap-up ends the customer's side: its consultants
// leave then (consult.ended to both sides), as at a close, and no new consult
// can start while the agent wraps it up.
func TestWrapUpEndsTheConsults(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	f.exec("UPDATE workstreams SET wrap_up_block = $1 WHERE id = $2", WrapUpBlockNever, p.WorkstreamID)
	owner, c, later := f.agent(2), f.agent(2), f.agent(2)
	conv := f.waiting(p)
	_, err := f.s.Pick(f.ctx, conv, owner)
	f.must(err)
	_, err = f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: owner, AgentID: c})
	f.must(err)

	ended, err := f.s.EndConversation(f.ctx, conv, owner, "agent", "")
	f.must(err)
	if ended.Status != "wrap_up" {
		t.Fatalf("ended into %s, want wrap_up", ended.Status)
	}
	if got := f.consultStatuses(conv); got[c] != ConsultEnded || f.consultEnded(c, conv) != 1 || f.consultEnded(owner, conv) != 1 {
		t.Fatalf("consults after the end into wrap-up: %v", got)
	}
	if ok, err := f.s.IsConsultant(f.ctx, conv, c); err != nil || ok {
		t.Fatalf("the consultant still consults in wrap-up: %v %v", ok, err)
	}
	_, err = f.s.StartConsult(f.ctx, ConsultRequest{ConversationID: conv, PrimaryID: owner, AgentID: later})
	if !refusedWith(err, "conversation_not_open") {
		t.Fatalf("a consult started in wrap-up: %v", err)
	}
	if got := f.consultStatuses(conv); len(got) != 1 {
		t.Fatalf("the refused consult changed the consults: %v", got)
	}

	// A consult left from before this rule ends with the wrap-up's finish.
	f.exec(`INSERT INTO conversation_consults (id, conversation_id, agent_id, invited_by, status)
		SELECT gen_random_uuid(), conversation_id, $2, invited_by, $3 FROM conversation_consults WHERE conversation_id = $1`, conv, later, ConsultActive)
	_, err = f.s.FinishWrapUp(f.ctx, conv, owner, "", "")
	f.must(err)
	if got := f.consultStatuses(conv); got[later] != ConsultEnded || f.consultEnded(later, conv) != 1 {
		t.Fatalf("consults after the wrap-up's finish: %v", got)
	}
}

// An agent's close or end closes only that agent's conversation: once it was
// transferred (or reassigned) to another agent, the first agent's close is
// refused under the row lock and changes nothing, while the new agent's close
// and the service's own (no agent) go through, and closing twice stays harmless.
func TestAnAgentClosesOnlyItsOwnConversation(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	first, second := f.agent(2), f.agent(2)
	conv := f.waiting(p)
	_, err := f.s.Pick(f.ctx, conv, first)
	f.must(err)
	_, err = f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, FromAgentID: first, ToAgentID: second})
	f.must(err)

	if _, _, err := f.s.CloseConversation(f.ctx, conv, first, "agent", ""); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("the first agent's close after the transfer: %v, want not_assigned", err)
	}
	if _, err := f.s.EndConversation(f.ctx, conv, first, "agent", ""); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("the first agent's end after the transfer: %v, want not_assigned", err)
	}
	if err := f.s.StillAssignedTo(f.ctx, conv, first); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("StillAssignedTo the first agent: %v, want not_assigned", err)
	}
	if status, agent := f.conversationAgent(conv); status != "assigned" || agent != second {
		t.Fatalf("after the refused closes: %s with %s, want assigned to the second agent", status, agent)
	}
	if f.number("SELECT count(*) FROM agent_events WHERE conversation_id = $1 AND name = 'conversation.closed'", conv) != 0 {
		t.Fatal("a refused close told an agent the conversation closed")
	}

	_, agent, err := f.s.CloseConversation(f.ctx, conv, second, "agent", "")
	f.must(err)
	if status, _ := f.conversationAgent(conv); status != "closed" || agent != second {
		t.Fatalf("the second agent's close: %s (agent %s)", status, agent)
	}
	if _, _, err := f.s.CloseConversation(f.ctx, conv, first, "agent", ""); err != nil {
		t.Fatalf("closing a closed conversation again: %v", err)
	}

	other := f.waiting(p)
	_, err = f.s.Pick(f.ctx, other, first)
	f.must(err)
	_, _, err = f.s.CloseConversation(f.ctx, other, "", "inactive", "")
	f.must(err)
	if status, _ := f.conversationAgent(other); status != "closed" {
		t.Fatalf("the service's close: %s, want closed", status)
	}
}
