package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"
)

// Service KPIs (issue 14): one SQL statement over the conversations' KPI times
// (schema/0026: queued_at, accepted_at, queue_answers) and the agent event log.
// README "Service KPIs" states each definition; the SQL is the definition.

// KPI groupings and intervals, the values of ?by= and ?interval=.
var (
	KPIGroupings = []string{"queue", "agent", "page", "workstream"}
	KPIIntervals = []string{"hour", "day"}
)

// KPIQuery asks for the KPIs of the conversations that entered a queue in
// [From, To), per By and per Interval bucket (UTC). Queues limits every count
// to facts of those queues (a supervisor's); nil is every queue (the admin).
type KPIQuery struct {
	From, To time.Time
	By       string
	Interval string
	Queues   []string
}

// KPIRow is one group's KPIs in one bucket. Averages and rates are 0 when
// there is nothing to average; rates are shares between 0 and 1.
type KPIRow struct {
	Bucket            time.Time `json:"bucket"`
	By                string    `json:"by"`
	Key               string    `json:"key"`
	Name              string    `json:"name"`
	Incoming          int       `json:"incoming"`
	Served            int       `json:"served"`
	Abandoned         int       `json:"abandoned"`
	FirstWaitAvgS     float64   `json:"first_wait_avg_s"`
	SpeedToAnswerAvgS float64   `json:"speed_to_answer_avg_s"`
	ServiceLevel      float64   `json:"service_level"`
	AHTS              float64   `json:"aht_s"`
	TransferRate      float64   `json:"transfer_rate"`
	DeclineRate       float64   `json:"decline_rate"`
	OfferTimeoutRate  float64   `json:"offer_timeout_rate"`
	// The counts behind the averages and rates.
	FirstAnswered int `json:"first_answered"` // the conversations first_wait_avg_s averages
	Answered      int `json:"answered"`
	Handled       int `json:"handled"`
	Transferred   int `json:"transferred"`
	Offers        int `json:"offers"`
	Declined      int `json:"declined"`
	OfferTimeouts int `json:"offer_timeouts"`
}

// handleSegments are the handle-time segments: an agent's stint with a
// conversation, from its conversation.assigned to the first of the same
// agent's later events that ends it (seconds is NULL while it has not ended).
// With wrap-up (wave 2) the closed event comes when the wrap-up is finished, so
// a segment is active plus wrap-up time; an event that takes a conversation
// from its agent in another way (a supervisor's reassignment) belongs in the
// list. Consults never write conversation.assigned, so consult time is no
// handle time. (Offers end in conversation.offer_ended
// {"conversation_id","outcome":"accepted"|"declined"|"expired"}.)
const handleSegments = `
    SELECT e.conversation_id, e.agent_id, extract(epoch FROM ended.created_at - e.created_at) AS seconds
    FROM agent_events e
    LEFT JOIN LATERAL (
        SELECT f.created_at FROM agent_events f
        WHERE f.conversation_id = e.conversation_id AND f.agent_id = e.agent_id AND f.id > e.id
          AND f.name IN ('conversation.transferred', 'conversation.closed', 'conversation.assigned')
        ORDER BY f.id LIMIT 1
    ) ended ON true
    WHERE e.name = 'conversation.assigned'`

// kpiFacts has one row per counted fact, each with the queue (and agent) it
// counts for and the bucket of its conversation: a report covers the
// conversations that entered a queue in the range, with all that happened to
// them. Conversation facts (incoming, served with its first wait, abandoned,
// transferred, handle-time segments, offers) count in the queue the
// conversation entered first; an answer counts in the queue it waited in.
//
// $0 from, $1 to, $2 interval (sqlbuilder.Build's placeholders).
const kpiFacts = `
WITH conv AS (
    SELECT c.id, c.page_uuid, c.workstream_id, c.first_queue_id, c.first_agent_id, c.status,
           c.queued_at, c.accepted_at, c.closed_at,
           date_trunc($2, c.queued_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket
    FROM conversations c
    WHERE c.queued_at >= $0 AND c.queued_at < $1
), facts AS (
    SELECT c.id AS conversation_id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id AS queue_id,
           NULL::uuid AS agent_id, 'incoming' AS kind, NULL::float8 AS seconds, 0::float8 AS target, '' AS outcome
    FROM conv c
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id, c.first_agent_id, 'served',
           extract(epoch FROM c.accepted_at - c.queued_at), 0, ''
    FROM conv c WHERE c.accepted_at IS NOT NULL
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id, NULL, 'abandoned', NULL, 0, ''
    FROM conv c WHERE c.accepted_at IS NULL AND c.status = 'closed'
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, a.queue_id, a.agent_id, 'answer',
           extract(epoch FROM a.answered_at - a.entered_at), coalesce(q.service_level_seconds, 60), ''
    FROM conv c JOIN queue_answers a ON a.conversation_id = c.id LEFT JOIN queues q ON q.id = a.queue_id
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id, s.agent_id, 'segment', s.seconds, 0, ''
    FROM conv c JOIN (` + handleSegments + `) s ON s.conversation_id = c.id
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id, e.agent_id, 'transfer', NULL, 0, ''
    FROM conv c JOIN agent_events e ON e.conversation_id = c.id AND e.name = 'conversation.transferred'
    UNION ALL
    SELECT c.id, c.bucket, c.page_uuid, c.workstream_id, c.first_queue_id, e.agent_id, 'offer', NULL, 0,
           coalesce(e.data->>'outcome', '')
    FROM conv c JOIN agent_events e ON e.conversation_id = c.id AND e.name = 'conversation.offer_ended'
)`

