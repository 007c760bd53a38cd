// Package tracing gives both processes OpenTelemetry traces, off unless an OTLP
// endpoint is configured: an OTLP/HTTP exporter, the Temporal interceptor that
// carries a trace from the starter's client through headers into workflows and
// activities (go.temporal.io/sdk/contrib/opentelemetry), server spans for the
// starter's HTTP requests (otelhttp), and trace and span ids on slog lines.
//
// One inbound message is one trace: the webhook request, its SignalWithStart,
// the conversation workflow, its activities and their Graph API calls (graph.Client
// makes those spans itself, without URLs, as the query carries the access token).
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Service names of the two processes.
const (
	StarterService = "fbchannel-starter"
	WorkerService  = "fbchannel-worker"
)

// Propagator is how a trace crosses processes: W3C trace context and baggage,
// in HTTP headers and in Temporal headers alike.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)

// Config says where traces go. With neither endpoint set, tracing is off.
type Config struct {
	ServiceName string
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the collector's OTLP/HTTP base URL
	// (e.g. http://otel-collector:4318); spans are posted to {Endpoint}/v1/traces.
	Endpoint string
	// TracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL for
	// spans; it takes precedence over Endpoint, as the OTel specification says.
	TracesEndpoint string
	// Disabled is OTEL_SDK_DISABLED: true turns tracing off whatever the endpoints.
	Disabled bool
}

// Tracing is the process's tracer provider, or a no-op one when tracing is off.
// Its methods are safe on a disabled value.
type Tracing struct {
	// Provider makes the spans; a no-op provider when tracing is off.
	Provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider
}

// Start builds the exporter and tracer provider described by cfg. Other standard
// OTEL_* variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION,
// OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, ...) apply as
// the OpenTelemetry SDK reads them. Nothing is sent until a span ends, so an
// unreachable collector does not stop the process; failed exports are reported
// to otel's error handler (see SetGlobal).
func Start(ctx context.Context, cfg Config) (*Tracing, error) {
	target, err := cfg.tracesURL()
	if err != nil || target == "" {
		return Off(), err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(target))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return NewWithExporter(ctx, cfg.ServiceName, exp)
}

// NewWithExporter builds an enabled Tracing over any exporter, batching spans.
func NewWithExporter(ctx context.Context, serviceName string, exp sdktrace.SpanExporter) (*Tracing, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithTelemetrySDK(),
		// Last, so OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults.
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: sdk, sdk: sdk}, nil
}

// Off is tracing turned off: no spans, no interceptor, handlers unwrapped.
func Off() *Tracing { return &Tracing{Provider: noop.NewTracerProvider()} }

// tracesURL is where spans are posted, "" when tracing is off.
func (cfg Config) tracesURL() (string, error) {
	if cfg.Disabled {
		return "", nil
	}
	name, raw := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(cfg.TracesEndpoint)
	if raw == "" {
		name, raw = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(cfg.Endpoint)
	}
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("configuration: %s must be an http(s) URL such as http://otel-collector:4318", name)
	}
	if name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// Enabled says whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// TracerProvider is the provider for instrumented clients (e.g. graph.Client).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil || t.Provider == nil {
		return noop.NewTracerProvider()
	}
	return t.Provider
}

// SetGlobal makes this provider and the propagator otel's globals, for
// libraries that use them, and reports otel's own errors (failed exports) to log.
func (t *Tracing) SetGlobal(log *slog.Logger) {
	if !t.Enabled() {
		return
	}
	otel.SetTracerProvider(t.Provider)
	otel.SetTextMapPropagator(Propagator)
	if log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry", "err", err)
		}))
	}
}

// ForceFlush exports the spans that have ended so far.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Shutdown flushes and stops the exporter; call it last, with a deadline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// ClientInterceptors are for client.Options.Interceptors: the client's calls
// (SignalWithStart, updates, ...) write the current span into the Temporal
// header, and a worker made from the client runs workflows and activities in
// spans continued from those headers (RunWorkflow:*, StartActivity:*,
// RunActivity:*, HandleSignal:*, HandleUpdate:*). Empty when tracing is off.
func (t *Tracing) ClientInterceptors() ([]interceptor.ClientInterceptor, error) {
	if !t.Enabled() {
		return nil, nil
	}
	i, err := t.TemporalInterceptor()
	if err != nil {
		return nil, err
	}
	return []interceptor.ClientInterceptor{i}, nil
}

// TemporalInterceptor is the contrib OpenTelemetry interceptor over this
// provider. A workflow run that ends by continuing as new (every closed
// conversation does) is not marked as failed.
func (t *Tracing) TemporalInterceptor() (interceptor.Interceptor, error) {
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.TracerProvider().Tracer("fbchannel/temporal"),
		TextMapPropagator: Propagator,
		SpanStarter: func(ctx context.Context, tr trace.Tracer, name string, opts ...trace.SpanStartOption) trace.Span {
			_, span := tr.Start(ctx, name, opts...)
			if strings.HasPrefix(name, "RunWorkflow:") {
				return &runSpan{Span: span}
			}
			return span
		},
	})
}

// runSpan keeps continue-as-new, a workflow's normal way to end a run, from
// being recorded as the run's error.
type runSpan struct {
	trace.Span
	continued bool
}

func (s *runSpan) RecordError(err error, opts ...trace.EventOption) {
	if err != nil && workflow.IsContinueAsNewError(err) {
		s.continued = true
		s.Span.SetAttributes(attribute.Bool("temporal.continued_as_new", true))
		return
	}
	s.Span.RecordError(err, opts...)
}

func (s *runSpan) SetStatus(code codes.Code, description string) {
	if s.continued && code == codes.Error {
		return
	}
	s.Span.SetStatus(code, description)
}

// Handler gives every request of h a server span named by its route (e.g.
// "POST /webhooks/facebook/{page}"), continuing a W3C traceparent the caller
// sent. Probes and scrapes are not traced. The span records the path, never
// the query (a webhook verification's query holds the verify token), nor headers.
// Without tracing, h is returned as is.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// LogHandler adds trace_id and span_id to every record logged with a context
// that carries a span (slog's *Context methods), so a log line leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// StartProcess is how the worker and the starter begin: tracing started (or off),
// made global with the process's logger. Defer stop: it exports the process's
// last spans, within five seconds.
func StartProcess(ctx context.Context, cfg Config, log *slog.Logger) (t *Tracing, stop func(), err error) {
	t, err = Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	t.SetGlobal(log)
	stop = func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = t.Shutdown(shutdownCtx)
	}
	return t, stop, nil
}
