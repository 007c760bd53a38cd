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
// package contract gives the other processes, each with its versioning behavior
// (used when the worker runs with Worker Deployment
// Versioning, ignored otherwise).
func Register(w worker.WorkflowRegistry) {
	for _, wf := range registered {
		w.RegisterWorkflowWithOptions(wf.fn, workflow.RegisterOptions{Name: wf.name, VersioningBehavior: wf.versioning})
	}
}

// registered lists the workflows with their versioning behavior. Auto-upgrade
// moves a running workflow to the deployment's current build at its next task:
// the long-lived ones need it, a conversation lives for days and the queue, page
// and sweeper workflows never end (they continue-as-new, and a pinned run's
// continuation stays pinned on server 1.29.1, which cannot upgrade at
// continue-as-new), so pinning them would keep the old build alive for ever.
// Their code changes must therefore replay old histories (the replay tests over
// testdata/*-v1.json). Pinned keeps a bounded job on the build that started it,
// to finish there while the old build drains: no replay risk for them.
var registered = []struct {
	fn         any
	name       string
	versioning workflow.VersioningBehavior
}{
	{ConversationWorkflow, contract.ConversationWorkflowType, workflow.VersioningBehaviorAutoUpgrade},
	{PageWorkflow, contract.PageWorkflowType, workflow.VersioningBehaviorAutoUpgrade},
	{QueueWorkflow, contract.QueueWorkflowType, workflow.VersioningBehaviorAutoUpgrade},
	{ReplySweeperWorkflow, contract.ReplySweeperWorkflowType, workflow.VersioningBehaviorAutoUpgrade},
	// Minutes of deletes, a retention pass, an import of a page's history, a
	// wrap-up: each ends, and the next starts on the current build.
	{AccountDeletionWorkflow, contract.AccountDeletionWorkflowType, workflow.VersioningBehaviorPinned},
	{RetentionWorkflow, contract.RetentionWorkflowType, workflow.VersioningBehaviorPinned},
	{HistoryImportWorkflow, contract.HistoryImportWorkflowType, workflow.VersioningBehaviorPinned},
	// A wrap-up lasts until the agent finishes it or its time runs out.
	{WrapUpWorkflow, contract.WrapUpWorkflowType, workflow.VersioningBehaviorPinned},
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
