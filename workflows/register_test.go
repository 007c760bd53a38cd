package workflows_test

import (
	"testing"

	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// Register names each workflow by its contract type name, while a process that
// passes the function itself (ExecuteWorkflow, continue-as-new) names it by the
// function's name: the two must stay the same.
func TestWorkflowTypeNamesAreTheFunctionNames(t *testing.T) {
	for typ, fn := range map[string]any{
		contract.ConversationWorkflowType:    workflows.ConversationWorkflow,
		contract.QueueWorkflowType:           workflows.QueueWorkflow,
		contract.PageWorkflowType:            workflows.PageWorkflow,
		contract.AccountDeletionWorkflowType: workflows.AccountDeletionWorkflow,
		contract.ReplySweeperWorkflowType:    workflows.ReplySweeperWorkflow,
		contract.RetentionWorkflowType:       workflows.RetentionWorkflow,
		contract.HistoryImportWorkflowType:   workflows.HistoryImportWorkflow,
		contract.WrapUpWorkflowType:          workflows.WrapUpWorkflow,
	} {
		if got := activityName(fn); got != typ {
			t.Errorf("workflow function %s is registered as %s", got, typ)
		}
	}
}
