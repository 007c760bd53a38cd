// Package agentevents wakes agents' event streams (GET /api/v1/me/events) when
// their events are written. A process holds one Postgres connection that LISTENs
// on channel agent_events (schema 0013 notifies it, with the agent's id, for every
// new row) and fans each notification out to the streams of that agent.
//
// A notification is only a doorbell: the rows of agent_events are the truth, and a
// stream reads them after its last id whenever it is woken. Notifications sent while
// the connection is down are lost, so when it comes back every stream is woken for a
// catch-up read, and streams also read on a slow safety poll of their own.
//
// The same connection carries other channels for Watchers (Options.Watchers),
// such as the webhook's account cache (store.WebhookCache): one connection per
// process, told of each notification and of every loss and return.
package agentevents

import (
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Channel is the NOTIFY channel the agent_events trigger writes to.
const Channel = "agent_events"

// ApplicationName names the LISTEN connection in pg_stat_activity.
const ApplicationName = "fbchannel-agent-events"

// DefaultSafetyPoll is how often a stream reads without being woken: the bound on
// how late an event can be when notifications are lost.
const DefaultSafetyPoll = 5 * time.Second

// Reconnection backs off from minReconnect to maxReconnect while Postgres is away;
// ping finds a connection that died without closing (no notification comes then).
const (
	minReconnect = 100 * time.Millisecond
	maxReconnect = 10 * time.Second
	ping         = 60 * time.Second
)

// Options adjust a Hub; the zero value is what the starter uses.
type Options struct {
	// SafetyPoll: see DefaultSafetyPoll (used when zero).
	SafetyPoll time.Duration
	// Log receives the connection's losses and recoveries (slog.Default when nil).
	Log *slog.Logger
	// Watchers follow other channels on the same connection (one connection per
	// process, whatever listens).
	Watchers []Watcher
}

// Watcher follows one more NOTIFY channel on the hub's connection.
type Watcher interface {
	// Channel is the channel to LISTEN on.
	Channel() string
	// Notified receives each notification's payload. It must not block.
	Notified(payload string)
	// Listening tells whether notifications on the channel reach Notified: true
	// once the channel is listened on (first, and after every reconnection),
	// false as soon as the connection is lost. Either way, notifications may have
	// been missed since the last call. It must not block.
	Listening(up bool)
}

// Hub is a process's one LISTEN connection and the streams it wakes.
type Hub struct {
	listener   *pq.Listener
	safetyPoll time.Duration
	log        *slog.Logger
	watchers   map[string]Watcher // by channel
	done       chan struct{}
	listening  chan struct{}
	stopped    sync.WaitGroup

	mu      sync.Mutex
	streams map[string]map[*Subscription]struct{} // by agent id (or other key)
}

// Listen starts the hub. It returns at once: the connection is made (and remade)
// in the background, and until it is up streams rely on their safety poll.
func Listen(dsn string, opts Options) *Hub {
	h := &Hub{
		safetyPoll: opts.SafetyPoll,
		log:        opts.Log,
		done:       make(chan struct{}),
		listening:  make(chan struct{}),
		streams:    map[string]map[*Subscription]struct{}{},
		watchers:   map[string]Watcher{},
	}
	for _, w := range opts.Watchers {
		h.watchers[w.Channel()] = w
	}
	if h.safetyPoll <= 0 {
		h.safetyPoll = DefaultSafetyPoll
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.listener = pq.NewListener(withApplicationName(dsn), minReconnect, maxReconnect, h.connectionChanged)
	h.stopped.Add(3)
	go h.dispatch()
	go h.keepAlive()
	go func() {
		defer h.stopped.Done()
		// Blocks until the first connection is up and listening; events committed
		// before that are found by this catch-up read.
		if err := h.listener.Listen(Channel); err != nil {
			select {
			case <-h.done:
			default:
				h.log.Error("agent events: LISTEN failed; streams poll", "err", err)
			}
			return
		}
		for channel, w := range h.watchers {
			if err := h.listener.Listen(channel); err != nil {
				h.log.Error("LISTEN failed", "channel", channel, "err", err)
				continue
			}
			w.Listening(true)
		}
		h.wakeAll()
		close(h.listening)
	}()
	return h
}

// Listening is closed once the connection first listens and the streams
// subscribed by then have been rung for their catch-up read.
func (h *Hub) Listening() <-chan struct{} { return h.listening }

// SafetyPoll is how often a stream should read without being woken.
func (h *Hub) SafetyPoll() time.Duration { return h.safetyPoll }

// Close ends the LISTEN connection. Open subscriptions are no longer woken.
func (h *Hub) Close() {
	close(h.done)
	_ = h.listener.Close()
	h.stopped.Wait()
}

// Subscribe registers a stream of agentID. Subscribe before the stream's first
// read, so that an event committed between the two wakes it. Other keys are
// other payloads on the channel (the supervisors' floor, schema 0024): the
// subscription rings for any of them.
func (h *Hub) Subscribe(agentID string, more ...string) *Subscription {
	s := &Subscription{hub: h, wake: make(chan struct{}, 1)}
	for _, key := range append([]string{agentID}, more...) {
		s.keys = append(s.keys, strings.ToLower(key))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, key := range s.keys {
		if h.streams[key] == nil {
			h.streams[key] = map[*Subscription]struct{}{}
		}
		h.streams[key][s] = struct{}{}
	}
	return s
}

// Subscription is one stream's doorbell.
type Subscription struct {
	hub  *Hub
	keys []string
	wake chan struct{}
}

// Wake receives when the agent may have new events. Wakes that come while the
// stream is busy collapse into one.
func (s *Subscription) Wake() <-chan struct{} { return s.wake }

// Close unregisters the stream.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, key := range s.keys {
		delete(h.streams[key], s)
		if len(h.streams[key]) == 0 {
			delete(h.streams, key)
		}
	}
}

func (s *Subscription) ring() {
	select {
	case s.wake <- struct{}{}:
	default: // already rung: the stream's next read covers this event too
	}
}

// dispatch fans notifications out. It never blocks on a stream: pq stalls the
// connection while its notification channel is full.
func (h *Hub) dispatch() {
	defer h.stopped.Done()
	for n := range h.listener.Notify { // closed by listener.Close
		if n == nil { // reconnected: what was sent meanwhile is lost
			h.wakeAll()
			for _, w := range h.watchers {
				w.Listening(true)
			}
			continue
		}
		if w, ok := h.watchers[n.Channel]; ok {
			w.Notified(n.Extra)
			continue
		}
		h.mu.Lock()
		for s := range h.streams[strings.ToLower(n.Extra)] {
			s.ring()
		}
		h.mu.Unlock()
	}
}

func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, streams := range h.streams {
		for s := range streams {
			s.ring()
		}
	}
}

// keepAlive pings the connection now and then: a connection that died silently
// (a dropped network path) is only noticed when something is sent on it.
func (h *Hub) keepAlive() {
	defer h.stopped.Done()
	t := time.NewTicker(ping)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
			_ = h.listener.Ping() // an error means it is already reconnecting
		}
	}
}

// connectionChanged runs on pq's dispatching goroutine, so it only logs and
// tells the watchers (which do not block).
func (h *Hub) connectionChanged(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		for _, w := range h.watchers {
			w.Listening(false)
		}
		h.log.Warn("agent events: LISTEN connection lost; streams poll until it is back", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		h.log.Warn("agent events: cannot reconnect the LISTEN connection", "err", err)
	case pq.ListenerEventReconnected:
		h.log.Info("agent events: LISTEN connection back; streams catch up")
	}
}

// withApplicationName names the connection, unless the DSN already does, so that
// operators (and tests) can find it in pg_stat_activity.
func withApplicationName(dsn string) string {
	if strings.Contains(dsn, "application_name") {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", ApplicationName)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + ApplicationName
}
