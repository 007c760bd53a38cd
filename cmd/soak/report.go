package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

func (s *soak) report(r *result) string {
	cfg := s.cfg
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	verdict := "PASS: every invariant holds"
	if r.violations > 0 {
		verdict = fmt.Sprintf("FAIL: %d invariant(s) broken", r.violations)
	}
	p("\n## Soak run %s, %s — %s\n\n", s.runID, r.loadStart.Format("2006-01-02 15:04 MST"), verdict)
	p("Command: `%s`  \n", strings.Join(os.Args, " "))
	p("Machine: %s  \n", machine())
	p("Load: %d messages over %d customers at %.1f/s offered (concurrency %d, %.0f%% batched deliveries, %.0f%% redelivered), "+
		"%d agents × capacity %d (reply %.0f%%, close after %d–%d replies or %s quiet, reopen %.0f%%), faults every ~%s after %s; seed %d.\n\n",
		cfg.messages, cfg.conversations, cfg.rate, cfg.concurrency, cfg.batchProb*100, cfg.redeliverProb*100,
		cfg.agents, cfg.capacity, cfg.replyProb*100, cfg.closeMin, cfg.closeMax, cfg.idleClose, cfg.reopenProb*100,
		cfg.faultEvery, cfg.warmup, cfg.seed)
	temporal := "the Temporal dev server the soak runs (SQLite file)"
	if cfg.temporalAddress != "" {
		temporal = "the Temporal server at " + cfg.temporalAddress + " (not run by the soak)"
	}
	p("Stack: %s, %d worker(s), %d starter(s)%s.\n\n", temporal, cfg.workers, cfg.starters, map[bool]string{true: " behind the soak's failover proxy"}[cfg.starters > 1])

	// Faults.
	s.faults.mu.Lock()
	faults := append([]faultRecord(nil), s.faults.records...)
	skipped := append([]string(nil), s.faults.skipped...)
	s.faults.mu.Unlock()
	perKind := map[string]int{}
	for _, f := range faults {
		perKind[f.kind]++
	}
	var kinds []string
	for k, n := range perKind {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	p("### Faults injected: %d (%s)\n\n", len(faults), strings.Join(kinds, ", "))
	if len(skipped) > 0 {
		p("Not injected: %s.\n\n", strings.Join(skipped, "; "))
	}
	nonOK := s.non200ByFault(faults)
	if len(faults) > 0 {
		p("| # | at (s into load) | fault | what | back after | webhook non-200 until next fault |\n|--:|--:|---|---|--:|--:|\n")
		for i, f := range faults {
			what := f.note
			if f.err != nil {
				what = "FAILED: " + f.err.Error()
			}
			p("| %d | %.0f | %s | %s | %.1fs | %d |\n", i+1, f.at.Seconds(), f.kind, what, f.downtime.Seconds(), nonOK[i])
		}
		p("\n")
	}

	// Invariants.
	p("### Invariants\n\n| check | value | must be |  |\n|---|--:|---|---|\n")
	for _, inv := range r.rows {
		must, mark := "reported", ""
		if inv.mustBeZero {
			must = "0"
			mark = "ok"
			if inv.value != 0 {
				mark = "**BROKEN**"
			}
		}
		name := inv.name
		if inv.extra {
			name += " *"
		}
		p("| %s | %d | %s | %s |\n", name, inv.value, must, mark)
	}
	p("\n\\* also checked, beyond the issue's list.\n\n")
	for _, inv := range r.rows {
		if len(inv.detail) == 0 {
			continue
		}
		p("%s:\n", inv.name)
		for _, d := range inv.detail {
			p("- %s\n", strings.ReplaceAll(d, "\n", "\n  "))
		}
		p("\n")
	}
	if len(r.checkErr) > 0 {
		p("Checks that could not run: %s\n\n", strings.Join(r.checkErr, "; "))
	}

	// Throughput.
	st := &s.customers.stats
	st.mu.Lock()
	attempts, ok, deliveries, retried, maxAtt := st.attempts, st.ok, st.deliveries, st.retried, st.maxAttempts
	redeliveries := st.redeliveries
	lat := append([]time.Duration(nil), st.latencies...)
	st.mu.Unlock()
	load := r.sendEnd.Sub(r.loadStart)
	offered := s.customers.offered()
	p("### Throughput\n\n")
	p("- Load phase: %s; %d of %d messages offered (%.1f/s)%s.\n", load.Round(time.Second), offered, cfg.messages,
		float64(offered)/load.Seconds(), truncatedNote(offered, cfg.messages, cfg.duration))
	p("- Webhook: %d deliveries (%d redeliveries of acknowledged ones), %d POSTs, %d answered 200; %d deliveries needed retries (at most %d attempts). "+
		"200 latency p50 %s, p90 %s, p99 %s, max %s.\n", deliveries, redeliveries, attempts, ok, retried, maxAtt,
		ms(percentile(lat, .5)), ms(percentile(lat, .9)), ms(percentile(lat, .99)), ms(percentile(lat, 1)))
	p("- Every delivery acknowledged %s after the load started; %d/%d acknowledged messages in transcripts; settled %s after the start (%s).\n",
		r.ackedAt.Sub(r.loadStart).Round(time.Second), r.recorded, r.acked, r.quietAt.Sub(r.loadStart).Round(time.Second), yesNo(r.settled, "settled", "NOT settled"))
	if !r.recordedFirst.IsZero() && r.lastRow.After(r.recordedFirst) {
		span := r.lastRow.Sub(r.recordedFirst)
		p("- Transcript: customer messages recorded from %s to %s: %.1f messages/s end to end (webhook → workflow → `messages`), faults included.\n",
			r.recordedFirst.Sub(r.loadStart).Round(time.Second), r.lastRow.Sub(r.loadStart).Round(time.Second), float64(r.recorded)/span.Seconds())
	}
	s.desk.mu.Lock()
	ds := s.desk.stats
	outcomes := sortedCounts(ds.outcomes)
	closes := sortedCounts(ds.closes)
	reopens := sortedCounts(ds.reopens)
	events := sortedCounts(ds.events)
	nReplies, reconnects, lastReply := len(ds.replies), ds.reconnects, ds.lastReplyAt
	s.desk.mu.Unlock()
	p("- Agents: %d reply attempts (%s); %d answered `sent`, %d Send API calls in the simulator's log (%d polls); closes: %s; reopens: %s; last reply %s into the load.\n",
		nReplies, outcomes, r.sentReplies, r.simSends, s.monitor.simPolls, closes, orNone(reopens), lastReply.Round(time.Second))
	p("- Agent event streams: %d reconnects (Last-Event-ID); events received: %s.\n", reconnects, events)
	s.monitor.mu.Lock()
	var loads []string
	for _, a := range s.desk.agents {
		loads = append(loads, fmt.Sprintf("%d", s.monitor.maxLoad[a.id]))
	}
	s.monitor.mu.Unlock()
	p("- Highest sampled load per agent (capacity %d): %s.\n", cfg.capacity, strings.Join(loads, ", "))
	var names []string
	for _, proc := range s.processes() {
		names = append(names, proc.Name)
	}
	p("\nLogs: %s/logs/{%s,postgres}.log; histories of the conversations involved in broken invariants and the reply log: %s/evidence-%s/; database %s (kept until the next run).\n",
		cfg.data, strings.Join(names, ","), cfg.data, s.runID, databaseName(cfg.databaseURL))
	return b.String()
}

// non200ByFault attributes every non-200 webhook answer to the last fault begun
// before it.
func (s *soak) non200ByFault(faults []faultRecord) []int {
	out := make([]int, len(faults))
	st := &s.customers.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.non200Times {
		for i := len(faults) - 1; i >= 0; i-- {
			if t >= faults[i].at {
				out[i]++
				break
			}
		}
	}
	return out
}

func truncatedNote(offered, want int, bound time.Duration) string {
	if offered >= want {
		return ""
	}
	return fmt.Sprintf(" — the %s bound ended the load before all were offered", bound)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sortedCounts(m map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var list []kv
	for k, n := range m {
		list = append(list, kv{k, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || (list[i].n == list[j].n && list[i].k < list[j].k) })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s ×%d", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, model, _ = strings.Cut(line, ":")
				model = strings.TrimSpace(model)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %d GB", kb/1024/1024)
	}
	loadavg := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			loadavg = fmt.Sprintf(", load average at the end %s %s %s", f[0], f[1], f[2])
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s/%s, %s%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), loadavg)
}
