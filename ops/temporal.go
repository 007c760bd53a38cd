package ops

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// The Temporal SDK reports through client.MetricsHandler. Its usual Prometheus
// bridge (go.temporal.io/sdk/contrib/tally) is not available to this build, so
// this is a direct one with the same naming: counters end in _total, timers
// become histograms in seconds ending in _seconds, gauges keep their name. Tags
// become labels; the SDK's tag sets vary by call site, so one metric name may
// carry different label names (Prometheus accepts that from an unchecked
// collector).

// temporalBuckets span the SDK's latencies, from a fast RPC to a long poll.
var temporalBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

const temporalHelp = "Temporal Go SDK metric; see https://docs.temporal.io/references/sdk-metrics."

// temporalHandler is the root handler and the collector of every series.
type temporalHandler struct {
	mu     sync.RWMutex
	series map[string]prometheus.Metric // key: kind, name and sorted tags
}

func newTemporalHandler() *temporalHandler {
	return &temporalHandler{series: map[string]prometheus.Metric{}}
}

// Describe sends nothing: the collector is unchecked, its series appear as the SDK creates them.
func (h *temporalHandler) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (h *temporalHandler) Collect(ch chan<- prometheus.Metric) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, m := range h.series {
		ch <- m
	}
}

func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	return &taggedHandler{root: h, tags: tags}
}
func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	return h.counter(name, nil)
}
func (h *temporalHandler) Gauge(name string) client.MetricsGauge { return h.gauge(name, nil) }
func (h *temporalHandler) Timer(name string) client.MetricsTimer { return h.timer(name, nil) }

// taggedHandler carries the tags of WithTags calls.
type taggedHandler struct {
	root *temporalHandler
	tags map[string]string
}

func (t *taggedHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(t.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return &taggedHandler{root: t.root, tags: merged}
}
func (t *taggedHandler) Counter(name string) client.MetricsCounter {
	return t.root.counter(name, t.tags)
}
func (t *taggedHandler) Gauge(name string) client.MetricsGauge { return t.root.gauge(name, t.tags) }
func (t *taggedHandler) Timer(name string) client.MetricsTimer { return t.root.timer(name, t.tags) }

func (h *temporalHandler) counter(name string, tags map[string]string) client.MetricsCounter {
	name = promName(name)
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	c := h.get("c", name, tags, func(labels prometheus.Labels) prometheus.Metric {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: temporalHelp, ConstLabels: labels})
	}).(prometheus.Counter)
	return counterFunc(func(d int64) {
		if d > 0 { // a counter never goes down; the SDK only adds
			c.Add(float64(d))
		}
	})
}

func (h *temporalHandler) gauge(name string, tags map[string]string) client.MetricsGauge {
	name = promName(name)
	g := h.get("g", name, tags, func(labels prometheus.Labels) prometheus.Metric {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: temporalHelp, ConstLabels: labels})
	}).(prometheus.Gauge)
	return gaugeFunc(g.Set)
}

func (h *temporalHandler) timer(name string, tags map[string]string) client.MetricsTimer {
	name = promName(name)
	if !strings.HasSuffix(name, "_seconds") {
		name += "_seconds"
	}
	o := h.get("t", name, tags, func(labels prometheus.Labels) prometheus.Metric {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: temporalHelp, ConstLabels: labels, Buckets: temporalBuckets})
	}).(prometheus.Histogram)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// get returns the series of a kind, name and tag set, creating it on first use.
func (h *temporalHandler) get(kind, name string, tags map[string]string, newMetric func(prometheus.Labels) prometheus.Metric) prometheus.Metric {
	labels := prometheus.Labels{}
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		k = promName(k)
		labels[k] = v
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
	}
	key := b.String()

	h.mu.RLock()
	m, ok := h.series[key]
	h.mu.RUnlock()
	if ok {
		return m
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m, ok := h.series[key]; ok {
		return m
	}
	m = newMetric(labels)
	h.series[key] = m
	return m
}

// promName replaces what Prometheus does not allow in a metric or label name.
func promName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r >= '0' && r <= '9' && i > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
