package apptest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"fbchannel/agentevents"
	"fbchannel/api"
	"fbchannel/app"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/relay"
	"fbchannel/schema/schematest"
	"fbchannel/secrets"
	"fbchannel/simulator"
	"fbchannel/store"
	"fbchannel/supervise"
)

// Options wire a stack; every field has a default but the Temporal clients.
type Options struct {
	// DatabaseURL names the Postgres server (default DefaultDatabaseURL()); the
	// stack's database Database (default fbchannel_stack_<random>) is created and
	// migrated there, and dropped by Close unless KeepDB.
	DatabaseURL string
	Database    string
	KeepDB      bool
	// SeparatePools gives the worker its own connection pool, as in production
	// where the starter and the worker are separate processes.
	SeparatePools bool
	// TaskQueue defaults to fbchannel-stack-<random>, AdminToken to admin-<random>.
	TaskQueue, AdminToken string
	// Starter and Worker are the Temporal clients of the starter and of the
	// worker; Worker defaults to Starter.
	Starter, Worker client.Client
	WorkerOptions   worker.Options
	// StarterLog receives the starter's log (nil: discarded).
	StarterLog *slog.Logger
	// WebhookMaxBytes defaults to 64 KiB.
	WebhookMaxBytes int64
	// Connections is how many requests the caller keeps in flight: the stack's
	// HTTP client keeps that many idle connections and more.
	Connections int
}

// Stack is one isolated channel: its own database, simulator, task queue, worker
// and starter, on a Temporal server the caller owns.
type Stack struct {
	// DB and Store are the starter's (the worker's too unless SeparatePools).
	DB          *sql.DB
	Store       *store.Store
	DatabaseURL string // of the stack's own database
	Database    string
	// KeepDB, when true at Close, leaves the database for a look.
	KeepDB bool

	Sim    *simulator.Simulator
	SimURL string

	TaskQueue  string
	AdminToken string
	// SecretsKey is the key of Store's box (base64), for processes that share it.
	SecretsKey string

	// Worker and Starter are how the worker and the starter are built, as package
	// app builds them for the processes. New fills them in; a caller may change
	// them before Start (clients, tracing, the payload codec, activity hooks), and
	// Worker before a StartWorker.
	Worker  app.Worker
	Starter app.Starter
	// WrapStarter, if set, wraps the starter's whole handler (to time requests).
	WrapStarter func(http.Handler) http.Handler

	// TemporalWorker is the running worker; nil before Start and after StopWorker.
	TemporalWorker worker.Worker
	// API is the starter, on a real 127.0.0.1 listener, from Start on.
	API    *httptest.Server
	APIURL string
	// HTTP is a client for the API, sized by Options.Connections.
	HTTP *http.Client

	// Workers and Starters are the programs StartProcesses runs (none after
	// Start), logging into LogDir; StarterURLs reach each starter, not the
	// proxy, and WorkerOpsURLs each worker's /healthz, /readyz and /metrics.
	Workers, Starters []*supervise.Process
	LogDir            string
	StarterURLs       []string
	WorkerOpsURLs     []string
	processes         processes

	stops []func()
}

