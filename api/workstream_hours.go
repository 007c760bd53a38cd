package api

import (
	"fbchannel/calendar"
	"fbchannel/store"
)

// workstreamHoursInput is the part of a workstream's body about the hours and
// the overflow before queueing (store/hours.go); absent fields stay, null clears.
type workstreamHoursInput struct {
	OperatingHours optional[calendar.Hours]   `json:"operating_hours"`
	OutOfHours     optional[store.OutOfHours] `json:"out_of_hours"`
	Overflow       optional[store.Overflow]   `json:"overflow"`
}

// apply merges in into h and checks the result (the calendar, the actions and
// their queue ids; the store checks the queues are the account's).
func (in workstreamHoursInput) apply(h *store.WorkstreamHours) error {
	setOptional(in.OperatingHours, &h.OperatingHours)
	setOptional(in.OutOfHours, &h.OutOfHours)
	setOptional(in.Overflow, &h.Overflow)
	return h.Check()
}

// setOptional sets *dst from a field that may be absent (unchanged), null (nil)
// or a value.
func setOptional[T any](o optional[T], dst **T) {
	if !o.Set {
		return
	}
	*dst = nil
	if !o.Null {
		v := o.Value
		*dst = &v
	}
}

// applyQueueHours sets a queue's own calendar (null: it keeps its workstream's).
func applyQueueHours(o optional[calendar.Hours], q *store.Queue) error {
	setOptional(o, &q.OperatingHours)
	return store.CheckHours("operating_hours", q.OperatingHours)
}
