// Package relay hands the webhook inbox to Temporal: every event a delivery
// committed in inbound_events is signalled (SignalWithStart) into its
// conversation workflow, in commit order per customer, and marked relayed once
// the signal succeeded. A conversation's pending events travel together, up to
// store.RelaySignalEvents in one signal.
//
// The webhook handler kicks the relay right after its commit, so in normal
// operation an event is handed on within about one signal round trip. The relay
// also polls, so events a crashed starter committed but never handed on, and
// events whose signal failed (Temporal down), are picked up by whichever
// starter replica looks next; while Temporal fails it backs off.
//
// Replicas share the work per conversation: a conversation's pending events are
// handed on under its Postgres advisory transaction lock, taken with
// pg_try_advisory_xact_lock (a replica skips a conversation another one holds,
// as FOR UPDATE SKIP LOCKED skips rows). So two replicas never signal one
// conversation's events concurrently, hence never out of order, and a lock dies
// with the transaction of a crashed replica. A signal that succeeded but whose
// mark was lost is signalled again later; the conversation workflow and the
// transcript drop such duplicates by event key.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"fbchannel/ops"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Defaults of Options.
const (
	DefaultPoll          = time.Second
	DefaultParallel      = 8
	DefaultSignalTimeout = 2 * time.Second
	// maxBackoff bounds the wait between attempts while Temporal fails, so
	// events move again within a few seconds of its return.
	maxBackoff = time.Second
	minBackoff = 100 * time.Millisecond
	// healthTimeout bounds the health probe of a failing relay.
	healthTimeout = time.Second
	// busyWait is how soon to look again at conversations another replica held.
	busyWait = 100 * time.Millisecond
	// conversationsPerPass bounds one pass's work list.
	conversationsPerPass = 256
)

// Options configure a Relay. Store, Temporal and TaskQueue are required.
type Options struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
	Log       *slog.Logger // optional
	Metrics   *ops.Metrics // optional: signal latency and outcomes, and the inbox backlog gauges
	// Poll is how often the relay looks for pending events without a kick.
	Poll time.Duration
	// Parallel bounds the conversations handed on at once (each holds a
	// database connection while it signals).
	Parallel int
	// SignalTimeout bounds one SignalWithStart.
	SignalTimeout time.Duration
}

// Relay moves committed inbox events into their conversation workflows. A nil
// *Relay accepts Kick and does nothing.
type Relay struct {
	o    Options
	kick chan struct{}
}

// New makes a relay; Run runs it. With Options.Metrics it registers the inbox
// backlog gauges (fbchannel_inbox_pending_events,
// fbchannel_inbox_oldest_pending_seconds) on the metrics' registry.
func New(o Options) *Relay {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.SignalTimeout <= 0 {
		o.SignalTimeout = DefaultSignalTimeout
	}
	if o.Metrics != nil && o.Metrics.Registry != nil {
		var dup prometheus.AlreadyRegisteredError
		if err := o.Metrics.Registry.Register(newBacklogCollector(o.Store, o.Log)); err != nil && !errors.As(err, &dup) {
			o.Log.Error("relay: backlog metrics not registered", "err", err)
		}
	}
	return &Relay{o: o, kick: make(chan struct{}, 1)}
}

// Kick asks the relay to look for pending events now; it never blocks. The
// webhook handler kicks after each commit.
func (r *Relay) Kick() {
	if r == nil {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default: // a pass is already due; it will see these events too
	}
}

// Run hands on pending events until ctx ends; it returns nil then. Errors
// (Postgres or Temporal unavailable) are logged and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	var backoff time.Duration
	failing := false
	for ctx.Err() == nil {
		// While failing, ask Temporal before taking conversations: a replica
		// cut off from Temporal must not hold conversations' locks through
		// signals that cannot succeed while other replicas could hand them on.
		if failing && !r.temporalReachable(ctx) {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		}
		res := r.pass(ctx)
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		switch {
		case res.err != nil:
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if !failing {
				r.o.Log.Warn("relay: cannot hand events on; retrying with backoff", "err", res.err)
				failing = true
			}
			// Kicks do not cut a backoff short: deliveries arriving while
			// Temporal is down must not turn into a stream of attempts.
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		case res.relayed > 0:
			wait = 0 // more may have arrived meanwhile (a refused conversation waits for the next poll)
		case res.busy > 0:
			wait = busyWait
		default:
			wait = r.o.Poll
		}
		if failing {
			r.o.Log.Info("relay: handing events on again")
			failing = false
		}
		backoff = 0
		if wait > 0 {
			r.await(ctx, wait)
		}
	}
	return nil
}

// temporalReachable asks the Temporal frontend for its health, briefly.
func (r *Relay) temporalReachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	_, err := r.o.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err == nil
}

