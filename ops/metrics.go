package ops

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Webhook outcomes, the values of fbchannel_webhook_requests_total{outcome}.
const (
	WebhookAccepted     = "accepted"
	WebhookBadSignature = "bad_signature"
	WebhookMalformed    = "malformed"
	WebhookTooLarge     = "too_large"
	WebhookUnavailable  = "unavailable"
	WebhookNotFound     = "not_found"
	WebhookIgnored      = "ignored" // for a deleted channel
)

// Relay outcomes, the values of fbchannel_relay_signals_total{outcome}.
const (
	RelayRelayed = "relayed"
	RelayFailed  = "failed"
)

// Send outcomes, the values of fbchannel_sends_total{outcome}.
const (
	SendSent     = "sent"     // Facebook accepted the message (or it was already sent)
	SendFailed   = "failed"   // a permanent failure: reason is its stable code
	SendRetrying = "retrying" // a transient failure of one attempt; Temporal retries it
	SendQueued   = "queued"   // accepted and parked, e.g. while the page needs re-authorisation
)

// Metrics is one process's Prometheus registry and the channel's own metrics.
// Every method is safe on a nil *Metrics (it records nothing), so code that
// records metrics works unchanged where none are wired, such as in tests.
//
// The counters are exported for callers that need a label set the helper
// methods do not cover; a field is nil in a process that does not use it
// (Sends in the starter, the webhook metrics in the worker).
type Metrics struct {
	Registry *prometheus.Registry

	// Starter.
	WebhookRequests   *prometheus.CounterVec // fbchannel_webhook_requests_total{outcome}
	WebhookEvents     prometheus.Counter     // fbchannel_webhook_events_total
	WebhookUnreadable prometheus.Counter     // fbchannel_webhook_unreadable_events_total
	SignalDuration    prometheus.Histogram   // fbchannel_signal_duration_seconds
	RelaySignals      *prometheus.CounterVec // fbchannel_relay_signals_total{outcome}
	HTTPRequests      *prometheus.CounterVec // fbchannel_http_requests_total{route,code}

	// Worker.
	Sends *prometheus.CounterVec // fbchannel_sends_total{outcome,reason}

	temporal *temporalHandler
}

func newMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{Registry: reg, temporal: newTemporalHandler()}
	reg.MustRegister(m.temporal)
	return m
}

// counterVec makes a counter with labels, registered.
func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(c)
	return c
}

// NewStarter makes the starter's metrics: webhook deliveries and events,
// SignalWithStart latency, HTTP requests, the Go runtime, the process and the
// Temporal client's SDK metrics.
func NewStarter() *Metrics {
	m := newMetrics()
	m.WebhookRequests = m.counterVec("fbchannel_webhook_requests_total",
		"Facebook webhook deliveries (POST) by outcome: accepted, bad_signature, malformed, too_large, unavailable, not_found.",
		"outcome")
	m.WebhookEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fbchannel_webhook_events_total",
		Help: "Messenger events ingested: committed in the inbox by an accepted delivery (the relay then hands them to their conversation workflow).",
	})
	m.WebhookUnreadable = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fbchannel_webhook_unreadable_events_total",
		Help: "Entries and events of accepted deliveries that could not be read (wrong-typed fields, unknown shapes); each is stored raw with its reason in inbound_unreadable.",
	})
	m.RelaySignals = m.counterVec("fbchannel_relay_signals_total",
		"SignalWithStart calls of the inbox relay by outcome: relayed, or failed (the event stays pending and is retried).",
		"outcome")
	m.SignalDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "fbchannel_signal_duration_seconds",
		Help:    "Latency of the inbox relay's SignalWithStart into a conversation workflow, successful or not.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4},
	})
	m.HTTPRequests = m.counterVec("fbchannel_http_requests_total",
		"HTTP requests answered by the starter, by route pattern and status code.",
		"route", "code")
	m.Registry.MustRegister(m.WebhookEvents, m.WebhookUnreadable, m.SignalDuration)
	m.RelaySignals.WithLabelValues(RelayRelayed)
	m.RelaySignals.WithLabelValues(RelayFailed)
	// Outcomes appear at zero from the start, so rate() and alerts see them.
	for _, o := range []string{WebhookAccepted, WebhookBadSignature, WebhookMalformed, WebhookTooLarge, WebhookUnavailable, WebhookNotFound, WebhookIgnored} {
		m.WebhookRequests.WithLabelValues(o)
	}
	return m
}

