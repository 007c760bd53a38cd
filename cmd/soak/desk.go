package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fbchannel/bench/measure"
)

// desk is the agents' side: each agent follows its SSE stream (reconnecting with
// Last-Event-ID), replies to some customer messages, closes conversations after a
// few replies or when the customer goes quiet, and reconciles with
// GET /api/v1/me/conversations now and then.
type desk struct {
	s      *soak
	rng    *lockedRand
	agents []*agent
	// windDown is set when the load is over: agents answer what is there and close,
	// so the queue empties quickly.
	windDown atomic.Bool

	mu    sync.Mutex
	stats deskStats
}

type deskStats struct {
	replies      []replyRecord
	outcomes     map[string]int
	closes       map[string]int
	reopens      map[string]int
	events       map[string]int
	reconnects   int
	overCapacity []string // agent views listing more assigned conversations than capacity
	lastReplyAt  time.Duration
}

type replyRecord struct {
	agent, conversation, messageID string
	outcome                        string
	at                             time.Duration
}

type agent struct {
	d        *desk
	n        int
	id       string
	token    string
	capacity int

	mu        sync.Mutex
	convs     map[string]*aconv
	lastEvent int64
}

type aconv struct {
	id           string
	unread       int
	replies      int
	closeAfter   int
	lastCustomer time.Time
}

func newDesk(s *soak) *desk {
	return &desk{s: s, rng: newRand(s.cfg.seed, 3), stats: deskStats{
		outcomes: map[string]int{}, closes: map[string]int{}, reopens: map[string]int{}, events: map[string]int{},
	}}
}

func (d *desk) add(id, token string, capacity int) {
	d.agents = append(d.agents, &agent{d: d, n: len(d.agents) + 1, id: id, token: token, capacity: capacity, convs: map[string]*aconv{}})
}

func (d *desk) count(m map[string]int, key string) {
	d.mu.Lock()
	m[key]++
	d.mu.Unlock()
}

func (d *desk) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, a := range d.agents {
		wg.Add(2)
		go func() { defer wg.Done(); a.stream(ctx) }()
		go func() { defer wg.Done(); a.work(ctx) }()
	}
	wg.Wait()
}

func (a *agent) url(path string) string { return a.d.s.starterURL + path }

// work is the agent at its desk: available, then reading, replying and closing.
func (a *agent) work(ctx context.Context) {
	for {
		status, _, err := call(ctx, http.MethodPut, a.url("/api/v1/me/presence"), a.token, map[string]string{"status": "available"})
		if err == nil && status == http.StatusOK {
			break
		}
		if measure.Sleep(ctx, time.Second) != nil {
			return
		}
	}
	lastReconcile := time.Now()
	for measure.Sleep(ctx, a.d.rng.between(300*time.Millisecond, 800*time.Millisecond)) == nil {
		if time.Since(lastReconcile) > 10*time.Second {
			a.reconcile(ctx)
			lastReconcile = time.Now()
		}
		for _, c := range a.snapshot() {
			if ctx.Err() != nil {
				return
			}
			a.act(ctx, c)
		}
	}
}

func (a *agent) snapshot() []*aconv {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*aconv, 0, len(a.convs))
	for _, c := range a.convs {
		out = append(out, c)
	}
	return out
}

func (a *agent) forget(id string) {
	a.mu.Lock()
	delete(a.convs, id)
	a.mu.Unlock()
}

// know adds a conversation the agent has been given (idempotent).
func (a *agent) know(id string, unread int) *aconv {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.convs[id]
	if !ok {
		cfg := a.d.s.cfg
		c = &aconv{id: id, closeAfter: cfg.closeMin + a.d.rng.IntN(cfg.closeMax-cfg.closeMin+1), lastCustomer: time.Now()}
		a.convs[id] = c
	}
	c.unread += unread
	return c
}

