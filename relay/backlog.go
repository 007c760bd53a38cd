package relay

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"fbchannel/ops"
	"fbchannel/store"
)

// backlogCollector reads the inbox backlog from Postgres at scrape time:
//
//	fbchannel_inbox_pending_events            events committed but not yet handed to Temporal
//	fbchannel_inbox_oldest_pending_seconds    how long ago the oldest of them was committed (0 when none)
//
// When Postgres does not answer within ops.CheckTimeout both are left out of
// that scrape.
type backlogCollector struct {
	store           *store.Store
	log             *slog.Logger
	pending, oldest *prometheus.Desc
}

func newBacklogCollector(s *store.Store, log *slog.Logger) *backlogCollector {
	return &backlogCollector{
		store: s, log: log,
		pending: prometheus.NewDesc("fbchannel_inbox_pending_events",
			"Webhook events committed in the inbox and not yet handed to their conversation workflow.", nil, nil),
		oldest: prometheus.NewDesc("fbchannel_inbox_oldest_pending_seconds",
			"How long ago the oldest pending inbox event was committed; 0 when none is pending.", nil, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ops.CheckTimeout)
	defer cancel()
	n, oldest, err := c.store.InboxBacklog(ctx)
	if err != nil {
		c.log.Warn("metrics: inbox backlog not collected", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest.Seconds())
}
