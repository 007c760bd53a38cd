package activities

import (
	"context"
	"time"

	"fbchannel/store"
)

// RetentionAccounts lists the accounts whose transcripts expire.
func (a *Activities) RetentionAccounts(ctx context.Context) ([]store.RetentionAccount, error) {
	return a.Store.RetentionAccounts(ctx)
}

// RetentionStepInput is one bounded retention step of one account. Cutoff is
// fixed by the workflow for the whole run, so a retried step erases the same set.
type RetentionStepInput struct {
	AccountID string
	Cutoff    time.Time
	Limit     int
}

// EraseExpiredTranscripts erases one batch of the account's expired
// transcripts; it commits per batch, so a retry or a resumed run only finds
// what is left.
func (a *Activities) EraseExpiredTranscripts(ctx context.Context, in RetentionStepInput) (store.RetentionBatch, error) {
	return a.Store.EraseExpiredTranscripts(ctx, in.AccountID, in.Cutoff, in.Limit)
}

// DeleteExpiredInbox deletes one batch of the account's expired stored webhook
// events and unreadable deliveries.
func (a *Activities) DeleteExpiredInbox(ctx context.Context, in RetentionStepInput) (store.RetentionBatch, error) {
	return a.Store.DeleteExpiredInbox(ctx, in.AccountID, in.Cutoff, in.Limit)
}
