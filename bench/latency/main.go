// Command latency measures what an agent waits for, beside the raw round trip of
// the same Temporal dev server in the same run:
//
//	go run ./bench/latency [-probes 50]
//
// It starts one dev server (./bin/temporal) and the channel in this process
// (app/apptest: its own Postgres database, the real workflows and activities, the
// starter's handler and relay, the Graph simulator), one available agent with room
// for every probe, and that agent's SSE stream (GET /api/v1/me/events), then:
//
//  1. raw: -probes sequential round trips of a trivial workflow on its own task
//     queue (worker in this process): a signal to the idle workflow → its activity
//     starts (time from sending the signal). 20 untimed ones come first;
//  2. first message: -probes new customers, one at a time, each send one signed
//     webhook (the simulator POSTs it); latency = sending → the conversation's
//     conversation.assigned event read from the SSE stream;
//  3. next message: in each of those (assigned) conversations the customer writes
//     again; latency = sending → its message.received on the stream;
//  4. history: one conversation of one message in, one agent reply and the
//     agent's close; its run's history length once the run has ended;
//  5. raw again, to show drift.
//
// The report is markdown on stdout; progress is on stderr. docs/PERFORMANCE.md
// ("Latency of a conversation") has a run and its reading.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"fbchannel/app/apptest"
	"fbchannel/bench/measure"
	"fbchannel/workflows/contract"
)

type config struct {
	measure.Stack
	probes  int
	timeout time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.probes, "probes", 50, "sequential probes of each kind")
	cfg.Stack.Register()
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long one probe may take")
	flag.Parse()
	if cfg.probes < 1 {
		fmt.Fprintln(os.Stderr, "latency: need probes ≥ 1")
		os.Exit(2)
	}
	measure.Run("latency", func(ctx context.Context) error { return run(ctx, cfg) })
}

type results struct {
	rawBefore, rawAfter []time.Duration
	assigned            []time.Duration // first message sent → conversation.assigned
	received            []time.Duration // next message sent → message.received
	history             int64           // one in, one reply, close
	historyByType       map[string]int
	historySequence     []string // event types in order, with activity, marker and signal names
}

func run(ctx context.Context, cfg config) error {
	ch, err := cfg.StartChannel(ctx, 16, nil)
	if err != nil {
		return err
	}
	defer ch.Close()
	start, s, page := ch.Started, ch.Stack, ch.Page
	raw := &rawProbe{WakeProbe: ch.Probe, caller: ch.Caller, queue: ch.RawQueue}
	var agent struct{ ID, Token string }
	if code, body, err := s.Call(ctx, s.AdminToken, "POST", "/api/v1/agents",
		map[string]any{"name": "bench-agent", "email": "bench-agent@example.com", "capacity": cfg.probes + 10}, &agent); err != nil || code != 201 {
		return fmt.Errorf("create agent: %d %s %v", code, body, err)
	}
	if code, body, err := s.Call(ctx, s.AdminToken, "PUT", "/api/v1/queues/"+page.QueueID+"/members/"+agent.ID, nil, nil); err != nil || code >= 300 {
		return fmt.Errorf("add agent to queue: %d %s %v", code, body, err)
	}
	if code, body, err := s.Call(ctx, agent.Token, "PUT", "/api/v1/me/presence", map[string]string{"status": "available"}, nil); err != nil || code != 200 {
		return fmt.Errorf("presence: %d %s %v", code, body, err)
	}
	stream, err := openStream(ctx, s.APIURL, agent.Token)
	if err != nil {
		return err
	}
	defer stream.close()
	measure.Progress("setup done in %s (page %s active)", time.Since(start).Round(time.Millisecond), page.PageID)

	var res results
	if res.rawBefore, err = raw.measure(ctx, "before", cfg.probes); err != nil {
		return err
	}
	b := &bench{cfg: cfg, s: s, page: page, agentToken: agent.Token, stream: stream, tc: ch.Caller}
	convs, err := b.firstMessages(ctx, &res)
	if err != nil {
		return err
	}
	if err := b.nextMessages(ctx, convs, &res); err != nil {
		return err
	}
	if err := b.oneConversation(ctx, &res); err != nil {
		return err
	}
	if res.rawAfter, err = raw.measure(ctx, "after", cfg.probes); err != nil {
		return err
	}
	report(os.Stdout, cfg, res, time.Since(start), ch.Log)
	return nil
}

// ---------------------------------------------------------------------------
// The raw round trip: a signal to an idle workflow → its activity starts.

// rawProbe measures the raw round trip on its own task queue.
type rawProbe struct {
	*measure.WakeProbe
	caller client.Client
	queue  string
}

