package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// recordingRegistry keeps what Register declares.
type recordingRegistry struct {
	worker.WorkflowRegistry
	got map[string]workflow.VersioningBehavior
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(_ interface{}, o workflow.RegisterOptions) {
	r.got[o.Name] = o.VersioningBehavior
}

// Every workflow declares how it moves between builds (a versioned worker with
// no default refuses to start otherwise), and the long-lived ones auto-upgrade:
// pinned, they would keep the old build running for ever.
func TestEveryWorkflowDeclaresItsVersioningBehavior(t *testing.T) {
	r := &recordingRegistry{got: map[string]workflow.VersioningBehavior{}}
	workflows.Register(r)
	for name, b := range r.got {
		if b == workflow.VersioningBehaviorUnspecified {
			t.Errorf("%s has no versioning behavior", name)
		}
	}
	for _, name := range []string{contract.ConversationWorkflowType, contract.QueueWorkflowType, contract.PageWorkflowType, contract.ReplySweeperWorkflowType} {
		if r.got[name] != workflow.VersioningBehaviorAutoUpgrade {
			t.Errorf("%s is %v, want auto-upgrade", name, r.got[name])
		}
	}
}
