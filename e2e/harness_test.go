//go:build integration

// Package e2e drives the whole channel the way its users do: over HTTP, against
// real Postgres, a real Temporal dev server (./bin/temporal) and the Graph API
// simulator. Each test gets its own database, task queue and worker.
//
// Two variables run the tests elsewhere (make test-cluster sets both):
// E2E_TEMPORAL_ADDRESS (host:port) uses that Temporal server instead of
// starting a dev server, and E2E_PROCESSES=1 runs each stack's worker and
// starter as the built programs (./bin), two of each, the starters behind one
// round-robin proxy; tests that need the in-process stack's hooks skip then.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/api"
	"fbchannel/app"
	"fbchannel/app/apptest"
	"fbchannel/ops"
	"fbchannel/relay"
	"fbchannel/simulator"
	"fbchannel/store"
)

var temporalClient client.Client

// processMode is E2E_PROCESSES=1: stacks run ./bin/worker and ./bin/starter.
var processMode = os.Getenv("E2E_PROCESSES") == "1"

// processWorkers and processStarters are how many programs of each a stack
// runs in process mode: two, so every test also crosses processes.
const processWorkers, processStarters = 2, 2

// temporalAddress is the dev server's frontend host:port, for tests that put a
// proxy between a starter and Temporal.
var temporalAddress string

