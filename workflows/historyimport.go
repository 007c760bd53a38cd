package workflows

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

const (
	// HistoryCallGap paces a page's Conversations API calls: Facebook allows
	// 2 per second per page, and calls a little more than half a second apart
	// never put three into one second. The pause is a durable timer, so a
	// resumed import keeps the pace too.
	HistoryCallGap = 550 * time.Millisecond
	// historyStepsPerRun bounds a run's history; then it continues as new.
	historyStepsPerRun = 300
)

// HistoryImportInput is a page's import. A new import sets only PageUUID; a
// run that continued as new carries its progress.
type HistoryImportInput struct {
	PageUUID string
	// StepsPerRun bounds the Graph calls before continuing as new (0: 300).
	StepsPerRun int
	// Since is the oldest time imported (zero: not started yet).
	Since time.Time
	// ListAfter is the cursor of the thread list; ListDone when all recent
	// threads are listed.
	ListAfter string
	ListDone  bool
	// Pending threads are listed and not imported yet; ThreadAfter is the
	// cursor within the first.
	Pending     []activities.PastThreadRef
	ThreadAfter string
	// Days of history; Messages added so far.
	Days     int
	Messages int
}

// HistoryImportResult is the import's report (no content: ids and counts).
type HistoryImportResult struct {
	Days     int `json:"days"`
	Messages int `json:"messages"`
}

// HistoryImportWorkflow imports a newly connected page's recent Messenger
// threads (import_history_days) as closed conversations with their
// transcripts, so a returning customer's agent sees what was said before.
// Every call to the Conversations API is an activity of its own that stores
// its page of messages in one transaction, keyed by Facebook's ids: a crash
// resumes at the step it was in and nothing is imported twice.
func HistoryImportWorkflow(ctx workflow.Context, in HistoryImportInput) (HistoryImportResult, error) {
	if in.StepsPerRun <= 0 {
		in.StepsPerRun = historyStepsPerRun
	}
	dbctx := withDatabaseActivity(ctx)
	gctx := withGraphActivity(ctx)
	page := contract.PageInput{PageUUID: in.PageUUID}
	res := HistoryImportResult{Days: in.Days}
	if in.Since.IsZero() {
		var days int
		if err := workflow.ExecuteActivity(dbctx, a.StartHistoryImport, page).Get(ctx, &days); err != nil {
			return res, err
		}
		res.Days, in.Days = days, days
		if days == 0 {
			return res, nil
		}
		in.Since = workflow.Now(ctx).Add(-time.Duration(days) * 24 * time.Hour)
	}
	fail := func(err error) (HistoryImportResult, error) {
		_, sentence := failureOf(err)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Message() != "" {
			sentence = appErr.Message()
		}
		dctx, _ := workflow.NewDisconnectedContext(dbctx)
		_ = workflow.ExecuteActivity(dctx, a.FinishHistoryImport, activities.FinishHistoryImportInput{
			PageUUID: in.PageUUID, Failure: "The history import stopped: " + sentence,
		}).Get(dctx, nil)
		return res, err
	}
	for steps := 0; len(in.Pending) > 0 || !in.ListDone; steps++ {
		if steps == in.StepsPerRun {
			return res, workflow.NewContinueAsNewError(ctx, HistoryImportWorkflow, in)
		}
		if err := workflow.Sleep(ctx, HistoryCallGap); err != nil {
			return res, err
		}
		if len(in.Pending) == 0 {
			var list activities.PastThreads
			err := workflow.ExecuteActivity(gctx, a.ListPastThreads, activities.PastThreadsInput{
				PageUUID: in.PageUUID, After: in.ListAfter, Since: in.Since,
			}).Get(ctx, &list)
			if err != nil {
				return fail(err)
			}
			in.Pending, in.ListAfter, in.ListDone = list.Threads, list.After, list.After == ""
			continue
		}
		var got activities.PastThreadPage
		err := workflow.ExecuteActivity(gctx, a.ImportPastThreadPage, activities.PastThreadPageInput{
			PageUUID: in.PageUUID, Thread: in.Pending[0], After: in.ThreadAfter, Since: in.Since,
		}).Get(ctx, &got)
		if err != nil {
			return fail(err)
		}
		in.Messages += got.Added
		if in.ThreadAfter = got.After; got.After == "" {
			in.Pending = in.Pending[1:]
		}
	}
	if err := workflow.ExecuteActivity(dbctx, a.FinishHistoryImport, activities.FinishHistoryImportInput{PageUUID: in.PageUUID}).Get(ctx, nil); err != nil {
		return res, err
	}
	res.Days, res.Messages = in.Days, in.Messages
	workflow.GetLogger(ctx).Info("history imported", "page_uuid", in.PageUUID, "messages", in.Messages)
	return res, nil
}

// StartHistoryImport starts the page's import unless one is running or has
// finished; one that failed (a token refused, say) starts again, e.g. when
// the admin saves a new token.
func StartHistoryImport(ctx context.Context, c client.Client, taskQueue, pageUUID string) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contract.HistoryImportWorkflowID(pageUUID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, HistoryImportWorkflow, HistoryImportInput{PageUUID: pageUUID})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}
