package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"fbchannel/workflows/contract"
)

// withWaitActivity polls for a state another workflow reaches (conversations
// closed, pages deleted): the activity fails until it is reached, and the retry
// policy is the poll. Bounded, so a stuck conversation cannot block a deletion.
func withWaitActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 1.5,
			MaximumInterval:    15 * time.Second,
		},
	})
}

// deletePage is the page's deletion saga. Each step is idempotent and the workflow
// resumes where it stopped if the worker dies, so calling DELETE twice or
// crashing midway both end in `deleted`:
//  1. unsubscribe the app from the page (Facebook stops delivering);
//  2. close the page's open conversations, telling customers where the window allows;
//  3. erase the stored token and record `deleted`.
func (p *page) deletePage(ctx workflow.Context) error {
	p.ProvisioningStatus, p.LastError = "deleting", ""
	in := contract.PageInput{PageUUID: p.PageUUID}
	// A page whose token is already dead cannot be unsubscribed; deleting it
	// must still finish (the activity treats token errors as done).
	_ = workflow.ExecuteActivity(withGraphActivity(ctx), a.UnsubscribePage, in).Get(ctx, nil)
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.CloseConversationsOfPage, in).Get(ctx, nil); err != nil {
		return err
	}
	// Conversations close themselves (with the notice); any that do not within
	// the bound are closed by ErasePage in the database.
	_ = workflow.ExecuteActivity(withWaitActivity(ctx), a.AwaitConversationsClosed, in).Get(ctx, nil)
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ErasePage, in).Get(ctx, nil); err != nil {
		return err
	}
	p.ProvisioningStatus = "deleted"
	return nil
}

// AccountDeletionWorkflow deletes a configured channel: every page of the account
// runs its deletion saga, then the app secret is erased and the account is deleted.
func AccountDeletionWorkflow(ctx workflow.Context, in contract.AccountInput) error {
	if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.RequestPageDeletions, in).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(withWaitActivity(ctx), a.AwaitPagesDeleted, in).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteActivity(withDatabaseActivity(ctx), a.EraseAccount, in).Get(ctx, nil)
}
