// Command scale opens many conversations on one page through signed webhooks and
// keeps a share of them active, with the worker and the starter as the built
// programs (./bin/worker, ./bin/starter; app/apptest.StartProcesses), and samples
// the worker over time: its resident memory, its goroutines and its sticky cache.
//
//	go run ./bench/scale [-conversations 10000] [-active 0.05] [-active-for 3m]
//	                     [-sticky-cache 2000] [-workers 1] [-temporal-address host:port]
//
// Without -temporal-address it starts a Temporal dev server (./bin/temporal, in
// memory); with it, it uses that server (make cluster's, say) and, given
// -temporal-databases, reports their Postgres size. Phases:
//
//  1. open: -conversations customers write once each (-concurrency deliveries in
//     flight), until every conversation is in Postgres: the time to open them all;
//     the page's queue workflow takes a wake per conversation, so its history
//     events per second during this phase are the per-workflow hot spot;
//  2. active: for -active-for, -active of the conversations keep writing, one
//     message each every -active-every;
//  3. report: worker memory and goroutines (first, after warm-up, last, max), the
//     channel's and Temporal's Postgres size, history events per conversation (a
//     sample), the queue workflow's events and runs; a PNG plot of the samples
//     (-plot), made by this program with gonum.org/v1/plot.
//
// No agent is available: the conversations stay open, waiting in the queue, which
// is the state that costs the worker memory. The report is markdown on stdout;
// progress is on stderr. docs/PERFORMANCE.md ("Scale") has runs and their reading.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"fbchannel/app"
	"fbchannel/app/apptest"
	"fbchannel/bench/measure"
	"fbchannel/workflows/contract"
)

type config struct {
	measure.Stack
	conversations int
	active        float64
	activeFor     time.Duration
	activeEvery   time.Duration
	concurrency   int
	stickyCache   int
	workers       int
	sample        time.Duration
	openTimeout   time.Duration
	historySample int

	temporalAddress   string
	temporalDatabases string
	label             string
	plot              string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.conversations, "conversations", 10000, "customers who write once each: the open conversations")
	flag.Float64Var(&cfg.active, "active", 0.05, "share of the conversations that keep writing after all are open")
	flag.DurationVar(&cfg.activeFor, "active-for", 3*time.Minute, "how long the active share keeps writing")
	flag.DurationVar(&cfg.activeEvery, "active-every", 30*time.Second, "how often each active customer writes")
	flag.IntVar(&cfg.concurrency, "concurrency", 8, "webhook deliveries in flight while opening")
	flag.IntVar(&cfg.stickyCache, "sticky-cache", 2000, "the worker's WORKER_STICKY_CACHE_SIZE")
	flag.IntVar(&cfg.workers, "workers", 1, "worker programs")
	flag.DurationVar(&cfg.sample, "sample", 2*time.Second, "how often the worker is sampled")
	flag.DurationVar(&cfg.openTimeout, "open-timeout", 60*time.Minute, "how long opening them all may take")
	flag.IntVar(&cfg.historySample, "history-sample", 200, "conversations whose history length is read")
	flag.StringVar(&cfg.temporalAddress, "temporal-address", "", "an existing Temporal server (host:port); empty: start a dev server")
	flag.StringVar(&cfg.temporalDatabases, "temporal-databases", "", "comma-separated Postgres databases of that server, for their size (make cluster: temporal_cluster,temporal_cluster_visibility)")
	flag.StringVar(&cfg.label, "label", "", "the server's name in the report and the plot (default: dev server or cluster)")
	flag.StringVar(&cfg.plot, "plot", "", "PNG file for the plot of the samples (empty: none)")
	cfg.Stack.Register()
	flag.Parse()
	if cfg.conversations < 1 || cfg.active < 0 || cfg.active > 1 || cfg.concurrency < 1 || cfg.workers < 1 || cfg.stickyCache < 1 {
		fmt.Fprintln(os.Stderr, "scale: need conversations, concurrency, workers and sticky-cache ≥ 1 and 0 ≤ active ≤ 1")
		os.Exit(2)
	}
	if cfg.label == "" {
		cfg.label = map[bool]string{true: "cluster", false: "dev server"}[cfg.temporalAddress != ""]
	}
	measure.Run("scale", func(ctx context.Context) error { return run(ctx, cfg) })
}

