// Command assign measures assignment latency — from an agent's close freeing
// capacity to the next conversation being assigned to that agent — and
// assignments per second, with a long queue and many agents, beside the raw
// round trips of the same Temporal dev server in the same run.
//
//	go run ./bench/assign [-conversations 1000] [-agents 50] [-capacity 1] [-probes 200]
//
// It starts one dev server (./bin/temporal) and the channel in this process
// (app/apptest: its own Postgres database, the real workflows and activities, the
// starter's handler, the Graph simulator), then:
//
//  1. raw, before: -probes sequential round trips of two trivial workflows on
//     their own task queue (worker in this process): an update answered by the
//     workflow (UpdateWorkflow, wait for completed), and a signal whose workflow
//     runs a no-op activity (signal call answered → activity started; one every
//     50 ms, so each finds its workflow idle) — the shape of a queue wake: signal,
//     workflow task, activity. 20 untimed calls of each kind come first;
//  2. fill: -conversations customers write (signed webhooks from the simulator,
//     16 at a time) while -agents agents of -capacity are away, until every
//     conversation waits in the page's queue;
//  3. work: every agent becomes available and closes each conversation the moment
//     it learns of it (or after -think), until all are closed. For each close that is followed by an
//     assignment to the same agent, latency = that assignment's assigned_at (set by
//     Postgres, clock_timestamp(), in the assigning transaction) minus the moment
//     the close call returned (and, apart, minus the moment it was sent). With
//     capacity 1 the agent has no room until its close commits, so its next
//     conversation is the one its close made room for. Agents learn of their
//     conversations from one Postgres poller (every 20 ms), which delays the next
//     close but not the measured latency;
//  4. raw, after: the same probes again, to show drift.
//
// The report is markdown on stdout; progress is on stderr. docs/PERFORMANCE.md
// ("Assignment latency") has a run and its reading.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/app/apptest"
	"fbchannel/bench/measure"
)

type config struct {
	measure.Stack
	conversations int
	agents        int
	capacity      int
	probes        int
	think         time.Duration
	fillTimeout   time.Duration
	workTimeout   time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.conversations, "conversations", 1000, "customers who write and wait in the queue")
	flag.IntVar(&cfg.agents, "agents", 50, "agents in the queue")
	flag.IntVar(&cfg.capacity, "capacity", 1, "each agent's capacity (1: a close is what makes room)")
	flag.IntVar(&cfg.probes, "probes", 200, "sequential raw round trips of each kind, before and after")
	flag.DurationVar(&cfg.think, "think", 0, "how long an agent works on a conversation before closing it (uniform in [½, 1½]×); 0: at once, saturating the queue")
	cfg.Stack.Register()
	flag.DurationVar(&cfg.fillTimeout, "fill-timeout", 10*time.Minute, "how long the conversations may take to be waiting")
	flag.DurationVar(&cfg.workTimeout, "work-timeout", 10*time.Minute, "how long the agents may take to work through the queue")
	flag.Parse()
	if cfg.conversations < cfg.agents*cfg.capacity || cfg.agents < 1 || cfg.capacity < 1 || cfg.probes < 1 {
		fmt.Fprintln(os.Stderr, "assign: need agents ≥ 1, capacity ≥ 1, probes ≥ 1 and conversations ≥ agents × capacity")
		os.Exit(2)
	}
	measure.Run("assign", func(ctx context.Context) error { return run(ctx, cfg) })
}

func run(ctx context.Context, cfg config) error {
	ch, err := cfg.StartChannel(ctx, 16+cfg.agents, func(w worker.Registry) {
		w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: echoWorkflowName})
	})
	if err != nil {
		return err
	}
	defer ch.Close()
	start, s, page := ch.Started, ch.Stack, ch.Page
	raw := &rawProbe{WakeProbe: ch.Probe, caller: ch.Caller, queue: ch.RawQueue}
	measure.Progress("setup done in %s (page %s active)", time.Since(start).Round(time.Millisecond), page.PageID)

	before, err := raw.measure(ctx, "before", cfg.probes)
	if err != nil {
		return err
	}
	b := &assignBench{cfg: cfg, s: s, page: page}
	if err := b.fill(ctx); err != nil {
		return err
	}
	work, err := b.work(ctx)
	if err != nil {
		return err
	}
	after, err := raw.measure(ctx, "after", cfg.probes)
	if err != nil {
		return err
	}
	measure.Progress("done in %s", time.Since(start).Round(time.Second))
	report(os.Stdout, cfg, b, work, []rawResult{before, after}, time.Since(start), ch.Log)
	return nil
}

