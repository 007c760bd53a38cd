// Command recordhistory records the workflow histories that workflows/replay_test.go
// replays. It runs the real channel (app/apptest) — a Temporal dev server from ./bin/temporal, a
// fresh Postgres database, the Graph API simulator, a worker and the starter's HTTP
// API — through one story that takes every workflow type along its main paths, and
// writes each run's history as JSON (the format of `temporal workflow show -o json`)
// into workflows/testdata/, named after the workflow and -tag:
//
//   - conversation-TAG.json: a customer writes (and Facebook redelivers the
//     message), the queue assigns an agent (greeting, agent joined), the agent's reply
//     is sent, a second reply fails permanently (user_unavailable), the agent closes
//     the conversation (farewell, survey);
//   - conversation-reopened-TAG.json: the agent reopens it (a new run of the same
//     workflow), replies and closes again;
//   - conversation-long-TAG.json: a customer who keeps writing, one message at a
//     time, until the run's history is long enough for Temporal to suggest
//     continue-as-new (lowered to suggestContinueAsNewAt events): the run continues
//     as new with the conversation's state;
//   - conversation-continued-TAG.json: that continued run: the agent replies, and the
//     account's deletion closes it;
//   - conversation-bot-TAG.json: the workstream now has a bot; a second customer
//     asks it a question, then asks for an agent: the bot hands over, the queue
//     assigns the agent; the account is deleted, which closes the conversation on
//     the service's request (with its notice);
//   - queue-TAG.json: the default queue's workflow that made those assignments;
//   - page-TAG.json: the page's workflow: provisioned, provisioned again after the
//     admin replaced its token, then deleted with its account (the deletion saga);
//   - account-deletion-TAG.json: the account's deletion;
//   - reply-sweeper-TAG.json: the reply sweeper's first sweeps;
//   - history-import-TAG.json: the page's history import on connect (two past
//     threads of 65 messages);
//   - retention-TAG.json: a retention run erasing the first conversation, made
//     40 days old, of an account with retention_days 30.
//
// Record after changing a workflow, from the repository root:
//
//	make tools                             # builds ./bin/temporal once
//	go run ./workflows/internal/recordhistory -tag v1
//
// Until the first production deployment there are no runs to keep compatible:
// replace the files. From then on, keep the files of every version that may still
// have open runs, and record the new code's next to them under a new tag.
//
// DATABASE_URL (default: the local e2e Postgres) names the Postgres server; the
// database created for the run is dropped at the end. Flags: -out, -tag, -temporal.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"fbchannel/app/apptest"
	"fbchannel/simulator"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

const namespace = "default"

// suggestContinueAsNewAt is above every other run's history in the story, and below
// the long conversation's (longConversationDeliveries of about five events each:
// the signal, one workflow task and the recording's local-activity marker).
const (
	suggestContinueAsNewAt     = 200
	longConversationDeliveries = 60
)

