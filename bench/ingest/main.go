// Command ingest measures webhook ingest against the raw SignalWithStart ceiling
// of the same Temporal dev server, in the same run.
//
//	go run ./bench/ingest [-conversations 50] [-messages 1000] [-concurrency 16]
//
// It starts one dev server (./bin/temporal), then alternates two phases:
//
//	(a) raw: SignalWithStart of a trivial signal-loop workflow (own task queue,
//	    worker in this process) at concurrency C over N workflow IDs, M signals;
//	(b) ingest: one-event signed Messenger batches POSTed over HTTP to the starter
//	    handler (fresh Postgres database, real workflows and activities against the
//	    in-process Graph simulator) at concurrency C over N PSIDs, M messages. The
//	    handler answers once the events are in the Postgres inbox; the starter's
//	    relay, the worker and the dev server drain them while the POSTs run, so
//	    the acknowledgements compete with the whole pipeline for the CPUs.
//
// The schedule is a b a b … a (-rounds b phases), so drift and noise show up as
// differences between the (a) rows. After each phase it waits until the work is
// drained (every signal seen by the sink workflows; every message row written), so
// phases do not overlap. With -diagnose (default) it then runs three probes shown
// apart: (a) with the webhook's search attributes, one paced conversation (history
// cost and latency of unhurried messages), and (b) with the channel's worker
// stopped (the ack path alone). It prints one markdown report on stdout; measure.Progress
// goes to stderr. docs/PERFORMANCE.md has the results and their reading.
//
// By default (b)'s starter and worker run in this process, beside the HTTP client
// and (a)'s caller. With -processes they are the built programs instead (one
// ./bin/worker, one ./bin/starter, as deployed; app/apptest.StartProcesses), the
// POSTs go to the starter program, and what only an in-process handler shows (its
// server-side timing, the pool's counters) is left out of the report.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/app/apptest"
	"fbchannel/bench/measure"
	"fbchannel/messenger"
	"fbchannel/simulator"
	"fbchannel/workflows/contract"
)

const namespace = apptest.Namespace

type config struct {
	measure.Stack
	conversations int
	messages      int
	concurrency   int
	rounds        int
	warmup        int
	drainTimeout  time.Duration
	diagnose      bool
	workerPollers int
	cpuProfile    string
	processes     bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.conversations, "conversations", 50, "N: distinct workflow IDs in (a), distinct PSIDs (conversations) in (b)")
	flag.IntVar(&cfg.messages, "messages", 1000, "M: signals per (a) phase, messages per (b) phase")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "C: requests in flight")
	flag.IntVar(&cfg.rounds, "rounds", 2, "number of (b) phases; the schedule is a b a b … a (rounds+1 (a) phases)")
	flag.IntVar(&cfg.warmup, "warmup", 40, "untimed warm-up calls of each kind before the first phase")
	cfg.Stack.Register()
	flag.DurationVar(&cfg.drainTimeout, "drain-timeout", 5*time.Minute, "how long to wait for a phase's work to be drained")
	flag.BoolVar(&cfg.diagnose, "diagnose", true, "after the schedule: (a) with the webhook's search attributes, a paced single conversation, and (b) with the channel's worker stopped (shown apart)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (starter, relay, worker, simulator, HTTP client) during the POSTs of the (b) phases to this file")
	flag.IntVar(&cfg.workerPollers, "worker-pollers", 0, "workflow and activity task pollers of the channel's worker (0: the SDK's defaults, as app.RunWorker)")
	flag.BoolVar(&cfg.processes, "processes", false, "run the channel's worker and starter as the built programs (go build -o bin/ ./worker ./starter; one of each) instead of in this process; "+
		"the starter's handler timing and the pool's counters are then not measured")
	flag.Parse()
	if cfg.processes && cfg.workerPollers > 0 {
		fmt.Fprintln(os.Stderr, "ingest: -worker-pollers applies to the in-process worker only (the worker program has no such setting)")
		os.Exit(2)
	}
	if cfg.conversations < 1 || cfg.messages < cfg.conversations || cfg.concurrency < 1 || cfg.rounds < 1 {
		fmt.Fprintln(os.Stderr, "ingest: need conversations ≥ 1, messages ≥ conversations, concurrency ≥ 1, rounds ≥ 1")
		os.Exit(2)
	}
	measure.Run("ingest", func(ctx context.Context) error { return run(ctx, cfg) })
}

// ---------------------------------------------------------------------------
// The (a) workflow: receives the same signal the webhook sends, does nothing.

const sinkWorkflowName = "BenchSinkWorkflow"
const sinkQueryCount = "count"

func sinkWorkflow(ctx workflow.Context) error {
	ch := workflow.GetSignalChannel(ctx, contract.SignalInbound)
	n := 0
	if err := workflow.SetQueryHandler(ctx, sinkQueryCount, func() (int, error) { return n, nil }); err != nil {
		return err
	}
	for {
		var ev contract.InboundEvent
		ch.Receive(ctx, &ev)
		n++
	}
}

// ---------------------------------------------------------------------------