// kpiGroupKeys are the facts' column for each grouping, and where its name is.
var kpiGroupKeys = map[string]struct{ column, nameTable, nameColumn string }{
	"queue":      {"queue_id", "queues", "name"},
	"agent":      {"agent_id", "agents", "name"},
	"page":       {"page_uuid", "pages", "name"},
	"workstream": {"workstream_id", "workstreams", "name"},
}

// kpiAggregate turns the facts of a group and bucket into the KPIs. Per agent,
// what reached the agent is its sessions (segments) and the offers it did not
// accept; its served are its sessions, and its transfer rate is its sessions
// it transferred away. Elsewhere they are conversations.
// $3 by agent, $4 the queues in scope (NULL: all).
const kpiAggregate = `,
grouped AS (
    SELECT f.bucket, f.%[1]s AS key,
        count(*) FILTER (WHERE kind = 'incoming') AS incoming,
        count(*) FILTER (WHERE kind = 'served') AS served_conversations,
        count(*) FILTER (WHERE kind = 'segment') AS sessions,
        count(*) FILTER (WHERE kind = 'abandoned') AS abandoned,
        coalesce(avg(seconds) FILTER (WHERE kind = 'served'), 0) AS first_wait,
        coalesce(avg(seconds) FILTER (WHERE kind = 'answer'), 0) AS speed_to_answer,
        count(*) FILTER (WHERE kind = 'answer') AS answered,
        count(*) FILTER (WHERE kind = 'answer' AND seconds <= target) AS answered_in_target,
        coalesce(sum(seconds) FILTER (WHERE kind = 'segment' AND seconds IS NOT NULL), 0) AS handle_seconds,
        count(DISTINCT conversation_id) FILTER (WHERE kind = 'segment' AND seconds IS NOT NULL) AS handled,
        count(*) FILTER (WHERE kind = 'transfer') AS transfers,
        count(DISTINCT conversation_id) FILTER (WHERE kind = 'transfer') AS transferred_conversations,
        count(*) FILTER (WHERE kind = 'offer') AS offers,
        count(*) FILTER (WHERE kind = 'offer' AND outcome = 'declined') AS declined,
        count(*) FILTER (WHERE kind = 'offer' AND outcome = 'expired') AS offer_timeouts
    FROM facts f
    WHERE f.%[1]s IS NOT NULL AND ($4::uuid[] IS NULL OR f.queue_id = ANY($4))
    GROUP BY 1, 2
), counted AS (
    SELECT g.*,
        CASE WHEN $3 THEN sessions + declined + offer_timeouts ELSE incoming END AS reached,
        CASE WHEN $3 THEN sessions ELSE served_conversations END AS served,
        CASE WHEN $3 THEN transfers ELSE transferred_conversations END AS transferred
    FROM grouped g
)
SELECT c.bucket, c.key::text, coalesce(n.%[3]s, ''), c.reached, c.served, c.abandoned, c.first_wait, c.speed_to_answer,
    coalesce(c.answered_in_target::float8 / nullif(c.answered, 0), 0),
    coalesce(c.handle_seconds / nullif(c.handled, 0), 0),
    coalesce(c.transferred::float8 / nullif(c.served, 0), 0),
    coalesce(c.declined::float8 / nullif(c.offers, 0), 0),
    coalesce(c.offer_timeouts::float8 / nullif(c.offers, 0), 0),
    c.served_conversations, c.answered, c.handled, c.transferred, c.offers, c.declined, c.offer_timeouts
FROM counted c LEFT JOIN %[2]s n ON n.id = c.key
ORDER BY c.bucket, coalesce(n.%[3]s, ''), c.key`