func main() {
	out := flag.String("out", filepath.Join("workflows", "testdata"), "directory the JSON histories are written to")
	tag := flag.String("tag", time.Now().UTC().Format("20060102"), "suffix of the file names")
	cli := flag.String("temporal", apptest.TemporalCLI(), "the Temporal CLI that runs the dev server (env TEMPORAL_CLI)")
	flag.Parse()
	dsn := apptest.DefaultDatabaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, *out, *tag, *cli, dsn); err != nil {
		fmt.Fprintln(os.Stderr, "recordhistory:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, outDir, tag, cli, baseDSN string) error {
	if _, err := os.Stat(cli); err != nil {
		return fmt.Errorf("the Temporal CLI is missing at %s (run `make tools`, or pass -temporal): %w", cli, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	// A conversation is suggested to continue as new after suggestContinueAsNewAt
	// events (4,096 by default), so the story's long conversation takes that path.
	server, err := apptest.StartTemporal(ctx, apptest.Temporal{CLI: cli, Logger: logger,
		ExtraArgs: []string{"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", suggestContinueAsNewAt)}})
	if err != nil {
		return err
	}
	defer server.Stop()
	tc := server.Client()

	// The channel as package app builds it, on a database of its own.
	stack, err := apptest.Start(ctx, apptest.Options{
		DatabaseURL: baseDSN, Database: "fbchannel_record_" + randomHex(6), TaskQueue: "fbchannel-record-" + randomHex(4),
		Starter: tc,
	})
	if err != nil {
		return err
	}
	defer stack.Close()
	taskQueue := stack.TaskQueue
	h := &harness{sim: stack.Sim, simURL: stack.SimURL, db: stack.DB, api: stack.APIURL, adminToken: stack.AdminToken, taskQueue: taskQueue}

	// The worker starts the reply sweeper; here it sweeps every second, so its
	// history has a few sweeps by the end of the story.
	if err := workflows.StartReplySweeper(ctx, tc, taskQueue, workflows.ReplySweeperInput{Every: time.Second}); err != nil {
		return err
	}
	runs, err := h.story(ctx, tc)
	if err != nil {
		return err
	}

	// The queue and sweeper workflows run for ever: end them so their recorded
	// histories are complete and the same on every read.
	for _, id := range []string{runs.queue.workflowID, runs.sweeper.workflowID} {
		if err := tc.TerminateWorkflow(ctx, id, "", "history recorded"); err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
	}
	files := []struct {
		name string
		run  recordedRun
	}{
		{"conversation", runs.conversation},
		{"conversation-reopened", runs.reopened},
		{"conversation-bot", runs.bot},
		{"conversation-long", runs.long},
		{"conversation-continued", runs.continued},
		{"queue", runs.queue},
		{"page", runs.page},
		{"account-deletion", runs.accountDeletion},
		{"reply-sweeper", runs.sweeper},
		{"history-import", runs.historyImport},
		{"retention", runs.retention},
	}
	for _, f := range files {
		path := filepath.Join(outDir, f.name+"-"+tag+".json")
		n, err := writeHistory(ctx, tc, f.run.workflowID, f.run.runID, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Printf("wrote %s: %d events of %s\n", path, n, f.run.workflowID)
	}
	return nil
}

// recordedRun names one workflow run (the latest of its workflow id when runID is empty).
type recordedRun struct{ workflowID, runID string }

type storyRuns struct {
	conversation, reopened, bot recordedRun
	long, continued             recordedRun
	queue, page                 recordedRun
	accountDeletion, sweeper    recordedRun
	historyImport, retention    recordedRun
}

// story drives the channel over its HTTP API, as the e2e tests do.
func (h *harness) story(ctx context.Context, tc client.Client) (storyRuns, error) {
	var runs storyRuns
	appID, appSecret := "app-"+randomHex(4), "secret-"+randomHex(16)
	pageID, pageToken := "100000000000042", "EAAB"+randomHex(20)
	h.sim.RegisterApp(appID, appSecret)
	h.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "Recorded Page", AccessToken: pageToken, AppID: appID})
	// The page's past threads, imported when it is connected.
	past := []simulator.HistoryThread{{ID: "t_recorded_1", PSID: "2900000000000051", CustomerName: "Past Customer"},
		{ID: "t_recorded_2", PSID: "2900000000000052", CustomerName: "Other Past Customer"}}
	for i := range 130 {
		past[i%2].Messages = append(past[i%2].Messages, simulator.HistoryMessage{MID: fmt.Sprintf("m_recorded_past_%03d", i),
			At: time.Now().Add(-48*time.Hour + time.Duration(i)*time.Minute), FromPage: i%3 == 0, Text: fmt.Sprintf("earlier %d", i)})
	}
	h.sim.SetHistory(pageID, past)

	var acct struct{ ID string }
	if err := h.call("POST", "/api/v1/accounts", h.adminToken, 201, map[string]string{"name": "Acme", "app_id": appID, "app_secret": appSecret}, &acct); err != nil {
		return runs, err
	}
	var page struct {
		ID             string `json:"id"`
		CallbackURL    string `json:"callback_url"`
		DefaultQueueID string `json:"default_queue_id"`
		WorkstreamID   string `json:"workstream_id"`
	}
	if err := h.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", h.adminToken, 201, map[string]string{"name": "Acme Support", "page_id": pageID, "access_token": pageToken}, &page); err != nil {
		return runs, err
	}
	if err := h.pageActive(ctx, page.ID); err != nil {
		return runs, err
	}
	runs.page = recordedRun{workflowID: contract.PageWorkflowID(page.ID)}
	runs.historyImport = recordedRun{workflowID: contract.HistoryImportWorkflowID(page.ID)}
	if err := tc.GetWorkflow(ctx, runs.historyImport.workflowID, "").Get(ctx, nil); err != nil {
		return runs, fmt.Errorf("the history import did not complete: %w", err)
	}
	runs.queue = recordedRun{workflowID: contract.QueueWorkflowID(page.DefaultQueueID)}
	runs.accountDeletion = recordedRun{workflowID: contract.AccountDeletionWorkflowID(acct.ID)}

	var agent struct{ ID, Token string }
	if err := h.call("POST", "/api/v1/agents", h.adminToken, 201, map[string]any{"name": "ada", "email": "ada-" + randomHex(3) + "@example.com", "capacity": 2}, &agent); err != nil {
		return runs, err
	}
	if err := h.call("PUT", "/api/v1/me/presence", agent.Token, 200, map[string]string{"status": "available"}, nil); err != nil {
		return runs, err
	}
	customerSays := func(psid, text, mid string) error {
		status, body, err := h.sim.PostCustomerMessage(ctx, page.CallbackURL, appSecret, pageID, psid, text, mid)
		if err != nil || status != 200 {
			return fmt.Errorf("customer message: %d %s %v", status, body, err)
		}
		return nil
	}
	reply := func(convID, text, wantStatus string) error {
		var out map[string]any
		if err := h.call("POST", "/api/v1/conversations/"+convID+"/messages", agent.Token, 201, map[string]string{"text": text}, &out); err != nil {
			return err
		}
		if out["status"] != wantStatus {
			return fmt.Errorf("reply %q: %v, want %s", text, out, wantStatus)
		}
		return nil
	}

	// The first conversation: opened, assigned, replied to, closed.
	psid := "2900000000000042"
	for range 2 { // Facebook redelivers: the second copy must add nothing
		if err := customerSays(psid, "Hello, my order is late", "m_recorded_1"); err != nil {
			return runs, err
		}
	}
	convID, err := h.conversationOf(ctx, psid, "assigned")
	if err != nil {
		return runs, err
	}
	conversationWorkflowID := contract.ConversationWorkflowID(pageID, psid)
	// The conversation id is the run id of the workflow run that opened it.
	runs.conversation = recordedRun{workflowID: conversationWorkflowID, runID: convID}
	if err := reply(convID, "Sorry! Checking now.", "sent"); err != nil {
		return runs, err
	}
	h.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 551, Subcode: 1545041,
		Message: "This person isn't available right now.", Times: 1})
	var failed map[string]any
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/messages", agent.Token, 201, map[string]string{"text": "Are you there?"}, &failed); err != nil {
		return runs, err
	}
	if failed["status"] != "failed" || failed["reason"] != "user_unavailable" {
		return runs, fmt.Errorf("the refused reply did not fail as user_unavailable: %v", failed)
	}
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/close", agent.Token, 200, nil, nil); err != nil {
		return runs, err
	}
	if err := tc.GetWorkflow(ctx, conversationWorkflowID, convID).Get(ctx, nil); err != nil {
		return runs, fmt.Errorf("the closed conversation's run did not complete: %w", err)
	}

	// Reopened: a new run of the same workflow, back to the same agent.
	var reopened map[string]any
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/reopen", agent.Token, 200, nil, &reopened); err != nil {
		return runs, err
	}
	if reopened["status"] != "assigned" {
		return runs, fmt.Errorf("reopened: %v, want assigned", reopened)
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, conversationWorkflowID, "")
	if err != nil {
		return runs, err
	}
	runs.reopened = recordedRun{workflowID: conversationWorkflowID, runID: desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()}
	if err := reply(convID, "Reopened to add one thing: it ships today.", "sent"); err != nil {
		return runs, err
	}
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/close", agent.Token, 200, nil, nil); err != nil {
		return runs, err
	}
	if err := tc.GetWorkflow(ctx, conversationWorkflowID, runs.reopened.runID).Get(ctx, nil); err != nil {
		return runs, fmt.Errorf("the reopened conversation's run did not complete: %w", err)
	}

	// A long conversation outgrows its run and continues as new with its state; the
	// agent replies in the continued run.
	longPSID := "2900000000000044"
	for i := range longConversationDeliveries {
		if err := customerSays(longPSID, fmt.Sprintf("One more detail (%d)", i+1), fmt.Sprintf("m_recorded_long_%02d", i)); err != nil {
			return runs, err
		}
		// One delivery at a time, each recorded before the next, as a customer
		// typing: every one costs the run its own workflow tasks and activity.
		if err := eventually(ctx, "the long conversation's message is recorded", func() (bool, error) {
			var n int
			err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
				JOIN customers cu ON cu.id = c.customer_id WHERE cu.psid = $1 AND m.sender = 'customer'`, longPSID).Scan(&n)
			return n > i, err
		}); err != nil {
			return runs, err
		}
	}
	longConvID, err := h.conversationOf(ctx, longPSID, "assigned")
	if err != nil {
		return runs, err
	}
	longWorkflowID := contract.ConversationWorkflowID(pageID, longPSID)
	runs.long = recordedRun{workflowID: longWorkflowID, runID: longConvID}
	if err := eventually(ctx, "the long conversation continues as new", func() (bool, error) {
		desc, err := tc.DescribeWorkflowExecution(ctx, longWorkflowID, "")
		if err != nil {
			return false, err
		}
		runs.continued = recordedRun{workflowID: longWorkflowID, runID: desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()}
		return runs.continued.runID != longConvID, nil
	}); err != nil {
		return runs, err
	}
	if err := reply(longConvID, "Thanks, all noted.", "sent"); err != nil {
		return runs, err
	}

	// A bot first: it answers a question, then hands over when asked for an agent.
	if err := h.call("PATCH", "/api/v1/workstreams/"+page.WorkstreamID, h.adminToken, 200, map[string]any{"bot_url": h.simURL + "/_sim/bot"}, nil); err != nil {
		return runs, err
	}
	botPSID := "2900000000000043"
	if err := customerSays(botPSID, "What are your opening hours?", "m_recorded_bot_1"); err != nil {
		return runs, err
	}
	botConvID, err := h.conversationOf(ctx, botPSID, "bot")
	if err != nil {
		return runs, err
	}
	runs.bot = recordedRun{workflowID: contract.ConversationWorkflowID(pageID, botPSID), runID: botConvID}
	if err := eventually(ctx, "the bot answers", func() (bool, error) {
		var n int
		err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND sender = 'bot'`, botConvID).Scan(&n)
		return n > 0, err
	}); err != nil {
		return runs, err
	}
	if err := customerSays(botPSID, "I want to talk to an agent please", "m_recorded_bot_2"); err != nil {
		return runs, err
	}
	if _, err := h.conversationOf(ctx, botPSID, "assigned"); err != nil {
		return runs, err
	}

	// A replaced token makes the page workflow provision again.
	newToken := "EAAB" + randomHex(20)
	h.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "Recorded Page", AccessToken: newToken, AppID: appID})
	if err := h.call("PUT", "/api/v1/pages/"+page.ID+"/token", h.adminToken, 200, map[string]string{"access_token": newToken}, nil); err != nil {
		return runs, err
	}
	if err := h.pageActive(ctx, page.ID); err != nil {
		return runs, err
	}
	if err := eventually(ctx, "the page workflow provisions again", func() (bool, error) {
		return len(h.sim.Requests("/subscribed_apps")) >= 2, nil
	}); err != nil {
		return runs, err
	}

	// Retention: the account keeps 30 days; the first conversation, closed, is
	// made 40 days old and a retention run (as the daily schedule starts) erases it.
	if err := h.call("PATCH", "/api/v1/accounts/"+acct.ID, h.adminToken, 200, map[string]any{"retention_days": 30}, nil); err != nil {
		return runs, err
	}
	if _, err := h.db.ExecContext(ctx, `UPDATE conversations SET closed_at = now() - interval '40 days' WHERE id = $1`, convID); err != nil {
		return runs, err
	}
	runs.retention = recordedRun{workflowID: "retention-recorded"}
	retention, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: runs.retention.workflowID, TaskQueue: h.taskQueue},
		contract.RetentionWorkflowType, workflows.RetentionInput{})
	if err != nil {
		return runs, err
	}
	var erased workflows.RetentionResult
	if err := retention.Get(ctx, &erased); err != nil {
		return runs, fmt.Errorf("the retention run: %w", err)
	}
	if erased.Total.Conversations < 1 {
		return runs, fmt.Errorf("the retention run erased %+v; want the old conversation", erased.Total)
	}

	// Deleting the account deletes its page, which closes the open conversation.
	if err := h.call("DELETE", "/api/v1/accounts/"+acct.ID, h.adminToken, 202, nil, nil); err != nil {
		return runs, err
	}
	for _, run := range []recordedRun{runs.accountDeletion, runs.page, runs.bot, runs.continued} {
		if err := tc.GetWorkflow(ctx, run.workflowID, run.runID).Get(ctx, nil); err != nil {
			return runs, fmt.Errorf("%s did not complete: %w", run.workflowID, err)
		}
	}
	runs.sweeper = recordedRun{workflowID: workflows.ReplySweeperWorkflowID(h.taskQueue)}
	return runs, nil
}

