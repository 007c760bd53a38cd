package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// Register adds every workflow of the channel to a worker.
func Register(w worker.WorkflowRegistry) {
	w.RegisterWorkflow(ConversationWorkflow)
	w.RegisterWorkflow(PageWorkflow)
	w.RegisterWorkflow(QueueWorkflow)
	w.RegisterWorkflow(AccountDeletionWorkflow)
	w.RegisterWorkflow(ReplySweeperWorkflow)
}

// EnsureSearchAttributes registers the custom search attributes the workflows set,
// when the server does not have them yet (a bare dev server, a new namespace).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	want := []string{ConversationStatusKey.GetName(), FacebookPageIDKey.GetName(), CustomerPSIDKey.GetName(), AgentIDKey.GetName()}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range want {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}
