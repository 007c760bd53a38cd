package calendar

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// weekdays9to17 is a team open Monday to Friday, 09:00–17:00.
func weekdays9to17(zone string, exceptions ...Exception) *Calendar {
	h := Weekly(zone, Weekdays, Range{"09:00", "17:00"})
	h.Exceptions = exceptions
	c, err := Parse(h)
	if err != nil {
		panic(err)
	}
	return c
}

// everyDay is a team open every day at the given ranges.
func everyDay(t *testing.T, zone string, ranges ...Range) *Calendar {
	t.Helper()
	c, err := Parse(Weekly(zone, Days, ranges...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(t *testing.T, zone, local string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", local, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWeekdayEveningOpensTomorrowMorning(t *testing.T) {
	c := weekdays9to17("Europe/Amsterdam")
	evening := at(t, "Europe/Amsterdam", "2026-12-07 22:00") // a Monday
	if c.IsOpen(evening) {
		t.Fatal("open at 22:00 with hours 09–17")
	}
	if got, want := c.NextOpening(evening), utc(t, "2026-12-08 08:00"); !got.Equal(want) {
		t.Fatalf("next opening %v, want Tuesday 09:00 CET (%v)", got, want)
	}
	if got := FormatOpening(c.NextOpening(evening), c.Location(), "en"); got != "Tuesday 8 December at 09:00 (CET)" {
		t.Fatalf("English: %q", got)
	}
	if got := FormatOpening(c.NextOpening(evening), c.Location(), "nl"); got != "dinsdag 8 december om 09:00 (CET)" {
		t.Fatalf("Dutch: %q", got)
	}
	noon := at(t, "Europe/Amsterdam", "2026-12-08 12:00")
	if !c.IsOpen(noon) || !c.NextOpening(noon).Equal(noon) {
		t.Fatal("closed at noon on a Tuesday")
	}
	if c.IsOpen(at(t, "Europe/Amsterdam", "2026-12-08 17:00")) {
		t.Fatal("a range is open up to its end, not at it")
	}
	friday := at(t, "Europe/Amsterdam", "2026-12-11 17:30")
	if got, want := c.NextOpening(friday), utc(t, "2026-12-14 08:00"); !got.Equal(want) {
		t.Fatalf("Friday evening opens %v, want Monday 09:00 (%v)", got, want)
	}
}

func TestHolidayNamesTheOpeningAfterIt(t *testing.T) {
	c := weekdays9to17("Europe/Amsterdam",
		Exception{Date: "2026-12-08", Closed: true},
		Exception{Date: "2026-12-09", Hours: []Range{{"12:00", "14:00"}}},
	)
	evening := at(t, "Europe/Amsterdam", "2026-12-07 22:00")
	if got, want := c.NextOpening(evening), utc(t, "2026-12-09 11:00"); !got.Equal(want) {
		t.Fatalf("next opening %v, want the special hours after the holiday, Wednesday 12:00 (%v)", got, want)
	}
	if c.IsOpen(at(t, "Europe/Amsterdam", "2026-12-08 10:00")) {
		t.Fatal("open on the holiday")
	}
	if c.IsOpen(at(t, "Europe/Amsterdam", "2026-12-09 10:00")) || !c.IsOpen(at(t, "Europe/Amsterdam", "2026-12-09 13:00")) {
		t.Fatal("the special hours replace the weekday's")
	}
	// Several ranges a day: the next one, not the first.
	split := everyDay(t, "Europe/Amsterdam", Range{"13:00", "17:00"}, Range{"09:00", "12:00"})
	if got, want := split.NextOpening(at(t, "Europe/Amsterdam", "2026-12-08 12:30")), utc(t, "2026-12-08 12:00"); !got.Equal(want) {
		t.Fatalf("lunch break ends %v, want 13:00 CET (%v)", got, want)
	}
}

// TestDaylightSavingDays: the opening after a night in which the clocks change
// is the local 09:00 of the new offset, in both directions and both zones.
func TestDaylightSavingDays(t *testing.T) {
	for _, tc := range []struct {
		name, zone, evening string
		want                string // UTC
	}{
		{"Amsterdam spring forward", "Europe/Amsterdam", "2026-03-28 22:00", "2026-03-29 07:00"},
		{"Amsterdam fall back", "Europe/Amsterdam", "2026-10-24 22:00", "2026-10-25 08:00"},
		{"New York spring forward", "America/New_York", "2026-03-07 22:00", "2026-03-08 13:00"},
		{"New York fall back", "America/New_York", "2026-10-31 22:00", "2026-11-01 14:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := everyDay(t, tc.zone, Range{"09:00", "17:00"})
			if got, want := c.NextOpening(at(t, tc.zone, tc.evening)), utc(t, tc.want); !got.Equal(want) {
				t.Fatalf("next opening %v, want %v", got, want)
			}
			// The closing follows the new offset too: 17:30 local is closed, 16:30 open.
			day := utc(t, tc.want).In(c.Location()).Format(time.DateOnly)
			if c.IsOpen(at(t, tc.zone, day+" 17:30")) || !c.IsOpen(at(t, tc.zone, day+" 16:30")) {
				t.Fatal("open hours do not follow the local clock on the transition day")
			}
		})
	}
	// A range that starts in the skipped hour opens when the clocks jump.
	for _, tc := range []struct{ zone, evening, want string }{
		{"Europe/Amsterdam", "2026-03-28 22:00", "2026-03-29 01:00"}, // 03:00 CEST
		{"America/New_York", "2026-03-07 22:00", "2026-03-08 07:00"}, // 03:00 EDT
	} {
		c := everyDay(t, tc.zone, Range{"02:30", "05:00"})
		if got, want := c.NextOpening(at(t, tc.zone, tc.evening)), utc(t, tc.want); !got.Equal(want) {
			t.Fatalf("%s: a range starting in the gap opens %v, want %v", tc.zone, got, want)
		}
	}
	// The repeated hour of the fall-back night is open when a range covers it.
	c := everyDay(t, "America/New_York", Range{"01:00", "02:00"})
	for _, u := range []string{"2026-11-01 05:30", "2026-11-01 06:30"} { // 01:30 EDT, then 01:30 EST
		if !c.IsOpen(utc(t, u)) {
			t.Fatalf("closed at %s UTC, a 01:30 of the fall-back night", u)
		}
	}
}

func TestParseRefusesBadCalendars(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"time_zone":"Mars/Olympus","weekly":{"mon":[["09:00","17:00"]]}}`, "not an IANA time zone"},
		{`{"time_zone":"","weekly":{"mon":[["09:00","17:00"]]}}`, "time_zone is required"},
		{`{"time_zone":"UTC","weekly":{"mon":[["9:00","17:00"]]}}`, `"9:00" is not a time`},
		{`{"time_zone":"UTC","weekly":{"mon":[["09:00","25:00"]]}}`, `"25:00" is not a time`},
		{`{"time_zone":"UTC","weekly":{"mon":[["24:00","24:00"]]}}`, `"24:00" is not a time`},
		{`{"time_zone":"UTC","weekly":{"mon":[["17:00","09:00"]]}}`, "must start before it ends"},
		{`{"time_zone":"UTC","weekly":{"mon":[["09:00","13:00"],["12:00","17:00"]]}}`, "overlap"},
		{`{"time_zone":"UTC","weekly":{"monday":[["09:00","17:00"]]}}`, "is not a day"},
		{`{"time_zone":"UTC","weekly":{}}`, "at least one range"},
		{`{"time_zone":"UTC","weekly":{"mon":[["09:00","17:00"]]},"exceptions":[{"date":"2026-13-01","closed":true}]}`, "is not a date"},
		{`{"time_zone":"UTC","weekly":{"mon":[["09:00","17:00"]]},"exceptions":[{"date":"2026-12-25","closed":true},{"date":"2026-12-25","closed":true}]}`, "appears twice"},
		{`{"time_zone":"UTC","weekly":{"mon":[["09:00","17:00"]]},"exceptions":[{"date":"2026-12-25"}]}`, "either closed"},
	} {
		var h Hours
		if err := json.Unmarshal([]byte(tc.body), &h); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if _, err := Parse(h); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.body, err, tc.want)
		}
	}
	if _, err := Parse(Hours{TimeZone: "UTC", Weekly: map[string][]Range{"sat": {{"00:00", "24:00"}}}}); err != nil {
		t.Fatalf("a whole day open: %v", err)
	}
}

// A zone is loaded once per process (Parse runs in workflow code, which must not
// read the zone's file on every evaluation), and an unknown zone is not cached as
// anything.
func TestLocationLoadsAZoneOnce(t *testing.T) {
	first, err := Location("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Location("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Fatalf("Asia/Kolkata loaded twice: %p then %p", first, again)
	}
	for range 2 {
		if loc, err := Location("Mars/Olympus_Mons"); err == nil {
			t.Fatalf("unknown zone answered %v", loc)
		}
	}
}
