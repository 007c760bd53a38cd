//go:build integration

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"fbchannel/messenger"
	"fbchannel/ops"
	"fbchannel/store"
	"fbchannel/workflows"
)

// opsError decodes the contract's error shape.
func opsError(t *testing.T, body string) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not the error shape: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

// opsDeadTemporal is a lazy client pointed at a port nobody listens on.
func opsDeadTemporal(t *testing.T) client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	down, err := client.NewLazyClient(client.Options{HostPort: dead, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	return down
}

func TestOpsStarterProbes(t *testing.T) {
	st := newStack(t)

	if code, body := httpGet(t, st.api.URL+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, st.api.URL+"/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz with Postgres and Temporal up: %d %s", code, body)
	}

	// The same starter with Temporal stopped: alive, and still ready (webhooks
	// go into the inbox), naming Temporal as unavailable.
	srv := httptest.NewServer(st.server(opsDeadTemporal(t)).Handler())
	defer srv.Close()
	if code, body := httpGet(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("/healthz with Temporal down: %d %s", code, body)
	}
	start := time.Now()
	code, body := httpGet(t, srv.URL+"/readyz")
	if took := time.Since(start); took > ops.CheckTimeout+2*time.Second {
		t.Fatalf("/readyz took %s with Temporal down", took)
	}
	var ready struct {
		Status string
		Checks map[string]string
	}
	_ = json.Unmarshal([]byte(body), &ready)
	if code != 200 || ready.Status != "ready" || ready.Checks["postgres"] != "ok" || !strings.HasPrefix(ready.Checks["temporal"], "unavailable") {
		t.Fatalf("/readyz with Temporal down: %d %s", code, body)
	}
}

