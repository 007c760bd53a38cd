package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"

	"fbchannel/graph"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// UnsubscribePage stops Facebook's deliveries for the page. A token that no longer
// works cannot unsubscribe anything, and is not a reason to stop the deletion.
func (a *Activities) UnsubscribePage(ctx context.Context, in contract.PageInput) error {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // already erased
	}
	if err != nil {
		return err
	}
	err = a.Graph.UnsubscribeApp(ctx, cred.PageID, graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if gerr, ok := graph.AsError(err); ok && !gerr.Temporary() {
		return nil
	}
	if err != nil {
		return fromGraph(err)
	}
	return nil
}

// ChannelDeletedNotice is what customers of a deleted channel are told, when
// Messenger's standard window still allows an automated message.
const ChannelDeletedNotice = "This conversation has been closed. Thank you for contacting us."

// CloseConversationsOfPage asks each open conversation of the page to close,
// telling its customer where the window allows.
func (a *Activities) CloseConversationsOfPage(ctx context.Context, in contract.PageInput) error {
	open, err := a.Store.OpenConversationsOfPage(ctx, in.PageUUID)
	if err != nil {
		return err
	}
	for _, c := range open {
		err := a.Temporal.SignalWorkflow(ctx, contract.ConversationWorkflowID(c.PageID, c.PSID), "", contract.SignalCloseRequested,
			contract.CloseRequest{ConversationID: c.ID, Reason: contract.CloseReasonChannelDeleted, NotifyCustomer: ChannelDeletedNotice})
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return err
		}
	}
	return nil
}

// AwaitConversationsClosed fails (and so is retried) while conversations of the
// page are still open.
func (a *Activities) AwaitConversationsClosed(ctx context.Context, in contract.PageInput) error {
	open, err := a.Store.OpenConversationsOfPage(ctx, in.PageUUID)
	if err != nil {
		return err
	}
	if len(open) > 0 {
		return fmt.Errorf("%d conversations of the page are still open", len(open))
	}
	return nil
}

func (a *Activities) ErasePage(ctx context.Context, in contract.PageInput) error {
	return a.Store.ErasePage(ctx, in.PageUUID, contract.CloseReasonChannelDeleted)
}

// SendAutomatedMessage sends a message of the service itself (never tagged: tags
// are for human agents). Keyed on the workflow's message id, so a retry sends once.
func (a *Activities) SendAutomatedMessage(ctx context.Context, in SendAutomatedMessageInput) error {
	return a.sendAutomated(ctx, in.MessageID, in.ConversationID, "system", in.Text)
}

// RequestPageDeletions starts the deletion saga of every page of the account.
func (a *Activities) RequestPageDeletions(ctx context.Context, in contract.AccountInput) error {
	if err := a.Store.MarkPagesDeleting(ctx, in.AccountID); err != nil {
		return err
	}
	pages, err := a.Store.PagesNotDeleted(ctx, in.AccountID)
	if err != nil {
		return err
	}
	for _, id := range pages {
		if err := contract.DeletePage(ctx, a.Temporal, a.TaskQueue, id); err != nil {
			return err
		}
	}
	return nil
}

// AwaitPagesDeleted fails (and so is retried) until every page's saga finished.
func (a *Activities) AwaitPagesDeleted(ctx context.Context, in contract.AccountInput) error {
	pages, err := a.Store.PagesNotDeleted(ctx, in.AccountID)
	if err != nil {
		return err
	}
	if len(pages) > 0 {
		return fmt.Errorf("%d pages of the account are still being deleted", len(pages))
	}
	return nil
}

func (a *Activities) EraseAccount(ctx context.Context, in contract.AccountInput) error {
	return a.Store.EraseAccount(ctx, in.AccountID)
}