// WebhookCache is what the metrics read of the webhook's account cache
// (store.WebhookCache).
type WebhookCache interface {
	Hits() int64
	Misses() int64
	Invalidations() int64
}

// WatchWebhookCache exports the webhook account cache's counters.
func (m *Metrics) WatchWebhookCache(c WebhookCache) {
	if m == nil || c == nil {
		return
	}
	counter := func(name, help string, read func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(read()) })
	}
	m.Registry.MustRegister(
		counter("fbchannel_webhook_account_cache_hits_total", "Webhook deliveries whose account lookup was answered from memory.", c.Hits),
		counter("fbchannel_webhook_account_cache_misses_total", "Webhook account lookups read from Postgres (not cached, expired, or doubted).", c.Misses),
		counter("fbchannel_webhook_account_cache_invalidations_total",
			"Times the webhook account cache was dropped whole: a change to pages or accounts (NOTIFY webhook_accounts), or the LISTEN connection lost or back.", c.Invalidations),
	)
}

// NewWorker makes the worker's metrics: sends by outcome, the Go runtime, the
// process and the Temporal worker's SDK metrics. Pass the result of
// NewPostgresCollector to Registry.MustRegister for the gauges read from Postgres.
func NewWorker() *Metrics {
	m := newMetrics()
	m.Sends = m.counterVec("fbchannel_sends_total",
		"Agent replies sent to Facebook by outcome (sent, failed, retrying, queued) and reason (the stable failure code; empty when sent).",
		"outcome", "reason")
	m.Sends.WithLabelValues(SendSent, "")
	return m
}

// Handler serves the registry in the Prometheus text format. A collector that
// fails (Postgres down) leaves its metrics out rather than failing the scrape.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// TemporalHandler is the Temporal SDK's metrics handler for client.Options.MetricsHandler:
// the SDK's metrics (temporal_request_total, temporal_workflow_task_execution_latency_seconds,
// temporal_activity_execution_failed_total, ...) appear on this registry.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return m.temporal
}

// WebhookRequest counts one webhook delivery by outcome (the Webhook* constants).
func (m *Metrics) WebhookRequest(outcome string) {
	if m == nil || m.WebhookRequests == nil {
		return
	}
	m.WebhookRequests.WithLabelValues(outcome).Inc()
}

// WebhookEventsIngested counts the events an accepted delivery stored and signalled.
func (m *Metrics) WebhookEventsIngested(n int) {
	if m == nil || m.WebhookEvents == nil || n <= 0 {
		return
	}
	m.WebhookEvents.Add(float64(n))
}

// WebhookUnreadableEvents counts the unreadable parts an accepted delivery stored.
func (m *Metrics) WebhookUnreadableEvents(n int) {
	if m == nil || m.WebhookUnreadable == nil || n <= 0 {
		return
	}
	m.WebhookUnreadable.Add(float64(n))
}

// RelaySignal counts one SignalWithStart of the inbox relay by its error.
func (m *Metrics) RelaySignal(err error) {
	if m == nil || m.RelaySignals == nil {
		return
	}
	outcome := RelayRelayed
	if err != nil {
		outcome = RelayFailed
	}
	m.RelaySignals.WithLabelValues(outcome).Inc()
}

// ObserveSignal records the latency of one SignalWithStart.
func (m *Metrics) ObserveSignal(d time.Duration) {
	if m == nil || m.SignalDuration == nil {
		return
	}
	m.SignalDuration.Observe(d.Seconds())
}

// Send counts one send attempt with an explicit outcome (the Send* constants) and reason.
func (m *Metrics) Send(outcome, reason string) {
	if m == nil || m.Sends == nil {
		return
	}
	m.Sends.WithLabelValues(outcome, reason).Inc()
}

// ObserveSend counts the result of one SendMessage activity attempt from the
// error it returns: nil is sent; a non-retryable application error is failed
// with its type as the reason (window_closed, token_invalid, ...); any other
// error is retrying, with the application error's type as the reason when it
// has one (rate_limited, temporary, ...) and "internal" otherwise.
func (m *Metrics) ObserveSend(err error) {
	outcome, reason := SendOutcome(err)
	m.Send(outcome, reason)
}

// SendOutcome classifies a SendMessage activity error as ObserveSend does.
func SendOutcome(err error) (outcome, reason string) {
	if err == nil {
		return SendSent, ""
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.NonRetryable() {
			return SendFailed, appErr.Type()
		}
		return SendRetrying, appErr.Type()
	}
	return SendRetrying, "internal"
}
