package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"fbchannel/workflows"
)

// TestReplayRecordedHistories replays every history in testdata against today's
// workflow code: a change that would make a recorded run take another path (a new
// activity, a reordered step) fails here with a nondeterminism error.
//
// Nothing is deployed yet, so such a change simply re-records the baseline, from
// the repository root (it needs ./bin/temporal and Postgres; see its doc):
//
//	go run ./workflows/internal/recordhistory -tag v1
//
// From the first production deployment on, runs of the deployed code may still be
// open: a change they would replay differently goes behind Worker Versioning or
// workflow.GetVersion, and their histories stay here next to the new ones.
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
