package ops

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/huandu/go-sqlbuilder"
	"github.com/prometheus/client_golang/prometheus"
)

// PageStatuses are the provisioning statuses of CONTRACT.md; fbchannel_pages
// reports each of them, at zero when no page has it.
var PageStatuses = []string{"pending", "active", "failed", "needs_reauth", "deleting", "deleted"}

// PostgresCollector reads the channel's state from Postgres at scrape time:
//
//	fbchannel_pages{status}                          pages by provisioning status
//	fbchannel_queue_length{queue}                    conversations waiting in each queue
//	fbchannel_queue_oldest_wait_seconds{queue}       how long the oldest of them has waited (0 when none)
//	fbchannel_token_days_to_expiry{page,facebook_page_id}  days until a live page's token expires (negative once expired)
//	fbchannel_scrape_collector_success{collector="postgres"}   1 when the queries answered
//	fbchannel_scrape_collector_duration_seconds{collector="postgres"}
//
// When Postgres does not answer within Timeout, the state metrics are left out of
// that scrape (success is 0) and the rest of /metrics is still served.
type PostgresCollector struct {
	DB      *sql.DB
	Timeout time.Duration // per scrape; CheckTimeout when zero
	Log     *slog.Logger  // optional: a failed scrape is logged at Warn

	pages, queueLength, queueWait, tokenDays, success, duration *prometheus.Desc
}

// NewPostgresCollector makes the collector; register it on Metrics.Registry.
func NewPostgresCollector(db *sql.DB, log *slog.Logger) *PostgresCollector {
	return &PostgresCollector{
		DB: db, Log: log,
		pages: prometheus.NewDesc("fbchannel_pages",
			"Facebook pages by provisioning status.", []string{"status"}, nil),
		queueLength: prometheus.NewDesc("fbchannel_queue_length",
			"Conversations waiting for an agent in each queue.", []string{"queue"}, nil),
		queueWait: prometheus.NewDesc("fbchannel_queue_oldest_wait_seconds",
			"How long the oldest conversation waiting in each queue has waited; 0 when the queue is empty.", []string{"queue"}, nil),
		tokenDays: prometheus.NewDesc("fbchannel_token_days_to_expiry",
			"Days until a live page's access token expires; negative once it has. Pages whose token does not expire are absent.",
			[]string{"page", "facebook_page_id"}, nil),
		success: prometheus.NewDesc("fbchannel_scrape_collector_success",
			"1 when the collector read its source during this scrape, 0 when it failed.", []string{"collector"}, nil),
		duration: prometheus.NewDesc("fbchannel_scrape_collector_duration_seconds",
			"How long the collector took during this scrape.", []string{"collector"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *PostgresCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pages, c.queueLength, c.queueWait, c.tokenDays, c.success, c.duration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: three small queries under one timeout.
func (c *PostgresCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = CheckTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	var out []prometheus.Metric
	err := c.collect(ctx, func(m prometheus.Metric) { out = append(out, m) })
	ok := 1.0
	if err != nil {
		ok = 0
		if c.Log != nil {
			c.Log.Warn("metrics: postgres state not collected", "err", err)
		}
	} else {
		// All or nothing: a scrape never shows half of the state.
		for _, m := range out {
			ch <- m
		}
	}
	ch <- prometheus.MustNewConstMetric(c.success, prometheus.GaugeValue, ok, "postgres")
	ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, time.Since(start).Seconds(), "postgres")
}

func (c *PostgresCollector) collect(ctx context.Context, emit func(prometheus.Metric)) error {
	// Pages by status.
	sb := sqlbuilder.PostgreSQL.NewSelectBuilder()
	sb.Select("provisioning_status", "count(*)").From("pages").GroupBy("provisioning_status")
	counts := map[string]float64{}
	for _, s := range PageStatuses {
		counts[s] = 0
	}
	err := c.query(ctx, sb, func(rows *sql.Rows) error {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return err
		}
		counts[status] = float64(n)
		return nil
	})
	if err != nil {
		return err
	}
	for status, n := range counts {
		emit(prometheus.MustNewConstMetric(c.pages, prometheus.GaugeValue, n, status))
	}

	// Waiting conversations per queue; empty queues report zero.
	sb = sqlbuilder.PostgreSQL.NewSelectBuilder()
	sb.Select("q.id::text", "count(c.id)", "COALESCE(EXTRACT(EPOCH FROM now() - min(c.enqueued_at)), 0)::float8").
		From("queues q").
		JoinWithOption(sqlbuilder.LeftJoin, "conversations c", "c.queue_id = q.id", "c.status = "+sb.Var("waiting")).
		GroupBy("q.id")
	err = c.query(ctx, sb, func(rows *sql.Rows) error {
		var queue string
		var n int64
		var wait float64
		if err := rows.Scan(&queue, &n, &wait); err != nil {
			return err
		}
		emit(prometheus.MustNewConstMetric(c.queueLength, prometheus.GaugeValue, float64(n), queue))
		emit(prometheus.MustNewConstMetric(c.queueWait, prometheus.GaugeValue, max(wait, 0), queue))
		return nil
	})
	if err != nil {
		return err
	}

	// Token expiry of live pages.
	sb = sqlbuilder.PostgreSQL.NewSelectBuilder()
	sb.Select("id::text", "page_id", "(EXTRACT(EPOCH FROM token_expires_at - now()) / 86400)::float8").
		From("pages").
		Where(sb.IsNotNull("token_expires_at"), sb.NotIn("provisioning_status", "deleting", "deleted"))
	return c.query(ctx, sb, func(rows *sql.Rows) error {
		var page, fbPage string
		var days float64
		if err := rows.Scan(&page, &fbPage, &days); err != nil {
			return err
		}
		emit(prometheus.MustNewConstMetric(c.tokenDays, prometheus.GaugeValue, days, page, fbPage))
		return nil
	})
}

func (c *PostgresCollector) query(ctx context.Context, b sqlbuilder.Builder, each func(*sql.Rows) error) error {
	q, args := b.BuildWithFlavor(sqlbuilder.PostgreSQL)
	rows, err := c.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
