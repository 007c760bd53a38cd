// Command recordhistory records the workflow histories that workflows/replay_test.go
// replays. It runs the real channel — a Temporal dev server from ./bin/temporal, a
// fresh Postgres database, the Graph API simulator, a worker and the starter's HTTP
// API — through one short story, and writes each workflow's history as JSON (the
// format of `temporal workflow show -o json`) into workflows/testdata/, named after
// the workflow and -tag (default: today's date, UTC):
//
//   - conversation-TAG.json: a customer writes (and Facebook redelivers the
//     message), the queue assigns an agent, the agent's reply is sent, a second reply
//     fails permanently (user_unavailable), the agent closes the conversation;
//   - queue-TAG.json: the default queue's workflow that made the assignment;
//   - page-TAG.json: the page's workflow: provisioned, then provisioned again after
//     the admin replaced its token.
//
// Record after changing a workflow, from the repository root:
//
//	make tools                             # builds ./bin/temporal once
//	go run ./workflows/internal/recordhistory
//
// Keep the older files: runs started by the previous code may still be open, and the
// replay test proves the new code (behind workflow.GetVersion) still replays them.
// Delete a file only when no run of that code can exist any more.
//
// DATABASE_URL (default: the local e2e Postgres) names the Postgres server; the
// database created for the run is dropped at the end. Flags: -out, -tag, -temporal.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/api"
	"fbchannel/graph"
	"fbchannel/relay"
	"fbchannel/schema"
	"fbchannel/secrets"
	"fbchannel/simulator"
	"fbchannel/store"
	"fbchannel/workflows"
)

const namespace = "default"

