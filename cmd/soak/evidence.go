package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// saveEvidence keeps what a broken invariant needs for its diagnosis, before the
// stack stops: the Temporal histories (every run) of the conversations involved,
// the agents' reply log and the logs. It goes to <data>/evidence-<run>/.
func (s *soak) saveEvidence(ctx context.Context, r *result) {
	dir := filepath.Join(s.cfg.data, "evidence-"+s.runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("evidence: %v", err)
		return
	}
	s.desk.mu.Lock()
	var b strings.Builder
	b.WriteString("at_ms\tagent\tconversation\tmessage_id\toutcome\n")
	for _, rp := range s.desk.stats.replies {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\t%s\n", rp.at.Milliseconds(), rp.agent, rp.conversation, rp.messageID, rp.outcome)
	}
	s.desk.mu.Unlock()
	_ = os.WriteFile(filepath.Join(dir, "replies.tsv"), []byte(b.String()), 0o644)
	// The logs as they are now (the next run starts them afresh).
	if logs, err := filepath.Glob(filepath.Join(s.cfg.data, "logs", "*.log")); err == nil {
		_ = os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "logs", filepath.Base(l)), b, 0o644)
			}
		}
	}

	if len(r.workflows) == 0 {
		return
	}
	ids := make([]string, 0, len(r.workflows))
	for id := range r.workflows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > 25 {
		ids = ids[:25]
	}
	temporal, _ := filepath.Abs(filepath.Join(s.cfg.bin, "temporal"))
	addr := s.temporalAddr()
	var index strings.Builder
	for _, id := range ids {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := execOutput(cctx, temporal, "workflow", "list", "--address", addr, "-q", "WorkflowId='"+id+"'", "-o", "json")
		cancel()
		if err != nil {
			fmt.Fprintf(&index, "%s\t%s\tlist failed: %v\n", id, r.workflows[id], err)
			continue
		}
		var runs []struct {
			Execution struct {
				RunID string `json:"runId"`
			} `json:"execution"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal([]byte(out), &runs)
		for _, run := range runs {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			hist, err := execOutput(cctx, temporal, "workflow", "show", "--address", addr, "-w", id, "-r", run.Execution.RunID, "-o", "json")
			cancel()
			name := strings.ReplaceAll(id, ":", "_") + "_" + run.Execution.RunID + ".json"
			if err == nil {
				_ = os.WriteFile(filepath.Join(dir, name), []byte(hist), 0o644)
			}
			fmt.Fprintf(&index, "%s\t%s\t%s\t%s\n", name, strings.TrimPrefix(run.Status, "WORKFLOW_EXECUTION_STATUS_"), id, r.workflows[id])
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "histories.tsv"), []byte(index.String()), 0o644)
	logf("evidence (histories of %d workflows, reply log) in %s", len(ids), dir)
}
