//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

const (
	// Fifteen events per delivery, as Facebook batches a busy sender. The test waits
	// for each delivery to be recorded before posting the next; the relay hands a
	// delivery's events to the run in one signal, recorded together, so a delivery
	// costs the run only a few events (its signal, a workflow task, the local
	// activity's marker). The tests' own dev servers suggest continue-as-new early
	// enough for that: 50 deliveries (make test) or 200 (make test-long) pass it
	// several times.
	longConversationBatch = 15
	// The size (make test-long).
	longConversationMessages     = 3000
	longConversationSuggestAfter = 500
	// make test's size.
	longConversationQuickMessages     = 750
	longConversationQuickSuggestAfter = 150
)

// A conversation with 3,000 customer messages outgrows one run: it continues as new
// at least once and stays the same conversation — same id, the whole transcript
// exactly once and in order, the window measured from the last message — and the
// agent can still reply to it. Every run's real history replays against today's code.
// (make test: 750 messages, with continue-as-new suggested at 150 events.)
func TestLongConversationContinuesAsNewAndKeepsItsStateAndTranscript(t *testing.T) {
	heavy(t)
	started := time.Now()
	messages, suggestAt := longConversationMessages, longConversationSuggestAfter
	if !fullSize() {
		messages, suggestAt = longConversationQuickMessages, longConversationQuickSuggestAfter
	}
	c := devServerSuggestingContinueAsNewAt(t, suggestAt)
	st := newStack(t, func(st *stack) { st.starterClient, st.workerClient = c, c })
	ch := st.connectPage()
	a, events := st.availableAgent("lena", 1)
	psid := "2900000000000300"
	workflowID := contract.ConversationWorkflowID(ch.PageID, psid)
	ctx := context.Background()

	// Facebook's timestamps, one millisecond apart and in the past, so the window's
	// start is known exactly.
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	messageAt := func(i int) int64 { return base + int64(i) }
	mid := func(i int) string { return fmt.Sprintf("m_long_%04d", i) }
	text := func(i int) string { return fmt.Sprintf("message %04d", i) }

	var convID string
	// transcript is what the agent must see, in order: every customer message once,
	// with the replies where the agent sent them.
	var replies, transcript []string
	reply := func(words string) {
		t.Helper()
		st.agentSends(a, convID, words)
		replies = append(replies, words)
		transcript = append(transcript, "agent "+words)
	}
	sendStart := time.Now()
	var postTime time.Duration
	nextReply := messages / 3
	var lastRun string
	// carriedWindow: a run started by continue-as-new knew the window before it
	// had recorded any message of its own.
	var carriedWindow bool
	for sent := 0; sent < messages; {
		var batch []map[string]any
		for ; len(batch) < longConversationBatch && sent < messages; sent++ {
			batch = append(batch, fromCustomer(ch, psid, messageAt(sent), "message", map[string]any{"mid": mid(sent), "text": text(sent)}))
			transcript = append(transcript, "customer "+mid(sent)+" "+text(sent))
		}
		posting := time.Now()
		st.postEvents(ch, batch...)
		postTime += time.Since(posting)
		if convID == "" {
			convID = events.next(t, "conversation.assigned", 30*time.Second).Data["conversation_id"].(string)
			lastRun = convID // the first run's id is the conversation's
			// The agent is not reading: an unread stream must not hold up the server.
			events.cancel()
		}
		st.waitRecorded(sent)
		// Wait for the workflow, too, to have taken in the whole delivery: it continues
		// as new only when idle, so a run first seen now has received no message of
		// its own, and what it knows of the window it can only have been handed.
		lastAt := time.UnixMilli(messageAt(sent - 1)).UTC()
		waitWorkflowSaw(t, c, workflowID, lastAt)
		desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if run := desc.WorkflowExecutionInfo.Execution.RunId; run != lastRun {
			state, err := runState(c, workflowID, run)
			if err != nil {
				t.Fatal(err)
			}
			if state.ConversationID != convID || state.AgentID != a.ID || state.Status != contract.StatusAssigned || !state.LastCustomerMessageAt.Equal(lastAt) {
				t.Fatalf("run %s, continued after %d messages: conversation %s agent %s status %s last customer message %s; want %s, %s, assigned, %s",
					run, sent, state.ConversationID, state.AgentID, state.Status, state.LastCustomerMessageAt, convID, a.ID, lastAt)
			}
			// Unless the run continued in the middle of a delivery: then it recorded
			// the rest itself, and its window proves less.
			if n := messagesOfOwn(t, c, workflowID, run); n == 0 {
				carriedWindow = true
			} else {
				t.Logf("run %s continued in the middle of a delivery and recorded %d messages itself", run, n)
			}
			t.Logf("continued as new after %d messages, with the conversation's state", sent)
			lastRun = run
		}
		if sent >= nextReply && sent < messages {
			// Replies in between put updates (and Send API activities) in the history too.
			reply(fmt.Sprintf("reply after %d messages", sent))
			nextReply += messages / 3
		}
	}
	t.Logf("%d messages in %d deliveries, recorded in %s (%s of it posting)", messages, messages/longConversationBatch,
		time.Since(sendStart).Round(time.Millisecond), postTime.Round(time.Millisecond))

	// The first run's id is the conversation's id; the chain of runs from it must
	// have continued as new and must end in the run that is open now.
	runs := continuedRuns(t, c, workflowID, convID)
	if len(runs) < 2 {
		t.Fatalf("the conversation's workflow never continued as new (runs: %v)", runs)
	}
	if !carriedWindow {
		t.Log("every continue-as-new came in the middle of a delivery: the window's hand-over was not seen on its own")
	}
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	current := desc.WorkflowExecutionInfo
	if current.Execution.RunId != runs[len(runs)-1] || current.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("open run %s (%s), want the last of %v running", current.Execution.RunId, current.Status, runs)
	}
	t.Logf("%d runs; the open one has %d history events", len(runs), current.HistoryLength)

	// The newest run knows the conversation and measures the window from the last message.
	lastAt := time.UnixMilli(messageAt(messages - 1)).UTC()
	state, err := runState(c, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if state.ConversationID != convID || state.AgentID != a.ID || state.Status != contract.StatusAssigned || !state.LastCustomerMessageAt.Equal(lastAt) {
		t.Fatalf("newest run's state: conversation %s agent %s status %s last customer message %s; want %s, %s, assigned, %s",
			state.ConversationID, state.AgentID, state.Status, state.LastCustomerMessageAt, convID, a.ID, lastAt)
	}

	// The agent can still reply after continue-as-new, and Facebook receives it.
	reply("reply after the continue-as-new")
	if len(replies) != 3 {
		t.Fatalf("the agent replied %d times, want 3 (two while the customer wrote, one after)", len(replies))
	}
	sends := st.sim.Requests("/messages")
	if len(sends) != len(replies) {
		t.Fatalf("simulator saw %d sends, want %d", len(sends), len(replies))
	}
	lastSend := sends[len(sends)-1].Body
	recipient, _ := lastSend["recipient"].(map[string]any)
	message, _ := lastSend["message"].(map[string]any)
	if recipient["id"] != psid || lastSend["messaging_type"] != "RESPONSE" || message["text"] != "reply after the continue-as-new" {
		t.Fatalf("Send API call after continue-as-new: %v", lastSend)
	}

	// One conversation, its transcript complete, in order, nothing twice; the window
	// runs 24 hours from the last customer message.
	if n := st.count("conversations", "true"); n != 1 {
		t.Fatalf("%d conversations, want 1", n)
	}
	if n := st.count("(SELECT DISTINCT facebook_message_id FROM messages WHERE direction = 'inbound') AS ids", "true"); n != messages {
		t.Fatalf("%d distinct Facebook message ids, want %d", n, messages)
	}
	var conv struct {
		ID     string
		Status string
		Window struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		Messages []struct {
			Direction         string
			Sender            string
			Text              string
			FacebookMessageID string `json:"facebook_message_id"`
		}
	}
	if code := st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv); code != 200 {
		t.Fatalf("conversation: %d", code)
	}
	if conv.ID != convID || conv.Status != "assigned" || !conv.Window.ExpiresAt.Equal(lastAt.Add(24*time.Hour)) {
		t.Fatalf("conversation %s %s, window expires %s; want %s assigned, window expiring %s", conv.ID, conv.Status, conv.Window.ExpiresAt, convID, lastAt.Add(24*time.Hour))
	}
	var got []string
	for _, m := range conv.Messages {
		switch m.Sender {
		case "customer":
			got = append(got, "customer "+m.FacebookMessageID+" "+m.Text)
		default:
			got = append(got, m.Sender+" "+m.Text)
		}
	}
	if len(got) != len(transcript) {
		t.Fatalf("transcript has %d messages, want %d (%d from the customer, %d replies)", len(got), len(transcript), messages, len(replies))
	}
	for i := range got {
		if got[i] != transcript[i] {
			t.Fatalf("transcript message %d is %q, want %q", i, got[i], transcript[i])
		}
	}

	// Every run's history, as the server recorded it, replays against today's code:
	// the continue-as-new (and what led to it) is deterministic.
	for _, run := range runs {
		replayer := worker.NewWorkflowReplayer()
		workflows.Register(replayer)
		if err := replayer.ReplayWorkflowHistory(nil, workflowHistory(t, c, workflowID, run)); err != nil {
			t.Fatalf("replay of run %s: %v", run, err)
		}
	}
	t.Logf("whole test: %s", time.Since(started).Round(time.Millisecond))
}

