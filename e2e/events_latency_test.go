//go:build integration

package e2e

import (
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestEventDeliveryLatency measures, it does not judge: how long from an
// agent_events row's commit to the SSE client reading it, with a starter that
// polls (a Server without a hub: every 200 ms, as every stream did before the
// hub) and with one woken by NOTIFY (the starter's hub). It runs only when
// EVENT_LATENCY_SAMPLES is set (samples per mode); see docs/PERFORMANCE.md.
//
//	EVENT_LATENCY_SAMPLES=200 go test -count=1 -tags integration -run TestEventDeliveryLatency -v ./e2e/
func TestEventDeliveryLatency(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVENT_LATENCY_SAMPLES"))
	if n <= 0 {
		t.Skip("set EVENT_LATENCY_SAMPLES to measure")
	}
	st := newStack(t)
	a := st.createAgent("lat", 1)

	pollSrv := st.server(st.starterClient)
	pollSrv.Events = nil // no hub: its streams poll
	polling := httptest.NewServer(pollSrv.Handler())
	defer func() { polling.CloseClientConnections(); polling.Close() }()
	pushed := st.startPushStarter(0) // the starter's defaults

	var writes []time.Duration // the INSERT's own round trip, for scale
	measure := func(base string) []time.Duration {
		events := st.openEventsAt(base, a, "")
		defer events.cancel()
		var took []time.Duration
		for i := range n {
			// A random pause, so that writes fall anywhere in a poll's period.
			time.Sleep(time.Duration(rand.Int64N(int64(200 * time.Millisecond))))
			start := time.Now() // the INSERT's round trip (its commit) is counted
			id := st.writeAgentEvent(st.db, a.ID, i)
			writes = append(writes, time.Since(start))
			ev := events.next(t, "test.ping", time.Minute)
			took = append(took, time.Since(start))
			if ev.ID != id {
				t.Fatalf("got event %s, want %s", ev.ID, id)
			}
		}
		slices.Sort(took)
		return took
	}
	at := func(d []time.Duration, q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
	}
	mean := func(d []time.Duration) float64 {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return float64(sum.Microseconds()) / 1000 / float64(len(d))
	}
	poll := measure(polling.URL)
	push := measure(pushed.url)
	t.Logf("%d events per mode; commit → SSE client, ms", n)
	t.Logf("| mode | p50 | p90 | p99 | max | mean |")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"poll every 200 ms", poll}, {"NOTIFY", push}} {
		t.Logf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |", m.name, at(m.d, .5), at(m.d, .9), at(m.d, .99), at(m.d, 1), mean(m.d))
	}
	slices.Sort(writes)
	t.Logf("(of which the INSERT's round trip: p50 %.1f, p99 %.1f)", at(writes, .5), at(writes, .99))
	t.Logf("poll ÷ NOTIFY: p50 %.0f×, p99 %.0f×, mean %.0f×", at(poll, .5)/at(push, .5), at(poll, .99)/at(push, .99), mean(poll)/mean(push))
}
