package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"fbchannel/store"
)

// eventPoll is how often a stream looks for new events; eventHeartbeat keeps
// proxies from closing an idle stream.
const (
	eventPoll      = 200 * time.Millisecond
	eventHeartbeat = 15 * time.Second
)

// events streams the agent's events as Server-Sent Events. A reconnect with
// Last-Event-ID replays what was missed from the event log in Postgres.
func (s *Server) events(w http.ResponseWriter, r *http.Request, me store.Agent) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "no_streaming", "Streaming is not supported here.")
		return
	}
	ctx := r.Context()
	var last int64
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", "Last-Event-ID must be an event id.")
			return
		}
		last = n
	} else {
		n, err := s.Store.LatestEventID(ctx, me.ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		last = n
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()

	poll := time.NewTicker(eventPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(eventHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-poll.C:
			events, err := s.Store.EventsSince(ctx, me.ID, last, 100)
			if err != nil {
				continue // the database may be restarting; the client keeps its place
			}
			for _, e := range events {
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Name, e.Data)
				last = e.ID
			}
			if len(events) > 0 {
				flusher.Flush()
			}
		}
	}
}
