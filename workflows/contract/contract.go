// Package contract is how the other processes reach the channel's workflows: the
// starter's handlers and the worker's activities both use it, and package workflows
// implements it. It holds the workflow ids and type names, the names of the
// signals, updates and queries with what they carry, and the client calls that more
// than one process makes (waking a queue).
//
// It sits below both workflows and activities: the workflows call the activities by
// method value, so activities must not import workflows.
//
// What the workflows carry are ids, never secrets and never message text: activities
// read those from Postgres, so history stays small and a customer's words can be erased.
package contract

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Workflow type names, as package workflows registers them: a process that starts
// a workflow by SignalWithStart names its type without importing the workflow code.
const (
	ConversationWorkflowType    = "ConversationWorkflow"
	QueueWorkflowType           = "QueueWorkflow"
	PageWorkflowType            = "PageWorkflow"
	AccountDeletionWorkflowType = "AccountDeletionWorkflow"
	ReplySweeperWorkflowType    = "ReplySweeperWorkflow"
)

// Workflow IDs are deterministic so the webhook can signal-with-start without a lookup.
func ConversationWorkflowID(pageID, psid string) string {
	return "conversation:" + pageID + ":" + psid
}

func PageWorkflowID(pageUUID string) string { return "page:" + pageUUID }

func AccountDeletionWorkflowID(accountID string) string { return "account-deletion:" + accountID }

func QueueWorkflowID(queueID string) string { return "queue:" + queueID }

// Signal, update and query names.
const (
	SignalInbound = "inbound" // InboundEvent: one customer event
	// SignalInboundBatch carries []InboundEvent: the relay hands a
	// conversation's pending inbox events on in one signal, in commit order.
	SignalInboundBatch = "inbound-batch"
	SignalAssigned     = "assigned"      // Assignment, from the queue workflow
	SignalQueueWake    = "wake"          // struct{}: capacity or work may have appeared
	SignalReprovision  = "reprovision"   // struct{}: the page's token was replaced
	SignalTokenInvalid = "token-invalid" // TokenInvalid: a Graph call answered 190
	SignalPageActive   = "page-active"   // struct{}: the page is active again; send parked replies
	SignalDeletePage   = "delete"        // struct{}: the admin deleted the page (or its account)
	// SignalCloseRequested carries a CloseRequest: the service closes a conversation.
	SignalCloseRequested = "close-requested"
	UpdateSendMessage    = "send-message"
	UpdateClose          = "close"
	QueryState           = "state"
)

// Conversation statuses, as in CONTRACT.md.
const (
	StatusWaiting  = "waiting"
	StatusBot      = "bot"
	StatusAssigned = "assigned"
	StatusClosed   = "closed"
)

// Messenger's messaging windows (FACEBOOK.md).
const (
	StandardMessagingWindow = 24 * time.Hour
	HumanAgentWindow        = 7 * 24 * time.Hour
)

// Search attributes shown in the Temporal UI; the worker registers them when missing.
var (
	ConversationStatusKey = temporal.NewSearchAttributeKeyKeyword("ConversationStatus")
	FacebookPageIDKey     = temporal.NewSearchAttributeKeyKeyword("FacebookPageID")
	CustomerPSIDKey       = temporal.NewSearchAttributeKeyKeyword("CustomerPSID")
	AgentIDKey            = temporal.NewSearchAttributeKeyKeyword("AgentID")
)

// InboundEvent references one webhook event stored in inbound_events.
type InboundEvent struct {
	PageUUID  string
	PageID    string
	PSID      string
	EventKey  string
	Kind      string
	Timestamp int64 // Facebook's, in milliseconds
}

// ConversationInput starts a run: a brand-new conversation (Pending holds the
// events that opened it), a reopened one (Reopen), or a continued one (State).
type ConversationInput struct {
	PageID  string
	PSID    string
	Pending []InboundEvent
	Reopen  *ReopenRequest
	State   *ConversationState
}

type ReopenRequest struct {
	ConversationID string
	AgentID        string
}

// ConversationState is everything a run needs to go on after continue-as-new.
type ConversationState struct {
	ConversationID        string
	CustomerID            string
	PageUUID              string
	PageID                string
	PSID                  string
	QueueID               string
	AgentID               string
	Status                string
	LastCustomerMessageAt time.Time
	// Recent event keys, so a redelivered webhook adds nothing even before the
	// database is asked; bounded by maxSeenKeys.
	SeenKeys []string
	// Parked holds replies accepted while the page needs re-authorisation, in
	// the order the agents sent them.
	Parked []SendMessageRequest
	// AssignedAt is the time of the assignment AgentID comes from.
	AssignedAt time.Time
	// AutoCloseAfter is the workstream's inactivity limit when the conversation
	// opened (0: none): it closes that long after the customer's last message.
	AutoCloseAfter time.Duration
	// NoticeSeq numbers the automated notices of this conversation: each one's
	// message id derives from it, so none is sent twice.
	NoticeSeq int
	// AnnounceAgent: an agent was assigned and the customer has not been told yet.
	AnnounceAgent bool
	// Clock holds the workstream's timeouts and what their timers count from.
	Clock TimeoutClock
	// HoldUntil: out of hours, the conversation enters its queue at this time (a
	// durable timer of the run; zero when not held).
	HoldUntil time.Time
	// HoldReturnAt: the customer wrote to the conversation on hold while its agent
	// had no room; at this time it goes back to the agent or is routed again.
	HoldReturnAt time.Time
	// Offer is the conversation's offer to an agent, until accepted, declined or
	// run out.
	Offer *Offer
	// StateSeq is the highest Seq of the assignments and state changes applied:
	// a signal that arrives late, after a newer change's, is ignored.
	StateSeq int64
}