// ---------------------------------------------------------------------------
// Raw round trips of the same server.

const (
	echoWorkflowName = "BenchEchoWorkflow"
	echoUpdate       = "echo"
)

// echoWorkflow answers an update at once: one workflow task per round trip.
func echoWorkflow(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandler(ctx, echoUpdate, func(ctx workflow.Context, n int) (int, error) { return n, nil }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

// wakePace spaces the raw wakes so that each finds its workflow idle.
const wakePace = 50 * time.Millisecond

// rawProbe measures the raw round trips on its own task queue: an update, and a
// wake (measure.WakeProbe).
type rawProbe struct {
	*measure.WakeProbe
	caller client.Client
	queue  string
}

type rawResult struct {
	label        string
	update       []time.Duration // UpdateWorkflow call, sent → answered
	wake         []time.Duration // signal answered → activity started
	wakeFromSent []time.Duration // signal sent → activity started
}

func (p *rawProbe) measure(ctx context.Context, label string, n int) (rawResult, error) {
	res := rawResult{label: label}
	id := fmt.Sprintf("bench-raw-%s-%s", p.queue, label)
	measure.Progress("raw %s: %d update round trips, %d signal → activity", label, n, n)
	if _, err := p.caller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id + "-echo", TaskQueue: p.queue}, echoWorkflowName); err != nil {
		return res, err
	}
	if err := p.StartWorkflow(ctx, id+"-wake", p.queue); err != nil {
		return res, err
	}
	defer func() {
		_ = p.caller.TerminateWorkflow(context.Background(), id+"-echo", "", "bench done")
		_ = p.caller.TerminateWorkflow(context.Background(), id+"-wake", "", "bench done")
	}()
	// Untimed warm-up: the first calls on a new workflow and connection are slower.
	const warmup = 20
	for i := -warmup; i < n; i++ {
		t0 := time.Now()
		h, err := p.caller.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id + "-echo", UpdateName: echoUpdate, Args: []any{i}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return res, fmt.Errorf("raw update: %w", err)
		}
		if i >= 0 {
			res.update = append(res.update, time.Since(t0))
		}
	}
	for i := -warmup; i < n; i++ {
		t0 := time.Now()
		t1, at, err := p.Wake(ctx, id+"-wake", i)
		if err != nil {
			return res, fmt.Errorf("raw wake %d: %w", i, err)
		}
		if i >= 0 {
			res.wake = append(res.wake, at.Sub(t1))
			res.wakeFromSent = append(res.wakeFromSent, at.Sub(t0))
		}
		// Unhurried: the next wake finds the workflow idle again (its activity
		// completed and recorded), as a queue workflow between passes.
		if err := measure.Sleep(ctx, wakePace); err != nil {
			return res, err
		}
	}
	measure.Progress("raw %s: update p50 %s ms; signal → activity p50 %s ms", label, measure.Millis(measure.Percentile(res.update, 0.5)), measure.Millis(measure.Percentile(res.wake, 0.5)))
	return res, nil
}

// ---------------------------------------------------------------------------
// The channel: a long queue and a team working through it.

type assignBench struct {
	cfg   config
	s     *apptest.Stack
	page  apptest.Page
	team  []benchAgent
	fillT time.Duration // first webhook → every conversation waiting
}

type benchAgent struct{ id, token string }

type workResult struct {
	wall         time.Duration // agents made available → every conversation closed
	assignSpan   time.Duration // agents made available → the last assignment committed
	latency      []time.Duration
	fromSent     []time.Duration
	closeCall    []time.Duration // the close API call, sent → answered
	earlier      int             // assignments committed before their close call returned
	assignedOnce bool
	assignments  int
}

// fill: customers write while the agents are away, until all wait in the queue.
func (b *assignBench) fill(ctx context.Context) error {
	s, cfg := b.s, b.cfg
	for i := 0; i < cfg.agents; i++ {
		var out struct{ ID, Token string }
		name := fmt.Sprintf("bench-agent-%d", i)
		if code, raw, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/agents",
			map[string]any{"name": name, "email": name + "@example.com", "capacity": cfg.capacity}, &out); err != nil || code != 201 {
			return fmt.Errorf("create agent: %d %s %v", code, raw, err)
		}
		b.team = append(b.team, benchAgent{id: out.ID, token: out.Token})
	}
	measure.Progress("fill: %d customers write, %d agents of capacity %d away", cfg.conversations, cfg.agents, cfg.capacity)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, 16)
	for i := 0; i < cfg.conversations; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status, _, err := s.Sim.PostCustomerMessage(ctx, b.page.CallbackURL, b.page.AppSecret, b.page.PageID, fmt.Sprintf("38%014d", i), "help", "")
			if err != nil || status != 200 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d webhook deliveries failed", n)
	}
	deadline := time.Now().Add(cfg.fillTimeout)
	for {
		n := b.count(ctx, "SELECT count(*) FROM conversations WHERE status = 'waiting' AND queue_id = $1", b.page.QueueID)
		if n == cfg.conversations {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d conversations waiting after %s", n, cfg.conversations, cfg.fillTimeout)
		}
		if err := measure.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	b.fillT = time.Since(start)
	measure.Progress("fill: %d waiting after %s", cfg.conversations, b.fillT.Round(time.Millisecond))
	return nil
}

