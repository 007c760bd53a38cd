package api

import (
	"slices"
	"testing"
	"time"
)

// A cursor forgets what it sent only eventSettle after sending it, and its floor
// never drops below an id it has let go of.
func TestEventCursorSettles(t *testing.T) {
	c := newEventCursor(10)
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	c.mark(12, t0)
	c.mark(11, t0.Add(time.Second)) // committed late
	if c.last != 12 {
		t.Fatalf("position %d after a late event, want 12", c.last)
	}
	c.mark(15, t0.Add(2*time.Second))
	if !slices.Equal(c.recent, []int64{12, 11, 15}) {
		t.Fatalf("recent %v", c.recent)
	}

	c.settle(t0.Add(eventSettle))
	if c.floor != 10 || len(c.recent) != 3 {
		t.Fatalf("settled too early: floor %d, recent %v", c.floor, c.recent)
	}
	c.settle(t0.Add(eventSettle + 1500*time.Millisecond))
	if c.floor != 12 || !slices.Equal(c.recent, []int64{15}) {
		t.Fatalf("after 12 and 11 settled: floor %d, recent %v", c.floor, c.recent)
	}
	if _, ok := c.sentAt[11]; ok {
		t.Fatal("a settled id is still remembered")
	}
	c.settle(t0.Add(time.Hour))
	if c.floor != 15 || len(c.recent) != 0 || len(c.sentAt) != 0 || c.last != 15 {
		t.Fatalf("all settled: floor %d, recent %v, last %d", c.floor, c.recent, c.last)
	}
}
