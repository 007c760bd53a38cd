package measure

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/worker"

	"fbchannel/app/apptest"
)

// CheckTemporalCLI says where the Temporal CLI is missing before a bench starts
// anything.
func (s *Stack) CheckTemporalCLI() error {
	if _, err := os.Stat(s.TemporalCLI); err != nil {
		return fmt.Errorf("the Temporal CLI is missing at %s (make tools builds it): %w", s.TemporalCLI, err)
	}
	return nil
}

// Channel is a bench's channel in this process: a dev server with its clients, a
// worker on a raw task queue for the round trips of the server itself (with a
// WakeProbe on it), and app/apptest's Stack on the same server with one page
// connected.
type Channel struct {
	*Temporal
	Started  time.Time // when StartChannel was called: the bench's start
	Tag      string    // this run's random tag, in the database, task queue and workflow names
	Probe    *WakeProbe
	RawQueue string
	Stack    *apptest.Stack
	Page     apptest.Page

	rawWorker worker.Worker
}

// StartChannel starts the channel of a bench. register adds the bench's own
// raw workflows to the raw worker (nil: the WakeProbe's alone); connections is
// the stack's apptest.Options.Connections.
func (s *Stack) StartChannel(ctx context.Context, connections int, register func(worker.Registry)) (ch *Channel, err error) {
	if err := s.CheckTemporalCLI(); err != nil {
		return nil, err
	}
	ch = &Channel{Started: time.Now(), Tag: apptest.RandomHex(3)}
	defer func() {
		if err != nil {
			ch.Close()
		}
	}()
	if ch.Temporal, err = StartTemporal(ctx, s.TemporalCLI); err != nil {
		return nil, err
	}
	ch.Probe, ch.RawQueue = NewWakeProbe(ch.Caller), "bench-raw-"+ch.Tag
	w := worker.New(ch.Worker, ch.RawQueue, worker.Options{})
	if register != nil {
		register(w)
	}
	ch.Probe.Register(w)
	if err := w.Start(); err != nil {
		return nil, err
	}
	ch.rawWorker = w
	if ch.Stack, err = apptest.Start(ctx, apptest.Options{
		DatabaseURL: s.DatabaseURL, Database: "fbchannel_bench_" + ch.Tag, KeepDB: s.KeepDB, SeparatePools: true,
		TaskQueue: "fbchannel-bench-" + ch.Tag, Starter: ch.Caller, Worker: ch.Worker, Connections: connections,
	}); err != nil {
		return nil, err
	}
	if ch.Page, err = ch.Stack.ConnectPage(ctx, "Bench"); err != nil {
		return nil, err
	}
	return ch, nil
}

// Close stops what StartChannel started, the last first.
func (ch *Channel) Close() {
	if ch.Stack != nil {
		ch.Stack.Close()
	}
	if ch.rawWorker != nil {
		ch.rawWorker.Stop()
	}
	if ch.Temporal != nil {
		ch.Temporal.Close()
	}
}
