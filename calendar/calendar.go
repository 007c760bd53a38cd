// Package calendar answers when a support team is open: an IANA time zone,
// weekly opening hours (several ranges a day) and dated exceptions (a holiday
// closed, a day with special hours). It is pure and deterministic, so a workflow
// may compute with it at workflow.Now: the same hours and the same instant give
// the same answer on every replay (the zone data is embedded by the worker,
// time/tzdata).
package calendar

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Hours is a calendar as the admin API shows it:
//
//	{"time_zone": "Europe/Amsterdam",
//	 "weekly": {"mon": [["09:00", "17:00"]], ...},
//	 "exceptions": [{"date": "2026-12-25", "closed": true},
//	                {"date": "2026-12-24", "hours": [["09:00", "13:00"]]}]}
//
// A day missing from weekly is closed. Times are local wall-clock HH:MM; a range
// may end at 24:00 (midnight at the end of the day).
type Hours struct {
	TimeZone   string             `json:"time_zone"`
	Weekly     map[string][]Range `json:"weekly"`
	Exceptions []Exception        `json:"exceptions,omitempty"`
}

// Range is one opening, [from, to) in local wall-clock time.
type Range [2]string

// Exception replaces the weekly hours of one date: closed, or open at Hours.
type Exception struct {
	Date   string  `json:"date"` // YYYY-MM-DD, in the calendar's zone
	Closed bool    `json:"closed,omitempty"`
	Hours  []Range `json:"hours,omitempty"`
}

// Days are the weekly keys, Sunday first as time.Weekday counts.
var Days = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Weekdays are Monday to Friday.
var Weekdays = []string{"mon", "tue", "wed", "thu", "fri"}

// Weekly is a calendar open on days at the same ranges: weekdays 09:00–17:00, or
// every day 00:00–24:00 for a 24/7 queue.
func Weekly(zone string, days []string, ranges ...Range) Hours {
	h := Hours{TimeZone: zone, Weekly: map[string][]Range{}}
	for _, d := range days {
		h.Weekly[d] = ranges
	}
	return h
}

// MaxExceptions bounds a calendar's dated exceptions (a year of holidays and more).
const MaxExceptions = 400

// span is a checked range in minutes since local midnight.
type span struct{ from, to int }

// Calendar is a checked Hours, ready to answer.
type Calendar struct {
	loc        *time.Location
	weekly     [7][]span
	exceptions map[string][]span // date → ranges; closed is an empty list
}

// Parse checks h: a known zone, valid times, ranges that start before they end
// and do not overlap, dates that are dates and appear once, and at least one
// weekly opening (a calendar that never opens names no next opening).
func Parse(h Hours) (*Calendar, error) {
	if strings.TrimSpace(h.TimeZone) == "" {
		return nil, fmt.Errorf("time_zone is required (an IANA zone such as Europe/Amsterdam)")
	}
	loc, err := Location(h.TimeZone)
	if err != nil || h.TimeZone == "Local" {
		return nil, fmt.Errorf("time_zone %q is not an IANA time zone (for example Europe/Amsterdam)", h.TimeZone)
	}
	c := &Calendar{loc: loc, exceptions: map[string][]span{}}
	if err := unknownDay(h.Weekly); err != nil {
		return nil, err
	}
	opens := false
	// In the days' order, never the map's: a workflow computes with this.
	for i, day := range Days {
		spans, err := parseRanges(h.Weekly[day])
		if err != nil {
			return nil, fmt.Errorf("weekly %s: %v", day, err)
		}
		c.weekly[i] = spans
		opens = opens || len(spans) > 0
	}
	if !opens {
		return nil, fmt.Errorf("weekly must open at least one range on some day")
	}
	if len(h.Exceptions) > MaxExceptions {
		return nil, fmt.Errorf("at most %d exceptions", MaxExceptions)
	}
	for _, ex := range h.Exceptions {
		if _, err := time.Parse(time.DateOnly, ex.Date); err != nil {
			return nil, fmt.Errorf("exceptions: %q is not a date (YYYY-MM-DD)", ex.Date)
		}
		if _, dup := c.exceptions[ex.Date]; dup {
			return nil, fmt.Errorf("exceptions: %s appears twice", ex.Date)
		}
		if ex.Closed == (len(ex.Hours) > 0) {
			return nil, fmt.Errorf("exceptions %s: give either closed: true or hours", ex.Date)
		}
		spans, err := parseRanges(ex.Hours)
		if err != nil {
			return nil, fmt.Errorf("exceptions %s: %v", ex.Date, err)
		}
		c.exceptions[ex.Date] = spans
	}
	return c, nil
}

