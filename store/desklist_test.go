package store

import (
	"sort"
	"testing"
	"time"
)

// The list orders open conversations by the customer's wait, the longest
// first, then those nobody waits on, newest first; closed ones come last.
func TestListOrdersByWait(t *testing.T) {
	at := func(min int) *time.Time { v := time.Date(2026, 12, 3, 10, min, 0, 0, time.UTC); return &v }
	list := []Conversation{
		{ID: "closed", Status: "closed", OpenedAt: *at(59)},
		{ID: "answered-old", Status: "assigned", OpenedAt: *at(1)},
		{ID: "waits-2m", Status: "assigned", OpenedAt: *at(2), WaitingSince: at(40)},
		{ID: "answered-new", Status: "assigned", OpenedAt: *at(30)},
		{ID: "waits-10m", Status: "assigned", OpenedAt: *at(3), WaitingSince: at(32)},
	}
	sort.SliceStable(list, func(i, j int) bool { return waitsLonger(list[i], list[j]) })
	want := []string{"waits-10m", "waits-2m", "answered-new", "answered-old", "closed"}
	for i, c := range list {
		if c.ID != want[i] {
			t.Fatalf("order %d: %s, want %v", i, c.ID, want)
		}
	}
}

// A reaction is one emoji (a sequence with a skin tone or a joiner counts as one).
func TestCheckEmoji(t *testing.T) {
	for _, ok := range []string{"👍", "❤️", "👍🏽", "👩‍💻"} {
		if err := CheckEmoji(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "  ", "👍 👍", "a very long text that is no emoji", "\xff"} {
		if CheckEmoji(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
