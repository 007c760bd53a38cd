package ops

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fbchannel/store"
)

// Bucket bounds, in seconds, of the KPI histograms: a chat's first wait is
// seconds to minutes (the default service level target is 60 s); handle time
// minutes to an hour or two.
var (
	FirstWaitBuckets  = []float64{5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600}
	HandleTimeBuckets = []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200}
)

// KPICollector reads the histograms of the service KPIs from Postgres (the
// same facts as GET /api/v1/reports/kpis; README "Service KPIs"):
//
//	fbchannel_first_wait_seconds{queue}   entered the queue → first accepted by an agent, per served conversation
//	fbchannel_handle_time_seconds{queue}  each handle-time segment (an agent's stint, assigned → transferred away or closed)
//
// Read from the database rather than observed where it happens, because the
// acceptance and the close happen in different processes (the worker's queue
// assignment and close, the starter's pick and transfer) and the database has
// every one of them once; each sample is final once written, so the counts only
// grow, as a histogram's must. A read covers all history (docs/PERFORMANCE.md
// has its cost), so one is served for Every; when Postgres fails, the last good
// read is served again.
type KPICollector struct {
	Store *store.Store
	Log   *slog.Logger
	// Every is how long a read is served before the next (a minute when zero);
	// Timeout bounds one read (10 s when zero).
	Every, Timeout time.Duration

	firstWait, handleTime *prometheus.Desc

	mu     sync.Mutex
	readAt time.Time
	last   []prometheus.Metric
}

// NewKPICollector makes the collector; register it on Metrics.Registry.
func NewKPICollector(st *store.Store, log *slog.Logger) *KPICollector {
	return &KPICollector{
		Store: st, Log: log,
		firstWait: prometheus.NewDesc("fbchannel_first_wait_seconds",
			"First wait of each served conversation: from entering its first queue to the first agent accepting it, by that queue.",
			[]string{"queue"}, nil),
		handleTime: prometheus.NewDesc("fbchannel_handle_time_seconds",
			"Handle time of each ended agent segment (active plus wrap-up; consults excluded), by the conversation's first queue.",
			[]string{"queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *KPICollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.firstWait
	ch <- c.handleTime
}

// Collect implements prometheus.Collector.
func (c *KPICollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	every := cmp.Or(c.Every, time.Minute)
	if c.last == nil || time.Since(c.readAt) >= every {
		if fresh, err := c.read(); err != nil {
			if c.Log != nil {
				c.Log.Warn("metrics: KPI histograms not read; serving the last read", "err", err)
			}
		} else {
			c.last, c.readAt = fresh, time.Now()
		}
	}
	for _, m := range c.last {
		ch <- m
	}
}

func (c *KPICollector) read() ([]prometheus.Metric, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(c.Timeout, 10*time.Second))
	defer cancel()
	out := []prometheus.Metric{}
	for _, h := range []struct {
		desc   *prometheus.Desc
		bounds []float64
		read   func(context.Context, []float64) ([]store.DurationHistogram, error)
	}{
		{c.firstWait, FirstWaitBuckets, c.Store.FirstWaitHistograms},
		{c.handleTime, HandleTimeBuckets, c.Store.HandleTimeHistograms},
	} {
		hists, err := h.read(ctx, h.bounds)
		if err != nil {
			return nil, err
		}
		for _, q := range hists {
			buckets := make(map[float64]uint64, len(h.bounds))
			for i, le := range h.bounds {
				buckets[le] = q.Counts[i]
			}
			out = append(out, prometheus.MustNewConstHistogram(h.desc, q.Count, q.Sum, buckets, q.Queue))
		}
	}
	return out, nil
}
