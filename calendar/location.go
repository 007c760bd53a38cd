package calendar

import (
	"sync"
	"time"
)

// locations keeps every zone a process has loaded: time.LoadLocation reads and
// parses the zone's file on each call, and Parse runs inside workflow code, where
// file I/O on every evaluation would stall the workflow goroutine on a busy disk.
// A zone's rules do not change while a process runs, so the first load stands.
var locations sync.Map // zone name → *time.Location

// Location is time.LoadLocation, loaded once per zone and process.
func Location(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}
