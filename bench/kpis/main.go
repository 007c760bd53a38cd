// Command kpis measures the service KPI report (GET /api/v1/reports/kpis, that
// is store.KPIs) and the KPI histograms of the worker's /metrics as history
// grows.
//
//	go run ./bench/kpis [-conversations 100000] [-days 30]
//
// It creates a fresh database (migrated as the worker does) and seeds, by SQL
// (generate_series), one account with two queues and 20 agents, and
// -conversations conversations spread evenly over -days days: every 10th
// abandoned, the rest answered (a queue_answers row, conversation.assigned and
// conversation.closed events), every 5th of those transferred to another agent
// (conversation.transferred and a second segment), and ten message.received
// events per answered conversation as the noise of the event log. Then it
// times, each three times (the best is reported): the report of one day by
// queue and hour, of the whole range by queue and day and by agent and day,
// and one read of both histograms. The ratios say how each grows against the
// conversations it covers: a report of the whole range costs about days times
// one day's when the SQL is linear in the conversations of the range. The
// report is markdown on stdout; docs/PERFORMANCE.md has the results.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"time"

	"fbchannel/bench/measure"
	"fbchannel/ops"
	"fbchannel/store"
)

func main() {
	var scratch measure.Scratch
	scratch.Register()
	conversations := flag.Int("conversations", 100_000, "conversations in all")
	days := flag.Int("days", 30, "days they are spread over")
	flag.Parse()
	measure.Run("kpis bench", func(ctx context.Context) error { return run(ctx, scratch, *conversations, *days) })
}