// sample is the worker (the first one) at a moment of the run.
type sample struct {
	at         time.Duration // since the start of the open phase
	phase      string
	rssMB      float64
	goroutines float64
	sticky     float64 // temporal_sticky_cache_size, -1 when not exported
	open       int     // conversations in Postgres
}

type bench struct {
	cfg      config
	st       *apptest.Stack
	page     apptest.Page
	temporal client.Client
	start    time.Time

	mu      sync.Mutex
	samples []sample
	phase   string

	sent, failed atomic.Int64
}

func run(ctx context.Context, cfg config) error {
	b := &bench{cfg: cfg}
	log := &measure.QuietLogger{}
	address := cfg.temporalAddress
	if address == "" {
		measure.Progress("starting a Temporal dev server (%s)", cfg.TemporalCLI)
		server, err := apptest.StartTemporal(ctx, apptest.Temporal{CLI: cfg.TemporalCLI, Logger: log})
		if err != nil {
			return err
		}
		defer server.Stop()
		address = server.FrontendHostPort()
	}
	c, err := client.Dial(client.Options{HostPort: address, Namespace: apptest.Namespace, Logger: log})
	if err != nil {
		return fmt.Errorf("temporal at %s: %w", address, err)
	}
	defer c.Close()
	b.temporal = c
	if err := app.EnsureSearchAttributes(ctx, c, apptest.Namespace); err != nil {
		return err
	}
	st, err := apptest.New(ctx, apptest.Options{DatabaseURL: cfg.DatabaseURL, KeepDB: cfg.KeepDB, Starter: c, Connections: cfg.concurrency})
	if err != nil {
		return err
	}
	defer st.Close()
	b.st = st
	measure.Progress("starting %d worker(s) and a starter (./bin), sticky cache %d, on %s", cfg.workers, cfg.stickyCache, address)
	if err := st.StartProcesses(ctx, apptest.Processes{
		Workers: cfg.workers, Starters: 1, TemporalAddress: address,
		Env: []string{fmt.Sprintf("WORKER_STICKY_CACHE_SIZE=%d", cfg.stickyCache)},
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, st.ProcessLogs(20))
	}
	if b.page, err = st.ConnectPage(ctx, "Scale"); err != nil {
		return err
	}

	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	b.start = time.Now()
	b.setPhase("open")
	go func() { defer close(sampled); b.sampleEvery(sampleCtx) }()

	queueBefore := b.queueEvents(ctx)
	openTook, err := b.open(ctx)
	if err != nil {
		stopSampling()
		<-sampled
		return err
	}
	queueEvents := b.queueEvents(ctx) - queueBefore
	measure.Progress("all %d conversations open after %s", cfg.conversations, openTook.Round(time.Millisecond))

	b.setPhase("active")
	activeSent := b.keepActive(ctx)
	stopSampling()
	<-sampled
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return b.report(ctx, openTook, queueEvents, activeSent)
}

func (b *bench) setPhase(p string) {
	b.mu.Lock()
	b.phase = p
	b.mu.Unlock()
}

// psid is customer i's page-scoped id.
func psid(i int) string { return fmt.Sprintf("39%014d", i) }

// say delivers customer i's message through the signed webhook; the simulator
// retries nothing, so a non-200 is counted (Facebook would redeliver).
func (b *bench) say(ctx context.Context, i int, text string) {
	status, _, err := b.st.Sim.PostCustomerMessage(ctx, b.page.CallbackURL, b.page.AppSecret, b.page.PageID, psid(i), text, "")
	if ctx.Err() != nil {
		return // the phase ended with the delivery in flight
	}
	if err != nil || status != http.StatusOK {
		b.failed.Add(1)
		return
	}
	b.sent.Add(1)
}

