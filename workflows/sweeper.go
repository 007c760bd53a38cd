package workflows

import (
	"context"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
)

// ReplySweeperWorkflowID is the one sweeper of a task queue (a deployment).
func ReplySweeperWorkflowID(taskQueue string) string { return "reply-sweeper:" + taskQueue }

// Defaults of the reply sweeper.
const (
	// SweepEvery is the pause between two sweeps.
	SweepEvery = 30 * time.Second
	// UnsentReplyAfter is how long a reply may stay 'sending' without a send
	// attempt before it counts as lost. An update normally reaches its workflow
	// in milliseconds and the send attempt follows; two minutes leaves room for
	// a worker restart, while an agent still remembers what they wrote.
	UnsentReplyAfter = 2 * time.Minute
	// sweepsPerRun bounds a run's history; then it continues as new.
	sweepsPerRun = 200
)

// ReplySweeperInput sets the sweeper's pace (zero values: the defaults).
type ReplySweeperInput struct {
	Every     time.Duration
	OlderThan time.Duration
}

// ReplySweeperWorkflow periodically fails agents' replies that stayed 'sending'
// without a send attempt for longer than OlderThan: replies whose starter died
// between storing them and handing them to Temporal, or whose update never
// reached the workflow. Without it such a reply says "sending" for ever, is never
// sent, and nobody is told (RELIABILITY.md, problem 4).
func ReplySweeperWorkflow(ctx workflow.Context, in ReplySweeperInput) error {
	if in.Every <= 0 {
		in.Every = SweepEvery
	}
	if in.OlderThan <= 0 {
		in.OlderThan = UnsentReplyAfter
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	for range sweepsPerRun {
		// A failed sweep (Postgres down) is retried at the next one.
		_ = workflow.ExecuteActivity(actx, a.SweepUnsentReplies, activities.SweepUnsentRepliesInput{
			OlderThan: in.OlderThan, Max: 100,
		}).Get(ctx, nil)
		if err := workflow.Sleep(ctx, in.Every); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, ReplySweeperWorkflow, in)
}

// StartReplySweeper starts the task queue's sweeper unless it runs already; every
// worker calls it at start, so a terminated sweeper comes back with the next one.
func StartReplySweeper(ctx context.Context, c client.Client, taskQueue string, in ReplySweeperInput) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ReplySweeperWorkflowID(taskQueue),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, ReplySweeperWorkflow, in)
	return err
}