func (a *agent) act(ctx context.Context, c *aconv) {
	cfg := a.d.s.cfg
	a.mu.Lock()
	unread := c.unread
	c.unread = 0
	if unread > 0 {
		c.lastCustomer = time.Now()
	}
	replies, quietFor := c.replies, time.Since(c.lastCustomer)
	a.mu.Unlock()
	if unread > 0 && a.d.rng.Float64() < cfg.replyProb {
		a.reply(ctx, c)
		a.mu.Lock()
		replies = c.replies
		a.mu.Unlock()
	}
	idle := cfg.idleClose
	if a.d.windDown.Load() {
		idle = 2 * time.Second
	}
	if replies >= c.closeAfter || quietFor > idle || (a.d.windDown.Load() && replies > 0) {
		a.close(ctx, c)
	}
}

func (a *agent) reply(ctx context.Context, c *aconv) {
	d := a.d
	a.mu.Lock()
	n := c.replies + 1
	a.mu.Unlock()
	text := fmt.Sprintf("Soak reply %d from agent %d in conversation %s", n, a.n, c.id)
	status, body, err := call(ctx, http.MethodPost, a.url("/api/v1/conversations/"+c.id+"/messages"), a.token, map[string]string{"text": text})
	if ctx.Err() != nil {
		return
	}
	rec := replyRecord{agent: a.id, conversation: c.id, at: time.Since(d.s.customers.start)}
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
		Error  any    `json:"error"`
	}
	switch {
	case err != nil:
		rec.outcome = "no answer (" + classify(err) + ")"
	case status == http.StatusCreated || status == http.StatusAccepted:
		_ = json.Unmarshal(body, &out)
		rec.messageID = out.ID
		rec.outcome = fmt.Sprintf("%d %s", status, out.Status)
		if out.Status == "failed" {
			rec.outcome += " (" + out.Reason + ")"
		}
		a.mu.Lock()
		c.replies++
		a.mu.Unlock()
	case status == http.StatusConflict || status == http.StatusNotFound:
		rec.outcome = fmt.Sprintf("%d %s", status, errorCode(body))
		a.forget(c.id)
	default:
		rec.outcome = fmt.Sprintf("%d %s", status, errorCode(body))
	}
	d.mu.Lock()
	d.stats.replies = append(d.stats.replies, rec)
	d.stats.outcomes[rec.outcome]++
	d.stats.lastReplyAt = rec.at
	d.mu.Unlock()
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return e.Error.Code
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		return b
	}
	return "(empty body)" // e.g. the soak proxy's 502 when a starter dies mid-request
}

func (a *agent) close(ctx context.Context, c *aconv) {
	d := a.d
	status, body, err := call(ctx, http.MethodPost, a.url("/api/v1/conversations/"+c.id+"/close"), a.token, map[string]string{"disposition": "resolved"})
	if ctx.Err() != nil {
		return
	}
	switch {
	case err != nil:
		d.count(d.stats.closes, "no answer ("+classify(err)+")")
		return
	case status == http.StatusOK:
		d.count(d.stats.closes, "200")
		a.forget(c.id)
	case status == http.StatusConflict || status == http.StatusNotFound:
		d.count(d.stats.closes, fmt.Sprintf("%d %s", status, errorCode(body)))
		a.forget(c.id)
		return
	default:
		d.count(d.stats.closes, fmt.Sprintf("%d %s", status, errorCode(body)))
		return
	}
	if d.s.cfg.reopenProb > 0 && d.rng.Float64() < d.s.cfg.reopenProb {
		_ = measure.Sleep(ctx, d.rng.between(500*time.Millisecond, 3*time.Second))
		status, body, err := call(ctx, http.MethodPost, a.url("/api/v1/conversations/"+c.id+"/reopen"), a.token, nil)
		if ctx.Err() != nil {
			return // the soak is over
		}
		switch {
		case err != nil:
			d.count(d.stats.reopens, "no answer ("+classify(err)+")")
		case status == http.StatusOK || status == http.StatusAccepted:
			var out struct {
				Status string `json:"status"`
			}
			_ = json.Unmarshal(body, &out)
			d.count(d.stats.reopens, fmt.Sprintf("%d %s", status, out.Status))
			if out.Status == "assigned" {
				a.know(c.id, 0)
			}
		default:
			d.count(d.stats.reopens, fmt.Sprintf("%d %s", status, errorCode(body)))
		}
	}
}