// New creates the stack's database and simulator and prepares its worker and
// starter; Start starts them. On error, whatever it made is removed again.
func New(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Starter == nil {
		return nil, errors.New("apptest: Options.Starter (a Temporal client) is required")
	}
	if opts.Worker == nil {
		opts.Worker = opts.Starter
	}
	base := opts.DatabaseURL
	if base == "" {
		base = DefaultDatabaseURL()
	}
	s = &Stack{
		Database: opts.Database, KeepDB: opts.KeepDB, TaskQueue: opts.TaskQueue, AdminToken: opts.AdminToken,
	}
	if s.Database == "" {
		s.Database = "fbchannel_stack_" + RandomHex(6)
	}
	if s.TaskQueue == "" {
		s.TaskQueue = "fbchannel-stack-" + RandomHex(6)
	}
	if s.AdminToken == "" {
		s.AdminToken = "admin-" + RandomHex(8)
	}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()

	if s.DatabaseURL, err = WithDatabase(base, s.Database); err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() {
		if !s.KeepDB {
			_ = DropDatabase(base, s.Database)
		}
	})
	// A copy of the migrated template, unless it exists (a kept bench database):
	// then OpenDatabase migrates what it lacks.
	if err := schematest.CreateMigrated(ctx, s.DatabaseURL); err != nil && !isDuplicateDatabase(err) {
		return s, err
	}
	db, err := app.OpenDatabase(ctx, s.DatabaseURL)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { db.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s.SecretsKey = base64.StdEncoding.EncodeToString(key)
	box, err := secrets.NewBox(s.SecretsKey)
	if err != nil {
		return s, err
	}
	s.DB, s.Store = db, &store.Store{DB: db, Box: box}
	workerStore := s.Store
	if opts.SeparatePools {
		workerDB, err := store.Open(ctx, s.DatabaseURL)
		if err != nil {
			return s, err
		}
		s.stops = append(s.stops, func() { workerDB.Close() })
		workerStore = &store.Store{DB: workerDB, Box: box}
	}

	s.Sim = simulator.New()
	simServer := httptest.NewServer(s.Sim)
	s.stops = append(s.stops, simServer.Close)
	s.SimURL = simServer.URL

	log := opts.StarterLog
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBytes := opts.WebhookMaxBytes
	if maxBytes == 0 {
		maxBytes = 64 << 10
	}
	s.Worker = app.Worker{
		Temporal: opts.Worker, TaskQueue: s.TaskQueue, Store: workerStore,
		GraphAPIURL: s.SimURL, GraphAPIVersion: "v23.0", Options: opts.WorkerOptions,
	}
	// The stack's starter listens for agent events and caches the webhook's
	// account lookup as the starter process does.
	s.Store.Webhooks = store.NewWebhookCache(0)
	events := agentevents.Listen(s.DatabaseURL, agentevents.Options{Log: log, Watchers: []agentevents.Watcher{s.Store.Webhooks}})
	s.stops = append(s.stops, events.Close)
	s.Starter = app.Starter{Server: api.Server{
		Store: s.Store, Temporal: opts.Starter, TaskQueue: s.TaskQueue, AdminToken: s.AdminToken,
		WebhookMaxBytes: maxBytes, Log: log, Events: events,
		Graph: graph.New(s.SimURL, "v23.0", nil),
	}}
	conns := max(opts.Connections, 1)
	s.HTTP = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 4 * conns},
	}
	s.stops = append(s.stops, s.HTTP.CloseIdleConnections)
	return s, nil
}

// Start starts the worker, then the starter on a 127.0.0.1 listener (its
// PublicBaseURL, unless set, is the listener's URL).
func (s *Stack) Start() error {
	if err := s.StartWorker(); err != nil {
		return err
	}
	s.stops = append(s.stops, s.StopWorker)
	s.API = httptest.NewServer(nil)
	s.stops = append(s.stops, s.API.Close)
	s.APIURL = s.API.URL
	if s.Starter.PublicBaseURL == "" {
		s.Starter.PublicBaseURL = s.API.URL
	}
	if s.Starter.Relay == nil {
		// The starter's inbox relay, as the starter process runs it.
		if s.Starter.Metrics == nil {
			s.Starter.Metrics = ops.NewStarter()
			s.Starter.Metrics.WatchWebhookCache(s.Store.Webhooks)
		}
		s.Starter.Relay = s.RunRelay(s.Starter.Temporal, s.Starter.Metrics)
	}
	h := s.Starter.Handler()
	if s.WrapStarter != nil {
		h = s.WrapStarter(h)
	}
	s.API.Config.Handler = h
	return nil
}

// RunRelay runs an inbox relay over the stack's database with client c (and
// metrics m, optional) until the stack closes; it stops before the database.
func (s *Stack) RunRelay(c client.Client, m *ops.Metrics) *relay.Relay {
	r, stop := s.StartRelay(c, m)
	s.stops = append(s.stops, stop)
	return r
}