// SendMessageRequest asks the workflow to send a reply the starter stored as "sending".
type SendMessageRequest struct {
	ConversationID string
	MessageID      string
	AgentID        string
	// HumanAgentAllowed is the workstream's HUMAN_AGENT setting at the time of the
	// send, so enabling it applies to open conversations at once.
	HumanAgentAllowed bool
}

// SendOutcome is the real result of a send, as the agent API returns it.
type SendOutcome struct {
	MessageID         string `json:"id"`
	Status            string `json:"status"`
	Error             string `json:"error"`
	Reason            string `json:"reason,omitempty"`
	FacebookMessageID string `json:"facebook_message_id"`
}

type CloseRequest struct {
	ConversationID string
	// AgentID is who asks. With Reason CloseReasonAgent the close is refused
	// (not_assigned) when the conversation is no longer that agent's.
	AgentID     string
	Reason      string
	Disposition string
	// NotifyCustomer sends the customer an automated message first, when
	// Messenger's standard window allows it (automated messages never use tags).
	NotifyCustomer string
	// End: the agent ends the conversation, which goes to wrap-up when its
	// workstream has one (otherwise it closes).
	End bool
}

type AccountInput struct {
	AccountID string
}

// Close reasons.
const (
	CloseReasonAgent          = "agent_closed"
	CloseReasonWindowExpired  = "window_expired"
	CloseReasonChannelDeleted = "channel_deleted"
	CloseReasonInactive       = "inactive"
)

// Assignment is one decision of a queue workflow.
type Assignment struct {
	ConversationID string
	PageID         string
	PSID           string
	AgentID        string
	QueueID        string
	// AssignedAt is the database's time of the decision: a signal about an older
	// decision that arrives after a newer one (a transfer) is ignored.
	AssignedAt time.Time
	// Offered: the decision is an offer to the agent (the workstream does not
	// auto-accept), which runs out at OfferExpiresAt; AssignedAt is its time.
	Offered        bool
	OfferExpiresAt time.Time
	// Seq is the conversation's state_seq after the decision (Postgres raises it
	// with every change of its status or agent): the workflow ignores a signal
	// whose Seq is not above the last one it applied. 0: none (applied as is).
	Seq int64
}

type QueueInput struct {
	QueueID string
}

// TokenInvalid is what an activity that got error 190 tells the page workflow.
type TokenInvalid struct {
	LastError string
}

// ParkedReason is the answer for a reply accepted while its page needs re-authorisation.
const ParkedReason = "page needs re-authorisation"

type PageInput struct {
	PageUUID string
}

// PageStatus is what the page workflow's query answers (and the Temporal UI shows).
type PageStatus struct {
	PageUUID           string
	ProvisioningStatus string
	LastError          string
	// TokenExpiresAt is zero for tokens that do not expire by date.
	TokenExpiresAt    time.Time
	LastHealthCheckAt time.Time
	// ParkedReplies is how many agents' replies waited for this page when it was
	// last provisioned or checked.
	ParkedReplies int
}

// Page health timing: every token is checked daily, and sooner when it is close to
// its expiry, so that a refresh (or a warning to the admin) comes in time.
const (
	PageHealthCheckInterval = 24 * time.Hour
	TokenRefreshBefore      = 10 * 24 * time.Hour
)

// WakeQueues tells each queue's workflow that an assignment may have become
// possible (work enqueued, capacity freed, an agent available), starting the
// workflow when it is not running, so a queue never started or terminated cannot
// strand waiting work. Wakes are coalesced by the workflow into one pass. The
// starter's handlers and the WakeQueues activity both wake queues this way.
func WakeQueues(ctx context.Context, c client.Client, taskQueue string, queueIDs []string) error {
	seen := map[string]bool{}
	for _, id := range queueIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		_, err := c.SignalWithStartWorkflow(ctx, QueueWorkflowID(id), SignalQueueWake, struct{}{},
			client.StartWorkflowOptions{TaskQueue: taskQueue}, QueueWorkflowType, QueueInput{QueueID: id})
		if err != nil {
			return fmt.Errorf("wake queue %s: %w", id, err)
		}
	}
	return nil
}

// DeletePage starts the page's deletion saga in its workflow, starting the
// workflow when it is not running. The admin API (one page) and the account's
// deletion (each of its pages) both ask this way.
func DeletePage(ctx context.Context, c client.Client, taskQueue, pageUUID string) error {
	_, err := c.SignalWithStartWorkflow(ctx, PageWorkflowID(pageUUID), SignalDeletePage, struct{}{},
		client.StartWorkflowOptions{TaskQueue: taskQueue}, PageWorkflowType, PageInput{PageUUID: pageUUID})
	if err != nil {
		return fmt.Errorf("delete page %s: %w", pageUUID, err)
	}
	return nil
}
