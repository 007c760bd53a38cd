package api

import (
	"context"
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

// eventSettle is how long after an event is sent the stream still looks below it
// for events committed late. Ids are taken at insert and committed in any order:
// a transaction may commit event 7 after another committed event 8, and a stream
// woken at 8's commit has already moved past 7.
const eventSettle = 10 * time.Second

// eventCursor is a stream's place in its agent's log.
type eventCursor struct {
	last   int64               // highest id sent: the stream's position, the client's Last-Event-ID
	floor  int64               // ids up to floor are not read again
	recent []int64             // ids above floor sent within eventSettle, in sending order
	sentAt map[int64]time.Time // when each of recent was sent
}

func newEventCursor(last int64) *eventCursor {
	return &eventCursor{last: last, floor: last, sentAt: map[int64]time.Time{}}
}

// mark records id as sent now.
func (c *eventCursor) mark(id int64, now time.Time) {
	c.recent = append(c.recent, id)
	c.sentAt[id] = now
	c.last = max(c.last, id)
}

// settle forgets ids sent more than eventSettle ago, raising the floor past them.
func (c *eventCursor) settle(now time.Time) {
	for len(c.recent) > 0 && now.Sub(c.sentAt[c.recent[0]]) > eventSettle {
		c.floor = max(c.floor, c.recent[0])
		delete(c.sentAt, c.recent[0])
		c.recent = c.recent[1:]
	}
}

// events streams the agent's events as Server-Sent Events. A reconnect with
// Last-Event-ID replays what was missed from the event log in Postgres.
//
// The stream reads the log whenever the hub rings (Postgres notified a new event
// of this agent, or the hub's connection came back) and on the hub's slow safety
// poll, so a lost notification delays an event, never drops it.
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
	beginStream(w, flusher)

	// send writes what the log holds above the cursor's floor and was not sent
	// yet (the query leaves those out); on a database error the client keeps its
	// place and the next wake or poll tries again. Every event's id: is the
	// stream's position, the highest id sent: its own id, except for an event that
	// committed after a newer one was sent, so that Last-Event-ID never goes back.
	cur := newEventCursor(last)
	send := func() {
		now := time.Now()
		cur.settle(now)
		from := cur.floor
		for {
			events, err := s.Store.EventsSince(ctx, me.ID, from, cur.recent, eventBatch)
			if err != nil {
				return
			}
			for _, e := range events {
				from = e.ID
				cur.mark(e.ID, now)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", cur.last, e.Name, e.Data)
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
	runStream(ctx, w, flusher, wake, poll, send, send)
}

// beginStream answers 200 with an event stream and a first comment, so the
// client knows it is connected.
func beginStream(w http.ResponseWriter, flusher http.Flusher) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
}

// runStream serves an open stream until the client goes: onWake when the hub
// rings (wake; nil without a hub), onPoll every poll, and a keep-alive comment
// every eventHeartbeat.
func runStream(ctx context.Context, w http.ResponseWriter, flusher http.Flusher, wake <-chan struct{}, poll time.Duration, onWake, onPoll func()) {
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
			onWake()
		case <-ticker.C:
			onPoll()
		}
	}
}