// assignedConv is an assignment as Postgres recorded it.
type assignedConv struct {
	id         string
	assignedAt time.Time
}

// work: every agent becomes available and closes each conversation as soon as it
// learns of it; latencies are taken from Postgres' assigned_at.
func (b *assignBench) work(ctx context.Context) (workResult, error) {
	s, cfg := b.s, b.cfg
	var res workResult
	ctx, cancel := context.WithTimeout(ctx, cfg.workTimeout)
	defer cancel()

	// One poller tells each agent of its new conversations.
	inbox := map[string]chan assignedConv{}
	for _, a := range b.team {
		inbox[a.id] = make(chan assignedConv, cfg.capacity*2)
	}
	seen := map[string]bool{}
	var closed atomic.Int32
	pollerDone := make(chan error, 1)
	go func() {
		for int(closed.Load()) < cfg.conversations {
			rows, err := s.DB.QueryContext(ctx, `SELECT id, agent_id, assigned_at FROM conversations WHERE status = 'assigned'`)
			if err != nil {
				pollerDone <- err
				return
			}
			for rows.Next() {
				var c assignedConv
				var agentID string
				if err := rows.Scan(&c.id, &agentID, &c.assignedAt); err != nil {
					rows.Close()
					pollerDone <- err
					return
				}
				if !seen[c.id] {
					seen[c.id] = true
					inbox[agentID] <- c
				}
			}
			rows.Close()
			if err := measure.Sleep(ctx, 20*time.Millisecond); err != nil {
				pollerDone <- err
				return
			}
		}
		pollerDone <- nil
	}()

	measure.Progress("work: %d agents become available and close what they get", cfg.agents)
	workStart := time.Now()
	for _, a := range b.team {
		if code, raw, err := s.Call(ctx, a.token, "PUT", "/api/v1/me/presence", map[string]string{"status": "available"}, nil); err != nil || code != 200 {
			return res, fmt.Errorf("presence: %d %s %v", code, raw, err)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(b.team))
	for _, a := range b.team {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var closeSent, closeDone time.Time // of this agent's last close
			for int(closed.Load()) < cfg.conversations {
				var c assignedConv
				select {
				case c = <-inbox[a.id]:
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
					continue
				}
				if cfg.think > 0 {
					if err := measure.Sleep(ctx, time.Duration(float64(cfg.think)*(0.5+rand.Float64()))); err != nil {
						return
					}
				}
				if !closeDone.IsZero() && cfg.capacity == 1 {
					mu.Lock()
					res.latency = append(res.latency, c.assignedAt.Sub(closeDone))
					res.fromSent = append(res.fromSent, c.assignedAt.Sub(closeSent))
					if c.assignedAt.Before(closeDone) {
						res.earlier++
					}
					mu.Unlock()
				}
				closeSent = time.Now()
				code, raw, err := s.Call(ctx, a.token, "POST", "/api/v1/conversations/"+c.id+"/close", nil, nil)
				closeDone = time.Now()
				if err != nil || code != 200 {
					errs <- fmt.Errorf("close %s: %d %s %v", c.id, code, raw, err)
					cancel()
					return
				}
				mu.Lock()
				res.closeCall = append(res.closeCall, closeDone.Sub(closeSent))
				mu.Unlock()
				if n := closed.Add(1); n%100 == 0 {
					measure.Progress("work: %d closed", n)
				}
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(workStart)
	close(errs)
	for err := range errs {
		return res, err
	}
	if err := <-pollerDone; err != nil {
		return res, fmt.Errorf("poller: %w", err)
	}
	if int(closed.Load()) != cfg.conversations {
		return res, fmt.Errorf("only %d of %d conversations closed within %s", closed.Load(), cfg.conversations, cfg.workTimeout)
	}
	var last time.Time
	if err := s.DB.QueryRowContext(ctx, `SELECT max(assigned_at) FROM conversations`).Scan(&last); err != nil {
		return res, err
	}
	res.assignSpan = last.Sub(workStart)
	res.assignments = b.count(ctx, "SELECT count(*) FROM agent_events WHERE name = 'conversation.assigned'")
	res.assignedOnce = res.assignments == cfg.conversations &&
		b.count(ctx, "SELECT count(DISTINCT conversation_id) FROM agent_events WHERE name = 'conversation.assigned'") == cfg.conversations
	measure.Progress("work: %d closed in %s", cfg.conversations, res.wall.Round(time.Millisecond))
	return res, nil
}

func (b *assignBench) count(ctx context.Context, query string, args ...any) int {
	var n int
	if err := b.s.DB.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		measure.Progress("count: %v", err)
		return -1
	}
	return n
}

// ---------------------------------------------------------------------------
// Report.

func report(out io.Writer, cfg config, b *assignBench, w workResult, raws []rawResult, total time.Duration, sdkLog *measure.QuietLogger) {
	host, _ := os.Hostname()
	fmt.Fprintf(out, "# bench/assign — %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "`go run ./bench/assign -conversations %d -agents %d -capacity %d -probes %d -think %s` on %s, %s/%s, GOMAXPROCS %d, %s; total %s.\n\n",
		cfg.conversations, cfg.agents, cfg.capacity, cfg.probes, cfg.think, host, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.Version(), total.Round(time.Second))
	fmt.Fprintf(out, "Fill: %d conversations waiting %s after the first webhook.\n\n", cfg.conversations, b.fillT.Round(time.Millisecond))

	fmt.Fprintln(out, "| measure | n | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|")
	row := func(name string, d []time.Duration) {
		s := slices.Clone(d)
		slices.Sort(s)
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s |\n", name, len(s), measure.Millis(measure.Percentile(s, 0.5)), measure.Millis(measure.Percentile(s, 0.9)), measure.Millis(measure.Percentile(s, 0.99)), measure.Millis(measure.Percentile(s, 1)))
	}
	row("**assignment: close answered → next assignment committed**", w.latency)
	row("assignment: close sent → next assignment committed", w.fromSent)
	row("close API call (sent → answered)", w.closeCall)
	for _, r := range raws {
		row("raw "+r.label+": update round trip", r.update)
		row("raw "+r.label+": signal answered → activity started", r.wake)
		row("raw "+r.label+": signal sent → activity started", r.wakeFromSent)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Throughput: %d assignments in %s from the agents' becoming available to the last one committed = **%.1f assignments/s**; all closed after %s.\n",
		cfg.conversations, w.assignSpan.Round(time.Millisecond), float64(cfg.conversations)/w.assignSpan.Seconds(), w.wall.Round(time.Millisecond))
	fmt.Fprintf(out, "%d of %d next assignments were committed before their close call had returned (negative latency; the close wakes the queue before it answers).\n",
		w.earlier, len(w.latency))
	fmt.Fprintf(out, "Each conversation assigned exactly once (agents' event log): %v (%d assignment events).\n\n", w.assignedOnce, w.assignments)

	var rawUpdate, rawWake []time.Duration
	for _, r := range raws {
		rawUpdate = append(rawUpdate, r.update...)
		rawWake = append(rawWake, r.wake...)
	}
	slices.Sort(rawUpdate)
	slices.Sort(rawWake)
	fmt.Fprintln(out, "Ratios (assignment ÷ raw, raw pooled over before and after):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| | p50 | p99 |")
	fmt.Fprintln(out, "|---|--:|--:|")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"close answered → assigned", w.latency}, {"close sent → assigned", w.fromSent}} {
		lat := slices.Clone(m.d)
		slices.Sort(lat)
		fmt.Fprintf(out, "| %s ÷ update round trip | %s | %s |\n", m.name, ratio(measure.Percentile(lat, 0.5), measure.Percentile(rawUpdate, 0.5)), ratio(measure.Percentile(lat, 0.99), measure.Percentile(rawUpdate, 0.99)))
		fmt.Fprintf(out, "| %s ÷ signal → activity | %s | %s |\n", m.name, ratio(measure.Percentile(lat, 0.5), measure.Percentile(rawWake, 0.5)), ratio(measure.Percentile(lat, 0.99), measure.Percentile(rawWake, 0.99)))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "SDK log: %d warnings, %d errors.\n", sdkLog.Warnings.Load(), sdkLog.Errors.Load())
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}
