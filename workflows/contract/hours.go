package contract

// Close reasons of the rules before queueing (store/hours.go).
const (
	// CloseReasonOutOfHours: the queue was closed and the workstream ends such
	// conversations (out_of_hours.action end), after telling when it opens.
	CloseReasonOutOfHours = "out_of_hours"
	// CloseReasonQueueFull: the queue held overflow.max_waiting conversations and
	// the workstream ends the next ones (overflow.action end).
	CloseReasonQueueFull = "queue_full"
)