func TestOpsStarterMetricsCountWebhooks(t *testing.T) {
	st, ch := newPageStack(t)
	accepted := map[string]string{"outcome": "accepted"}

	before := opsScrape(t, st.api.URL)
	if _, ok := opsSample(before, "fbchannel_webhook_requests_total", map[string]string{"outcome": "bad_signature"}); !ok {
		t.Fatal("webhook outcomes are not exported from the start")
	}
	st.customerSays(ch, "2900000000000201", "counting", "m_ops_1")
	body := customerBatch(ch.PageID, "2900000000000201", "m_ops_2", "forged")
	if code, _ := post(t, ch.CallbackURL, body, messenger.Sign("not-the-secret", body)); code != 403 {
		t.Fatalf("forged delivery: %d", code)
	}
	// The relay signals after the answer: its latency shows once it has.
	var after metricFamilies
	st.eventually("the relay's signal observed", 30*time.Second, func() bool {
		after = opsScrape(t, st.api.URL)
		sig, ok := opsSample(after, "fbchannel_signal_duration_seconds", nil)
		return ok && sig.Histogram != nil && sig.Histogram.GetSampleCount() >= 1
	})

	if d := opsValue(after, "fbchannel_webhook_requests_total", accepted) - opsValue(before, "fbchannel_webhook_requests_total", accepted); d != 1 {
		t.Errorf("fbchannel_webhook_requests_total{outcome=accepted} rose by %v, want 1", d)
	}
	bad := map[string]string{"outcome": "bad_signature"}
	if d := opsValue(after, "fbchannel_webhook_requests_total", bad) - opsValue(before, "fbchannel_webhook_requests_total", bad); d != 1 {
		t.Errorf("fbchannel_webhook_requests_total{outcome=bad_signature} rose by %v, want 1", d)
	}
	if d := opsValue(after, "fbchannel_webhook_events_total", nil) - opsValue(before, "fbchannel_webhook_events_total", nil); d != 1 {
		t.Errorf("fbchannel_webhook_events_total rose by %v, want 1", d)
	}
	sig, ok := opsSample(after, "fbchannel_signal_duration_seconds", nil)
	if !ok || sig.Histogram == nil || sig.Histogram.GetSampleCount() < 1 || sig.Histogram.GetSampleSum() <= 0 {
		t.Errorf("fbchannel_signal_duration_seconds: %v", sig)
	}
	if v := opsValue(after, "fbchannel_http_requests_total", map[string]string{"route": "POST /webhooks/facebook/{page}", "code": "200"}); v < 1 {
		t.Errorf("fbchannel_http_requests_total for the webhook route: %v", v)
	}
	// The first delivery read its accounts from Postgres (the forged one, doubted,
	// read them again); the cache's counters are exported.
	if d := opsValue(after, "fbchannel_webhook_account_cache_misses_total", nil) - opsValue(before, "fbchannel_webhook_account_cache_misses_total", nil); d < 1 {
		t.Errorf("fbchannel_webhook_account_cache_misses_total rose by %v, want at least 1", d)
	}
	for _, name := range []string{"fbchannel_webhook_account_cache_hits_total", "fbchannel_webhook_account_cache_invalidations_total"} {
		if _, ok := opsSample(after, name, nil); !ok {
			t.Errorf("%s is not exported", name)
		}
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestOpsWorkerEndpoints(t *testing.T) {
	st, ch := newPageStack(t)
	// No agent: the conversation waits in the page's default queue.
	st.customerSays(ch, "2900000000000301", "anyone?", "m_ops_w1")
	st.eventually("conversation waiting", 30*time.Second, func() bool {
		return st.count("conversations", "status = 'waiting' AND queue_id = $1", ch.QueueID) == 1
	})
	if _, err := st.db.Exec(`UPDATE pages SET token_expires_at = now() + interval '10 days' WHERE id = $1`, ch.PageUUID); err != nil {
		t.Fatal(err)
	}

	// The worker's wiring: its metrics, the Postgres collector and the SDK's
	// metrics through a client that shares the dev server's connection.
	m := ops.NewWorker()
	m.Registry.MustRegister(ops.NewPostgresCollector(st.db, nil))
	sdk, err := client.NewClientFromExisting(temporalClient, client.Options{Namespace: namespace, Logger: quietLogger(), MetricsHandler: m.TemporalHandler()})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	w := worker.New(sdk, "fbchannel-ops-"+randomHex(6), worker.Options{})
	workflows.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	srv, err := ops.Listen("127.0.0.1:0", ops.Handler(m, ops.PostgresCheck(st.db), ops.TemporalCheck(sdk)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	base := "http://" + srv.Addr()

	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	var mfs metricFamilies
	st.eventually("SDK metrics", 10*time.Second, func() bool {
		mfs = opsScrape(t, base)
		return mfs["temporal_worker_start_total"] != nil && mfs["temporal_num_pollers"] != nil
	})
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"fbchannel_scrape_collector_success", map[string]string{"collector": "postgres"}, func(v float64) bool { return v == 1 }, "1"},
		{"fbchannel_pages", map[string]string{"status": "active"}, func(v float64) bool { return v == 1 }, "1"},
		{"fbchannel_pages", map[string]string{"status": "needs_reauth"}, func(v float64) bool { return v == 0 }, "0"},
		{"fbchannel_queue_length", map[string]string{"queue": ch.QueueID}, func(v float64) bool { return v == 1 }, "1"},
		{"fbchannel_queue_oldest_wait_seconds", map[string]string{"queue": ch.QueueID}, func(v float64) bool { return v > 0 && v < 300 }, "in (0, 300)"},
		{"fbchannel_token_days_to_expiry", map[string]string{"page": ch.PageUUID, "facebook_page_id": ch.PageID}, func(v float64) bool { return v > 9.9 && v <= 10 }, "in (9.9, 10]"},
		{"fbchannel_sends_total", map[string]string{"outcome": "sent", "reason": ""}, func(v float64) bool { return v == 0 }, "0"},
	}
	for _, c := range checks {
		if _, ok := opsSample(mfs, c.name, c.labels); !ok {
			t.Errorf("%s%v is missing", c.name, c.labels)
			continue
		}
		if v := opsValue(mfs, c.name, c.labels); !c.ok(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	if _, ok := opsSample(mfs, "temporal_num_pollers", map[string]string{"namespace": namespace}); !ok {
		t.Errorf("temporal_num_pollers has no namespace label: %v", mfs["temporal_num_pollers"])
	}

	// Graceful stop: Serve returns cleanly and the port stops answering.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the ops server still answers after Shutdown")
	}
}

func TestOpsWorkerReadyzWhenItsDatabaseIsClosed(t *testing.T) {
	st := newStack(t)
	db, err := store.Open(context.Background(), databaseURL(st.dbName))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	m := ops.NewWorker()
	m.Registry.MustRegister(ops.NewPostgresCollector(db, nil))
	h := ops.Handler(m, ops.PostgresCheck(db), ops.TemporalCheck(temporalClient))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("/healthz: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	code, msg := opsError(t, rec.Body.String())
	if rec.Code != 503 || code != "not_ready" || !strings.Contains(msg, "postgres") || strings.Contains(msg, "temporal") {
		t.Fatalf("/readyz with the database closed: %d %s", rec.Code, rec.Body)
	}

	// /metrics still answers; the database's gauges are left out and say so.
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("/metrics with the database closed: %d %s", rec.Code, rec.Body)
	}
	mfs := opsParse(t, rec.Body)
	if v, ok := opsSample(mfs, "fbchannel_scrape_collector_success", map[string]string{"collector": "postgres"}); !ok || v.Gauge.GetValue() != 0 {
		t.Fatalf("fbchannel_scrape_collector_success{collector=postgres}: %v", v)
	}
	if _, ok := mfs["fbchannel_pages"]; ok {
		t.Fatal("fbchannel_pages reported without a database")
	}
}

// starterWithDatabaseDown serves the starter's handler over a store whose
// database pool is closed: every Postgres call fails as when the server is down.
func (st *stack) starterWithDatabaseDown() *httptest.Server {
	st.t.Helper()
	closed, err := sql.Open("postgres", databaseURL(st.dbName))
	if err != nil {
		st.t.Fatal(err)
	}
	closed.Close()
	srv := st.server(temporalClient)
	srv.Store = &store.Store{DB: closed, Box: st.store.Box}
	h := httptest.NewServer(srv.Handler())
	st.t.Cleanup(h.Close)
	return h
}
