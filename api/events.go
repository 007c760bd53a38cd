package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"fbchannel/store"
)

// eventPoll is how often a stream reads when the server has no hub to wake it
// (Server.Events nil); eventHeartbeat keeps proxies from closing an idle stream;
// eventBatch is how many events one read takes (a stream reads again at once
// after a full batch).
const (
	eventPoll      = 200 * time.Millisecond
	eventHeartbeat = 15 * time.Second
	eventBatch     = 100
)

// events streams the agent's events as Server-Sent Events. A reconnect with
// Last-Event-ID replays what was missed from the event log in Postgres.
//
// The stream reads the log after its last id whenever the hub rings (Postgres
// notified a new event of this agent, or the hub's connection came back) and on
// the hub's slow safety poll, so a lost notification delays an event, never drops it.
func (s *Server) events(w http.ResponseWriter, r *http.Request, me store.Agent) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "no_streaming", "Streaming is not supported here.")
		return
	}
	ctx := r.Context()
	var last int64
	h := r.Header.Get("Last-Event-ID")
	if h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", "Last-Event-ID must be an event id.")
			return
		}
		last = n
	}
	// Subscribe before the first read: an event committed in between rings.
	var wake <-chan struct{}
	poll := eventPoll
	if s.Events != nil {
		sub := s.Events.Subscribe(me.ID)
		defer sub.Close()
		wake, poll = sub.Wake(), s.Events.SafetyPoll()
	}
	if h == "" { // a fresh stream starts at the newest event
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

	// send writes what the log holds after last; on a database error the client
	// keeps its place and the next wake or poll tries again.
	send := func() {
		for {
			events, err := s.Store.EventsSince(ctx, me.ID, last, eventBatch)
			if err != nil {
				return
			}
			for _, e := range events {
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Name, e.Data)
				last = e.ID
			}
			if len(events) > 0 {
				flusher.Flush()
			}
			if len(events) < eventBatch {
				return
			}
		}
	}
	send() // the replay after Last-Event-ID

	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	heartbeat := time.NewTicker(eventHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-wake:
			send()
		case <-ticker.C:
			send()
		}
	}
}