const namespace = apptest.Namespace

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	defer browsers.closeAll()
	if addr := os.Getenv("E2E_TEMPORAL_ADDRESS"); addr != "" {
		return runOn(m, addr)
	}
	cli := apptest.TemporalCLI()
	if _, err := os.Stat(cli); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the Temporal CLI is missing at %s: run `make test` (it builds it)\n", cli)
		return 1
	}
	server, err := apptest.StartTemporal(context.Background(), apptest.Temporal{CLI: cli, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer server.Stop()
	temporalClient = server.Client()
	temporalAddress = server.FrontendHostPort()
	defer stopOutageTemporal()
	return m.Run()
}

// outage is a dev server of its own for the tests that cut connections to
// Temporal mid-call (tcpProxy.down): a call cancelled that way can leave the dev
// server's in-memory SQLite answering "interrupted (9)" to everything after it,
// which must not take every other test's server down with it (seen once in CI:
// 25 tests timed out waiting for their pages). Started on first use.
var outage struct {
	once    sync.Once
	server  *testsuite.DevServer
	client  client.Client
	address string
	err     error
}

// outageTemporal is the outage server's client and address (on a cluster,
// E2E_TEMPORAL_ADDRESS, the cluster's: it has no such SQLite).
func outageTemporal(t *testing.T) (client.Client, string) {
	t.Helper()
	outage.once.Do(func() {
		if os.Getenv("E2E_TEMPORAL_ADDRESS") != "" {
			outage.client, outage.address = temporalClient, temporalAddress
			return
		}
		outage.server, outage.err = apptest.StartTemporal(context.Background(), apptest.Temporal{CLI: apptest.TemporalCLI(), Logger: quietLogger()})
		if outage.err == nil {
			outage.client, outage.address = outage.server.Client(), outage.server.FrontendHostPort()
		}
	})
	if outage.err != nil {
		t.Fatal(outage.err)
	}
	return outage.client, outage.address
}

func stopOutageTemporal() {
	if outage.server != nil {
		_ = outage.server.Stop()
	}
}

// runOn runs the tests on an existing Temporal server (a cluster) at addr.
func runOn(m *testing.M, addr string) int {
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: namespace, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: E2E_TEMPORAL_ADDRESS=%s: %v\n", addr, err)
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = app.EnsureSearchAttributes(ctx, c, namespace)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	temporalClient, temporalAddress = c, addr
	return m.Run()
}

func quietLogger() *slogLogger { return &slogLogger{slog.New(slog.NewTextHandler(io.Discard, nil))} }

type slogLogger struct{ *slog.Logger }

func (l *slogLogger) Debug(msg string, kv ...any) {}
func (l *slogLogger) Info(msg string, kv ...any)  {}
func (l *slogLogger) Warn(msg string, kv ...any)  {}
func (l *slogLogger) Error(msg string, kv ...any) {}

func databaseURL(name string) string {
	u, err := apptest.WithDatabase(apptest.DefaultDatabaseURL(), name)
	if err != nil {
		panic(err)
	}
	return u
}

func randomHex(n int) string { return apptest.RandomHex(n) }

// stack is one isolated channel (an apptest.Stack): its own database, task
// queue, worker, starter (httptest) and simulator.
type stack struct {
	t          *testing.T
	app        *apptest.Stack
	db         *sql.DB
	store      *store.Store
	sim        *simulator.Simulator
	simURL     string
	worker     worker.Worker
	api        *httptest.Server
	taskQueue  string
	adminToken string
	dbName     string

	// How the processes are wired: newStack gives both the dev server's client,
	// no Graph spans and the starter's handler as it is; a wire function passed
	// to newStack may change them, and st.app.Starter (tracing_test.go).
	starterClient, workerClient client.Client
	graphTracer                 trace.TracerProvider
	wrapHandler                 func(http.Handler) http.Handler
	// activityHooks, when set, adjusts the activities startWorker registers
	// (test-only fault hooks, shorter bounds).
	activityHooks func(*activities.Activities)
}

// parallelTests holds the tests already marked parallel: t.Parallel panics when
// called twice, and both heavy and newStack mark their test.
var parallelTests sync.Map

// parallel marks t parallel, once.
func parallel(t *testing.T) {
	if _, done := parallelTests.LoadOrStore(t, true); !done {
		t.Parallel()
	}
}

// newStack builds an isolated stack and marks its test parallel: every stack has
// its own database and task queue, so every test that has one runs beside the
// others. Each wire function runs once the database and the simulator are up,
// before the worker and the starter start.
func newStack(t *testing.T, wire ...func(*stack)) *stack {
	t.Helper()
	parallel(t)
	return buildStack(t, apptest.Processes{Workers: processWorkers, Starters: processStarters}, wire...)
}

// newPageStack is newStack with one page connected (an account, its page, the
// page's default queue and workstream): the start of most tests.
func newPageStack(t *testing.T, wire ...func(*stack)) (*stack, channel) {
	t.Helper()
	st := newStack(t, wire...)
	return st, st.connectPage()
}

// newProgramsStack builds an isolated stack whose worker and starter run as the
// programs p describes (process mode only: it skips otherwise), and marks its
// test parallel.
func newProgramsStack(t *testing.T, p apptest.Processes) *stack {
	t.Helper()
	if !processMode {
		t.Skip("runs the worker and the starter as programs: E2E_PROCESSES=1 (make test-cluster)")
	}
	parallel(t)
	return buildStack(t, p)
}

func buildStack(t *testing.T, programs apptest.Processes, wire ...func(*stack)) *stack {
	t.Helper()
	a, err := apptest.New(context.Background(), apptest.Options{
		Database: "fbchannel_test_" + randomHex(6), TaskQueue: "fbchannel-test-" + randomHex(6),
		AdminToken: "admin-" + randomHex(8), Starter: temporalClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	if processMode && len(wire) > 0 {
		a.Close()
		t.Skip("E2E_PROCESSES=1: this test rewires the in-process worker or starter (clients, tracing, activity hooks)")
	}
	st := &stack{
		t: t, app: a, db: a.DB, store: a.Store, sim: a.Sim, simURL: a.SimURL,
		taskQueue: a.TaskQueue, adminToken: a.AdminToken, dbName: a.Database,
		starterClient: temporalClient, workerClient: temporalClient,
	}
	t.Cleanup(func() {
		// A passing test's database goes; a failing one's stays for a look.
		a.KeepDB = t.Failed()
		a.Close()
	})
	if processMode {
		st.startProcesses(programs)
		return st
	}
	for _, w := range wire {
		w(st)
	}
	a.Starter.Temporal = st.starterClient
	a.WrapStarter = st.wrapHandler
	st.configureWorker()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	st.worker, st.api = a.TemporalWorker, a.API
	return st
}

// startProcesses runs the stack's worker and starter as programs (process
// mode); a failing test's report ends with their logs.
func (st *stack) startProcesses(p apptest.Processes) {
	st.t.Helper()
	p.TemporalAddress, p.LogDir = temporalAddress, st.t.TempDir()
	err := st.app.StartProcesses(context.Background(), p)
	st.t.Cleanup(func() {
		if st.t.Failed() {
			st.t.Logf("programs' logs:\n%s", st.app.ProcessLogs(30))
		}
	})
	if err != nil {
		st.t.Fatal(err)
	}
	st.api = st.app.API
}

// starterURLs reach each starter of the stack (behind the proxy in process
// mode), for what each counts on its own (/metrics).
func (st *stack) starterURLs() []string {
	if processMode {
		return st.app.StarterURLs
	}
	return []string{st.api.URL}
}

// inProcessOnly skips a test in process mode at the step that needs the
// in-process stack (stopping its worker, a starter of its own).
func (st *stack) inProcessOnly(step string) {
	st.t.Helper()
	if processMode {
		st.t.Skipf("E2E_PROCESSES=1: this test %s, which needs the in-process stack", step)
	}
}

// configureWorker hands the wiring fields to the worker apptest builds.
func (st *stack) configureWorker() {
	st.app.Worker.Temporal = st.workerClient
	st.app.Worker.GraphTracer = st.graphTracer
	st.app.Worker.AdjustActivities = st.activityHooks
}

// startWorker runs this stack's worker (as the worker process does).
func (st *stack) startWorker() {
	st.t.Helper()
	st.inProcessOnly("restarts the worker")
	st.configureWorker()
	if err := st.app.StartWorker(); err != nil {
		st.t.Fatal(err)
	}
	st.worker = st.app.TemporalWorker
}

// stopWorker stops the worker, as a crash or a deploy would (running activities
// are abandoned and retried by the next worker).
func (st *stack) stopWorker() {
	st.inProcessOnly("stops the worker")
	st.app.StopWorker()
	st.worker = nil
}

// server builds a starter's API server over this stack's database with a given
// client (a test may change it before calling Handler), and runs its inbox relay
// (with that client) as the starter process does.
func (st *stack) server(c client.Client) *api.Server {
	s := st.app.Starter
	s.Temporal = c
	s.Metrics = ops.NewStarter()
	s.Relay, _ = st.startRelay(c, s.Metrics)
	return s.API()
}

// startRelay runs an inbox relay over this stack's database with client c until
// stop (which is what killing its starter does to it) or the test's end.
func (st *stack) startRelay(c client.Client, m *ops.Metrics) (r *relay.Relay, stop func()) {
	st.inProcessOnly("runs a starter or a relay of its own")
	r, stop = st.app.StartRelay(c, m)
	st.t.Cleanup(stop) // before the database closes: cleanups run last first
	return r, stop
}

// call sends a JSON request and decodes a JSON answer into out (if non-nil).
func (st *stack) call(method, path, token string, body any, out any) int {
	st.t.Helper()
	return st.callServer(st.api.URL, method, path, token, body, out)
}

// callServer is call against another starter of this stack (one whose database
// is down, say) at base.
func (st *stack) callServer(base, method, path, token string, body any, out any) int {
	st.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	code, raw := send(st.t, req)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			st.t.Fatalf("%s %s: answer %d is not JSON: %s", method, path, code, raw)
		}
	}
	return code
}

// send sends req and returns the answer's status and body; a request that
// gets no answer fails the test.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// httpGet answers a GET of url with its status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// channel is one account with one active page, registered in the simulator.
type channel struct {
	AccountID   string
	AppID       string
	AppSecret   string
	PageUUID    string
	PageID      string
	PageToken   string
	CallbackURL string
	VerifyToken string
	QueueID     string
}

func (st *stack) connectPage() channel {
	st.t.Helper()
	ch := channel{AppID: "app-" + randomHex(4), AppSecret: "secret-" + randomHex(16), PageID: fmt.Sprint(100000000000000 + time.Now().UnixNano()%899999999999), PageToken: "EAAB" + randomHex(20)}
	st.sim.RegisterApp(ch.AppID, ch.AppSecret)
	st.sim.RegisterPage(simulator.Page{PageID: ch.PageID, Name: "Test Page", AccessToken: ch.PageToken, AppID: ch.AppID})
	var acct struct{ ID string }
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": ch.AppID, "app_secret": ch.AppSecret}, &acct); code != 201 {
		st.t.Fatalf("create account: %d", code)
	}
	ch.AccountID = acct.ID
	var page struct {
		ID, CallbackURL, VerifyToken, ProvisioningStatus, DefaultQueueID string
	}
	var raw map[string]any
	if code := st.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", st.adminToken, map[string]string{"name": "Acme Support", "page_id": ch.PageID, "access_token": ch.PageToken}, &raw); code != 201 {
		st.t.Fatalf("create page: %d %v", code, raw)
	}
	page.ID, _ = raw["id"].(string)
	page.CallbackURL, _ = raw["callback_url"].(string)
	page.VerifyToken, _ = raw["verify_token"].(string)
	page.ProvisioningStatus, _ = raw["provisioning_status"].(string)
	page.DefaultQueueID, _ = raw["default_queue_id"].(string)
	if page.ProvisioningStatus != "pending" || !strings.HasSuffix(page.CallbackURL, "/webhooks/facebook/"+page.ID) || len(page.VerifyToken) < 16 {
		st.t.Fatalf("page answer: %v", raw)
	}
	ch.PageUUID, ch.CallbackURL, ch.VerifyToken, ch.QueueID = page.ID, page.CallbackURL, page.VerifyToken, page.DefaultQueueID
	// The admin points the app's webhook at the page's callback URL: Facebook
	// (the simulator) then delivers the echoes of what the channel sends there.
	st.sim.SetAppCallback(ch.AppID, ch.CallbackURL)
	st.eventually("page becomes active", 30*time.Second, func() bool {
		var p struct {
			ProvisioningStatus string `json:"provisioning_status"`
			LastError          string `json:"last_error"`
		}
		st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &p)
		if p.ProvisioningStatus == "failed" {
			st.t.Fatalf("provisioning failed: %s", p.LastError)
		}
		return p.ProvisioningStatus == "active"
	})
	return ch
}