// conversationOf waits until the customer's latest conversation has the status,
// and answers its id.
func (h *harness) conversationOf(ctx context.Context, psid, status string) (string, error) {
	var id string
	err := eventually(ctx, "the conversation of "+psid+" is "+status, func() (bool, error) {
		err := h.db.QueryRowContext(ctx, `SELECT c.id FROM conversations c JOIN customers cu ON cu.id = c.customer_id
			WHERE cu.psid = $1 AND c.status = $2 ORDER BY c.opened_at DESC LIMIT 1`, psid, status).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return id, err
}

type harness struct {
	sim        *simulator.Simulator
	simURL     string
	db         *sql.DB
	api        string
	adminToken string
	taskQueue  string
}

// call sends a JSON request, checks the status and decodes the answer into out.
func (h *harness) call(method, path, token string, wantStatus int, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.api+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != wantStatus {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func (h *harness) pageActive(ctx context.Context, pageUUID string) error {
	return eventually(ctx, "page "+pageUUID+" becomes active", func() (bool, error) {
		var p struct {
			ProvisioningStatus string `json:"provisioning_status"`
			LastError          string `json:"last_error"`
		}
		if err := h.call("GET", "/api/v1/pages/"+pageUUID, h.adminToken, 200, nil, &p); err != nil {
			return false, err
		}
		if p.ProvisioningStatus == "failed" {
			return false, fmt.Errorf("provisioning failed: %s", p.LastError)
		}
		return p.ProvisioningStatus == "active", nil
	})
}

func eventually(ctx context.Context, what string, ok func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		done, err := ok()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting until %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeHistory saves every event of one run (the latest when runID is empty).
func writeHistory(ctx context.Context, tc client.Client, workflowID, runID, path string) (int, error) {
	hist := &historypb.History{}
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, err
		}
		hist.Events = append(hist.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		return 0, err
	}
	return len(hist.Events), os.WriteFile(path, append(b, '\n'), 0o644)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
