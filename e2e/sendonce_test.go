//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/activities"
	"fbchannel/simulator"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// assignedConversation opens a conversation for a new customer and has it
// assigned to a new available agent, whose event stream is returned open.
func (st *stack) assignedConversation(ch channel, psid string) (agent, *sse, string) {
	st.t.Helper()
	a, events := st.availableAgent("agent-"+psid[len(psid)-4:], 1)
	return a, events, st.customerAssigned(events, ch, psid, "Where is my parcel?")
}

// sendsOf lists the Send API calls that carried messageID as metadata.
func (st *stack) sendsOf(messageID string) []simulator.SentMessage {
	var out []simulator.SentMessage
	for _, m := range st.sim.SentMessages() {
		if m.Metadata == messageID {
			out = append(out, m)
		}
	}
	return out
}

func (st *stack) messageRow(id string) (status, reason, mid string) {
	st.t.Helper()
	var fbmid *string
	if err := st.db.QueryRow(`SELECT status, reason, facebook_message_id FROM messages WHERE id = $1`, id).Scan(&status, &reason, &fbmid); err != nil {
		st.t.Fatal(err)
	}
	if fbmid != nil {
		mid = *fbmid
	}
	return status, reason, mid
}

// Facebook takes the reply but its answer is lost (a 502 after the send). Before
// the attempt marker the retry called the Send API again and the customer got the
// reply twice; now the retry waits for the echo and records the reply as sent.
func TestReplyWhoseAnswerIsLostIsSentOnce(t *testing.T) {
	st, ch := newPageStack(t)
	a, _, convID := st.assignedConversation(ch, "2900000000007001")

	st.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 502, Times: 1, AfterServe: true})
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "It left the depot today."}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	id, _ := out["id"].(string)
	sends := st.sendsOf(id)
	if len(sends) != 1 {
		t.Fatalf("the reply reached the Send API %d times, want once: %v", len(sends), sends)
	}
	if out["status"] != "sent" || out["facebook_message_id"] != sends[0].MID {
		t.Fatalf("outcome %v, want sent with Facebook's id %s", out, sends[0].MID)
	}
	if status, _, mid := st.messageRow(id); status != "sent" || mid != sends[0].MID {
		t.Fatalf("stored reply: %s %s", status, mid)
	}
}

// The worker dies after Facebook accepted the reply and before MarkSent
// committed (played by a fault hook failing the activity there): the retry finds
// the attempt, takes Facebook's id from the echo, and does not send again.
func TestReplyWhoseWorkerDiesBeforeMarkSentIsSentOnce(t *testing.T) {
	st := newStack(t)
	var mu sync.Mutex
	died := map[string]string{} // message id -> Facebook id, for the attempts that "died"
	st.activityHooks = func(a *activities.Activities) {
		a.AfterSendHook = func(ctx context.Context, messageID, facebookMessageID string) error {
			var m struct{ Sender string }
			_ = st.db.QueryRowContext(ctx, `SELECT sender FROM messages WHERE id = $1`, messageID).Scan(&m.Sender)
			mu.Lock()
			defer mu.Unlock()
			if _, ok := died[messageID]; ok || m.Sender != "agent" {
				return nil
			}
			died[messageID] = facebookMessageID
			return errors.New("worker killed after the Send API call")
		}
	}
	st.stopWorker()
	st.startWorker()
	ch := st.connectPage()
	a, events, convID := st.assignedConversation(ch, "2900000000007002")

	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "Your refund is on its way."}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	id, _ := out["id"].(string)
	mu.Lock()
	firstMID, died1 := died[id]
	mu.Unlock()
	if !died1 {
		t.Fatal("the fault hook never ran")
	}
	if n := len(st.sendsOf(id)); n != 1 {
		t.Fatalf("the reply reached the Send API %d times, want once", n)
	}
	if out["status"] != "sent" || out["facebook_message_id"] != firstMID {
		t.Fatalf("outcome %v, want sent with %s", out, firstMID)
	}
	if status, _, mid := st.messageRow(id); status != "sent" || mid != firstMID {
		t.Fatalf("stored reply: %s %s", status, mid)
	}
	ev := events.next(t, "message.status", 10*time.Second)
	if ev.Data["message_id"] != id || ev.Data["status"] != "sent" {
		t.Fatalf("message.status: %v", ev.Data)
	}
}