func main() {
	out := flag.String("out", filepath.Join("workflows", "testdata"), "directory the JSON histories are written to")
	tag := flag.String("tag", time.Now().UTC().Format("20060102"), "suffix of the file names")
	cli := flag.String("temporal", filepath.Join("bin", "temporal"), "the Temporal CLI that runs the dev server")
	flag.Parse()
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
	}
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
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{Namespace: namespace, Logger: logger},
		LogLevel:      "error",
	})
	if err != nil {
		return fmt.Errorf("start the Temporal dev server: %w", err)
	}
	defer server.Stop()
	tc := server.Client()
	if err := workflows.EnsureSearchAttributes(ctx, tc, namespace); err != nil {
		return err
	}

	dsn, dropDatabase, err := freshDatabase(ctx, baseDSN)
	if err != nil {
		return err
	}
	defer dropDatabase()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := schema.Migrate(ctx, db); err != nil {
		return err
	}
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(randomBytes(32)))
	if err != nil {
		return err
	}
	st := &store.Store{DB: db, Box: box}

	sim := simulator.New()
	simServer := httptest.NewServer(sim)
	defer simServer.Close()

	taskQueue := "fbchannel-record-" + randomHex(4)
	w := worker.New(tc, taskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivity(&activities.Activities{Store: st, Graph: graph.New(simServer.URL, "v23.0", nil), Temporal: tc, TaskQueue: taskQueue})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	apiServer := httptest.NewServer(nil)
	defer apiServer.Close()
	h := &harness{sim: sim, db: db, api: apiServer.URL, adminToken: "admin-" + randomHex(8)}
	// The inbox relay hands webhook events to the conversation workflow, as in the starter.
	inbox := relay.New(relay.Options{Store: st, Temporal: tc, TaskQueue: taskQueue})
	relayCtx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	go func() { _ = inbox.Run(relayCtx) }()
	apiServer.Config.Handler = (&api.Server{
		Store: st, Temporal: tc, TaskQueue: taskQueue, PublicBaseURL: apiServer.URL, AdminToken: h.adminToken,
		WebhookMaxBytes: 64 << 10, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Relay: inbox,
	}).Handler()

	ids, err := h.story(ctx, tc)
	if err != nil {
		return err
	}

	// The queue and page workflows run for ever: end them so their recorded
	// histories are complete and the same on every read.
	for _, id := range []string{ids.queueWorkflowID, ids.pageWorkflowID} {
		if err := tc.TerminateWorkflow(ctx, id, "", "history recorded"); err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
	}
	files := []struct{ name, workflowID, runID string }{
		{"conversation-" + tag + ".json", ids.conversationWorkflowID, ids.conversationRunID},
		{"queue-" + tag + ".json", ids.queueWorkflowID, ""},
		{"page-" + tag + ".json", ids.pageWorkflowID, ""},
	}
	for _, f := range files {
		path := filepath.Join(outDir, f.name)
		n, err := writeHistory(ctx, tc, f.workflowID, f.runID, path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		fmt.Printf("wrote %s: %d events of %s\n", path, n, f.workflowID)
	}
	return nil
}

type storyIDs struct {
	conversationWorkflowID, conversationRunID string
	queueWorkflowID, pageWorkflowID           string
}

// story drives the channel over its HTTP API, as the e2e tests do.
func (h *harness) story(ctx context.Context, tc client.Client) (storyIDs, error) {
	appID, appSecret := "app-"+randomHex(4), "secret-"+randomHex(16)
	pageID, pageToken := "100000000000042", "EAAB"+randomHex(20)
	h.sim.RegisterApp(appID, appSecret)
	h.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "Recorded Page", AccessToken: pageToken, AppID: appID})

	var acct struct{ ID string }
	if err := h.call("POST", "/api/v1/accounts", h.adminToken, 201, map[string]string{"name": "Acme", "app_id": appID, "app_secret": appSecret}, &acct); err != nil {
		return storyIDs{}, err
	}
	var page struct {
		ID             string `json:"id"`
		CallbackURL    string `json:"callback_url"`
		DefaultQueueID string `json:"default_queue_id"`
	}
	if err := h.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", h.adminToken, 201, map[string]string{"name": "Acme Support", "page_id": pageID, "access_token": pageToken}, &page); err != nil {
		return storyIDs{}, err
	}
	if err := h.pageActive(ctx, page.ID); err != nil {
		return storyIDs{}, err
	}

	var agent struct{ ID, Token string }
	if err := h.call("POST", "/api/v1/agents", h.adminToken, 201, map[string]any{"name": "ada", "email": "ada-" + randomHex(3) + "@example.com", "capacity": 2}, &agent); err != nil {
		return storyIDs{}, err
	}
	if err := h.call("PUT", "/api/v1/me/presence", agent.Token, 200, map[string]string{"status": "available"}, nil); err != nil {
		return storyIDs{}, err
	}

	psid := "2900000000000042"
	for range 2 { // Facebook redelivers: the second copy must add nothing
		status, body, err := h.sim.PostCustomerMessage(ctx, page.CallbackURL, appSecret, pageID, psid, "Hello, my order is late", "m_recorded_1")
		if err != nil || status != 200 {
			return storyIDs{}, fmt.Errorf("customer message: %d %s %v", status, body, err)
		}
	}
	var convID string
	if err := eventually(ctx, "the conversation is assigned", func() (bool, error) {
		err := h.db.QueryRowContext(ctx, `SELECT id FROM conversations WHERE status = 'assigned'`).Scan(&convID)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return storyIDs{}, err
	}

	var sent map[string]any
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/messages", agent.Token, 201, map[string]string{"text": "Sorry! Checking now."}, &sent); err != nil {
		return storyIDs{}, err
	}
	if sent["status"] != "sent" {
		return storyIDs{}, fmt.Errorf("reply not sent: %v", sent)
	}
	h.sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 551, Subcode: 1545041,
		Message: "This person isn't available right now.", Times: 1})
	var failed map[string]any
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/messages", agent.Token, 201, map[string]string{"text": "Are you there?"}, &failed); err != nil {
		return storyIDs{}, err
	}
	if failed["status"] != "failed" || failed["reason"] != "user_unavailable" {
		return storyIDs{}, fmt.Errorf("the refused reply did not fail as user_unavailable: %v", failed)
	}
	if err := h.call("POST", "/api/v1/conversations/"+convID+"/close", agent.Token, 200, nil, nil); err != nil {
		return storyIDs{}, err
	}
	conversationWorkflowID := workflows.ConversationWorkflowID(pageID, psid)
	// The conversation id is the run id of the workflow run that served it.
	if err := tc.GetWorkflow(ctx, conversationWorkflowID, convID).Get(ctx, nil); err != nil {
		return storyIDs{}, fmt.Errorf("the closed conversation's run did not complete: %w", err)
	}

	// A replaced token makes the page workflow provision again.
	newToken := "EAAB" + randomHex(20)
	h.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "Recorded Page", AccessToken: newToken, AppID: appID})
	if err := h.call("PUT", "/api/v1/pages/"+page.ID+"/token", h.adminToken, 200, map[string]string{"access_token": newToken}, nil); err != nil {
		return storyIDs{}, err
	}
	if err := h.pageActive(ctx, page.ID); err != nil {
		return storyIDs{}, err
	}
	if err := eventually(ctx, "the page workflow provisions again", func() (bool, error) {
		return len(h.sim.Requests("/subscribed_apps")) >= 2, nil
	}); err != nil {
		return storyIDs{}, err
	}

	return storyIDs{
		conversationWorkflowID: conversationWorkflowID, conversationRunID: convID,
		queueWorkflowID: workflows.QueueWorkflowID(page.DefaultQueueID), pageWorkflowID: workflows.PageWorkflowID(page.ID),
	}, nil
}

type harness struct {
	sim        *simulator.Simulator
	db         *sql.DB
	api        string
	adminToken string
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

// freshDatabase creates a database of its own on the server baseDSN names; drop
// removes it again.
func freshDatabase(ctx context.Context, baseDSN string) (dsn string, drop func(), err error) {
	u, err := url.Parse(baseDSN)
	if err != nil {
		return "", nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	name := "fbchannel_record_" + randomHex(6)
	u.Path = "/" + name
	dsn = u.String()
	if err := schema.EnsureDatabase(ctx, dsn); err != nil {
		return "", nil, err
	}
	admin := *u
	admin.Path = "/postgres"
	drop = func() {
		db, err := sql.Open("postgres", admin.String())
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			fmt.Fprintln(os.Stderr, "recordhistory: drop database", name+":", err)
		}
	}
	return dsn, drop, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
