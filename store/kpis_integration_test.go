//go:build integration

package store

import (
	"slices"
	"testing"
)

// The 0026 trigger keeps the KPI times whatever path assigns: a queue pass
// gives the conversation its first queue, its acceptance and one answer.
func TestKPITimesAreKeptWhenAQueuePassAssigns(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	agent := f.agent(1)
	conv := f.waiting(p)
	_, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10, "")
	f.must(err)
	var firstQueue, firstAgent, answerQueue, answerAgent string
	var ok bool
	f.must(f.s.DB.QueryRowContext(f.ctx, `SELECT c.first_queue_id::text, c.first_agent_id::text, a.queue_id::text, a.agent_id::text,
			c.queued_at = c.enqueued_at AND a.entered_at = c.queued_at AND a.answered_at = c.accepted_at AND c.accepted_at = c.assigned_at
		FROM conversations c JOIN queue_answers a ON a.conversation_id = c.id WHERE c.id = $1`, conv).
		Scan(&firstQueue, &firstAgent, &answerQueue, &answerAgent, &ok))
	if firstQueue != p.DefaultQueueID || answerQueue != p.DefaultQueueID || firstAgent != agent || answerAgent != agent || !ok {
		t.Fatalf("KPI times: first queue %s, first agent %s, answer %s/%s, times agree %v", firstQueue, firstAgent, answerQueue, answerAgent, ok)
	}
}

// A histogram bucket's bound is inclusive (Prometheus's le): first waits of
// exactly 5 and 10 s count in the 5 and 10 s buckets, 11 s only above them.
func TestFirstWaitHistogramBoundsAreInclusive(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	for _, wait := range []int{5, 10, 11} {
		conv := f.waiting(p)
		f.exec(`UPDATE conversations SET accepted_at = queued_at + make_interval(secs => $2) WHERE id = $1`, conv, wait)
	}
	got, err := f.s.FirstWaitHistograms(f.ctx, []float64{1, 5, 10})
	f.must(err)
	if len(got) != 1 || got[0].Queue != p.DefaultQueueID || got[0].Count != 3 || got[0].Sum != 26 || !slices.Equal(got[0].Counts, []uint64{0, 1, 2}) {
		t.Fatalf("histograms %+v, want one of %s: counts [0 1 2], 3 samples, sum 26", got, p.DefaultQueueID)
	}
}