var base = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func run(ctx context.Context, scratch measure.Scratch, conversations, days int) error {
	db, seedTook, done, err := scratch.Seed(ctx, fmt.Sprintf("%d conversations over %d days", conversations, days), func(db *sql.DB) error {
		return seed(ctx, db, conversations, days)
	})
	if err != nil {
		return err
	}
	defer done()
	st := &store.Store{DB: db}

	fmt.Printf("# Service KPI benchmark\n\n")
	fmt.Printf("`go run ./bench/kpis -conversations %d -days %d`: seeded by SQL in %s, GOMAXPROCS %d, %s\n\n",
		conversations, days, seedTook.Round(time.Millisecond), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("| read | conversations covered | rows | best of 3 | per 1,000 conversations |\n|---|---:|---:|---:|---:|\n")
	perDay := conversations / days
	end := base.AddDate(0, 0, days)
	var dayTook time.Duration
	var ratios []string
	for i, r := range []struct {
		label string
		q     store.KPIQuery
		n     int
	}{
		{"one day by queue and hour", store.KPIQuery{From: base, To: base.AddDate(0, 0, 1), By: "queue", Interval: "hour"}, perDay},
		{"whole range by queue and day", store.KPIQuery{From: base, To: end, By: "queue", Interval: "day"}, conversations},
		{"whole range by agent and day", store.KPIQuery{From: base, To: end, By: "agent", Interval: "day"}, conversations},
	} {
		var rows int
		took, err := best(func() error {
			out, err := st.KPIs(ctx, r.q)
			rows = len(out)
			return err
		})
		if err != nil {
			return err
		}
		if i == 0 {
			dayTook = took
		}
		fmt.Printf("| report: %s | %d | %d | %s | %s |\n", r.label, r.n, rows, took.Round(time.Millisecond), per1000(took, r.n))
		if i > 0 {
			ratios = append(ratios, fmt.Sprintf("whole range by %s ÷ one day: %.1f× the time for %.0f× the conversations", r.q.By,
				float64(took)/float64(dayTook), float64(r.n)/float64(perDay)))
		}
	}
	took, err := best(func() error {
		if _, err := st.FirstWaitHistograms(ctx, ops.FirstWaitBuckets); err != nil {
			return err
		}
		_, err := st.HandleTimeHistograms(ctx, ops.HandleTimeBuckets)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("| /metrics: both histograms (all history) | %d | - | %s | %s |\n", conversations, took.Round(time.Millisecond), per1000(took, conversations))
	fmt.Printf("\nRatios: %s.\n", strings.Join(ratios, "; "))
	return nil
}

func best(f func() error) (time.Duration, error) {
	var out time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if took := time.Since(start); i == 0 || took < out {
			out = took
		}
	}
	return out, nil
}

func per1000(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return (d * 1000 / time.Duration(n)).Round(time.Microsecond).String()
}

// seed writes the history by SQL. Times are set directly; the 0026 trigger
// leaves set values alone.
func seed(ctx context.Context, db *sql.DB, conversations, days int) error {
	spacing := time.Duration(days) * 24 * time.Hour / time.Duration(conversations)
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO accounts (id, name, app_id) VALUES (md5('acct')::uuid, 'Bench', 'bench-app')`, nil},
		{`INSERT INTO queues (id, account_id, name) SELECT md5('q' || i)::uuid, md5('acct')::uuid, 'Queue ' || i FROM generate_series(1, 2) i`, nil},
		{`INSERT INTO pages (id, account_id, page_id, name, verify_token, webhook_id, provisioning_status)
			VALUES (md5('page')::uuid, md5('acct')::uuid, '900000000000002', 'Bench page', 'v', md5('page')::uuid, 'active')`, nil},
		{`INSERT INTO agents (id, name, email, token_hash, capacity)
			SELECT md5('ag' || i)::uuid, 'Agent ' || i, 'agent' || i || '@bench', sha256(('ag' || i)::bytea), 5 FROM generate_series(1, 20) i`, nil},
		{`INSERT INTO customers (id, page_id, psid) SELECT md5('cu' || i)::uuid, '900000000000002', (3000000000000000 + i)::text
			FROM generate_series(1, $1::int) i`, []any{conversations}},
		// Conversation i: queued at base + i·spacing, in queue 1 + i%2; answered
		// after i%120 s by agent 1 + i%20 unless i%10 = 0; closed 10 min after
		// queuing.
		{`INSERT INTO conversations (id, page_uuid, page_id, customer_id, status, queue_id, enqueued_at, closed_at, accepted_at, first_agent_id)
			SELECT md5('co' || i)::uuid, md5('page')::uuid, '900000000000002', md5('cu' || i)::uuid, 'closed', md5('q' || (1 + i % 2))::uuid,
				$2::timestamptz + i * $3::interval, $2::timestamptz + i * $3::interval + interval '10 minutes',
				CASE WHEN i % 10 <> 0 THEN $2::timestamptz + i * $3::interval + (i % 120) * interval '1 second' END,
				CASE WHEN i % 10 <> 0 THEN md5('ag' || (1 + i % 20))::uuid END
			FROM generate_series(1, $1::int) i`, []any{conversations, base, spacing.String()}},
		{`INSERT INTO queue_answers SELECT id, queue_id, first_agent_id, queued_at, accepted_at FROM conversations WHERE accepted_at IS NOT NULL`, nil},
		// Segments: assigned, then closed; every 5th answered one is transferred
		// half-way to the next agent, who closes it.
		{`INSERT INTO agent_events (agent_id, name, conversation_id, dedup_key, data, created_at)
			SELECT e.agent, e.name, c.id, e.name || ':' || e.n || ':' || c.id, '{}', e.at
			FROM conversations c, LATERAL (VALUES
				(1, c.first_agent_id, 'conversation.assigned', c.accepted_at),
				(2, CASE WHEN hashtext(c.id::text) % 5 = 0 THEN c.first_agent_id END, 'conversation.transferred', c.accepted_at + (c.closed_at - c.accepted_at) / 2),
				(3, CASE WHEN hashtext(c.id::text) % 5 = 0 THEN md5('ag' || (1 + (hashtext(c.id::text) & 15)))::uuid END, 'conversation.assigned', c.accepted_at + (c.closed_at - c.accepted_at) / 2),
				(4, CASE WHEN hashtext(c.id::text) % 5 = 0 THEN md5('ag' || (1 + (hashtext(c.id::text) & 15)))::uuid ELSE c.first_agent_id END, 'conversation.closed', c.closed_at)
			) AS e(n, agent, name, at)
			WHERE c.accepted_at IS NOT NULL AND e.agent IS NOT NULL`, nil},
		{`INSERT INTO agent_events (agent_id, name, conversation_id, dedup_key, data, created_at)
			SELECT first_agent_id, 'message.received', id, 'received:' || k || ':' || id, '{}', accepted_at
			FROM conversations, generate_series(1, 10) k WHERE accepted_at IS NOT NULL`, nil},
		{`ANALYZE`, nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("%.60s…: %w", s.q, err)
		}
	}
	return nil
}
