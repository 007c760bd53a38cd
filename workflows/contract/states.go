package contract

import "time"

// Conversation states of Omnichannel (issue 13). "active" is the Omnichannel name
// of StatusAssigned: the API keeps reporting "assigned" (clients rely on it) and
// accepts "active" wherever a status is given as a filter (ParseStatusFilter).
const (
	StatusActive  = "active"
	StatusOnHold  = "on_hold"
	StatusWrapUp  = "wrap_up"
	StatusOffered = "offered"
)

// ParseStatusFilter maps a status given as a filter to the stored one: "active"
// is "assigned".
func ParseStatusFilter(status string) string {
	if status == StatusActive {
		return StatusAssigned
	}
	return status
}

// SignalStateChanged carries a StateChange: the service changed the
// conversation's state outside the workflow (hold), so its search attribute
// shows it.
const SignalStateChanged = "state-changed"

// StateChange is a conversation's new status, as Postgres committed it.
type StateChange struct {
	ConversationID string
	Status         string
	// Seq is the conversation's state_seq after the change, as for Assignment.
	Seq int64
}

// WrapUpWorkflowType keeps a conversation's wrap-up: the Temporal UI shows it, and
// in a workstream whose wrap-up lasts N seconds its durable timer ends it.
const WrapUpWorkflowType = "WrapUpWorkflow"

// WrapUpWorkflowID is the wrap-up of one conversation (it outlives the customer's
// conversation workflow run: a customer message during wrap-up opens the next
// conversation there).
func WrapUpWorkflowID(conversationID string) string { return "wrap-up:" + conversationID }

// SignalWrapUpFinished (struct{}): the agent finished the wrap-up (the API has
// closed the conversation in Postgres).
const SignalWrapUpFinished = "wrap-up-finished"

// WrapUpInput starts a conversation's wrap-up workflow.
type WrapUpInput struct {
	ConversationID string
	PageID         string
	PSID           string
	AgentID        string
	// Limit > 0: the wrap-up ends by itself after this long (the workstream's
	// "block for N seconds"); 0: it lasts until the agent finishes it.
	Limit time.Duration
}

// Offer is a conversation offered to an agent (AssignedAt of its Assignment is
// OfferedAt): its countdown is a durable timer of the conversation's workflow.
type Offer struct {
	AgentID   string
	OfferedAt time.Time
	ExpiresAt time.Time
}
