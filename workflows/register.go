package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// a is the activities as the workflows call them: by method value, so the
// compiler checks each activity's name and argument types. The value is never
// used; the worker registers its own *activities.Activities (the Temporal SDK
// takes the activity's name from the method).
var a *activities.Activities

// Register adds every workflow of the channel to a worker, under the type names
// package contract gives the other processes.
func Register(w worker.WorkflowRegistry) {
	register := func(fn any, name string) {
		w.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	register(ConversationWorkflow, contract.ConversationWorkflowType)
	register(PageWorkflow, contract.PageWorkflowType)
	register(QueueWorkflow, contract.QueueWorkflowType)
	register(AccountDeletionWorkflow, contract.AccountDeletionWorkflowType)
	register(ReplySweeperWorkflow, contract.ReplySweeperWorkflowType)
	register(RetentionWorkflow, contract.RetentionWorkflowType)
	register(HistoryImportWorkflow, contract.HistoryImportWorkflowType)
	register(WrapUpWorkflow, contract.WrapUpWorkflowType)
}

// EnsureSearchAttributes registers the custom search attributes the workflows set,
// when the server does not have them yet (a bare dev server, a new namespace).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	want := []string{contract.ConversationStatusKey.GetName(), contract.FacebookPageIDKey.GetName(), contract.CustomerPSIDKey.GetName(), contract.AgentIDKey.GetName()}
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
