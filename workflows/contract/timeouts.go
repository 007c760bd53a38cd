package contract

import "time"

// ConversationTimeouts are the workstream's conversation timeouts when the
// conversation opened (zero: off).
type ConversationTimeouts struct {
	// Customer: after the agent's last message, no reply from the customer for
	// this long closes the conversation with the customer_timeout message.
	Customer time.Duration
	// AgentRemind / AgentReoffer: the customer has waited unanswered this long:
	// the agent is reminded / the conversation goes back to its queue.
	AgentRemind  time.Duration
	AgentReoffer time.Duration
}

// TimeoutClock is what the timeouts' timers count from, in workflow time.
type TimeoutClock struct {
	Timeouts ConversationTimeouts
	// CustomerWaitingSince: the customer's first message the agent has not
	// answered (zero: none waits).
	CustomerWaitingSince time.Time
	// AgentRepliedAt: the agent's last reply sent.
	AgentRepliedAt time.Time
	// AgentSince: when the conversation's agent got it.
	AgentSince time.Time
	// RemindedFor / ReofferedFor: the waiting start the agent was reminded
	// about / the conversation was re-offered for (each happens once per wait).
	RemindedFor  time.Time
	ReofferedFor time.Time
}

// CloseReasonCustomerTimeout: the customer did not answer the agent in time.
const CloseReasonCustomerTimeout = "customer_timeout"