// KPIs computes the report. The caller has checked the query (a known By and
// Interval, From before To).
func (s *Store) KPIs(ctx context.Context, in KPIQuery) ([]KPIRow, error) {
	group, ok := kpiGroupKeys[in.By]
	if !ok {
		return nil, invalidf("by must be one of queue, agent, page or workstream.")
	}
	if !slices.Contains(KPIIntervals, in.Interval) {
		return nil, invalidf("interval must be hour or day.")
	}
	var scope any // NULL: every queue
	if in.Queues != nil {
		scope = pq.Array(in.Queues)
	}
	q := kpiFacts + fmt.Sprintf(kpiAggregate, group.column, group.nameTable, group.nameColumn)
	return queryAll(ctx, s.DB, sqlbuilder.Build(q, in.From, in.To, in.Interval, in.By == "agent", scope), func(row rowScanner) (KPIRow, error) {
		r := KPIRow{By: in.By}
		err := row.Scan(&r.Bucket, &r.Key, &r.Name, &r.Incoming, &r.Served, &r.Abandoned, &r.FirstWaitAvgS,
			&r.SpeedToAnswerAvgS, &r.ServiceLevel, &r.AHTS, &r.TransferRate, &r.DeclineRate, &r.OfferTimeoutRate,
			&r.FirstAnswered, &r.Answered, &r.Handled, &r.Transferred, &r.Offers, &r.Declined, &r.OfferTimeouts)
		r.Bucket = r.Bucket.UTC()
		return r, err
	})
}

// DurationHistogram is one queue's distribution of a KPI duration, as
// Prometheus wants it: Counts[i] is how many were at most the i-th bound.
type DurationHistogram struct {
	Queue  string
	Counts []uint64
	Count  uint64
	Sum    float64
}

// firstWaits are the first waits of every conversation ever served, in the
// queue it entered first; handleTimes are every ended handle-time segment,
// in the conversation's first queue. Each is final once it exists, so the
// counts only grow. $0 the bounds.
const (
	firstWaits = `SELECT first_queue_id AS queue_id, extract(epoch FROM accepted_at - queued_at) AS v
    FROM conversations WHERE accepted_at IS NOT NULL AND queued_at IS NOT NULL AND first_queue_id IS NOT NULL`
	handleTimes = `SELECT c.first_queue_id AS queue_id, s.seconds AS v
    FROM conversations c JOIN (` + handleSegments + `) s ON s.conversation_id = c.id
    WHERE s.seconds IS NOT NULL AND c.first_queue_id IS NOT NULL`
	// width_bucket(-v, the bounds negated and reversed) counts the bounds at or
	// above v: a Prometheus bucket's le is inclusive, width_bucket's upper end is not.
	durationBuckets = `SELECT x.queue_id::text, width_bucket(-x.v, $0::float8[]), count(*), sum(x.v)
    FROM (%s) x GROUP BY 1, 2 ORDER BY 1`
)

// FirstWaitHistograms and HandleTimeHistograms read the Prometheus histograms
// of first wait and handle time per queue from the same facts as the KPIs
// (whichever process accepted or closed), for bounds in ascending order.
func (s *Store) FirstWaitHistograms(ctx context.Context, bounds []float64) ([]DurationHistogram, error) {
	return s.durationHistograms(ctx, firstWaits, bounds)
}

// HandleTimeHistograms: see FirstWaitHistograms.
func (s *Store) HandleTimeHistograms(ctx context.Context, bounds []float64) ([]DurationHistogram, error) {
	return s.durationHistograms(ctx, handleTimes, bounds)
}

func (s *Store) durationHistograms(ctx context.Context, samples string, bounds []float64) ([]DurationHistogram, error) {
	negated := make([]float64, len(bounds))
	for i, b := range bounds {
		negated[len(bounds)-1-i] = -b
	}
	type bucketCount struct {
		queue    string
		atOrOver int // how many bounds are at or above the samples
		n        uint64
		sum      float64
	}
	counts, err := queryAll(ctx, s.DB, sqlbuilder.Build(fmt.Sprintf(durationBuckets, samples), pq.Array(negated)),
		func(row rowScanner) (c bucketCount, err error) {
			err = row.Scan(&c.queue, &c.atOrOver, &c.n, &c.sum)
			return c, err
		})
	if err != nil {
		return nil, err
	}
	var out []DurationHistogram
	for _, c := range counts { // ordered by queue
		if len(out) == 0 || out[len(out)-1].Queue != c.queue {
			out = append(out, DurationHistogram{Queue: c.queue, Counts: make([]uint64, len(bounds))})
		}
		h := &out[len(out)-1]
		h.Count += c.n
		h.Sum += c.sum
		// The samples count in every bucket from the first bound at or above them.
		for i := len(bounds) - c.atOrOver; i < len(bounds); i++ {
			h.Counts[i] += c.n
		}
	}
	return out, nil
}
