package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"fbchannel/workflows"
)

// TestReplayRecordedHistories replays every history in testdata against today's
// workflow code: a change that would make a running workflow take another path
// (a new activity, a reordered step) fails here with a nondeterminism error. Put such
// a change behind workflow.GetVersion, keep the old files (runs of the old code may
// still be open), and record new ones from the repository root with
//
//	go run ./workflows/internal/recordhistory
//
// It needs ./bin/temporal (make tools) and Postgres (DATABASE_URL); see its doc.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata: run go run ./workflows/internal/recordhistory")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			workflows.Register(replayer)
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
