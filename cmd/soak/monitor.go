package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fbchannel/bench/measure"
	"fbchannel/supervise"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// monitor watches the run: it restarts a program that died without being told to
// (and reports it), samples every agent's load against its capacity each second,
// and keeps a copy of the simulator's Send API log (which keeps only its latest
// calls) by reading it every few seconds.
type monitor struct {
	s  *soak
	db *sql.DB

	mu         sync.Mutex
	unexpected []string
	samples    int
	sampleErrs int
	over       []string
	maxLoad    map[string]int // agent -> highest sampled load
	sends      map[string]simSend
	simPolls   int
}

// simSend is one Send API call the simulator recorded.
type simSend struct {
	at        time.Time
	metadata  string
	recipient string
	text      string
}

func newMonitor(s *soak) *monitor {
	db, _ := sql.Open("postgres", s.cfg.databaseURL)
	db.SetMaxOpenConns(4)
	return &monitor{s: s, db: db, maxLoad: map[string]int{}, sends: map[string]simSend{}}
}

func (m *monitor) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); m.every(ctx, time.Second, m.supervise) }()
	go func() { defer wg.Done(); m.every(ctx, time.Second, m.sampleLoad) }()
	go func() { defer wg.Done(); m.every(ctx, 5*time.Second, m.pollSimLog) }()
	wg.Wait()
}

func (m *monitor) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// supervise restarts a program that exited although nobody stopped it: that is a
// finding (a crash of the service, or of a dependency), reported with its log's tail.
func (m *monitor) supervise(ctx context.Context) {
	for _, p := range m.s.processes() {
		if !p.Op.TryLock() {
			continue // a fault is being injected into it
		}
		if !p.Alive() && !p.ExitExpected() {
			at := time.Since(m.s.customers.start).Round(time.Second)
			tail := supervise.TailFile(p.LogPath, 15)
			logf("UNEXPECTED: %s exited at %s; restarting it. Last lines of %s:\n%s", p.Name, at, p.LogPath, tail)
			m.mu.Lock()
			m.unexpected = append(m.unexpected, fmt.Sprintf("%s exited at %s:\n%s", p.Name, at, tail))
			m.mu.Unlock()
			if err := p.Restart(context.WithoutCancel(ctx), "after an unexpected exit", restartBound); err != nil {
				logf("could not restart %s: %v", p.Name, err)
			}
		}
		p.Op.Unlock()
	}
}

// sampleLoad compares every agent's assigned conversations with its capacity.
func (m *monitor) sampleLoad(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rows, err := m.db.QueryContext(cctx, `SELECT a.id, a.capacity, count(c.id), coalesce(sum(c.units), 0)
		FROM agents a LEFT JOIN conversations c ON c.agent_id = a.id AND c.status = 'assigned'
		GROUP BY a.id, a.capacity`)
	if err != nil {
		m.mu.Lock()
		m.sampleErrs++
		m.mu.Unlock()
		return
	}
	defer rows.Close()
	at := time.Since(m.s.customers.start).Round(time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples++
	for rows.Next() {
		var id string
		var capacity, n, units int
		if rows.Scan(&id, &capacity, &n, &units) != nil {
			continue
		}
		load := max(n, units)
		if load > m.maxLoad[id] {
			m.maxLoad[id] = load
		}
		if load > capacity {
			m.over = append(m.over, fmt.Sprintf("agent %s held %d conversations (%d units), capacity %d, at %s", id, n, units, capacity, at))
		}
	}
}

// pollSimLog merges the simulator's Send API log into the soak's copy; a call is
// identified by its time (nanoseconds) and metadata, so polls overlap harmlessly.
func (m *monitor) pollSimLog(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	status, body, err := call(cctx, http.MethodGet, m.s.simURL+"/_sim/requests?path_suffix=/messages", "", nil)
	if err != nil || status != http.StatusOK {
		return
	}
	var reqs []struct {
		Method string         `json:"method"`
		Path   string         `json:"path"`
		Body   map[string]any `json:"body"`
		At     time.Time      `json:"at"`
	}
	if json.Unmarshal(body, &reqs) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.simPolls++
	for _, r := range reqs {
		if r.Method != http.MethodPost {
			continue
		}
		var send simSend
		send.at = r.At
		msg := r.Body["message"]
		if s, ok := msg.(string); ok { // a form-encoded body carries JSON strings
			var v map[string]any
			if json.Unmarshal([]byte(s), &v) == nil {
				msg = v
			}
		}
		if mm, ok := msg.(map[string]any); ok {
			send.metadata, _ = mm["metadata"].(string)
			send.text, _ = mm["text"].(string)
		}
		if rc, ok := r.Body["recipient"].(map[string]any); ok {
			send.recipient, _ = rc["id"].(string)
		}
		m.sends[r.At.Format(time.RFC3339Nano)+"|"+send.metadata+"|"+r.Path] = send
	}
}

// waitQuiet waits until every acknowledged message is in a transcript, no reply is
// still being sent, no conversation waits in the queue, and all of that holds for a
// few seconds; it answers whether that happened before ctx ended.
func (m *monitor) waitQuiet(ctx context.Context) bool {
	acked, _ := m.s.customers.snapshot()
	want := len(acked)
	stableSince := time.Time{}
	lastLog := time.Time{}
	last, progressAt := [3]int{-1, -1, -1}, time.Now()
	for {
		var recorded, sending, waiting int
		err := m.db.QueryRowContext(ctx, `SELECT
			(SELECT count(DISTINCT facebook_message_id) FROM messages WHERE page_id = $1 AND direction = 'inbound' AND facebook_message_id LIKE $2),
			(SELECT count(*) FROM messages WHERE page_id = $1 AND status = 'sending'),
			(SELECT count(*) FROM conversations WHERE page_id = $1 AND status IN ('waiting', 'bot'))`,
			m.s.pageID, "m_soak_"+m.s.runID+"_%").Scan(&recorded, &sending, &waiting)
		quiet := err == nil && recorded >= want && sending == 0 && waiting == 0
		if now := [3]int{recorded, sending, waiting}; err == nil && now != last {
			last, progressAt = now, time.Now()
		}
		// What has not moved for a minute while nothing else moves will not: the
		// checks say what is missing.
		if err == nil && !quiet && time.Since(progressAt) > time.Minute {
			logf("stalled: nothing moved for a minute: %d/%d acknowledged messages recorded, %d replies sending, %d conversations waiting",
				recorded, want, sending, waiting)
			return false
		}
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			logf("settling: %d/%d acknowledged messages recorded, %d replies sending, %d conversations waiting%s",
				recorded, want, sending, waiting, errSuffix(err))
		}
		switch {
		case !quiet:
			stableSince = time.Time{}
		case stableSince.IsZero():
			stableSince = time.Now()
		case time.Since(stableSince) > 5*time.Second:
			logf("settled: %d/%d messages recorded, no reply sending, no conversation waiting", recorded, want)
			return true
		}
		if measure.Sleep(ctx, time.Second) != nil {
			logf("not settled within the bound: %d/%d acknowledged messages recorded, %d replies sending, %d conversations waiting",
				recorded, want, sending, waiting)
			return false
		}
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
