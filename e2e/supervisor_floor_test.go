//go:build integration

package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"fbchannel/store"
)

// makeSupervisor creates an agent and makes it the supervisor of queueIDs.
func (st *stack) makeSupervisor(name string, queueIDs ...string) agent {
	st.t.Helper()
	sup := st.createAgent(name, 1)
	if queueIDs == nil {
		queueIDs = []string{}
	}
	if code := st.call("PUT", "/api/v1/agents/"+sup.ID+"/supervision", st.adminToken, map[string]any{"role": "supervisor", "queue_ids": queueIDs}, nil); code != 200 {
		st.t.Fatalf("make %s supervisor: %d", name, code)
	}
	return sup
}

// supervise has the supervisor (or the admin, token st.adminToken) act on a
// conversation: POST /api/v1/supervisor/conversations/{id}/{action}.
func (st *stack) supervise(token, convID, action string, body any, out any) int {
	st.t.Helper()
	return st.call("POST", "/api/v1/supervisor/conversations/"+convID+"/"+action, token, body, out)
}

// floorView is GET /api/v1/supervisor/floor's answer; a queue's figures are
// as the store reads them.
type floorView struct {
	Queues []store.FloorQueue `json:"queues"`
	Agents []struct {
		ID            string `json:"id"`
		Presence      string `json:"presence"`
		Load          int    `json:"load"`
		Capacity      int    `json:"capacity"`
		Conversations []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"conversations"`
	} `json:"agents"`
	Conversations []struct {
		ID      string  `json:"id"`
		Status  string  `json:"status"`
		AgentID *string `json:"agent_id"`
		WaitS   *int    `json:"wait_s"`
	} `json:"conversations"`
}

// The floor shows a supervisor its queue, agents and conversations; monitor,
// join (note and message), reassign (honouring capacity unless forced) and
// force close each answer 200, are audited, and reach the agents' event
// streams; a supervisor of other queues gets 404 for all of it.
func TestSupervisorFloorAndActions(t *testing.T) {
	st := newStack(t)
	ch, amy, amyEvents, conv := st.conversationOnNewPage("amy", 2, "2900000000000201", "my order is late")
	bob, bobEvents := st.availableAgent("bob", 1)
	sue := st.makeSupervisor("sue", ch.QueueID)
	ola := st.makeSupervisor("ola")

	var floor floorView
	if code := st.call("GET", "/api/v1/supervisor/floor", sue.Token, nil, &floor); code != 200 || len(floor.Queues) != 1 || floor.Queues[0].ID != ch.QueueID {
		t.Fatalf("floor: %d %+v", code, floor)
	}
	q := floor.Queues[0]
	if q.Waiting != 0 || q.AgentsAvailable != 2 || q.CapacityUsed != 1 || q.CapacityTotal != 3 || q.States["assigned"] != 1 || q.ServiceLevel1h == nil || *q.ServiceLevel1h != 1 {
		t.Fatalf("queue figures: %+v (service level %v)", q, q.ServiceLevel1h)
	}
	found := false
	for _, a := range floor.Agents {
		if a.ID == amy.ID {
			found = a.Load == 1 && a.Capacity == 2 && len(a.Conversations) == 1 && a.Conversations[0].ID == conv && a.Presence == "available"
		}
	}
	if !found || len(floor.Conversations) != 1 || floor.Conversations[0].ID != conv || floor.Conversations[0].WaitS == nil {
		t.Fatalf("floor agents/conversations: %+v", floor)
	}
	if code := st.call("GET", "/api/v1/supervisor/floor?state=waiting", sue.Token, nil, &floor); code != 200 || len(floor.Conversations) != 0 {
		t.Fatalf("filtered floor: %d %+v", code, floor.Conversations)
	}

	// Ola supervises no queue: the queue and its conversation do not exist for her.
	if code := st.call("GET", "/api/v1/supervisor/floor?queue="+ch.QueueID, ola.Token, nil, nil); code != 404 {
		t.Fatalf("ola's floor of sue's queue: %d", code)
	}
	for _, action := range []string{"monitor", "join", "reassign", "close"} {
		body := map[string]any{"note": "x", "agent_id": bob.ID, "reason": "x"}
		switch action {
		case "monitor":
			body = nil
		case "join":
			body = map[string]any{"note": "x"}
		case "reassign":
			body = map[string]any{"agent_id": bob.ID}
		case "close":
			body = map[string]any{"reason": "x"}
		}
		if code := st.supervise(ola.Token, conv, action, body, nil); code != 404 {
			t.Fatalf("ola's %s: %d", action, code)
		}
	}

	// Monitor: the transcript, and amy knows she is watched.
	var monitored struct {
		Messages []struct{ Text string } `json:"messages"`
	}
	if code := st.supervise(sue.Token, conv, "monitor", nil, &monitored); code != 200 || len(monitored.Messages) == 0 || monitored.Messages[0].Text != "my order is late" {
		t.Fatalf("monitor: %d %+v", code, monitored)
	}
	if ev := amyEvents.next(t, "conversation.monitored", 10*time.Second); ev.Data["by_supervisor"].(map[string]any)["name"] != "sue" {
		t.Fatalf("monitored event: %v", ev.Data)
	}

	// Join: a note and a message as the page, both marked as sue's.
	if code := st.supervise(sue.Token, conv, "join", map[string]any{"note": "offer a voucher"}, nil); code != 200 {
		t.Fatalf("join note: %d", code)
	}
	if m := amyEvents.next(t, "note.added", 10*time.Second).Data["message"].(map[string]any); m["sender"] != "supervisor" || m["text"] != "offer a voucher" || m["agent_id"] != sue.ID {
		t.Fatalf("note event: %v", m)
	}
	var joined struct {
		Message struct{ Status string } `json:"message"`
	}
	if code := st.supervise(sue.Token, conv, "join", map[string]any{"text": "Hello, I'm the team lead."}, &joined); code != 200 || joined.Message.Status != "sent" {
		t.Fatalf("join message: %d %+v", code, joined)
	}
	if m := amyEvents.next(t, "message.received", 10*time.Second).Data["message"].(map[string]any); m["sender"] != "supervisor" || m["text"] != "Hello, I'm the team lead." {
		t.Fatalf("supervisor message event: %v", m)
	}
	if ev := amyEvents.next(t, "message.status", 10*time.Second); ev.Data["status"] != "sent" {
		t.Fatalf("supervisor message status for amy: %v", ev.Data)
	}
	if code := st.supervise(sue.Token, conv, "join", map[string]any{"note": "a", "text": "b"}, nil); code != 400 {
		t.Fatalf("join with note and text: %d", code)
	}

	// Reassign to bob: amy loses it, bob gets it.
	if code := st.supervise(sue.Token, conv, "reassign", map[string]any{"agent_id": bob.ID}, nil); code != 200 {
		t.Fatalf("reassign: %d", code)
	}
	if ev := amyEvents.next(t, "conversation.transferred", 10*time.Second); ev.Data["to_agent_id"] != bob.ID || ev.Data["by_supervisor"].(map[string]any)["id"] != sue.ID {
		t.Fatalf("transferred event: %v", ev.Data)
	}
	if ev := bobEvents.next(t, "conversation.assigned", 10*time.Second); ev.Data["conversation_id"] != conv || ev.Data["transferred_by"] != sue.ID {
		t.Fatalf("bob's assignment: %v", ev.Data)
	}

	// Bob is full (capacity 1): a second conversation goes to him only by force.
	conv2 := st.customerAssigned(amyEvents, ch, "2900000000000202", "and another thing")
	var refused struct{ Error struct{ Code string } }
	if code := st.supervise(sue.Token, conv2, "reassign", map[string]any{"agent_id": bob.ID}, &refused); code != 409 || refused.Error.Code != "agent_at_capacity" {
		t.Fatalf("reassign over capacity: %d %+v", code, refused)
	}
	if code := st.supervise(sue.Token, conv2, "reassign", map[string]any{"agent_id": bob.ID, "force": true}, nil); code != 200 {
		t.Fatalf("forced reassign: %d", code)
	}
	bobEvents.next(t, "conversation.assigned", 10*time.Second)

	// Force close, with a reason; the admin token may act as well.
	if code := st.supervise(sue.Token, conv, "close", map[string]any{"reason": ""}, nil); code != 400 {
		t.Fatalf("close without reason: %d", code)
	}
	if code := st.supervise(sue.Token, conv, "close", map[string]any{"reason": "duplicate of another ticket"}, nil); code != 200 {
		t.Fatalf("force close: %d", code)
	}
	if ev := bobEvents.next(t, "conversation.closed", 10*time.Second); ev.Data["conversation_id"] != conv || ev.Data["reason"] != "supervisor_closed" {
		t.Fatalf("closed event: %v", ev.Data)
	}
	if code := st.supervise(st.adminToken, conv2, "close", map[string]any{"reason": "spam"}, nil); code != 200 {
		t.Fatalf("admin force close: %d", code)
	}
	if code := st.supervise(st.adminToken, conv2, "close", map[string]any{"reason": "again"}, nil); code != 409 {
		t.Fatalf("closing a closed conversation: %d", code)
	}

	var actions []struct {
		SupervisorID *string `json:"supervisor_id"`
		Action       string  `json:"action"`
	}
	if code := st.call("GET", "/api/v1/supervisor/conversations/"+conv+"/actions", sue.Token, nil, &actions); code != 200 {
		t.Fatalf("actions: %d", code)
	}
	got := ""
	for _, a := range actions {
		if a.SupervisorID == nil || *a.SupervisorID != sue.ID {
			t.Fatalf("action by %v", a.SupervisorID)
		}
		got += a.Action + " "
	}
	if got != "monitor join join reassign close " {
		t.Fatalf("audited actions: %q", got)
	}
	if n := st.count("supervisor_actions", "conversation_id = $1 AND supervisor_id IS NULL AND action = 'close' AND details->>'reason' = 'spam'", conv2); n != 1 {
		t.Fatalf("admin's close audited %d times", n)
	}
}

// A supervisor's force close and the agent's close, sent at once, close the
// conversation once: exactly one conversation.closed event, and the supervisor
// hears 200 exactly when its close was the one (audited), 409 otherwise.
func TestSupervisorForceCloseRacesAgentClose(t *testing.T) {
	st := newStack(t)
	ch, amy, events, _ := st.conversationOnNewPage("amy", 10, "2900000000000210", "first")
	sue := st.makeSupervisor("sue", ch.QueueID)
	for i := range 4 {
		conv := st.customerAssigned(events, ch, fmt.Sprintf("29000000000002%02d", 20+i), "race me")
		var wg sync.WaitGroup
		var agentCode, supCode int
		wg.Add(2)
		go func() {
			defer wg.Done()
			agentCode = st.call("POST", "/api/v1/conversations/"+conv+"/close", amy.Token, nil, nil)
		}()
		go func() {
			defer wg.Done()
			supCode = st.supervise(sue.Token, conv, "close", map[string]any{"reason": "race"}, nil)
		}()
		wg.Wait()
		var reason string
		if err := st.db.QueryRow("SELECT close_reason FROM conversations WHERE id = $1 AND status = 'closed'", conv).Scan(&reason); err != nil {
			t.Fatalf("round %d: conversation not closed: %v (agent %d, supervisor %d)", i, err, agentCode, supCode)
		}
		if n := st.count("agent_events", "conversation_id = $1 AND name = 'conversation.closed'", conv); n != 1 {
			t.Fatalf("round %d: %d close events", i, n)
		}
		audited := st.count("supervisor_actions", "conversation_id = $1 AND action = 'close'", conv)
		switch reason {
		case "supervisor_closed":
			if supCode != 200 || audited != 1 {
				t.Fatalf("round %d: supervisor's close won but answered %d, audited %d", i, supCode, audited)
			}
		case "agent_closed":
			if supCode != 409 || audited != 0 || agentCode != 200 {
				t.Fatalf("round %d: agent's close won but supervisor %d (audited %d), agent %d", i, supCode, audited, agentCode)
			}
		default:
			t.Fatalf("round %d: close reason %q", i, reason)
		}
		t.Logf("round %d: %s won (agent %d, supervisor %d)", i, reason, agentCode, supCode)
	}
}