func (p *rawProbe) measure(ctx context.Context, label string, n int) ([]time.Duration, error) {
	id := fmt.Sprintf("bench-raw-%s-%s", p.queue, label)
	measure.Progress("raw %s: %d signal → activity", label, n)
	if err := p.StartWorkflow(ctx, id, p.queue); err != nil {
		return nil, err
	}
	defer func() { _ = p.caller.TerminateWorkflow(context.Background(), id, "", "bench done") }()
	var out []time.Duration
	const warmup = 20
	for i := -warmup; i < n; i++ {
		t0 := time.Now()
		_, at, err := p.Wake(ctx, id, i)
		if err != nil {
			return nil, fmt.Errorf("raw wake %d: %w", i, err)
		}
		if i >= 0 {
			out = append(out, at.Sub(t0))
		}
		// Unhurried: the next signal finds the workflow idle again.
		if err := measure.Sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	measure.Progress("raw %s: p50 %s ms, p99 %s ms", label, measure.Millis(measure.Percentile(out, 0.5)), measure.Millis(measure.Percentile(out, 0.99)))
	return out, nil
}

// ---------------------------------------------------------------------------
// The agent's event stream.

type agentEvent struct {
	name string
	data map[string]any
	at   time.Time
}

type eventStream struct {
	events chan agentEvent
	cancel context.CancelFunc
}

func openStream(ctx context.Context, apiURL, token string) (*eventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, "GET", apiURL+"/api/v1/me/events", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("event stream: HTTP %d", resp.StatusCode)
	}
	st := &eventStream{events: make(chan agentEvent, 1024), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "":
				if name != "" {
					ev := agentEvent{name: name, at: time.Now()}
					_ = json.Unmarshal([]byte(data), &ev.data)
					select {
					case st.events <- ev:
					case <-ctx.Done():
						return
					}
				}
				name, data = "", ""
			}
		}
	}()
	return st, nil
}

func (st *eventStream) close() { st.cancel() }

// await reads the stream until match accepts an event.
func (st *eventStream) await(ctx context.Context, timeout time.Duration, what string, match func(agentEvent) bool) (agentEvent, error) {
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-st.events:
			if match(ev) {
				return ev, nil
			}
		case <-deadline:
			return agentEvent{}, fmt.Errorf("no %s within %s", what, timeout)
		case <-ctx.Done():
			return agentEvent{}, ctx.Err()
		}
	}
}

// ---------------------------------------------------------------------------
// The channel.

type bench struct {
	cfg        config
	s          *apptest.Stack
	page       apptest.Page
	agentToken string
	stream     *eventStream
	tc         client.Client
}

type probeConv struct{ psid, conversationID string }

func (b *bench) say(ctx context.Context, psid, text string) error {
	status, body, err := b.s.Sim.PostCustomerMessage(ctx, b.page.CallbackURL, b.page.AppSecret, b.page.PageID, psid, text, "")
	if err != nil || status != 200 {
		return fmt.Errorf("webhook: %d %s %v", status, body, err)
	}
	return nil
}

// firstMessages: new customers, one at a time; each first message → its assignment.
func (b *bench) firstMessages(ctx context.Context, res *results) ([]probeConv, error) {
	measure.Progress("first message → conversation.assigned: %d new customers", b.cfg.probes)
	var convs []probeConv
	const warmup = 5
	for i := -warmup; i < b.cfg.probes; i++ {
		psid := fmt.Sprintf("39%014d", i+warmup)
		t0 := time.Now()
		if err := b.say(ctx, psid, fmt.Sprintf("hello %d", i)); err != nil {
			return nil, err
		}
		ev, err := b.stream.await(ctx, b.cfg.timeout, "conversation.assigned", func(ev agentEvent) bool {
			return ev.name == "conversation.assigned"
		})
		if err != nil {
			return nil, err
		}
		id, _ := ev.data["conversation_id"].(string)
		if i >= 0 {
			res.assigned = append(res.assigned, ev.at.Sub(t0))
		}
		convs = append(convs, probeConv{psid: psid, conversationID: id})
	}
	measure.Progress("first message: p50 %s ms, p99 %s ms", measure.Millis(measure.Percentile(res.assigned, 0.5)), measure.Millis(measure.Percentile(res.assigned, 0.99)))
	return convs, nil
}

// nextMessages: in each assigned conversation the customer writes again.
func (b *bench) nextMessages(ctx context.Context, convs []probeConv, res *results) error {
	measure.Progress("next message → message.received: %d assigned conversations", len(convs))
	// Let the openings settle (greetings, agent-joined notices, profiles).
	if err := measure.Sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	for i, c := range convs {
		text := fmt.Sprintf("one more thing %d", i)
		t0 := time.Now()
		if err := b.say(ctx, c.psid, text); err != nil {
			return err
		}
		ev, err := b.stream.await(ctx, b.cfg.timeout, "message.received", func(ev agentEvent) bool {
			m, _ := ev.data["message"].(map[string]any)
			return ev.name == "message.received" && m != nil && m["text"] == text
		})
		if err != nil {
			return err
		}
		if i >= 5 { // the first few are warm-up
			res.received = append(res.received, ev.at.Sub(t0))
		}
	}
	measure.Progress("next message: p50 %s ms, p99 %s ms", measure.Millis(measure.Percentile(res.received, 0.5)), measure.Millis(measure.Percentile(res.received, 0.99)))
	return nil
}