type agent struct {
	ID    string
	Token string
	Name  string // as created: the desk shows it once the agent is signed in
}

func (st *stack) createAgent(name string, capacity int) agent {
	st.t.Helper()
	var a agent
	var raw map[string]any
	if code := st.call("POST", "/api/v1/agents", st.adminToken, map[string]any{"name": name, "email": name + "-" + randomHex(3) + "@example.com", "capacity": capacity}, &raw); code != 201 {
		st.t.Fatalf("create agent: %d %v", code, raw)
	}
	a.ID, _ = raw["id"].(string)
	a.Token, _ = raw["token"].(string)
	a.Name = name
	return a
}

// unknownIDs name no row: one a well-formed UUID, one not a UUID at all.
var unknownIDs = []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"}

// requireUnknownNotFound requires that method path+id, with token, answers 404
// with an error for each of unknownIDs.
func (st *stack) requireUnknownNotFound(method, path, token string) {
	st.t.Helper()
	for _, id := range unknownIDs {
		var out map[string]any
		if code := st.call(method, path+id, token, nil, &out); code != 404 || out["error"] == nil {
			st.t.Fatalf("%s %s%s: %d %v, want 404 with an error", method, path, id, code, out)
		}
	}
}

// customerProfile registers the Facebook profile of the customer psid (the
// name and locale the channel reads) in the simulator, and returns psid.
func (st *stack) customerProfile(psid, firstName, lastName, locale string) string {
	st.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: firstName, LastName: lastName, Locale: locale})
	return psid
}

