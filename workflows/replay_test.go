package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

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
	registered := &recordingRegistry{got: map[string]workflow.VersioningBehavior{}}
	workflows.Register(registered)
	recorded := map[string]bool{}
	for _, file := range files {
		recorded[workflowTypeOf(t, file)] = true
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			workflows.Register(replayer)
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
	// A workflow type without a recorded run is a workflow the test cannot guard.
	for name := range registered.got {
		if !recorded[name] {
			t.Errorf("no recorded history of %s in testdata: add a scenario to workflows/internal/recordhistory", name)
		}
	}
}

// workflowTypeOf is the workflow type of a recorded history (its first event's).
func workflowTypeOf(t *testing.T, file string) string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	events := hist.GetEvents()
	if len(events) == 0 || events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		t.Fatalf("%s does not start with the run's start", file)
	}
	return events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}
