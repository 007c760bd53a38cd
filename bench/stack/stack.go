// Package stack runs one whole channel inside a benchmark's process, wired like
// e2e's newStack: its own Postgres database (created next to the given URL), a
// worker with the real workflows and activities against the Graph simulator, the
// starter's handler on a real 127.0.0.1 listener, and one account with one active
// page. The Temporal dev server and its clients are the benchmark's: it compares
// the channel with raw Temporal calls on the same server.
package stack

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/lib/pq"
	"go.temporal.io/sdk/client"
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

// Options wires the stack.
type Options struct {
	// DatabaseURL is a Postgres URL; the stack's database fbchannel_bench_<Tag> is
	// created on the same server and dropped by Close unless KeepDB.
	DatabaseURL string
	KeepDB      bool
	// Tag names this run's database and task queue.
	Tag string
	// Starter and Worker are the Temporal clients of the starter and of the worker
	// (separate processes in production, so they should be separate connections).
	Starter, Worker client.Client
	WorkerOptions   worker.Options
	// StarterLog receives the starter's log.
	StarterLog slog.Handler
	// WrapStarter, if set, wraps the starter's HTTP handler (to time requests).
	WrapStarter func(http.Handler) http.Handler
	// Connections is how many requests the benchmark keeps in flight: the HTTP
	// client keeps that many idle connections and more.
	Connections int
	// Progress reports what the stack is doing (stderr).
	Progress func(format string, args ...any)
}

// Stack is the running channel and its page.
type Stack struct {
	DB         *sql.DB // the starter's pool; benchmarks read counts through it
	Sim        *simulator.Simulator
	TaskQueue  string
	APIURL     string
	AdminToken string
	HTTP       *http.Client

	AccountID   string
	AppSecret   string
	PageID      string // Facebook's
	PageUUID    string
	CallbackURL string
	QueueID     string // the page's default queue

	// Worker is the running channel worker; nil after StopWorker.
	Worker    worker.Worker
	newWorker func() worker.Worker
	stops     []func()
}

// Start brings the stack up and waits until the page is active. On error,
// whatever it started is stopped again.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	s = &Stack{}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	dbName := "fbchannel_bench_" + opts.Tag
	dsn, err := withDatabase(opts.DatabaseURL, dbName)
	if err != nil {
		return s, err
	}
	progress("database %s", dbName)
	if err := schema.EnsureDatabase(ctx, dsn); err != nil {
		return s, err
	}
	if !opts.KeepDB {
		s.stops = append(s.stops, func() { dropDatabase(opts.DatabaseURL, dbName, progress) })
	}
	// Starter and worker are separate processes in production: separate pools.
	apiDB, err := store.Open(ctx, dsn)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { apiDB.Close() })
	if err := schema.Migrate(ctx, apiDB); err != nil {
		return s, err
	}
	workerDB, err := store.Open(ctx, dsn)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { workerDB.Close() })
	s.DB = apiDB
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		return s, err
	}

	s.Sim = simulator.New()
	simServer := httptest.NewServer(s.Sim)
	s.stops = append(s.stops, simServer.Close)

	s.TaskQueue = "fbchannel-bench-" + opts.Tag
	s.newWorker = func() worker.Worker {
		w := worker.New(opts.Worker, s.TaskQueue, opts.WorkerOptions)
		workflows.Register(w)
		w.RegisterActivity(&activities.Activities{
			Store: &store.Store{DB: workerDB, Box: box}, Graph: graph.New(simServer.URL, "v23.0", nil),
			Temporal: opts.Worker, TaskQueue: s.TaskQueue,
		})
		return w
	}
	if err := s.StartWorker(); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.StopWorker)

	s.AdminToken = "admin-" + RandomHex(8)
	apiServer := httptest.NewServer(nil)
	// The starter's inbox relay hands webhook events to their conversation workflows.
	apiStore := &store.Store{DB: apiDB, Box: box}
	inbox := relay.New(relay.Options{Store: apiStore, Temporal: opts.Starter, TaskQueue: s.TaskQueue})
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = inbox.Run(relayCtx) }()
	s.stops = append(s.stops, func() { stopRelay(); <-relayDone })
	var handler http.Handler = (&api.Server{
		Store: apiStore, Temporal: opts.Starter, TaskQueue: s.TaskQueue, PublicBaseURL: apiServer.URL,
		AdminToken: s.AdminToken, WebhookMaxBytes: 64 << 10, Log: slog.New(opts.StarterLog), Relay: inbox,
	}).Handler()
	if opts.WrapStarter != nil {
		handler = opts.WrapStarter(handler)
	}
	apiServer.Config.Handler = handler
	s.stops = append(s.stops, apiServer.Close)
	s.APIURL = apiServer.URL
	conns := max(opts.Connections, 1)
	s.HTTP = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 4 * conns},
	}
	s.stops = append(s.stops, s.HTTP.CloseIdleConnections)
	return s, s.connectPage(ctx)
}

