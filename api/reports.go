package api

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"fbchannel/store"
)

// Service KPIs (issue 14, part 4): GET /api/v1/reports/kpis, for the admin (every
// queue) or a supervisor (its queues). README "Service KPIs" defines each figure.

// registerReports adds the reports API.
func (s *Server) registerReports(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/reports/kpis", s.adminOrAgent(s.kpis))
}

// kpiColumns are the CSV header, in the order of kpiRecord.
var kpiColumns = []string{"bucket", "by", "key", "name", "incoming", "served", "abandoned", "first_wait_avg_s",
	"speed_to_answer_avg_s", "service_level", "aht_s", "transfer_rate", "decline_rate", "offer_timeout_rate",
	"first_answered", "answered", "handled", "transferred", "offers", "declined", "offer_timeouts"}

func kpiRecord(r store.KPIRow) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	n := strconv.Itoa
	return []string{r.Bucket.Format(time.RFC3339), r.By, r.Key, r.Name, n(r.Incoming), n(r.Served), n(r.Abandoned),
		f(r.FirstWaitAvgS), f(r.SpeedToAnswerAvgS), f(r.ServiceLevel), f(r.AHTS), f(r.TransferRate), f(r.DeclineRate),
		f(r.OfferTimeoutRate), n(r.FirstAnswered), n(r.Answered), n(r.Handled), n(r.Transferred), n(r.Offers), n(r.Declined), n(r.OfferTimeouts)}
}

// kpiQuery reads and checks the query string; by defaults to queue, interval to
// day, format to json.
func kpiQuery(r *http.Request) (q store.KPIQuery, format string, err error) {
	v := r.URL.Query()
	q.By, q.Interval, format = v.Get("by"), v.Get("interval"), v.Get("format")
	if q.By == "" {
		q.By = "queue"
	}
	if q.Interval == "" {
		q.Interval = "day"
	}
	if format == "" {
		format = "json"
	}
	parse := func(name string) (time.Time, error) {
		raw := v.Get(name)
		if raw == "" {
			return time.Time{}, invalidf("%s is required: an RFC 3339 time such as 2026-12-01T00:00:00Z.", name)
		}
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			return time.Time{}, invalidf("%s must be an RFC 3339 time such as 2026-12-01T00:00:00Z, not %q.", name, raw)
		}
		return t, nil
	}
	if q.From, err = parse("from"); err != nil {
		return q, format, err
	}
	if q.To, err = parse("to"); err != nil {
		return q, format, err
	}
	switch {
	case !q.From.Before(q.To):
		err = invalidf("from must be before to.")
	case !slices.Contains(store.KPIGroupings, q.By):
		err = invalidf("by must be one of %s, not %q.", strings.Join(store.KPIGroupings, ", "), q.By)
	case !slices.Contains(store.KPIIntervals, q.Interval):
		err = invalidf("interval must be one of %s, not %q.", strings.Join(store.KPIIntervals, ", "), q.Interval)
	case format != "json" && format != "csv":
		err = invalidf("format must be json or csv, not %q.", format)
	}
	return q, format, err
}

// kpis answers the KPI report as JSON ({"rows":[...]}, with the query) or CSV.
func (s *Server) kpis(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	queues, ok := s.supervisedQueues(w, r, me)
	if !ok {
		return
	}
	if me != nil && queues == nil {
		queues = []string{} // a supervisor of no queue sees nothing, not everything
	}
	q, format, err := kpiQuery(r)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	q.Queues = queues
	rows, err := s.Store.KPIs(r.Context(), q)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, map[string]any{"from": q.From, "to": q.To, "by": q.By, "interval": q.Interval, "rows": rows})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="kpis-`+q.By+`-`+q.Interval+`.csv"`)
	out := csv.NewWriter(w)
	_ = out.Write(kpiColumns)
	for _, row := range rows {
		_ = out.Write(kpiRecord(row))
	}
	out.Flush()
}
