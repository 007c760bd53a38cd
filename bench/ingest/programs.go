package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"fbchannel/app/apptest"
	"fbchannel/bench/measure"
)

// startPrograms is -processes: the channel's worker and starter run as the built
// programs (one of each, as a deployment runs them), so the worker's CPU and GC
// bursts no longer share a Go runtime with the starter's handler. They are built
// from this tree first, so the run measures the code beside it.
func (b *bench) startPrograms(ctx context.Context, s *apptest.Stack, temporalAddress string) error {
	bin := apptest.ModuleBin()
	measure.Progress("building ./worker and ./starter into %s", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator), "./worker", "./starter")
	build.Dir = filepath.Dir(bin)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./worker ./starter: %w", err)
	}
	measure.Progress("starting 1 worker and 1 starter program on %s", temporalAddress)
	if err := s.StartProcesses(ctx, apptest.Processes{Bin: bin, Workers: 1, Starters: 1, TemporalAddress: temporalAddress}); err != nil {
		return fmt.Errorf("%w\n%s", err, s.ProcessLogs(20))
	}
	measure.Progress("program logs in %s", s.LogDir)
	return nil
}

// atStarter is the page's callback URL on the starter program itself, not on
// StartProcesses's proxy (a hop in this process): the signature covers the body
// only, so the host may change.
func atStarter(callbackURL, starterURL string) (string, error) {
	cb, err := url.Parse(callbackURL)
	if err != nil {
		return "", err
	}
	st, err := url.Parse(starterURL)
	if err != nil {
		return "", err
	}
	cb.Scheme, cb.Host = st.Scheme, st.Host
	return cb.String(), nil
}

// stopChannelWorker stops the channel's worker, in this process or the program.
func (b *bench) stopChannelWorker() {
	b.stack.StopWorker()
	for _, w := range b.stack.Workers {
		w.Stop(10 * time.Second)
	}
}

// modeLine says how the channel ran, for the report.
func (b *bench) modeLine() string {
	if b.cfg.processes {
		return "Mode: **programs** (`-processes`): ./bin/worker and ./bin/starter, one of each, built from this tree; the webhooks go to the starter program. " +
			"This process runs the HTTP client, (a)'s caller and sink worker, and the Graph simulator."
	}
	return "Mode: **in-process**: the starter (handler and relay), the worker, (a)'s caller and sink worker, the HTTP client and the Graph simulator share this Go process."
}

// cacheCounters are the webhook account cache's counters of the whole run: the
// stack's cache in this process, or the starter program's /metrics.
func (b *bench) cacheCounters() (hits, misses, invalidations float64, err error) {
	if !b.cfg.processes {
		c := b.stack.Store.Webhooks
		return float64(c.Hits()), float64(c.Misses()), float64(c.Invalidations()), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := measure.Scrape(ctx, b.stack.StarterURLs[0])
	if err != nil {
		return 0, 0, 0, err
	}
	const p = "fbchannel_webhook_account_cache_"
	return m[p+"hits_total"], m[p+"misses_total"], m[p+"invalidations_total"], nil
}