// bench is everything both phases share.
type bench struct {
	cfg   config
	tag   string // this run's random tag, in workflow IDs and mids
	admin client.Client
	// caller signals in (a) and is the starter's client in (b): same gRPC connection.
	caller client.Client
	// workerClient polls for both workers, like a separate worker process would.
	workerClient client.Client
	sinkQueue    string

	db          *sql.DB // the starter's pool; counts are read through it too
	sim         *simulator.Simulator
	apiURL      string
	adminToken  string
	httpClient  *http.Client
	pageID      string // Facebook page id
	pageUUID    string
	appSecret   string
	callbackURL string
	queueID     string
	accountID   string

	paced pacedResult
	batch batchResult
	stack *apptest.Stack // the channel; its worker is stopped for the ack-path probe

	timingMu sync.Mutex
	timings  []reqTiming // webhook requests of the current phase, server side

	sdkLog     *countingLogger
	serviceLog *countingHandler
	serverLog  *lineCounter

	psidSeq atomic.Int64
}

type phaseResult struct {
	name      string // "a" or "b"
	round     int
	ok        int
	errors    map[string]int
	wall      time.Duration
	latencies []time.Duration // successful calls only
	drained   time.Duration   // from phase start until all work was processed
	// (b) only
	historyEvents int // sum over the phase's N conversation workflows
	queueEvents   int // events the page's queue workflow gained during the phase
	conversations int // conversation rows created by the phase
	eventTypes    map[string]int
	retries       map[string]int // activity type -> attempts beyond the first
	timings       []reqTiming    // server side of each accepted webhook request
	lag           [3]float64     // webhook transaction start -> message row's, p50/p99/max seconds
	pooled        bool
	// diagnostics are shown apart and left out of the pooled rows and ratios
	diag string
}

func (p phaseResult) throughput() float64 { return float64(p.ok) / p.wall.Seconds() }

