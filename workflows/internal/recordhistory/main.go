// Command recordhistory records the workflow histories that workflows/replay_test.go
// replays: at least one per workflow type the worker registers, from scenarios that
// take it along its paths. It runs the real channel (app/apptest) — a Temporal dev
// server from ./bin/temporal, a fresh Postgres database, the Graph API simulator, a
// worker and the starter's HTTP API — and drives it over the HTTP API and the
// webhook, as the e2e tests do. Each run's history is written as JSON (the format
// of `temporal workflow show -o json`) into workflows/testdata/, named after the
// scenario and -tag.
//
// The main story (story.go), on one page:
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
// The scenarios (scenarios.go), each on a page of its own whose workstream has the
// rules it needs:
//
//   - conversation-ended-TAG.json, wrap-up-TAG.json: the agent ends a conversation
//     into a wrap-up that blocks its capacity, and finishes the wrap-up;
//     wrap-up-timed-TAG.json: a wrap-up that ends by itself after its seconds;
//   - conversation-hold-TAG.json: put on hold, brought back by the customer's
//     message; on hold again while the agent takes another conversation, the
//     customer's message waits for the hold-return timeout and the conversation is
//     routed again, assigned when the agent has room, transferred to another agent;
//   - conversation-parked-TAG.json, page-reauthorised-TAG.json: the page's token is
//     revoked, the agent's replies are parked (the page workflow hears of the
//     invalid token) and go out once a new token is provisioned;
//     conversation-stray-events-TAG.json: then a delivery receipt for the closed
//     conversation starts a run that only records it;
//   - conversation-offer-TAG.json: offered to an agent who declines, to one who
//     lets the countdown run out, to one who accepts;
//   - conversation-queue-full-TAG.json, conversation-out-of-hours-TAG.json: the
//     rules before queueing end the conversation with their notices;
//     conversation-held-until-opening-TAG.json: out of hours with assign_anyway,
//     held out of the queue until the opening (the next whole minute), then
//     assigned;
//   - conversation-customer-timeout-TAG.json: the customer does not answer the
//     agent in time; conversation-agent-timeout-TAG.json: the agent does not answer,
//     is reminded, and the conversation goes to another agent;
//   - queue-overflow-TAG.json: a queue whose conversation nobody takes within the
//     maximum wait moves it to the overflow queue (its timer);
//     queue-affinity-TAG.json: a queue whose returning customer waits for the
//     previous agent (its timer), then goes to another.
//
// Paths that take hours or days of real time are not recorded (the inactivity
// and HUMAN_AGENT-window closes, the page's daily health check); the
// time-skipping tests in package workflows take them.
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
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"fbchannel/app/apptest"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

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
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := run(ctx, *out, *tag, *cli, apptest.DefaultDatabaseURL()); err != nil {
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
		DatabaseURL: baseDSN, Database: "fbchannel_record_" + apptest.RandomHex(6), TaskQueue: "fbchannel-record-" + apptest.RandomHex(4),
		Starter: tc,
	})
	if err != nil {
		return err
	}
	defer stack.Close()
	r := &recorder{stack: stack, db: stack.DB, tc: tc}

	// The worker starts the reply sweeper; here it sweeps every second, so its
	// history has a few sweeps by the end of the story.
	if err := workflows.StartReplySweeper(ctx, tc, stack.TaskQueue, workflows.ReplySweeperInput{Every: time.Second}); err != nil {
		return err
	}
	if err := r.story(ctx); err != nil {
		return err
	}
	// It waits for the next whole minute: the other scenarios run meanwhile.
	held, err := r.heldUntilOpening(ctx)
	if err != nil {
		return err
	}
	for _, scenario := range []func(context.Context) error{
		r.wrapUp, r.hold, r.parkedReplies, r.offers, r.queueFull, r.outOfHours, r.customerTimeout, r.agentTimeout, r.overflowAfterMaxWait, r.affinity, held,
	} {
		if err := scenario(ctx); err != nil {
			return err
		}
	}
	r.keepEndless("reply-sweeper", recordedRun{workflowID: workflows.ReplySweeperWorkflowID(stack.TaskQueue)})

	// The queue and sweeper workflows run for ever: end them so their recorded
	// histories are complete and the same on every read.
	for _, run := range r.endless {
		if err := tc.TerminateWorkflow(ctx, run.workflowID, "", "history recorded"); err != nil {
			return fmt.Errorf("terminate %s: %w", run.workflowID, err)
		}
	}
	for _, f := range r.files {
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

// recorder drives the stack and collects the runs whose histories it writes.
type recorder struct {
	stack *apptest.Stack
	db    *sql.DB
	tc    client.Client
	files []recordedFile
	// endless are runs that never end by themselves (terminated before writing).
	endless []recordedRun
}

type recordedFile struct {
	name string
	run  recordedRun
}

// keep records the run's history as name-TAG.json.
func (r *recorder) keep(name string, run recordedRun) {
	r.files = append(r.files, recordedFile{name, run})
}

// keepEndless is keep for a workflow that runs for ever (a queue, the sweeper).
func (r *recorder) keepEndless(name string, run recordedRun) {
	r.keep(name, run)
	r.endless = append(r.endless, run)
}

// call sends a JSON request with the token, checks the status and decodes the
// answer into out.
func (r *recorder) call(ctx context.Context, method, path, token string, wantStatus int, body, out any) error {
	code, raw, err := r.stack.Call(ctx, token, method, path, body, out)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != wantStatus {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, code, wantStatus, raw)
	}
	return nil
}