// Facebook's answer is lost and no echo ever comes: after the bound the reply is
// failed as outcome_unknown (the agent is told to check Messenger), never sent
// again. An echo that turns up later after all makes it sent.
func TestReplyWithoutAnswerOrEchoIsReportedOutcomeUnknown(t *testing.T) {
	st := newStack(t)
	st.activityHooks = func(a *activities.Activities) { a.EchoWait = 3 * time.Second }
	st.stopWorker()
	st.startWorker()
	ch := st.connectPage()
	a, events, convID := st.assignedConversation(ch, "2900000000007003")

	st.sim.SetEchoes(false)
	st.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 502, Times: 1, AfterServe: true})
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "We will call you."}, &out); code != 201 {
		t.Fatalf("send: %d %v", code, out)
	}
	id, _ := out["id"].(string)
	if out["status"] != "failed" || out["reason"] != "outcome_unknown" || out["error"] != activities.OutcomeUnknownMessage {
		t.Fatalf("outcome: %v", out)
	}
	sends := st.sendsOf(id)
	if len(sends) != 1 {
		t.Fatalf("the reply reached the Send API %d times, want once", len(sends))
	}
	if status, reason, _ := st.messageRow(id); status != "failed" || reason != "outcome_unknown" {
		t.Fatalf("stored reply: %s %s", status, reason)
	}
	if ev := events.next(t, "message.status", 10*time.Second); ev.Data["status"] != "failed" || ev.Data["reason"] != "outcome_unknown" {
		t.Fatalf("message.status: %v", ev.Data)
	}

	// The echo arrives late after all (Facebook retried its delivery).
	echo, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": ch.PageID, "time": time.Now().UnixMilli(),
		"messaging": []any{map[string]any{
			"sender": map[string]any{"id": ch.PageID}, "recipient": map[string]any{"id": "2900000000007003"},
			"timestamp": time.Now().UnixMilli(),
			"message":   map[string]any{"mid": sends[0].MID, "is_echo": true, "text": "We will call you.", "metadata": id},
		}},
	}}})
	if status, body, err := st.sim.PostWebhook(context.Background(), ch.CallbackURL, ch.AppSecret, echo); err != nil || status != 200 {
		t.Fatalf("echo: %d %s %v", status, body, err)
	}
	ev := events.next(t, "message.status", 30*time.Second)
	if ev.Data["message_id"] != id || ev.Data["status"] != "sent" || ev.Data["facebook_message_id"] != sends[0].MID {
		t.Fatalf("message.status after the echo: %v", ev.Data)
	}
	if status, _, mid := st.messageRow(id); status != "sent" || mid != sends[0].MID {
		t.Fatalf("stored reply after the echo: %s %s", status, mid)
	}
}

// The starter stored a reply and died before the update reached Temporal: the
// sweeper fails it as not_sent and tells the agent; an update that turns up after
// that does not send it. A reply handed over in time is not touched.
func TestReplyNeverHandedOverIsFailedAsNotSent(t *testing.T) {
	st, ch := newPageStack(t)
	a, events, convID := st.assignedConversation(ch, "2900000000007004")

	// As the starter does before it calls UpdateWorkflow, and then nothing.
	lost, err := st.store.InsertAgentReply(context.Background(), convID, ch.PageID, a.ID, "Lost in the crash", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reply sent normally meanwhile.
	var out map[string]any
	out = st.agentSends(a, convID, "Handed over")
	sent, _ := out["id"].(string)

	sweeper := workflows.ReplySweeperWorkflowID(st.taskQueue)
	if err := workflows.StartReplySweeper(context.Background(), temporalClient, st.taskQueue,
		workflows.ReplySweeperInput{Every: 500 * time.Millisecond, OlderThan: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = temporalClient.TerminateWorkflow(context.Background(), sweeper, "", "test over") })

	var ev sseEvent
	for {
		ev = events.next(t, "message.status", 30*time.Second)
		if ev.Data["message_id"] == lost {
			break
		}
	}
	if ev.Data["status"] != "failed" || ev.Data["reason"] != "not_sent" || ev.Data["error"] != activities.NotSentMessage {
		t.Fatalf("message.status: %v", ev.Data)
	}
	if status, reason, _ := st.messageRow(lost); status != "failed" || reason != "not_sent" {
		t.Fatalf("lost reply: %s %s", status, reason)
	}
	if status, _, _ := st.messageRow(sent); status != "sent" {
		t.Fatalf("the reply handed over is %s", status)
	}

	// The update arrives late after all: the reply the agent was told was not
	// sent must not go now.
	h, err := temporalClient.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: contract.ConversationWorkflowID(ch.PageID, "2900000000007004"), UpdateID: lost,
		UpdateName: contract.UpdateSendMessage, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{contract.SendMessageRequest{ConversationID: convID, MessageID: lost, AgentID: a.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var late contract.SendOutcome
	if err := h.Get(context.Background(), &late); err != nil {
		t.Fatal(err)
	}
	if late.Status != "failed" || late.Reason != "not_sent" {
		t.Fatalf("late update: %+v", late)
	}
	if n := len(st.sendsOf(lost)); n != 0 {
		t.Fatalf("the lost reply reached the Send API %d times", n)
	}
	if status, reason, _ := st.messageRow(lost); status != "failed" || reason != "not_sent" {
		t.Fatalf("lost reply after the late update: %s %s", status, reason)
	}
}