// await returns on a kick, after d, or when ctx ends.
func (r *Relay) await(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.kick:
	case <-t.C:
	case <-ctx.Done():
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type passResult struct {
	relayed, busy int
	stuck         int   // conversations whose signal Temporal refused (not unavailability)
	err           error // the first failure of Postgres or Temporal's availability; the pass stopped there
}

// pass hands on the pending conversations, several at once. At the first
// failure of Postgres or of Temporal's availability it stops taking more: with
// Temporal down, one failed signal is enough to know, and a long work list must
// not keep the relay busy when Temporal is back. A signal Temporal refuses for
// one conversation (a limit of that workflow, say) holds back only that
// conversation's events, which stay pending and show in the backlog age.
func (r *Relay) pass(ctx context.Context) passResult {
	convs, err := r.o.Store.PendingConversations(ctx, conversationsPerPass)
	if err != nil || len(convs) == 0 {
		return passResult{err: err}
	}
	// Signals stop at the first failure; the marks of those that succeeded
	// still commit (on ctx, not this one).
	signalCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu  sync.Mutex
		res passResult
		wg  sync.WaitGroup
		sem = make(chan struct{}, r.o.Parallel)
	)
	for _, c := range convs {
		select {
		case sem <- struct{}{}:
		case <-signalCtx.Done():
		}
		if signalCtx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, busy, err := r.o.Store.RelayConversation(ctx, c, func(events []store.PendingEvent) error {
				err := r.signal(signalCtx, events)
				if err != nil && refused(err) {
					return &refusedSignal{eventKey: events[0].EventKey, err: err}
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			res.relayed += n
			if busy {
				res.busy++
			}
			var refused *refusedSignal
			switch {
			case err == nil:
			case errors.As(err, &refused):
				res.stuck++
				r.o.Log.Warn("relay: Temporal refused a signal; the conversation's events stay pending",
					"page_id", c.PageID, "event_key", refused.eventKey, "err", refused.err)
			case res.err == nil:
				res.err = err
				stop()
			}
		}()
	}
	wg.Wait()
	if res.err != nil && ctx.Err() == nil {
		r.o.Log.Debug("relay pass stopped", "relayed", res.relayed, "err", res.err)
	}
	return res
}

// refusedSignal is a signal Temporal answered with a refusal rather than
// unavailability: retrying at once will not help, and other conversations
// should not wait for it.
type refusedSignal struct {
	eventKey string
	err      error
}

func (e *refusedSignal) Error() string {
	return "signal of " + e.eventKey + " refused: " + e.err.Error()
}
func (e *refusedSignal) Unwrap() error { return e.err }

// refused tells whether Temporal turned this one signal down (an invalid
// argument, a limit of that workflow) rather than being unreachable, slow or
// busy; anything not known to be a refusal counts as unavailability, so an
// outage always backs off.
func refused(err error) bool {
	var invalid *serviceerror.InvalidArgument
	var precondition *serviceerror.FailedPrecondition
	var denied *serviceerror.PermissionDenied
	return errors.As(err, &invalid) || errors.As(err, &precondition) || errors.As(err, &denied)
}

// signal hands a conversation's events, in commit order, to its workflow: one
// SignalWithStart carrying them all (starting the workflow when it is not
// running), so a burst costs the workflow one signal and one workflow task, not
// one per event.
func (r *Relay) signal(ctx context.Context, events []store.PendingEvent) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.SignalTimeout)
	defer cancel()
	first := events[0]
	if first.TraceParent != "" {
		// The signal's span joins the trace of the delivery that brought its first event.
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": first.TraceParent})
	}
	batch := make([]contract.InboundEvent, len(events))
	for i, e := range events {
		batch[i] = contract.InboundEvent{
			PageUUID: e.PageUUID, PageID: e.PageID, PSID: e.PSID, EventKey: e.EventKey, Kind: e.Kind, Timestamp: e.Timestamp,
		}
	}
	start := time.Now()
	_, err := r.o.Temporal.SignalWithStartWorkflow(ctx, contract.ConversationWorkflowID(first.PageID, first.PSID), contract.SignalInboundBatch,
		batch,
		client.StartWorkflowOptions{
			TaskQueue: r.o.TaskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contract.FacebookPageIDKey.ValueSet(first.PageID),
				contract.CustomerPSIDKey.ValueSet(first.PSID),
				contract.ConversationStatusKey.ValueSet(contract.StatusWaiting),
			),
		},
		contract.ConversationWorkflowType, contract.ConversationInput{PageID: first.PageID, PSID: first.PSID})
	r.o.Metrics.ObserveSignal(time.Since(start))
	r.o.Metrics.RelaySignal(err)
	return err
}

// ClientOptions adjusts the options of the Temporal client the relay signals
// through: gRPC reconnects at most reconnectMaxDelay apart (the SDK's default
// lets the wait grow to 10 s), so after an outage events move again within a
// few seconds of Temporal's return.
func ClientOptions(o client.Options) client.Options {
	cp := grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: 20 * time.Second}
	cp.Backoff.BaseDelay, cp.Backoff.MaxDelay = 200*time.Millisecond, reconnectMaxDelay
	o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithConnectParams(cp))
	return o
}

const reconnectMaxDelay = time.Second