// admin is call with the admin's token.
func (r *recorder) admin(ctx context.Context, method, path string, wantStatus int, body, out any) error {
	return r.call(ctx, method, path, r.stack.AdminToken, wantStatus, body, out)
}

// customerSays posts the customer's message to the page's webhook (mid "": a new one).
func (r *recorder) customerSays(ctx context.Context, p apptest.Page, psid, text, mid string) error {
	status, body, err := r.stack.Sim.PostCustomerMessage(ctx, p.CallbackURL, p.AppSecret, p.PageID, psid, text, mid)
	if err != nil || status != 200 {
		return fmt.Errorf("customer message: %d %s %v", status, body, err)
	}
	return nil
}

// agent is an agent of the API, with its bearer token.
type agent struct{ ID, Token string }

// newAgent creates an agent (offline) and makes it available.
func (r *recorder) newAgent(ctx context.Context, name string, capacity int) (agent, error) {
	a, err := r.createAgent(ctx, name, capacity)
	if err != nil {
		return a, err
	}
	return a, r.setPresence(ctx, a, "available")
}

// createAgent creates an agent; it is offline.
func (r *recorder) createAgent(ctx context.Context, name string, capacity int) (agent, error) {
	var a agent
	err := r.admin(ctx, "POST", "/api/v1/agents", 201, map[string]any{"name": name, "email": name + "-" + apptest.RandomHex(3) + "@example.com", "capacity": capacity}, &a)
	return a, err
}

func (r *recorder) setPresence(ctx context.Context, a agent, presence string) error {
	return r.call(ctx, "PUT", "/api/v1/me/presence", a.Token, 200, map[string]string{"status": presence}, nil)
}

// reply has the agent reply in the conversation and checks the outcome's status.
func (r *recorder) reply(ctx context.Context, a agent, convID, text, wantStatus string) error {
	var out map[string]any
	if err := r.call(ctx, "POST", "/api/v1/conversations/"+convID+"/messages", a.Token, 201, map[string]string{"text": text}, &out); err != nil {
		return err
	}
	if out["status"] != wantStatus {
		return fmt.Errorf("reply %q: %v, want %s", text, out, wantStatus)
	}
	return nil
}

// act posts one of the agent's actions on the conversation (close, hold, end...).
func (r *recorder) act(ctx context.Context, a agent, convID, action string, body any) error {
	return r.call(ctx, "POST", "/api/v1/conversations/"+convID+"/"+action, a.Token, 200, body, nil)
}