// Close stops everything Start started, in reverse order.
func (s *Stack) Close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// StartWorker starts a channel worker (after StopWorker: a restart).
func (s *Stack) StartWorker() error {
	w := s.newWorker()
	if err := w.Start(); err != nil {
		return err
	}
	s.Worker = w
	return nil
}

// StopWorker stops the channel worker, if one runs.
func (s *Stack) StopWorker() {
	if s.Worker != nil {
		s.Worker.Stop()
		s.Worker = nil
	}
}

func (s *Stack) connectPage(ctx context.Context) error {
	appID := "app-" + RandomHex(4)
	s.AppSecret = "secret-" + RandomHex(16)
	s.PageID = fmt.Sprint(100000000000000 + time.Now().UnixNano()%899999999999)
	token := "EAAB" + RandomHex(20)
	s.Sim.RegisterApp(appID, s.AppSecret)
	s.Sim.RegisterPage(simulator.Page{PageID: s.PageID, Name: "Bench Page", AccessToken: token, AppID: appID})

	var acct struct {
		ID string `json:"id"`
	}
	if code, raw, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/accounts", map[string]string{"name": "Bench", "app_id": appID, "app_secret": s.AppSecret}, &acct); err != nil || code != 201 {
		return fmt.Errorf("create account: %d %s %v", code, raw, err)
	}
	s.AccountID = acct.ID
	var page struct {
		ID             string `json:"id"`
		CallbackURL    string `json:"callback_url"`
		DefaultQueueID string `json:"default_queue_id"`
	}
	if code, raw, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/accounts/"+acct.ID+"/pages", map[string]string{"name": "Bench Support", "page_id": s.PageID, "access_token": token}, &page); err != nil || code != 201 {
		return fmt.Errorf("create page: %d %s %v", code, raw, err)
	}
	s.PageUUID, s.CallbackURL, s.QueueID = page.ID, page.CallbackURL, page.DefaultQueueID
	deadline := time.Now().Add(60 * time.Second)
	for {
		var p struct {
			ProvisioningStatus string `json:"provisioning_status"`
			LastError          string `json:"last_error"`
		}
		if _, _, err := s.Call(ctx, s.AdminToken, "GET", "/api/v1/pages/"+s.PageUUID, nil, &p); err != nil {
			return err
		}
		switch {
		case p.ProvisioningStatus == "active":
			return nil
		case p.ProvisioningStatus == "failed":
			return fmt.Errorf("page provisioning failed: %s", p.LastError)
		case time.Now().After(deadline):
			return fmt.Errorf("page not active after 60s (status %q, last error %q)", p.ProvisioningStatus, p.LastError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Call sends an API request with the bearer token (the admin's or an agent's)
// and decodes a successful JSON answer into out (if non-nil).
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

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("database URL %q is not a postgres:// URL", base)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(base, name string, progress func(string, ...any)) {
	dsn, err := withDatabase(base, "postgres")
	if err != nil {
		return
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		progress("drop database %s: %v", name, err)
	}
}

// RandomHex is n random bytes in hex, for names that must not collide.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