// StartRelay runs an inbox relay until stop, which is what killing its starter
// does to it; stop is idempotent.
func (s *Stack) StartRelay(c client.Client, m *ops.Metrics) (r *relay.Relay, stop func()) {
	r = relay.New(relay.Options{Store: s.Store, Temporal: c, TaskQueue: s.TaskQueue, Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	return r, func() { once.Do(func() { cancel(); <-done }) }
}

// Start is New, then Start.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops everything New and Start started, in reverse order.
func (s *Stack) Close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// StartWorker starts a worker as s.Worker describes it (after StopWorker: a
// restart).
func (s *Stack) StartWorker() error {
	w := s.Worker.New()
	if err := w.Start(); err != nil {
		return err
	}
	s.TemporalWorker = w
	return nil
}

// StopWorker stops the worker, if one runs, as a crash or a deploy would:
// running activities are abandoned and retried by the next worker.
func (s *Stack) StopWorker() {
	if s.TemporalWorker != nil {
		s.TemporalWorker.Stop()
		s.TemporalWorker = nil
	}
}

// Call sends an API request with the bearer token (the admin's or an agent's)
// and decodes a successful JSON answer into out (if non-nil). It answers the
// status and the raw body.
func (s *Stack) Call(ctx context.Context, token, method, path string, body, out any) (int, string, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		r = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, r)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, string(raw), err
		}
	}
	return resp.StatusCode, string(raw), nil
}

// Page is one account with one active page, registered in the simulator.
type Page struct {
	AccountID    string
	AppID        string
	AppSecret    string
	PageID       string // Facebook's
	PageToken    string
	PageUUID     string
	CallbackURL  string
	QueueID      string // the page's default queue
	WorkstreamID string // the page's workstream
}

// NewPage is an app and a page with fresh ids and credentials, for Connect.
func NewPage() Page {
	return Page{
		AppID: "app-" + RandomHex(4), AppSecret: "secret-" + RandomHex(16),
		PageID: fmt.Sprint(100000000000000 + time.Now().UnixNano()%899999999999), PageToken: "EAAB" + RandomHex(20),
	}
}

// ConnectPage connects a NewPage (see Connect).
func (s *Stack) ConnectPage(ctx context.Context, name string) (Page, error) {
	return s.Connect(ctx, name, NewPage())
}

// Connect registers p's app and page in the simulator, creates the account and
// the page through the admin API, and waits until the page is active; it
// answers p with the ids the service gave.
func (s *Stack) Connect(ctx context.Context, name string, p Page) (Page, error) {
	s.Sim.RegisterApp(p.AppID, p.AppSecret)
	s.Sim.RegisterPage(simulator.Page{PageID: p.PageID, Name: name + " Page", AccessToken: p.PageToken, AppID: p.AppID})

	var acct struct {
		ID string `json:"id"`
	}
	if code, raw, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/accounts", map[string]string{"name": name, "app_id": p.AppID, "app_secret": p.AppSecret}, &acct); err != nil || code != 201 {
		return p, fmt.Errorf("create account: %d %s %v", code, raw, err)
	}
	p.AccountID = acct.ID
	var page struct {
		ID             string `json:"id"`
		CallbackURL    string `json:"callback_url"`
		DefaultQueueID string `json:"default_queue_id"`
		WorkstreamID   string `json:"workstream_id"`
	}
	if code, raw, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/accounts/"+acct.ID+"/pages", map[string]string{"name": name + " Support", "page_id": p.PageID, "access_token": p.PageToken}, &page); err != nil || code != 201 {
		return p, fmt.Errorf("create page: %d %s %v", code, raw, err)
	}
	p.PageUUID, p.CallbackURL, p.QueueID, p.WorkstreamID = page.ID, page.CallbackURL, page.DefaultQueueID, page.WorkstreamID
	return p, s.WaitPageActive(ctx, p.PageUUID)
}

// WaitPageActive waits until the page's provisioning is active (at most 60 s),
// and fails at once if it failed.
func (s *Stack) WaitPageActive(ctx context.Context, pageUUID string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct {
			ProvisioningStatus string `json:"provisioning_status"`
			LastError          string `json:"last_error"`
		}
		if _, _, err := s.Call(ctx, s.AdminToken, "GET", "/api/v1/pages/"+pageUUID, nil, &got); err != nil {
			return err
		}
		switch {
		case got.ProvisioningStatus == "active":
			return nil
		case got.ProvisioningStatus == "failed":
			return fmt.Errorf("page provisioning failed: %s", got.LastError)
		case time.Now().After(deadline):
			return fmt.Errorf("page not active after 60s (status %q, last error %q)", got.ProvisioningStatus, got.LastError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