// oneConversation: one message in, one reply, close; then its run's history.
func (b *bench) oneConversation(ctx context.Context, res *results) error {
	psid := "3899999999999999"
	if err := b.say(ctx, psid, "a short question"); err != nil {
		return err
	}
	ev, err := b.stream.await(ctx, b.cfg.timeout, "conversation.assigned", func(ev agentEvent) bool { return ev.name == "conversation.assigned" })
	if err != nil {
		return err
	}
	id, _ := ev.data["conversation_id"].(string)
	if code, body, err := b.s.Call(ctx, b.agentToken, "POST", "/api/v1/conversations/"+id+"/messages", map[string]string{"text": "a short answer"}, nil); err != nil || code >= 300 {
		return fmt.Errorf("reply: %d %s %v", code, body, err)
	}
	if code, body, err := b.s.Call(ctx, b.agentToken, "POST", "/api/v1/conversations/"+id+"/close", nil, nil); err != nil || code >= 300 {
		return fmt.Errorf("close: %d %s %v", code, body, err)
	}
	wid := contract.ConversationWorkflowID(b.page.PageID, psid)
	deadline := time.Now().Add(b.cfg.timeout)
	for {
		desc, err := b.tc.DescribeWorkflowExecution(ctx, wid, id)
		if err != nil {
			return err
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			res.history = desc.GetWorkflowExecutionInfo().GetHistoryLength()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the conversation's run did not end within %s", b.cfg.timeout)
		}
		if err := measure.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	res.historyByType = map[string]int{}
	it := b.tc.GetWorkflowHistory(ctx, wid, id, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
		res.historyByType[name]++
		switch {
		case e.GetActivityTaskScheduledEventAttributes() != nil:
			name += " " + e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case e.GetMarkerRecordedEventAttributes() != nil:
			name += " " + e.GetMarkerRecordedEventAttributes().GetMarkerName()
		case e.GetWorkflowExecutionSignaledEventAttributes() != nil:
			name += " " + e.GetWorkflowExecutionSignaledEventAttributes().GetSignalName()
		}
		res.historySequence = append(res.historySequence, name)
	}
	measure.Progress("one in, one reply, close: %d history events", res.history)
	return nil
}

// ---------------------------------------------------------------------------

func report(out io.Writer, cfg config, res results, total time.Duration, sdkLog *measure.QuietLogger) {
	raw := append(append([]time.Duration{}, res.rawBefore...), res.rawAfter...)
	p := measure.Percentile
	fmt.Fprintf(out, "## Latency benchmark\n\n`go run ./bench/latency -probes %d` — %s, %s/%s, GOMAXPROCS %d, %d CPUs; total %s\n\n",
		cfg.probes, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), total.Round(time.Second))
	fmt.Fprintln(out, "| measure | n | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|")
	row := func(name string, d []time.Duration) {
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s |\n", name, len(d), measure.Millis(p(d, 0.5)), measure.Millis(p(d, 0.9)), measure.Millis(p(d, 0.99)), measure.Millis(p(d, 1)))
	}
	row("raw: signal → its activity starts (before)", res.rawBefore)
	row("raw: signal → its activity starts (after)", res.rawAfter)
	row("raw, both", raw)
	row("first message → `conversation.assigned`", res.assigned)
	row("next message → `message.received`", res.received)
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	r50 := float64(p(res.assigned, 0.5)) / float64(p(raw, 0.5))
	r99 := float64(p(res.assigned, 0.99)) / float64(p(raw, 0.99))
	n50 := float64(p(res.received, 0.5)) / float64(p(raw, 0.5))
	fmt.Fprintln(out, "\n| ratio | value | target | met |\n|---|--:|---|---|")
	fmt.Fprintf(out, "| first message → assigned, p50 / raw p50 | %s | ≤ 2 | %s |\n", ratio(p(res.assigned, 0.5), p(raw, 0.5)), met(r50 <= 2))
	fmt.Fprintf(out, "| first message → assigned, p99 / raw p99 | %s | ≤ 3 | %s |\n", ratio(p(res.assigned, 0.99), p(raw, 0.99)), met(r99 <= 3))
	fmt.Fprintf(out, "| next message → received, p50 / raw p50 | %s | ≤ 1.2 | %s |\n", ratio(p(res.received, 0.5), p(raw, 0.5)), met(n50 <= 1.2))
	fmt.Fprintf(out, "| history events, one in + one reply + close | %d | ≤ 40 | %s |\n", res.history, met(res.history <= 40))
	fmt.Fprintln(out, "\nThat conversation's history by event type:")
	fmt.Fprintln(out, "\n| event type | count |\n|---|--:|")
	for _, k := range sortedKeys(res.historyByType) {
		fmt.Fprintf(out, "| %s | %d |\n", k, res.historyByType[k])
	}
	fmt.Fprintf(out, "\nIn order: %s.\n", strings.Join(res.historySequence, ", "))
	fmt.Fprintf(out, "\nSDK log: %d warnings, %d errors.\n", sdkLog.Warnings.Load(), sdkLog.Errors.Load())
}

func sortedKeys(m map[string]int) []string {
	return slices.Sorted(maps.Keys(m))
}
