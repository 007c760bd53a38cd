package ops

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/temporal"
)

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

func TestTemporalHandlerNamesAndLabels(t *testing.T) {
	m := NewWorker()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "PollWorkflowTaskQueue"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"operation": "PollWorkflowTaskQueue"}).Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(3)
	h.Timer("temporal_request_latency").Record(250 * time.Millisecond)

	mfs := scrape(t, m.Handler())
	req := mfs["temporal_request_total"]
	if req == nil || req.GetType() != dto.MetricType_COUNTER || len(req.Metric) != 2 {
		t.Fatalf("temporal_request_total: %v", req)
	}
	for _, mt := range req.Metric {
		labels := map[string]string{}
		for _, l := range mt.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] != "default" || mt.Counter.GetValue() != 2 {
			t.Errorf("series %v = %v", labels, mt.Counter.GetValue())
		}
	}
	if g := mfs["temporal_num_pollers"]; g == nil || g.Metric[0].Gauge.GetValue() != 3 {
		t.Errorf("temporal_num_pollers: %v", g)
	}
	lat := mfs["temporal_request_latency_seconds"]
	if lat == nil || lat.GetType() != dto.MetricType_HISTOGRAM || lat.Metric[0].Histogram.GetSampleCount() != 1 ||
		lat.Metric[0].Histogram.GetSampleSum() != 0.25 {
		t.Fatalf("temporal_request_latency_seconds: %v", lat)
	}
	if mfs["fbchannel_sends_total"] == nil || mfs["go_goroutines"] == nil {
		t.Fatalf("missing the worker's own or the runtime's metrics: %v", keys(mfs))
	}
	if mfs["fbchannel_webhook_requests_total"] != nil {
		t.Fatal("the worker exposes starter metrics")
	}
}

func keys(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range mfs {
		out = append(out, k)
	}
	return out
}

func TestSendOutcome(t *testing.T) {
	cases := []struct {
		err             error
		outcome, reason string
	}{
		{nil, SendSent, ""},
		{temporal.NewNonRetryableApplicationError("The 24-hour window has closed.", "window_closed", nil), SendFailed, "window_closed"},
		{temporal.NewApplicationError("Facebook is busy.", "rate_limited", nil), SendRetrying, "rate_limited"},
		{errors.New("connection reset"), SendRetrying, "internal"},
	}
	for _, c := range cases {
		if o, r := SendOutcome(c.err); o != c.outcome || r != c.reason {
			t.Errorf("%v: %s/%s, want %s/%s", c.err, o, r, c.outcome, c.reason)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.ObserveSend(nil) // a nil *Metrics records nothing and does not panic
	nilMetrics.WebhookRequest(WebhookAccepted)
	nilMetrics.ObserveSignal(time.Second)

	m := NewWorker()
	m.ObserveSend(temporal.NewNonRetryableApplicationError("x", "token_invalid", nil))
	mfs := scrape(t, m.Handler())
	found := false
	for _, mt := range mfs["fbchannel_sends_total"].Metric {
		ls := map[string]string{}
		for _, l := range mt.Label {
			ls[l.GetName()] = l.GetValue()
		}
		if ls["outcome"] == "failed" && ls["reason"] == "token_invalid" && mt.Counter.GetValue() == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("fbchannel_sends_total: %v", mfs["fbchannel_sends_total"])
	}
}

func TestReadyzNamesWhatIsDownWithinTheTimeout(t *testing.T) {
	// A check that ignores its context stands for a dependency that hangs.
	hang := Check{Name: "temporal", Fn: func(context.Context) error { time.Sleep(CheckTimeout + 2*time.Second); return nil }}
	ok := Check{Name: "postgres", Fn: func(context.Context) error { return nil }}

	rec := httptest.NewRecorder()
	start := time.Now()
	Readyz(ok, hang)(rec, httptest.NewRequest("GET", "/readyz", nil))
	if took := time.Since(start); took > CheckTimeout+time.Second {
		t.Fatalf("readyz took %s", took)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 503 || body.Error.Code != "not_ready" || !strings.Contains(body.Error.Message, "temporal") ||
		strings.Contains(body.Error.Message, "postgres") {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	Readyz(ok)(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("readyz with everything up: %d %s", rec.Code, rec.Body)
	}
}

func TestInstrumentCountsByRouteAndKeepsFlusher(t *testing.T) {
	m := NewStarter()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the instrumented writer is not an http.Flusher")
		}
		w.WriteHeader(http.StatusTeapot)
	})
	h := m.Instrument(mux)
	for _, p := range []string{"/things/1", "/things/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	got := map[string]float64{}
	for _, mt := range scrape(t, m.Handler())["fbchannel_http_requests_total"].Metric {
		ls := map[string]string{}
		for _, l := range mt.Label {
			ls[l.GetName()] = l.GetValue()
		}
		got[ls["route"]+" "+ls["code"]] = mt.Counter.GetValue()
	}
	if got["GET /things/{id} 418"] != 2 || got["unmatched 404"] != 1 {
		t.Fatalf("fbchannel_http_requests_total: %v", got)
	}
}