func (st *stack) setPresence(a agent, status string) {
	st.t.Helper()
	if code := st.call("PUT", "/api/v1/me/presence", a.Token, map[string]string{"status": status}, nil); code != 200 {
		st.t.Fatalf("presence: %d", code)
	}
}

func (st *stack) eventually(what string, timeout time.Duration, ok func() bool) {
	st.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (st *stack) customerSays(ch channel, psid, text, mid string) {
	st.t.Helper()
	status, body, err := st.sim.PostCustomerMessage(context.Background(), ch.CallbackURL, ch.AppSecret, ch.PageID, psid, text, mid)
	if err != nil || status != 200 {
		st.t.Fatalf("customer message: %d %s %v", status, body, err)
	}
}

func (st *stack) count(table, where string, args ...any) int {
	st.t.Helper()
	var n int
	if err := st.db.QueryRow("SELECT count(*) FROM "+table+" WHERE "+where, args...).Scan(&n); err != nil {
		st.t.Fatal(err)
	}
	return n
}

// sse is an agent's open event stream.
type sse struct {
	events chan sseEvent
	cancel context.CancelFunc
}

type sseEvent struct {
	ID   string
	Name string
	Data map[string]any
}

func (st *stack) openEvents(a agent, lastEventID string) *sse {
	st.t.Helper()
	return st.openEventsAt(st.api.URL, a, lastEventID)
}

// openEventsAt opens the agent's event stream on another starter of this stack.
func (st *stack) openEventsAt(base string, a agent, lastEventID string) *sse {
	st.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/me/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		st.t.Fatalf("open events: %v %v", err, resp)
	}
	s := &sse{events: make(chan sseEvent, 100), cancel: cancel}
	var once sync.Once
	st.t.Cleanup(func() { once.Do(cancel) })
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			case line == "" && ev.Name != "":
				s.events <- ev
				ev = sseEvent{}
			}
		}
	}()
	return s
}

// next waits for the next event with the given name, skipping others.
func (s *sse) next(t *testing.T, name string, timeout time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-s.events:
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", name, timeout)
		}
	}
}
