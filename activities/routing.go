package activities

import (
	"context"

	"fbchannel/workflows"
)

// RouteConversation chooses the conversation's queue and puts it there.
func (a *Activities) RouteConversation(ctx context.Context, in workflows.RouteConversationInput) (workflows.RouteConversationResult, error) {
	queueID, err := a.Store.RouteConversation(ctx, in.ConversationID)
	return workflows.RouteConversationResult{QueueID: queueID}, fromStore(err)
}