// unknownDay names a weekly key that is not a day (the first in sorted order).
func unknownDay(weekly map[string][]Range) error {
	var unknown []string
	// The keys are sorted before use, so the map's order never shows.
	//workflowcheck:ignore
	for day := range weekly {
		if !slices.Contains(Days, day) {
			unknown = append(unknown, day)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("weekly: %q is not a day; use %s", unknown[0], strings.Join(Days, ", "))
}

// parseRanges checks one day's ranges and sorts them.
func parseRanges(ranges []Range) ([]span, error) {
	spans := make([]span, 0, len(ranges))
	for _, r := range ranges {
		from, err := parseClock(r[0], false)
		if err != nil {
			return nil, err
		}
		to, err := parseClock(r[1], true)
		if err != nil {
			return nil, err
		}
		if from >= to {
			return nil, fmt.Errorf("range %s–%s must start before it ends", r[0], r[1])
		}
		spans = append(spans, span{from, to})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	for i := 1; i < len(spans); i++ {
		if spans[i].from < spans[i-1].to {
			return nil, fmt.Errorf("ranges %s and %s overlap", clock(spans[i-1]), clock(spans[i]))
		}
	}
	return spans, nil
}

// parseClock reads HH:MM as minutes since midnight; 24:00 only as an end.
func parseClock(s string, end bool) (int, error) {
	t, err := time.Parse("15:04", s)
	if err == nil && len(s) == 5 {
		return t.Hour()*60 + t.Minute(), nil
	}
	if end && s == "24:00" {
		return 24 * 60, nil
	}
	return 0, fmt.Errorf("%q is not a time (HH:MM, 00:00 to 24:00)", s)
}

func clock(s span) string {
	return fmt.Sprintf("%02d:%02d–%02d:%02d", s.from/60, s.from%60, s.to/60, s.to%60)
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// day is the ranges of the local date y-m-d: its exception, or its weekday's hours.
func (c *Calendar) day(y int, m time.Month, d int) []span {
	if spans, ok := c.exceptions[fmt.Sprintf("%04d-%02d-%02d", y, m, d)]; ok {
		return spans
	}
	return c.weekly[time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()]
}

// IsOpen says whether the team is open at t: t's local wall-clock time falls in a
// range of its local date. On the day clocks go back the repeated hour is open
// twice when a range covers it; on the day they go forward, the skipped hour
// never happens.
func (c *Calendar) IsOpen(t time.Time) bool {
	local := t.In(c.loc)
	minute := local.Hour()*60 + local.Minute()
	for _, s := range c.day(local.Date()) {
		if s.from <= minute && minute < s.to {
			return true
		}
	}
	return false
}

// searchDays bounds how far NextOpening looks: past every exception and then a
// week, whatever the exceptions are.
const searchDays = MaxExceptions + 8

// NextOpening is the first instant at or after t when the team is open (t itself
// when open). A range that starts in the hour skipped by a spring-forward opens
// when the clocks jump, the first instant after the gap.
func (c *Calendar) NextOpening(t time.Time) time.Time {
	if c.IsOpen(t) {
		return t
	}
	y, m, d := t.In(c.loc).Date()
	for i := 0; i <= searchDays; i++ {
		// Noon UTC normalises the date (d+i past the month's end) without zone surprises.
		dy, dm, dd := time.Date(y, m, d+i, 12, 0, 0, 0, time.UTC).Date()
		for _, s := range c.day(dy, dm, dd) {
			if at := c.wallClock(dy, dm, dd, s.from); at.After(t) {
				return at
			}
		}
	}
	return time.Time{} // cannot happen: Parse insists on a weekly opening
}

// wallClock is the instant of local y-m-d at minute past midnight. A wall-clock
// time the day skips (02:30 when clocks jump from 02:00 to 03:00) does not
// exist; the first open instant is the jump itself.
func (c *Calendar) wallClock(y int, m time.Month, d, minute int) time.Time {
	at := time.Date(y, m, d, minute/60, minute%60, 0, 0, c.loc)
	if got := at.Hour()*60 + at.Minute(); got != minute {
		// time.Date landed before or after the gap (Go does not say which):
		// the jump is where that instant's zone period ends or starts.
		start, end := at.ZoneBounds()
		if got < minute {
			return end
		}
		return start
	}
	return at
}

// MarshalJSON keeps an empty weekly as {} (never null), so the API always shows
// every key of the shape.
func (h Hours) MarshalJSON() ([]byte, error) {
	type plain Hours
	if h.Weekly == nil {
		h.Weekly = map[string][]Range{}
	}
	return json.Marshal(plain(h))
}