func run(ctx context.Context, cfg config) (err error) {
	if err := cfg.CheckTemporalCLI(); err != nil {
		return err
	}
	b := &bench{cfg: cfg, tag: apptest.RandomHex(3), sdkLog: newCountingLogger(), serviceLog: newCountingHandler(), serverLog: &lineCounter{}}
	defer func() {
		if err != nil {
			b.sdkLog.summary(os.Stderr, "SDK")
			b.serviceLog.summary(os.Stderr, "service")
			b.serverLog.summary(os.Stderr)
		}
	}()
	start := time.Now()

	measure.Progress("starting Temporal dev server (%s)", cfg.TemporalCLI)
	server, err := apptest.StartTemporal(ctx, apptest.Temporal{CLI: cfg.TemporalCLI, Logger: b.sdkLog, Output: b.serverLog})
	if err != nil {
		return err
	}
	defer server.Stop()
	b.admin = server.Client()
	dial := func() (client.Client, error) {
		return client.Dial(client.Options{HostPort: server.FrontendHostPort(), Namespace: namespace, Logger: b.sdkLog})
	}
	if b.caller, err = dial(); err != nil {
		return err
	}
	defer b.caller.Close()
	if b.workerClient, err = dial(); err != nil {
		return err
	}
	defer b.workerClient.Close()

	// (a)'s worker.
	b.sinkQueue = "bench-sink-" + b.tag
	sinkWorker := worker.New(b.workerClient, b.sinkQueue, worker.Options{})
	sinkWorker.RegisterWorkflowWithOptions(sinkWorkflow, workflow.RegisterOptions{Name: sinkWorkflowName})
	if err := sinkWorker.Start(); err != nil {
		return err
	}
	defer sinkWorker.Stop()

	// (b)'s stack.
	stopStack, err := b.startStack(ctx, server.FrontendHostPort())
	if stopStack != nil {
		defer stopStack()
	}
	if err != nil {
		return err
	}
	measure.Progress("setup done in %s (page %s active)", time.Since(start).Round(time.Millisecond), b.pageID)

	if cfg.warmup > 0 {
		measure.Progress("warm-up: %d calls of each kind", cfg.warmup)
		wn := min(cfg.warmup, cfg.conversations)
		if _, err := b.runRaw(ctx, -1, wn, cfg.warmup, ""); err != nil {
			return fmt.Errorf("warm-up (a): %w", err)
		}
		if _, err := b.runIngest(ctx, -1, wn, cfg.warmup, ""); err != nil {
			return fmt.Errorf("warm-up (b): %w", err)
		}
	}

	var results []phaseResult
	for round := 0; round <= cfg.rounds; round++ {
		r, err := b.runRaw(ctx, round, cfg.conversations, cfg.messages, "")
		if err != nil {
			return err
		}
		results = append(results, r)
		if round == cfg.rounds {
			break
		}
		r, err = b.runIngest(ctx, round, cfg.conversations, cfg.messages, "")
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if b.batch, err = b.runBatch(ctx, 1000); err != nil {
		return err
	}
	if cfg.diagnose {
		r, err := b.runRaw(ctx, cfg.rounds+1, cfg.conversations, cfg.messages, "with the webhook's three search attributes")
		if err != nil {
			return err
		}
		results = append(results, r)
		if b.paced, err = b.runPaced(ctx, 10); err != nil {
			return err
		}
		// Last, because its backlog is left undrained.
		r, err = b.runIngest(ctx, cfg.rounds, cfg.conversations, cfg.messages, "channel worker stopped while the POSTs run")
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	measure.Progress("done in %s", time.Since(start).Round(time.Second))
	b.report(os.Stdout, results, time.Since(start))
	return nil
}

// startStack runs the channel in this process (app/apptest, as the e2e tests do),
// the starter and the worker with their own connection pools, or with
// -processes as the built programs (startPrograms). In this process the
// starter's client and handler are wrapped only to time SignalWithStart inside
// each webhook request; the handler itself is the real one.
func (b *bench) startStack(ctx context.Context, temporalAddress string) (stop func(), err error) {
	opts := worker.Options{}
	if n := b.cfg.workerPollers; n > 0 {
		opts.MaxConcurrentWorkflowTaskPollers, opts.MaxConcurrentActivityTaskPollers = n, n
	}
	s, err := apptest.New(ctx, apptest.Options{
		WebhookMaxBytes: 1 << 20, // the starter's default (WEBHOOK_MAX_BYTES): a 1000-event delivery fits
		DatabaseURL:     b.cfg.DatabaseURL, Database: "fbchannel_bench_" + b.tag, KeepDB: b.cfg.KeepDB, SeparatePools: true,
		TaskQueue: "fbchannel-bench-" + b.tag, Starter: timedClient{b.caller}, Worker: b.workerClient, WorkerOptions: opts,
		StarterLog: slog.New(b.serviceLog), Connections: b.cfg.concurrency,
	})
	if err != nil {
		return nil, err
	}
	measure.Progress("database %s", s.Database)
	if b.cfg.processes {
		err = b.startPrograms(ctx, s, temporalAddress)
	} else {
		s.WrapStarter = b.timeWebhooks
		err = s.Start()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	page, err := s.ConnectPage(ctx, "Bench")
	if err != nil {
		return s.Close, err
	}
	if b.cfg.processes {
		if page.CallbackURL, err = atStarter(page.CallbackURL, s.StarterURLs[0]); err != nil {
			return s.Close, err
		}
	}
	b.stack = s
	b.db, b.sim, b.apiURL, b.adminToken, b.httpClient = s.DB, s.Sim, s.APIURL, s.AdminToken, s.HTTP
	b.pageID, b.pageUUID, b.appSecret, b.callbackURL, b.queueID, b.accountID = page.PageID, page.PageUUID, page.AppSecret, page.CallbackURL, page.QueueID, page.AccountID
	return s.Close, nil
}

// ---------------------------------------------------------------------------
// Phases.

// runRaw is phase (a). round -1 is the warm-up.
func (b *bench) runRaw(ctx context.Context, round, n, m int, diag string) (phaseResult, error) {
	label := phaseLabel("a", round)
	if diag != "" {
		label = "a-sa"
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-sink:%s:%s:%d", b.tag, label, i)
	}
	// The same signal payload the webhook sends.
	events := make([]contract.InboundEvent, m)
	for i := range events {
		events[i] = contract.InboundEvent{
			PageUUID: b.pageUUID, PageID: b.pageID, PSID: fmt.Sprint(2900000000000000 + i%n), EventKey: newMID(b.tag),
			Kind: messenger.KindMessage, Timestamp: time.Now().UnixMilli(),
		}
	}
	measure.Progress("(a) %s: %d SignalWithStart over %d workflows at concurrency %d", label, m, n, b.cfg.concurrency)
	res := b.drive(ctx, "a", round, m, func(ctx context.Context, i int) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		opts := client.StartWorkflowOptions{TaskQueue: b.sinkQueue}
		if diag != "" {
			// What the webhook adds to every call.
			opts.TypedSearchAttributes = temporal.NewSearchAttributes(
				contract.FacebookPageIDKey.ValueSet(events[i].PageID),
				contract.CustomerPSIDKey.ValueSet(events[i].PSID),
				contract.ConversationStatusKey.ValueSet(contract.StatusWaiting),
			)
		}
		_, err := b.caller.SignalWithStartWorkflow(cctx, ids[i%n], contract.SignalInbound, events[i], opts, sinkWorkflowName)
		if err != nil {
			return errorClass(err), err
		}
		return "", nil
	})
	phaseStart := time.Now().Add(-res.wall)
	// Drained: every sink workflow has read every signal.
	perID := make([]int, n)
	for i := 0; i < m; i++ {
		perID[i%n]++
	}
	deadline := time.Now().Add(b.cfg.drainTimeout)
	for i := 0; i < n; {
		var got int
		v, err := b.admin.QueryWorkflow(ctx, ids[i], "", sinkQueryCount)
		if err == nil {
			err = v.Get(&got)
		}
		if err == nil && got >= perID[i] {
			i++
			continue
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("(a) %s: workflow %s saw %d of %d signals after %s (%v)", label, ids[i], got, perID[i], b.cfg.drainTimeout, err)
		}
		if err := measure.Sleep(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.drained = time.Since(phaseStart)
	res.diag = diag
	measure.Progress("(a) %s: %.0f msgs/s, p50 %s, p99 %s, %d errors, drained after %s", label, res.throughput(),
		measure.Millis(measure.Percentile(res.latencies, 0.50)), measure.Millis(measure.Percentile(res.latencies, 0.99)), sumErrors(res.errors), res.drained.Round(time.Millisecond))
	return res, ctx.Err()
}

// runIngest is phase (b). round -1 is the warm-up.
func (b *bench) runIngest(ctx context.Context, round, n, m int, diag string) (phaseResult, error) {
	label := phaseLabel("b", round)
	if diag != "" {
		label = "b-solo"
	}
	midPrefix := "m_" + b.tag + label + "_"
	psids := make([]string, n)
	for i := range psids {
		psids[i] = fmt.Sprint(2900000000000000 + b.psidSeq.Add(1))
		b.sim.RegisterProfile(psids[i], simulator.ProfileData{
			FirstName: "Customer", LastName: psids[i][len(psids[i])-4:], Locale: "de_DE",
			ProfilePic: "https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=" + psids[i],
		})
	}
	bodies := make([][]byte, m)
	for i := range bodies {
		bodies[i] = messageBatch(b.pageID, psids[i%n], midPrefix, i)
	}
	qBefore := b.historyLength(ctx, contract.QueueWorkflowID(b.queueID))
	convBefore := b.count(ctx, "SELECT count(*) FROM conversations")

	if diag != "" {
		// Only the ack path runs: the workers poll nothing of the channel's queue
		// while the POSTs are timed; a new worker drains afterwards.
		b.stopChannelWorker()
	}
	measure.Progress("(b) %s: %d signed webhook POSTs over %d conversations at concurrency %d", label, m, n, b.cfg.concurrency)
	b.takeTimings()
	stopProfile := b.profile(round)
	res := b.drive(ctx, "b", round, m, func(ctx context.Context, i int) (string, error) {
		return b.postWebhook(ctx, bodies[i])
	})
	stopProfile()
	phaseStart := time.Now().Add(-res.wall)
	res.diag = diag
	for _, t := range b.takeTimings() {
		if t.ok {
			res.timings = append(res.timings, t)
		}
	}
	if diag != "" {
		// The backlog is left as it is: nothing runs after this phase.
		measure.Progress("(b) %s: %.0f msgs/s, p50 %s, p99 %s, %d errors", label, res.throughput(),
			measure.Millis(measure.Percentile(res.latencies, 0.50)), measure.Millis(measure.Percentile(res.latencies, 0.99)), sumErrors(res.errors))
		return res, ctx.Err()
	}

	// Drained: every acknowledged message is a row in messages.
	deadline := time.Now().Add(b.cfg.drainTimeout)
	for {
		got := b.count(ctx, "SELECT count(*) FROM messages WHERE starts_with(facebook_message_id, $1)", midPrefix)
		if got >= res.ok {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("(b) %s: %d of %d acknowledged messages recorded after %s", label, got, res.ok, b.cfg.drainTimeout)
		}
		if err := measure.Sleep(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.drained = time.Since(phaseStart)
	res.conversations = b.count(ctx, "SELECT count(*) FROM conversations") - convBefore
	if err := b.db.QueryRowContext(ctx, `
		SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY d), 0),
		       coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY d), 0), coalesce(max(d), 0)
		FROM (SELECT extract(epoch FROM m.created_at - ie.received_at)::float8 AS d
		      FROM messages m JOIN inbound_events ie ON ie.page_id = m.page_id AND ie.event_key = m.facebook_message_id
		      WHERE starts_with(m.facebook_message_id, $1)) x`, midPrefix).Scan(&res.lag[0], &res.lag[1], &res.lag[2]); err != nil {
		measure.Progress("lag: %v", err)
	}

	// History: wait until the conversations' histories stop growing (the workflow
	// task after the last RecordInbound completes after the row is committed).
	ids := make([]string, n)
	for i, p := range psids {
		ids[i] = contract.ConversationWorkflowID(b.pageID, p)
	}
	res.historyEvents = b.waitHistoryStable(ctx, ids)
	res.queueEvents = b.historyLength(ctx, contract.QueueWorkflowID(b.queueID)) - qBefore
	res.eventTypes, res.retries = map[string]int{}, map[string]int{}
	for _, id := range ids {
		if err := b.countEventTypes(ctx, id, res.eventTypes, res.retries); err != nil {
			return res, err
		}
	}
	measure.Progress("(b) %s: %.0f msgs/s, p50 %s, p99 %s, %d errors, recorded after %s, %.2f history events/msg", label, res.throughput(),
		measure.Millis(measure.Percentile(res.latencies, 0.50)), measure.Millis(measure.Percentile(res.latencies, 0.99)), sumErrors(res.errors),
		res.drained.Round(time.Millisecond), float64(res.historyEvents)/float64(max(res.ok, 1)))
	return res, ctx.Err()
}

type pacedResult struct {
	messages      int
	historyEvents int
	ack, recorded []time.Duration // per message: POST to 200, POST to message row
}

// runPaced sends k messages of one new conversation one at a time, each after
// the previous one is recorded: the history cost and latency of an unhurried
// conversation, where no two signals share a workflow task.
func (b *bench) runPaced(ctx context.Context, k int) (pacedResult, error) {
	res := pacedResult{messages: k}
	psid := fmt.Sprint(2900000000000000 + b.psidSeq.Add(1))
	b.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: "Paced", LastName: "Customer", Locale: "en_GB"})
	prefix := "m_" + b.tag + "paced_"
	measure.Progress("paced: %d messages of one conversation, each after the previous is recorded", k)
	for i := 0; i < k; i++ {
		t0 := time.Now()
		if class, err := b.postWebhook(ctx, messageBatch(b.pageID, psid, prefix, i)); class != "" {
			return res, fmt.Errorf("paced message %d: %v", i, err)
		}
		res.ack = append(res.ack, time.Since(t0))
		deadline := time.Now().Add(b.cfg.drainTimeout)
		for b.count(ctx, "SELECT count(*) FROM messages WHERE starts_with(facebook_message_id, $1)", prefix) < i+1 {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("paced message %d not recorded after %s", i, b.cfg.drainTimeout)
			}
			if err := measure.Sleep(ctx, 10*time.Millisecond); err != nil {
				return res, err
			}
		}
		res.recorded = append(res.recorded, time.Since(t0))
		if i == 0 {
			// Let the opening work (queue, profile) finish before the next message.
			b.waitHistoryStable(ctx, []string{contract.ConversationWorkflowID(b.pageID, psid)})
		}
	}
	res.historyEvents = b.waitHistoryStable(ctx, []string{contract.ConversationWorkflowID(b.pageID, psid)})
	slices.Sort(res.ack)
	slices.Sort(res.recorded)
	measure.Progress("paced: %.1f history events/msg, ack p50 %s ms, recorded p50 %s ms", float64(res.historyEvents)/float64(k),
		measure.Millis(measure.Percentile(res.ack, 0.5)), measure.Millis(measure.Percentile(res.recorded, 0.5)))
	return res, ctx.Err()
}

// waitHistoryStable sums the workflows' history lengths until two reads agree.
func (b *bench) waitHistoryStable(ctx context.Context, ids []string) int {
	prev := -1
	for {
		sum := 0
		for _, id := range ids {
			sum += b.historyLength(ctx, id)
		}
		if sum == prev || ctx.Err() != nil {
			return sum
		}
		prev = sum
		_ = measure.Sleep(ctx, 300*time.Millisecond)
	}
}

// drive runs m calls of do at the configured concurrency and times each.
func (b *bench) drive(ctx context.Context, name string, round, m int, do func(ctx context.Context, i int) (string, error)) phaseResult {
	res := phaseResult{name: name, round: round, errors: map[string]int{}}
	next := atomic.Int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < b.cfg.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := map[string]int{}
			for {
				i := int(next.Add(1) - 1)
				if i >= m || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				class, err := do(ctx, i)
				d := time.Since(t0)
				if err != nil || class != "" {
					errs[class]++
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			for k, v := range errs {
				res.errors[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	res.ok = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

// postWebhook POSTs one batch the way Facebook does; "" means HTTP 200.
func (b *bench) postWebhook(ctx context.Context, body []byte) (string, error) {
	req, err := simulator.NewWebhookRequest(ctx, b.callbackURL, b.appSecret, body)
	if err != nil {
		return "request", err
	}
	resp, err := b.httpClient.Do(req)
	if err != nil {
		return "transport", err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode), fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return "", nil
}

var customerTexts = []string{
	"Hi, my order #48213 still hasn't arrived. Can you check?",
	"Hallo! Ich habe die falsche Größe bekommen – kann ich die Jacke umtauschen?",
	"The tracking link https://track.example.com/parcel/00340434161094042557 says delivered but it's not here",
	"ok thanks 👍",
	"Bonjour, je voudrais annuler ma commande s'il vous plaît",
	"Is the store on Main St open on Sundays?",
	"I was charged twice for the same order, see attached screenshot",
	"¿Tienen envío a Canarias?",
}

// messageBatch is a one-event delivery shaped like Facebook's: a text message,
// every tenth with an image attachment, every seventh a reply to an earlier one;
// non-ASCII and "/" escaped the way Facebook signs them.
func messageBatch(pageID, psid, midPrefix string, i int) []byte {
	now := time.Now().UnixMilli()
	msg := map[string]any{"mid": midPrefix + randomMID(), "text": customerTexts[i%len(customerTexts)]}
	if i%10 == 9 {
		msg["attachments"] = []map[string]any{{"type": "image", "payload": map[string]any{
			"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/4411" + fmt.Sprint(i) + "_n.jpg?_nc_cat=1&ccb=1-7&_nc_sid=fc17b8&oh=00_AfB&oe=6712A3F1",
		}}}
	}
	if i%7 == 6 {
		msg["reply_to"] = map[string]any{"mid": "m_" + randomMID()}
	}
	batch := map[string]any{
		"object": "page",
		"entry": []map[string]any{{
			"id": pageID, "time": now,
			"messaging": []map[string]any{{
				"sender": map[string]any{"id": psid}, "recipient": map[string]any{"id": pageID},
				"timestamp": now, "message": msg,
			}},
		}},
	}
	raw, err := jsonMarshal(batch)
	if err != nil {
		panic(err)
	}
	return simulator.EscapeLikeFacebook(raw)
}

// batchResult is one delivery of many events: Facebook batches up to 1000.
type batchResult struct {
	events  int
	ack     time.Duration // POST → 200
	drained time.Duration // POST → every event's message row
}

// runBatch POSTs one signed delivery of k message events (over the bench's
// conversations) and waits until every one is in its transcript.
func (b *bench) runBatch(ctx context.Context, k int) (batchResult, error) {
	res := batchResult{events: k}
	measure.Progress("batch: one delivery of %d events", k)
	midPrefix := "m_batch" + b.tag + "_"
	now := time.Now().UnixMilli()
	var messaging []map[string]any
	for i := range k {
		psid := fmt.Sprintf("47%014d", i%b.cfg.conversations)
		messaging = append(messaging, map[string]any{
			"sender": map[string]any{"id": psid}, "recipient": map[string]any{"id": b.pageID}, "timestamp": now,
			"message": map[string]any{"mid": fmt.Sprintf("%s%05d", midPrefix, i), "text": customerTexts[i%len(customerTexts)]},
		})
	}
	raw, err := jsonMarshal(map[string]any{"object": "page", "entry": []map[string]any{{"id": b.pageID, "time": now, "messaging": messaging}}})
	if err != nil {
		return res, err
	}
	body := simulator.EscapeLikeFacebook(raw)
	start := time.Now()
	if _, err := b.postWebhook(ctx, body); err != nil {
		return res, fmt.Errorf("batch of %d (%d bytes): %w", k, len(body), err)
	}
	res.ack = time.Since(start)
	deadline := time.Now().Add(b.cfg.drainTimeout)
	for b.count(ctx, "SELECT count(*) FROM messages WHERE starts_with(facebook_message_id, $1)", midPrefix) < k {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("batch: not every event recorded after %s", b.cfg.drainTimeout)
		}
		if err := measure.Sleep(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.drained = time.Since(start)
	measure.Progress("batch: acknowledged after %s, every event recorded after %s", res.ack.Round(time.Millisecond), res.drained.Round(time.Millisecond))
	return res, nil
}

// ---------------------------------------------------------------------------
// Temporal and Postgres reads.

func (b *bench) historyLength(ctx context.Context, workflowID string) int {
	d, err := b.admin.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return 0 // e.g. the queue workflow before the first conversation
	}
	if err != nil {
		measure.Progress("describe %s: %v", workflowID, err)
		return 0
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetFirstRunId() != "" && info.GetFirstRunId() != info.GetExecution().GetRunId() {
		measure.Progress("note: %s continued as new; only its current run is counted", workflowID)
	}
	return int(info.GetHistoryLength())
}

func (b *bench) countEventTypes(ctx context.Context, workflowID string, into, retries map[string]int) error {
	it := b.admin.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	activityType := map[int64]string{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return fmt.Errorf("history of %s: %w", workflowID, err)
		}
		into[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			activityType[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			retries[activityType[a.GetScheduledEventId()]] += int(a.GetAttempt()) - 1
		}
	}
	return nil
}

func (b *bench) count(ctx context.Context, query string, args ...any) int {
	var n int
	if err := b.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		measure.Progress("count: %v", err)
		return -1
	}
	return n
}

// ---------------------------------------------------------------------------
// Report.

func (b *bench) report(out io.Writer, results []phaseResult, total time.Duration) {
	cfg := b.cfg
	fmt.Fprintf(out, "## Ingest benchmark\n\n")
	fmt.Fprintf(out, "`go run ./bench/ingest -conversations %d -messages %d -concurrency %d -rounds %d%s` — %s, %s/%s, GOMAXPROCS %d, %d CPUs; total %s\n\n",
		cfg.conversations, cfg.messages, cfg.concurrency, cfg.rounds, map[bool]string{true: " -processes"}[cfg.processes], runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.GOMAXPROCS(0), runtime.NumCPU(), total.Round(time.Second))
	fmt.Fprintf(out, "%s\n\n", b.modeLine())
	fmt.Fprintf(out, "(a) = SignalWithStart of a trivial signal-loop workflow; (b) = signed one-event webhook batch POSTed to the starter "+
		"(committed in the Postgres inbox; the starter's relay hands the events to the conversation workflows meanwhile, on the same CPUs and the same server). "+
		"Latency: (a) the SignalWithStart call, (b) request start to HTTP 200. "+
		"Drained: phase start until (a) every signal was read by its workflow, (b) every message row was written.\n\n")
	header := "| phase | ok | errors | wall s | msgs/s | p50 ms | p90 ms | p99 ms | max ms | drained s | history events/msg |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
	row := func(name string, r phaseResult) {
		hist := "—"
		if r.name == "b" && r.drained > 0 {
			hist = fmt.Sprintf("%.2f", float64(r.historyEvents)/float64(max(r.ok, 1)))
		}
		drained := ""
		if r.drained > 0 && !r.pooled {
			drained = fmt.Sprintf("%.2f", r.drained.Seconds())
		}
		fmt.Fprintf(out, "| %s | %d | %s | %.2f | %.0f | %s | %s | %s | %s | %s | %s |\n",
			name, r.ok, errorSummary(r.errors), r.wall.Seconds(), r.throughput(),
			measure.Millis(measure.Percentile(r.latencies, 0.5)), measure.Millis(measure.Percentile(r.latencies, 0.9)), measure.Millis(measure.Percentile(r.latencies, 0.99)),
			measure.Millis(measure.Percentile(r.latencies, 1)), drained, hist)
	}
	var as, bs, diags []phaseResult
	fmt.Fprint(out, header)
	for _, r := range results {
		switch {
		case r.diag != "":
			diags = append(diags, r)
			continue
		case r.name == "b":
			bs = append(bs, r)
		default:
			as = append(as, r)
		}
		row(fmt.Sprintf("(%s) %s", r.name, phaseLabel(r.name, r.round)), r)
	}
	pa, pb := pooled(as), pooled(bs)
	row("**(a) all**", pa)
	row("**(b) all**", pb)
	fmt.Fprintln(out)

	// Ratios: pooled, and each (b) against the mean of the (a) phases around it.
	thr := pb.throughput() / pa.throughput()
	p99 := float64(measure.Percentile(pb.latencies, 0.99)) / float64(measure.Percentile(pa.latencies, 0.99))
	hist := float64(pb.historyEvents) / float64(max(pb.ok, 1))
	fmt.Fprintf(out, "| ratio | pooled | each (b) vs the mean of the (a) before and after it | target | met |\n|---|--:|---|---|---|\n")
	var thrEach, p99Each, histEach []string
	for i, r := range bs {
		before, after := as[i], as[i+1]
		aThr := (before.throughput() + after.throughput()) / 2
		aP99 := float64(measure.Percentile(before.latencies, 0.99)+measure.Percentile(after.latencies, 0.99)) / 2
		thrEach = append(thrEach, fmt.Sprintf("%.2f", r.throughput()/aThr))
		p99Each = append(p99Each, fmt.Sprintf("%.2f", float64(measure.Percentile(r.latencies, 0.99))/aP99))
		histEach = append(histEach, fmt.Sprintf("%.2f", float64(r.historyEvents)/float64(max(r.ok, 1))))
	}
	var drainEach []string
	for i, r := range bs {
		aDrained := (as[i].drained + as[i+1].drained).Seconds() / 2
		drainEach = append(drainEach, fmt.Sprintf("%.2f", aDrained/r.drained.Seconds()))
	}
	drain := pa.drained.Seconds() / float64(max(len(as), 1)) / (pb.drained.Seconds() / float64(max(len(bs), 1)))
	fmt.Fprintf(out, "| (b)/(a) ack throughput | %.2f | %s | ≥ 2 | %s |\n", thr, strings.Join(thrEach, ", "), yesNo(thr >= 2))
	fmt.Fprintf(out, "| (b)/(a) p99 ack latency | %.2f | %s | ≤ 0.5 | %s |\n", p99, strings.Join(p99Each, ", "), yesNo(p99 <= 0.5))
	fmt.Fprintf(out, "| flood start → every message in its transcript, (b) rate / (a) rate (= (a) drained s / (b) drained s) | %.2f | %s | ≥ 0.5 | %s |\n",
		drain, strings.Join(drainEach, ", "), yesNo(drain >= 0.5))
	fmt.Fprintf(out, "| history events per inbound message | %.2f | %s (per (b)) | ≤ 5 | %s |\n", hist, strings.Join(histEach, ", "), yesNo(hist <= 5))
	if b.batch.events > 0 {
		fmt.Fprintf(out, "| one delivery of %d events acknowledged, s | %.3f | every event in its transcript after %.2f s | < 1 | %s |\n",
			b.batch.events, b.batch.ack.Seconds(), b.batch.drained.Seconds(), yesNo(b.batch.ack < time.Second))
	}
	fmt.Fprintln(out)

	if len(diags) > 0 {
		fmt.Fprintf(out, "Diagnostics (not in the pooled rows or ratios; ratios against (a) all):\n\n")
		fmt.Fprint(out, header)
		for _, r := range diags {
			row(fmt.Sprintf("(%s) %s: %s", r.name, map[string]string{"a": "a-sa", "b": "b-solo"}[r.name], r.diag), r)
		}
		fmt.Fprintln(out)
		for _, r := range diags {
			fmt.Fprintf(out, "- (%s) %s: throughput %.2f× (a) all, p99 %.2f× (a) all\n", r.name, r.diag,
				r.throughput()/pa.throughput(), float64(measure.Percentile(r.latencies, 0.99))/float64(measure.Percentile(pa.latencies, 0.99)))
		}
		fmt.Fprintln(out)
	}

	if p := b.paced; p.messages > 0 {
		fmt.Fprintf(out, "Paced conversation (one PSID, %d messages, each sent after the previous one was recorded): %.1f history events per message; "+
			"ack p50 %s ms; POST to message row p50 %s ms, max %s ms.\n\n", p.messages, float64(p.historyEvents)/float64(p.messages),
			measure.Millis(measure.Percentile(p.ack, 0.5)), measure.Millis(measure.Percentile(p.recorded, 0.5)), measure.Millis(measure.Percentile(p.recorded, 1)))
	}

	// Inside (b).
	fmt.Fprintf(out, "Inside each (b) (ms, p50 / p99): client = request start to 200; handler = the starter's handler (server side); "+
		"SWS = SignalWithStart calls inside it (none since the inbox: the relay signals); rest = handler − SWS (account lookup, signature, parse, the inbox insert); "+
		"lag = webhook transaction start to the message row's transaction start (seconds).\n\n")
	if cfg.processes {
		fmt.Fprintf(out, "Handler, SWS and rest are not measured with -processes: the starter program exports no request duration histogram (only counts by route and code).\n\n")
	}
	fmt.Fprintf(out, "| phase | client | handler | SWS | rest | lag s p50 / p99 / max | activity retries |\n|---|---|---|---|---|---|---|\n")
	for _, r := range append(append([]phaseResult{}, bs...), diags...) {
		if r.name != "b" {
			continue
		}
		var tot, sws, rest []time.Duration
		for _, t := range r.timings {
			tot = append(tot, t.total)
			sws = append(sws, t.sws)
			rest = append(rest, t.total-t.sws)
		}
		slices.Sort(tot)
		slices.Sort(sws)
		slices.Sort(rest)
		pp := func(d []time.Duration) string {
			if len(d) == 0 {
				return "—"
			}
			return measure.Millis(measure.Percentile(d, 0.5)) + " / " + measure.Millis(measure.Percentile(d, 0.99))
		}
		name := phaseLabel("b", r.round)
		if r.diag != "" {
			name = "b-solo"
		}
		lag, retries := "—", "—"
		if r.drained > 0 {
			lag = fmt.Sprintf("%.2f / %.2f / %.2f", r.lag[0], r.lag[1], r.lag[2])
			retries = errorSummary(r.retries)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s |\n", name, pp(r.latencies), pp(tot), pp(sws), pp(rest), lag, retries)
	}
	fmt.Fprintln(out)

	// Where the history events go.
	if len(bs) > 0 {
		types := map[string]int{}
		queueEvents, convs := 0, 0
		for _, r := range bs {
			for k, v := range r.eventTypes {
				types[k] += v
			}
			queueEvents += r.queueEvents
			convs += r.conversations
		}
		keys := make([]string, 0, len(types))
		for k := range types {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return types[keys[i]] > types[keys[j]] || types[keys[i]] == types[keys[j]] && keys[i] < keys[j]
		})
		fmt.Fprintf(out, "Conversation workflow history, all (b) phases (%d conversations, %d messages):\n\n| event type | count | per message |\n|---|--:|--:|\n", convs, pb.ok)
		for _, k := range keys {
			fmt.Fprintf(out, "| %s | %d | %.2f |\n", k, types[k], float64(types[k])/float64(max(pb.ok, 1)))
		}
		fmt.Fprintf(out, "\nThe page's queue workflow gained %d events during the (b) phases (%.1f per new conversation; not counted above).\n\n",
			queueEvents, float64(queueEvents)/float64(max(convs, 1)))
		var recAll time.Duration
		for _, r := range bs {
			recAll += r.drained
		}
		fmt.Fprintf(out, "Recorded throughput, (b) all: %.0f msgs/s (message rows ÷ time from phase start until the last row).\n\n", float64(pb.ok)/recAll.Seconds())
	}
	if hits, misses, invalidations, err := b.cacheCounters(); err != nil {
		fmt.Fprintf(out, "Webhook account lookups: not read (%v).\n\n", err)
	} else {
		fmt.Fprintf(out, "Webhook account lookups, whole run: %.0f from the cache, %.0f from Postgres, %.0f cache invalidations.\n\n", hits, misses, invalidations)
	}
	// Connections the pool opened and closed: a pool that closes idle connections
	// in a burst and opens them again makes acks wait for a new backend.
	if cfg.processes {
		fmt.Fprintf(out, "Postgres pool of the starter and worker: not measured with -processes (the programs export no pool metrics).\n\n")
	} else {
		b.poolLine(out)
	}

	// What the logs said.
	if cfg.processes {
		fmt.Fprintf(out, "The starter's and the worker's own logs are in %s (not counted below).\n\n", b.stack.LogDir)
	}
	fmt.Fprintf(out, "Logs: SDK warnings/errors %d, service (starter) warnings/errors %d, dev server lines %d.\n",
		b.sdkLog.total(), b.serviceLog.total(), b.serverLog.count())
	b.sdkLog.summary(out, "SDK")
	b.serviceLog.summary(out, "service")
	b.serverLog.summary(out)
}

func pooled(rs []phaseResult) phaseResult {
	p := phaseResult{errors: map[string]int{}, pooled: true}
	for _, r := range rs {
		p.drained += r.drained
		p.name = r.name
		p.historyEvents += r.historyEvents
		for k, v := range r.errors {
			p.errors[k] += v
		}
		p.ok += r.ok
		p.wall += r.wall
		p.latencies = append(p.latencies, r.latencies...)
	}
	slices.Sort(p.latencies)
	return p
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func sumErrors(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func errorSummary(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func phaseLabel(name string, round int) string {
	if round < 0 {
		return "warm-up"
	}
	return fmt.Sprintf("%s%d", name, round+1)
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	default:
		s := fmt.Sprintf("%T", err)
		return strings.TrimPrefix(s, "*")
	}
}

// randomMID looks like the opaque tail of a Facebook message id.
func randomMID() string {
	b := make([]byte, 60)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newMID(tag string) string { return "m_" + tag + randomMID() }

// poolLine is the in-process stack's Postgres pool counters of the whole run.
func (b *bench) poolLine(out io.Writer) {
	ps := b.stack.DB.Stats()
	fmt.Fprintf(out, "Postgres pool of the starter and worker, whole run: %d open at the end (max %d), %d waits for a free connection (%s in all), %d closed as surplus idle, %d closed at their lifetime or idle time.\n\n",
		ps.OpenConnections, ps.MaxOpenConnections, ps.WaitCount, ps.WaitDuration.Round(time.Millisecond), ps.MaxIdleClosed, ps.MaxLifetimeClosed+ps.MaxIdleTimeClosed)
}