// reconcile corrects the agent's picture from GET /api/v1/me/conversations, and
// checks from the agent's side that it never holds more than its capacity.
func (a *agent) reconcile(ctx context.Context) {
	status, body, err := call(ctx, http.MethodGet, a.url("/api/v1/me/conversations"), a.token, nil)
	if err != nil || status != http.StatusOK {
		return
	}
	var list []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &list) != nil {
		return
	}
	assigned := map[string]bool{}
	for _, c := range list {
		if c.Status == "assigned" {
			assigned[c.ID] = true
		}
	}
	if len(assigned) > a.capacity {
		a.d.mu.Lock()
		a.d.stats.overCapacity = append(a.d.stats.overCapacity, fmt.Sprintf("agent %s listed %d assigned conversations (capacity %d) at %s",
			a.id, len(assigned), a.capacity, time.Since(a.d.s.customers.start).Round(time.Second)))
		a.d.mu.Unlock()
	}
	for id := range assigned {
		a.mu.Lock()
		_, known := a.convs[id]
		a.mu.Unlock()
		if !known {
			a.know(id, 1) // a missed event: look at it as if a message came
		}
	}
	for _, c := range a.snapshot() {
		if !assigned[c.id] {
			a.forget(c.id)
		}
	}
}

// stream follows GET /api/v1/me/events, from the first event on, reconnecting
// with Last-Event-ID whenever the starter goes away.
func (a *agent) stream(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		if !first {
			a.d.mu.Lock()
			a.d.stats.reconnects++
			a.d.mu.Unlock()
			if measure.Sleep(ctx, 500*time.Millisecond) != nil {
				return
			}
		}
		first = false
		a.streamOnce(ctx)
	}
}

var sseClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (a *agent) streamOnce(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, a.url("/api/v1/me/events"), nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "text/event-stream")
	a.mu.Lock()
	req.Header.Set("Last-Event-ID", strconv.FormatInt(a.lastEvent, 10))
	a.mu.Unlock()
	resp, err := sseClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	// The stream sends a keep-alive every 15 s; silence for 45 s means it is dead.
	alive := time.AfterFunc(45*time.Second, cancel)
	defer alive.Stop()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var id int64
	var name string
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		alive.Reset(45 * time.Second)
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if name != "" {
				a.handle(id, name, data.String())
			}
			id, name = 0, ""
			data.Reset()
		case strings.HasPrefix(line, "id:"):
			id, _ = strconv.ParseInt(strings.TrimSpace(line[3:]), 10, 64)
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(line[5:], " "))
		}
	}
}

func (a *agent) handle(id int64, name, data string) {
	a.mu.Lock()
	if id > a.lastEvent {
		a.lastEvent = id
	}
	a.mu.Unlock()
	a.d.count(a.d.stats.events, name)
	var ev struct {
		ConversationID string `json:"conversation_id"`
		Message        struct {
			Direction string `json:"direction"`
		} `json:"message"`
	}
	if json.Unmarshal([]byte(data), &ev) != nil || ev.ConversationID == "" {
		return
	}
	switch name {
	case "conversation.assigned":
		a.know(ev.ConversationID, 0)
	case "message.received":
		if ev.Message.Direction == "inbound" {
			a.mu.Lock()
			if c, ok := a.convs[ev.ConversationID]; ok {
				c.unread++
			}
			a.mu.Unlock()
		}
	case "conversation.closed", "conversation.transferred":
		a.forget(ev.ConversationID)
	}
}