// waitRecorded waits until n customer messages are in the transcript. It polls
// faster than eventually: it runs 300 times in the long-conversation test.
func (st *stack) waitRecorded(n int) {
	st.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for st.count("messages", "direction = 'inbound'") < n {
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out waiting for %d customer messages to be recorded", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitWorkflowSaw waits until the conversation's open run has taken in the
// customer message stamped lastAt (and so every one before it).
func waitWorkflowSaw(t *testing.T, c client.Client, workflowID string, lastAt time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A run that has just continued as new may not answer yet: ask again.
		state, err := runState(c, workflowID, "")
		if err == nil && state.LastCustomerMessageAt.Equal(lastAt) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workflow's last customer message is %s (%v), want %s", state.LastCustomerMessageAt, err, lastAt)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// messagesOfOwn counts the customer events a run was given itself, at its start
// or by signal, rather than inherited as recorded state.
func messagesOfOwn(t *testing.T, c client.Client, workflowID, runID string) int {
	t.Helper()
	n := 0
	for _, ev := range workflowHistory(t, c, workflowID, runID).Events {
		if started := ev.GetWorkflowExecutionStartedEventAttributes(); started != nil {
			var in contract.ConversationInput
			if err := converter.GetDefaultDataConverter().FromPayloads(started.Input, &in); err != nil {
				t.Fatal(err)
			}
			n += len(in.Pending)
		}
		if sig := ev.GetWorkflowExecutionSignaledEventAttributes(); sig != nil && sig.SignalName == contract.SignalInbound {
			n++
		}
	}
	return n
}

// runState asks one run of a conversation's workflow (the open one for runID "")
// what it knows.
func runState(c client.Client, workflowID, runID string) (contract.ConversationState, error) {
	var state contract.ConversationState
	q, err := c.QueryWorkflow(context.Background(), workflowID, runID, contract.QueryState)
	if err == nil {
		err = q.Get(&state)
	}
	return state, err
}

// continuedRuns follows a workflow's chain of runs from firstRun, by the
// continue-as-new event each closed run ends with, to the run still open.
func continuedRuns(t *testing.T, c client.Client, workflowID, firstRun string) []string {
	t.Helper()
	runs := []string{firstRun}
	for {
		it := c.GetWorkflowHistory(context.Background(), workflowID, runs[len(runs)-1], false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		if !it.HasNext() {
			return runs // still open: no close event
		}
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		attrs := ev.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if attrs == nil {
			t.Fatalf("run %s of %s closed with %s, not continue-as-new", runs[len(runs)-1], workflowID, ev.EventType)
		}
		runs = append(runs, attrs.NewExecutionRunId)
	}
}

func workflowHistory(t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

// devServerSuggestingContinueAsNewAt starts a Temporal dev server of the test's own
// (stopped when it ends) that suggests continue-as-new once a run's history has
// events events, and answers its client.
func devServerSuggestingContinueAsNewAt(t *testing.T, events int) client.Client {
	t.Helper()
	cli := os.Getenv("TEMPORAL_CLI")
	if cli == "" {
		cli, _ = filepath.Abs("../bin/temporal")
	}
	ctx := context.Background()
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{Namespace: namespace, Logger: quietLogger()},
		LogLevel:      "error",
		ExtraArgs:     []string{"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", events)},
	})
	if err != nil {
		t.Fatal("start a Temporal dev server:", err)
	}
	t.Cleanup(func() { _ = server.Stop() })
	if err := workflows.EnsureSearchAttributes(ctx, server.Client(), namespace); err != nil {
		t.Fatal(err)
	}
	return server.Client()
}
