package main

import (
	"context"
	"fbchannel/bench/measure"
	"fbchannel/supervise"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// injector crashes and restarts the stack's pieces at random moments of the load,
// one fault at a time; every kind comes round once before any comes again.
type injector struct {
	s     *soak
	rng   *lockedRand
	kinds []string

	mu      sync.Mutex
	records []faultRecord
	skipped []string
}

type faultRecord struct {
	kind     string
	at       time.Duration // since the load started
	downtime time.Duration // until the piece answered again
	note     string
	err      error
	// outage is set for temporal-outage: the webhook must answer 200 throughout it,
	// since it only needs Postgres (the durable inbox).
	outage bool
}

func newInjector(s *soak) *injector {
	in := &injector{s: s, rng: newRand(s.cfg.seed, 4)}
	for _, k := range strings.Split(s.cfg.faults, ",") {
		k = strings.TrimSpace(k)
		switch k {
		case "":
		case "worker", "starter":
			in.kinds = append(in.kinds, k)
		case "temporal", "temporal-outage":
			if s.temporal != nil {
				in.kinds = append(in.kinds, k)
			} else {
				in.skipped = append(in.skipped, k+" (-temporal-address: the soak does not run that server)")
			}
		case "postgres":
			if s.pg.canRestart() {
				in.kinds = append(in.kinds, k)
			} else {
				in.skipped = append(in.skipped, "postgres (no -pg-bindir/-pg-data: the soak restarts only a private cluster)")
			}
		default:
			in.skipped = append(in.skipped, k+" (unknown)")
		}
	}
	return in
}

func (in *injector) run(ctx context.Context, loadStart time.Time) {
	if len(in.kinds) == 0 {
		return
	}
	if measure.Sleep(ctx, in.s.cfg.warmup) != nil {
		return
	}
	var deck []string
	for {
		if len(deck) == 0 {
			deck = append([]string(nil), in.kinds...)
			for i := len(deck) - 1; i > 0; i-- {
				j := in.rng.IntN(i + 1)
				deck[i], deck[j] = deck[j], deck[i]
			}
		}
		kind := deck[0]
		deck = deck[1:]
		rec := faultRecord{kind: kind, at: time.Since(loadStart), outage: kind == "temporal-outage"}
		t0 := time.Now()
		// A fault, once begun, is seen through: the stack is whole again afterwards.
		rec.note, rec.err = in.inject(context.WithoutCancel(ctx), kind)
		rec.downtime = time.Since(t0)
		if rec.err != nil {
			logf("FAULT %s at %s failed: %v", kind, rec.at.Round(time.Second), rec.err)
		} else {
			logf("fault %s at %s: %s; back after %s", kind, rec.at.Round(time.Second), rec.note, rec.downtime.Round(100*time.Millisecond))
		}
		in.mu.Lock()
		in.records = append(in.records, rec)
		in.mu.Unlock()
		every := in.s.cfg.faultEvery
		if measure.Sleep(ctx, in.rng.between(every/2, every+every/2)) != nil {
			return
		}
	}
}

func (in *injector) inject(ctx context.Context, kind string) (string, error) {
	s := in.s
	switch kind {
	case "worker", "starter":
		// One of them: with two, the other keeps serving.
		ps := s.workers
		if kind == "starter" {
			ps = s.starters
		}
		p := ps[in.rng.IntN(len(ps))]
		p.Op.Lock()
		defer p.Op.Unlock()
		pid := p.PID()
		p.Kill()
		// Sometimes it comes back at once, sometimes after a few seconds.
		pause := in.rng.between(0, 3*time.Second)
		time.Sleep(pause)
		if err := p.Restart(ctx, "after kill -9", restartBound); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s kill -9 (pid %d), restarted after %s", p.Name, pid, pause.Round(100*time.Millisecond)), nil
	case "postgres":
		mode := "fast"
		if in.rng.IntN(2) == 0 {
			mode = "immediate" // a crash: the cluster recovers from its WAL
		}
		if err := s.pg.restart(mode); err != nil {
			return "", err
		}
		if err := s.pg.waitReady(ctx, 60*time.Second); err != nil {
			return "", err
		}
		return "pg_ctl restart -m " + mode, nil
	case "temporal":
		s.temporal.Op.Lock()
		defer s.temporal.Op.Unlock()
		pid := stopTemporal(s.temporal)
		if err := s.temporal.Restart(ctx, "restart, same --db-filename", restartBound); err != nil {
			return "", err
		}
		return fmt.Sprintf("SIGTERM (pid %d), started again on the same database file", pid), nil
	case "temporal-outage":
		// Temporal stays down for minutes while customers keep sending: the webhook
		// answers from Postgres alone, and the relay hands the inbox over afterwards.
		s.temporal.Op.Lock()
		defer s.temporal.Op.Unlock()
		pid := stopTemporal(s.temporal)
		logf("temporal-outage: Temporal (pid %d) stopped; it stays down for %s", pid, s.cfg.outage)
		time.Sleep(s.cfg.outage)
		if err := s.temporal.Restart(ctx, "after a "+s.cfg.outage.String()+" outage, same --db-filename", restartBound); err != nil {
			return "", err
		}
		return fmt.Sprintf("SIGTERM (pid %d), down for %s, started again on the same database file", pid, s.cfg.outage), nil
	}
	return "", fmt.Errorf("unknown fault %q", kind)
}

// stopTemporal stops the Temporal dev server, as an expected exit (SIGTERM, a
// kill after 30s), and answers the pid it had; the caller holds its Op lock.
func stopTemporal(p *supervise.Process) int {
	pid := p.PID()
	p.ExpectExit()
	if !p.Signal(syscall.SIGTERM, 30*time.Second) {
		p.Kill()
	}
	return pid
}