// closeRun has the agent close the conversation and waits for its run to complete.
func (r *recorder) closeRun(ctx context.Context, a agent, run recordedRun) error {
	if err := r.act(ctx, a, run.runID, "close", nil); err != nil {
		return err
	}
	return r.completed(ctx, run)
}

// completed waits for the run to complete.
func (r *recorder) completed(ctx context.Context, run recordedRun) error {
	if err := r.tc.GetWorkflow(ctx, run.workflowID, run.runID).Get(ctx, nil); err != nil {
		return fmt.Errorf("%s (run %s) did not complete: %w", run.workflowID, run.runID, err)
	}
	return nil
}

// nextRun waits for a run of the workflow after the given one (continued as new,
// or started again) and answers it.
func (r *recorder) nextRun(ctx context.Context, after recordedRun) (recordedRun, error) {
	next := recordedRun{workflowID: after.workflowID}
	err := eventually(ctx, "a run of "+after.workflowID+" after "+after.runID, func() (bool, error) {
		desc, err := r.tc.DescribeWorkflowExecution(ctx, after.workflowID, "")
		if err != nil {
			return false, err
		}
		next.runID = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		return next.runID != after.runID, nil
	})
	return next, err
}

// conversationRun waits until the customer's latest conversation on the page
// has the status, in the database and in its run, and answers the run: the
// conversation id is the run id of the workflow run that opened it.
func (r *recorder) conversationRun(ctx context.Context, pageID, psid, status string) (recordedRun, error) {
	id, err := r.conversationOf(ctx, psid, status)
	run := recordedRun{workflowID: contract.ConversationWorkflowID(pageID, psid), runID: id}
	if err != nil {
		return run, err
	}
	return run, r.runKnows(ctx, run, status, "")
}

// conversationOf waits until the customer's latest conversation has the status
// in the database, and answers its id.
func (r *recorder) conversationOf(ctx context.Context, psid, status string) (string, error) {
	var id string
	err := eventually(ctx, "the conversation of "+psid+" is "+status, func() (bool, error) {
		var got string
		err := r.db.QueryRowContext(ctx, `SELECT c.id, c.status FROM conversations c JOIN customers cu ON cu.id = c.customer_id
			WHERE cu.psid = $1 ORDER BY c.opened_at DESC LIMIT 1`, psid).Scan(&id, &got)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return got == status, err
	})
	return id, err
}

// assignedTo waits until the conversation is assigned to the agent, in the
// database and in its run.
func (r *recorder) assignedTo(ctx context.Context, run recordedRun, a agent) error {
	if err := eventually(ctx, "conversation "+run.runID+" is assigned to "+a.ID, func() (bool, error) {
		var n int
		err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM conversations WHERE id = $1 AND status = 'assigned' AND agent_id = $2`, run.runID, a.ID).Scan(&n)
		return n == 1, err
	}); err != nil {
		return err
	}
	return r.runKnows(ctx, run, "assigned", a.ID)
}

// runKnows waits until the conversation's run has the status (and the agent,
// unless ""), as its state query answers. The service commits first and tells the
// run after (a signal), so a scenario's next step waits for this: it then takes
// the path the scenario means, the same on every recording, rather than racing
// the run's signals.
func (r *recorder) runKnows(ctx context.Context, run recordedRun, status, agentID string) error {
	return eventually(ctx, "the run of conversation "+run.runID+" knows it is "+status+" "+agentID, func() (bool, error) {
		v, err := r.tc.QueryWorkflow(ctx, run.workflowID, run.runID, contract.QueryState)
		if err != nil {
			return false, nil // e.g. no worker has the run's task yet: ask again
		}
		var st contract.ConversationState
		if err := v.Get(&st); err != nil {
			return false, err
		}
		return st.Status == status && (agentID == "" || st.AgentID == agentID), nil
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