// open has every customer write once and waits until every conversation is in
// Postgres; it answers the time from the first delivery.
func (b *bench) open(ctx context.Context) (time.Duration, error) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range b.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= b.cfg.conversations {
					return
				}
				b.say(ctx, i, "Hello, I need help")
			}
		}()
	}
	wg.Wait()
	measure.Progress("%d deliveries answered 200 (%d not) after %s", b.sent.Load(), b.failed.Load(), time.Since(b.start).Round(time.Millisecond))
	deadline := time.Now().Add(b.cfg.openTimeout)
	for {
		n, err := b.openConversations(ctx)
		if err != nil {
			return 0, err
		}
		if n >= b.cfg.conversations {
			return time.Since(b.start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d conversations open after %s", n, b.cfg.conversations, b.cfg.openTimeout)
		}
		if err := measure.Sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

func (b *bench) openConversations(ctx context.Context) (int, error) {
	var n int
	err := b.st.DB.QueryRowContext(ctx, `SELECT count(*) FROM conversations WHERE status <> 'closed'`).Scan(&n)
	return n, err
}

// keepActive has the active share write, each customer every -active-every, for
// -active-for; it answers how many messages went out.
func (b *bench) keepActive(ctx context.Context) int64 {
	n := int(float64(b.cfg.conversations) * b.cfg.active)
	if n == 0 || b.cfg.activeFor <= 0 {
		return 0
	}
	ids := rand.Perm(b.cfg.conversations)[:n]
	measure.Progress("%d conversations active for %s, each writing every %s", n, b.cfg.activeFor, b.cfg.activeEvery)
	before := b.sent.Load()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.activeFor)
	defer cancel()
	// Spread evenly: one message every activeEvery/n, round robin over the set.
	tick := time.NewTicker(max(b.cfg.activeEvery/time.Duration(n), time.Millisecond))
	defer tick.Stop()
	sem := make(chan struct{}, b.cfg.concurrency)
	var wg sync.WaitGroup
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return b.sent.Load() - before
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // the channel is behind: this tick's message is not sent
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			b.say(ctx, i, fmt.Sprintf("Still there? (%d)", k))
		}(ids[k%n])
	}
}

// sampleEvery records a sample of the first worker every -sample until ctx ends.
func (b *bench) sampleEvery(ctx context.Context) {
	t := time.NewTicker(b.cfg.sample)
	defer t.Stop()
	for {
		b.takeSample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *bench) takeSample(ctx context.Context) {
	w := b.st.Workers[0]
	s := sample{at: time.Since(b.start), rssMB: float64(rssKB(w.PID())) / 1024, sticky: -1}
	if m, err := measure.Scrape(ctx, b.st.WorkerOpsURLs[0]); err == nil {
		s.goroutines = m["go_goroutines"]
		if v, ok := m["temporal_sticky_cache_size"]; ok {
			s.sticky = v
		}
	}
	open, err := b.openConversations(ctx)
	if err != nil {
		return // the run is ending
	}
	s.open = open
	b.mu.Lock()
	s.phase = b.phase
	b.samples = append(b.samples, s)
	b.mu.Unlock()
}

// rssKB is the process's resident set (VmRSS) in KiB, 0 when unknown.
func rssKB(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// queueEvents is the page queue workflow's history events so far, over all its
// runs (continue-as-new starts a new one).
func (b *bench) queueEvents(ctx context.Context) int64 {
	id := contract.QueueWorkflowID(b.page.QueueID)
	var total int64
	var token []byte
	for {
		resp, err := b.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: apptest.Namespace, Query: fmt.Sprintf("WorkflowId = %q", id), NextPageToken: token,
		})
		if err != nil {
			return total
		}
		for _, e := range resp.Executions {
			if e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				total += e.GetHistoryLength()
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	// A running execution's length in visibility lags; its description does not.
	if d, err := b.temporal.DescribeWorkflowExecution(ctx, id, ""); err == nil {
		total += d.GetWorkflowExecutionInfo().GetHistoryLength()
	}
	return total
}

// queueSignals reads the queue workflow's current run and answers its signals
// (wakes), the busiest second's count and the seconds between the first and
// the last: where its signal rate tops out.
func (b *bench) queueSignals(ctx context.Context) (total, peak int, span time.Duration) {
	it := b.temporal.GetWorkflowHistory(ctx, contract.QueueWorkflowID(b.page.QueueID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	perSecond := map[int64]int{}
	var first, last time.Time
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			break
		}
		if e.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
			continue
		}
		at := e.GetEventTime().AsTime()
		if first.IsZero() {
			first = at
		}
		last = at
		total++
		perSecond[at.Unix()]++
	}
	for _, n := range perSecond {
		peak = max(peak, n)
	}
	return total, peak, last.Sub(first)
}

// queueRuns counts the queue workflow's runs (1 + its continue-as-news).
func (b *bench) queueRuns(ctx context.Context) int {
	resp, err := b.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: apptest.Namespace, Query: fmt.Sprintf("WorkflowId = %q", contract.QueueWorkflowID(b.page.QueueID)), PageSize: 1000,
	})
	if err != nil {
		return 0
	}
	return len(resp.Executions)
}
