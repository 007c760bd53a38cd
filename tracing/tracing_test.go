package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/tracing/tracingtest"
)

func TestOffUnlessAnEndpointIsConfigured(t *testing.T) {
	for _, cfg := range []Config{{ServiceName: "x"}, {ServiceName: "x", Endpoint: "http://127.0.0.1:1", Disabled: true}} {
		tr, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Enabled() {
			t.Fatalf("%+v: enabled", cfg)
		}
		h := http.NotFoundHandler()
		if got := tr.Handler(h); got == nil || httptestHandlerName(got) != httptestHandlerName(h) {
			t.Fatal("the handler was wrapped")
		}
		if is, err := tr.ClientInterceptors(); err != nil || len(is) != 0 {
			t.Fatalf("interceptors: %v %v", is, err)
		}
		if tr.TracerProvider() == nil || tr.ForceFlush(context.Background()) != nil || tr.Shutdown(context.Background()) != nil {
			t.Fatal("a disabled Tracing misbehaves")
		}
	}
	var nilTracing *Tracing
	if nilTracing.Enabled() || nilTracing.TracerProvider() == nil {
		t.Fatal("nil Tracing")
	}
}

func httptestHandlerName(h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	return rec.Body.String() + rec.Header().Get("Content-Type")
}

func TestTracesURL(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Endpoint: "http://collector:4318"}, "http://collector:4318/v1/traces"},
		{Config{Endpoint: "http://collector:4318/"}, "http://collector:4318/v1/traces"},
		{Config{Endpoint: "https://otlp.example.com/otlp"}, "https://otlp.example.com/otlp/v1/traces"},
		{Config{Endpoint: "http://a:4318", TracesEndpoint: "http://b:4318/custom"}, "http://b:4318/custom"},
		{Config{Endpoint: "http://a:4318", Disabled: true}, ""},
		{Config{}, ""},
	}
	for _, c := range cases {
		got, err := c.cfg.tracesURL()
		if err != nil || got != c.want {
			t.Errorf("%+v: %q %v, want %q", c.cfg, got, err, c.want)
		}
	}
	for _, bad := range []Config{{Endpoint: "collector:4318"}, {Endpoint: "grpc://c:4317"}, {TracesEndpoint: "::"}} {
		if _, err := bad.tracesURL(); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := Start(context.Background(), Config{Endpoint: "nope"}); err == nil {
		t.Error("Start accepted a bad endpoint")
	}
}

// Server spans reach an OTLP/HTTP collector, named by route, continuing the
// caller's traceparent, without the query string; probes are not traced.
func TestServerSpansReachAnOTLPReceiver(t *testing.T) {
	rcv := tracingtest.NewReceiver()
	defer rcv.Close()
	tr, err := Start(context.Background(), Config{ServiceName: "fbchannel-test", Endpoint: rcv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if !tr.Enabled() {
		t.Fatal("not enabled")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /webhooks/facebook/{page}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()

	const parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", srv.URL+"/webhooks/facebook/abc?hub.mode=subscribe&hub.verify_token=sekrit-verify&hub.challenge=1", nil)
	req.Header.Set("traceparent", "00-"+parentTrace+"-00f067aa0ba902b7-01")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 {
		t.Fatalf("spans: %+v", spans)
	}
	s := spans[0]
	if s.Name != "GET /webhooks/facebook/{page}" || s.Service != "fbchannel-test" || s.TraceID != parentTrace ||
		s.ParentID != "00f067aa0ba902b7" || s.Kind != "SPAN_KIND_SERVER" {
		t.Fatalf("span: %+v", s)
	}
	all, _ := json.Marshal(spans)
	if bytes.Contains(all, []byte("sekrit-verify")) {
		t.Fatalf("the query was recorded: %s", all)
	}
}

// Continuing as new ends a run normally; a failure still marks the run's span.
func TestContinueAsNewIsNotARunError(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := NewWithExporter(context.Background(), "fbchannel-test", exp)
	if err != nil {
		t.Fatal(err)
	}
	i, err := tr.TemporalInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	act := func(ctx context.Context) error { return nil }
	wf := func(ctx workflow.Context, fail bool) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.ExecuteActivity(ctx, "Act").Get(ctx, nil); err != nil {
			return err
		}
		if fail {
			return temporal.NewNonRetryableApplicationError("it broke", "broken", nil)
		}
		return workflow.NewContinueAsNewError(ctx, "Flow", false)
	}
	for _, fail := range []bool{false, true} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{i}})
		env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "Flow"})
		env.RegisterActivityWithOptions(act, activity.RegisterOptions{Name: "Act"})
		env.ExecuteWorkflow("Flow", fail)
		if !env.IsWorkflowCompleted() {
			t.Fatal("not completed")
		}
		if err := tr.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		var run, activity bool
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case "RunWorkflow:Flow":
				run = true
				if fail && s.Status.Code != codes.Error {
					t.Errorf("failed run: status %v", s.Status)
				}
				if !fail && s.Status.Code == codes.Error {
					t.Errorf("continued-as-new run marked as error: %v", s.Status)
				}
			case "RunActivity:Act":
				activity = true
			}
		}
		if !run || !activity {
			t.Fatalf("fail=%v: spans %v", fail, exp.GetSpans())
		}
		exp.Reset()
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, _ := NewWithExporter(context.Background(), "x", exp)
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("page_uuid", "p1")
	ctx, span := tr.Provider.Tracer("t").Start(context.Background(), "op")
	log.ErrorContext(ctx, "request failed", "err", errors.New("boom"))
	log.Info("no context")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["trace_id"] != span.SpanContext().TraceID().String() || first["span_id"] != span.SpanContext().SpanID().String() || first["page_uuid"] != "p1" {
		t.Fatalf("with a span: %s", lines[0])
	}
	if _, ok := second["trace_id"]; ok {
		t.Fatalf("without a span: %s", lines[1])
	}
}
