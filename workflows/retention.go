package workflows

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Defaults of the retention run.
const (
	// RetentionEvery is the schedule's pace.
	RetentionEvery = 24 * time.Hour
	// RetentionBatch bounds one step: one transaction, a few seconds at most.
	RetentionBatch = 200
	// retentionStepsPerRun bounds a run's history; then it continues as new
	// with its progress.
	retentionStepsPerRun = 500
)

// RetentionInput is a retention run. A scheduled run starts with zero values;
// a run that continued as new carries its progress, so the cutoffs stay those
// of its start and the counts add up.
type RetentionInput struct {
	BatchSize int
	// StepsPerRun bounds the steps before the run continues as new (0: 500).
	StepsPerRun int
	// StartedAt is when the run began (zero: now).
	StartedAt time.Time
	// Accounts are the accounts of the run with what was erased so far, and
	// Next the index of the one in progress; nil: not listed yet.
	Accounts []AccountRetention
	Next     int
}

// AccountRetention is what a run erased of one account.
type AccountRetention struct {
	AccountID string    `json:"account_id"`
	Days      int       `json:"days"`
	Cutoff    time.Time `json:"cutoff"`
	store.RetentionBatch
}

// RetentionResult is the run's report.
type RetentionResult struct {
	StartedAt time.Time            `json:"started_at"`
	Accounts  []AccountRetention   `json:"accounts"`
	Total     store.RetentionBatch `json:"total"`
}

// A step is a database transaction; failed steps are retried for about half an
// hour, then the run fails and the next day's run picks up what is left (every
// step is idempotent: it only finds what is still there).
func withRetentionActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute, RetryPolicy: backoff(time.Second, time.Minute, 30),
	})
}

// RetentionWorkflow erases, for every account with retention_days, the
// transcripts of conversations closed more than that many days ago (texts and
// attachment URLs; the message rows stay as "deleted" markers so reports add
// up) and the stored webhook events and unreadable deliveries received before
// then. Conversations still open are kept whatever their age. It works in
// bounded, committed batches: after a crash the workflow resumes at the step
// it was in, and a repeated step finds only what is left.
func RetentionWorkflow(ctx workflow.Context, in RetentionInput) (RetentionResult, error) {
	if in.BatchSize <= 0 {
		in.BatchSize = RetentionBatch
	}
	if in.StepsPerRun <= 0 {
		in.StepsPerRun = retentionStepsPerRun
	}
	if in.StartedAt.IsZero() {
		in.StartedAt = workflow.Now(ctx).UTC()
	}
	actx := withRetentionActivity(ctx)
	if in.Accounts == nil {
		var accounts []store.RetentionAccount
		if err := workflow.ExecuteActivity(actx, a.RetentionAccounts).Get(ctx, &accounts); err != nil {
			return RetentionResult{}, err
		}
		in.Accounts = make([]AccountRetention, 0, len(accounts))
		for _, acc := range accounts {
			in.Accounts = append(in.Accounts, AccountRetention{
				AccountID: acc.ID, Days: acc.Days,
				Cutoff: in.StartedAt.Add(-time.Duration(acc.Days) * 24 * time.Hour),
			})
		}
	}
	steps := 0
	for ; in.Next < len(in.Accounts); in.Next++ {
		acc := &in.Accounts[in.Next]
		step := activities.RetentionStepInput{AccountID: acc.AccountID, Cutoff: acc.Cutoff, Limit: in.BatchSize}
		for _, erase := range []func(context.Context, activities.RetentionStepInput) (store.RetentionBatch, error){
			a.EraseExpiredTranscripts, a.DeleteExpiredInbox,
		} {
			for {
				if steps == in.StepsPerRun {
					return RetentionResult{}, workflow.NewContinueAsNewError(ctx, RetentionWorkflow, in)
				}
				steps++
				var b store.RetentionBatch
				if err := workflow.ExecuteActivity(actx, erase, step).Get(ctx, &b); err != nil {
					return RetentionResult{}, err
				}
				acc.RetentionBatch = addBatch(acc.RetentionBatch, b)
				if b.Conversations < int64(in.BatchSize) && b.InboundEvents < int64(in.BatchSize) && b.Unreadable < int64(in.BatchSize) {
					break
				}
			}
		}
	}
	res := RetentionResult{StartedAt: in.StartedAt, Accounts: in.Accounts}
	for _, acc := range in.Accounts {
		res.Total = addBatch(res.Total, acc.RetentionBatch)
	}
	workflow.GetLogger(ctx).Info("retention erased", "accounts", len(res.Accounts),
		"conversations", res.Total.Conversations, "messages", res.Total.Messages, "agent_events", res.Total.AgentEvents,
		"inbound_events", res.Total.InboundEvents, "unreadable", res.Total.Unreadable)
	return res, nil
}

func addBatch(x, y store.RetentionBatch) store.RetentionBatch {
	return store.RetentionBatch{
		Conversations: x.Conversations + y.Conversations, Messages: x.Messages + y.Messages,
		AgentEvents: x.AgentEvents + y.AgentEvents, InboundEvents: x.InboundEvents + y.InboundEvents,
		Unreadable: x.Unreadable + y.Unreadable,
	}
}

// StartRetentionSchedule creates the task queue's daily retention schedule
// unless it exists; every worker calls it at start. A run still going when
// the next is due makes the next one skip.
func StartRetentionSchedule(ctx context.Context, c client.Client, taskQueue string) error {
	id := contract.RetentionScheduleID(taskQueue)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: RetentionEvery}}},
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID: id, Workflow: contract.RetentionWorkflowType, TaskQueue: taskQueue,
			Args: []any{RetentionInput{}},
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}
