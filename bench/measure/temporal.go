package measure

import (
	"context"
	"io"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/app/apptest"
)

// Temporal is a benchmark's dev server with its two clients: Caller is the
// starter's (it also makes the raw calls); Worker polls on another connection, as
// a separate worker process would.
type Temporal struct {
	Log            *QuietLogger
	Caller, Worker client.Client
	server         *testsuite.DevServer
}

// StartTemporal starts a dev server from the CLI at cli and dials both clients.
func StartTemporal(ctx context.Context, cli string) (t *Temporal, err error) {
	t = &Temporal{Log: &QuietLogger{}}
	Progress("starting Temporal dev server (%s)", cli)
	if t.server, err = apptest.StartTemporal(ctx, apptest.Temporal{CLI: cli, Logger: t.Log, Output: io.Discard}); err != nil {
		return nil, err
	}
	dial := func() (client.Client, error) {
		return client.Dial(client.Options{HostPort: t.server.FrontendHostPort(), Namespace: apptest.Namespace, Logger: t.Log})
	}
	if t.Caller, err = dial(); err == nil {
		t.Worker, err = dial()
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Close closes the clients and stops the server.
func (t *Temporal) Close() {
	for _, c := range []client.Client{t.Worker, t.Caller} {
		if c != nil {
			c.Close()
		}
	}
	_ = t.server.Stop()
}

const (
	wakeWorkflowName = "BenchWakeWorkflow"
	wakeSignal       = "wake"
	noteActivityName = "BenchNote"
)

// WakeProbe measures the server's own round trip, the yardstick of the
// benchmarks: a signal to an idle workflow until the activity it runs starts, as
// a queue workflow runs its assignment pass for each wake.
type WakeProbe struct {
	caller client.Client

	mu      sync.Mutex
	started map[int]time.Time // wake sequence number → when its activity started
	note    chan int
}

// NewWakeProbe is a probe that signals with caller; Register puts its workflow
// and activity on a worker.
func NewWakeProbe(caller client.Client) *WakeProbe {
	return &WakeProbe{caller: caller, started: map[int]time.Time{}, note: make(chan int, 1)}
}

// Register adds the probe's workflow and activity to a worker.
func (p *WakeProbe) Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(wakeWorkflow, workflow.RegisterOptions{Name: wakeWorkflowName})
	w.RegisterActivityWithOptions(p.noteActivity, activity.RegisterOptions{Name: noteActivityName})
}

// StartWorkflow starts a wake workflow with the given ID on the task queue.
func (p *WakeProbe) StartWorkflow(ctx context.Context, id, taskQueue string) error {
	_, err := p.caller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, wakeWorkflowName)
	return err
}

// Wake signals seq to the wake workflow id and waits until its activity starts
// (at most 30 s); it reports when the signal call was answered and when the
// activity started.
func (p *WakeProbe) Wake(ctx context.Context, id string, seq int) (answered, started time.Time, err error) {
	if err := p.caller.SignalWorkflow(ctx, id, "", wakeSignal, seq); err != nil {
		return answered, started, err
	}
	answered = time.Now()
	timeout := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		at, ok := p.started[seq]
		delete(p.started, seq) // sequence numbers start again with each measure
		p.mu.Unlock()
		if ok {
			return answered, at, nil
		}
		select {
		case <-p.note:
		case <-timeout:
			return answered, started, context.DeadlineExceeded
		case <-ctx.Done():
			return answered, started, ctx.Err()
		}
	}
}

// wakeWorkflow runs a no-op activity for each signal.
func wakeWorkflow(ctx workflow.Context) error {
	ch := workflow.GetSignalChannel(ctx, wakeSignal)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for {
		var seq int
		ch.Receive(ctx, &seq)
		if err := workflow.ExecuteActivity(ctx, noteActivityName, seq).Get(ctx, nil); err != nil {
			return err
		}
	}
}

func (p *WakeProbe) noteActivity(ctx context.Context, seq int) error {
	now := time.Now()
	p.mu.Lock()
	p.started[seq] = now
	p.mu.Unlock()
	select {
	case p.note <- seq:
	default:
	}
	return nil
}
