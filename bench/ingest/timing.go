package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/bench/measure"
	"fbchannel/ops"
)

// reqTiming is the server side of one webhook request.
type reqTiming struct {
	total time.Duration // handler entry to return
	sws   time.Duration // SignalWithStart calls inside it
	ok    bool
}

type timingKey struct{}

type timingSlot struct{ sws atomic.Int64 }

// timedClient is the starter's client with SignalWithStartWorkflow timed into the
// request's timingSlot (the webhook derives its context from the request's).
type timedClient struct{ client.Client }

func (c timedClient) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	t0 := time.Now()
	run, err := c.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
	if slot, ok := ctx.Value(timingKey{}).(*timingSlot); ok {
		slot.sws.Add(int64(time.Since(t0)))
	}
	return run, err
}

// timeWebhooks records the server side of every webhook POST.
func (b *bench) timeWebhooks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/webhooks/") {
			next.ServeHTTP(w, r)
			return
		}
		slot := &timingSlot{}
		rec := &ops.StatusWriter{ResponseWriter: w}
		t0 := time.Now()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), timingKey{}, slot)))
		t := reqTiming{total: time.Since(t0), sws: time.Duration(slot.sws.Load()), ok: rec.Status() == http.StatusOK}
		b.timingMu.Lock()
		b.timings = append(b.timings, t)
		b.timingMu.Unlock()
	})
}

func (b *bench) takeTimings() []reqTiming {
	b.timingMu.Lock()
	defer b.timingMu.Unlock()
	t := b.timings
	b.timings = nil
	return t
}

// profile starts the CPU profile of a timed (b) phase when -cpuprofile asks;
// the phases' profiles go to one file each (name.b1, name.b2, …).
func (b *bench) profile(round int) (stop func()) {
	if b.cfg.cpuProfile == "" || round < 0 {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%s", b.cfg.cpuProfile, phaseLabel("b", round)))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		measure.Progress("cpu profile: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
