package contract

// Business rules' workflows (issue 15).
const (
	// RetentionWorkflowType is started daily by the retention schedule.
	RetentionWorkflowType = "RetentionWorkflow"
	// HistoryImportWorkflowType imports a newly connected page's recent threads.
	HistoryImportWorkflowType = "HistoryImportWorkflow"
)

// RetentionScheduleID is the one retention schedule of a task queue (a deployment).
func RetentionScheduleID(taskQueue string) string { return "retention:" + taskQueue }

// HistoryImportWorkflowID is the page's history import: one at a time per page.
func HistoryImportWorkflowID(pageUUID string) string { return "history-import:" + pageUUID }
