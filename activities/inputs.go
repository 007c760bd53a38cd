package activities

import (
	"time"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// The inputs and results of the activities, as the workflows pass and receive
// them. Ids only: an activity reads text and credentials from Postgres.

type OpenConversationInput struct {
	ConversationID string
	PageUUID       string
	PageID         string
	PSID           string
	// Events are the first events to record (at most one batch), oldest first.
	Events []contract.InboundEvent
}

type OpenConversationResult struct {
	// Served is false when the page is gone (deleted, unknown): the run ends quietly.
	Served     bool
	CustomerID string
	QueueID    string
	// HasBot: the page's workstream has a bot, which gets the conversation first.
	HasBot bool
	// AutoCloseAfter is the workstream's inactivity limit (0: none).
	AutoCloseAfter time.Duration
	// Timeouts are the workstream's conversation timeouts (zero: off).
	Timeouts contract.ConversationTimeouts
	// Recorded is what recording Events did.
	Recorded RecordInboundResult
	// Routed: the conversation is in its queue (RoutedQueueID) and that queue was
	// woken. False with a bot, or when routing needs the profile first
	// (ProfileFirst): the workflow fetches it, then routes.
	Routed        bool
	RoutedQueueID string
	// Assignment: routed, and given to an agent (or offered) at once; the queue's
	// workflow was not woken for it.
	Assignment   *contract.Assignment
	ProfileFirst bool
	// Rules: the routed queue has operating hours or the workstream an overflow
	// before queueing; the workflow decides (EnqueueConversation) and Routed is false.
	Rules *store.QueueingRules
}

type FetchCustomerProfileInput struct {
	CustomerID string
	PageUUID   string
}

type RecordInboundInput struct {
	ConversationID string
	Events         []contract.InboundEvent
}

type RecordInboundResult struct {
	Recorded int
	// CustomerMessageAt is the latest time among the events that open or restart
	// the messaging window (zero if none did).
	CustomerMessageAt time.Time
	// Missing lists event keys that never appeared in inbound_events.
	Missing []string
	// AttachmentsRefused counts customer messages whose files the workstream refused.
	AttachmentsRefused int
	// BackFromHold: the conversation on hold is active with its agent again.
	// HoldReturnAfter > 0: it stays on hold (its agent has no room); the
	// workflow calls ReturnHeld after this long.
	BackFromHold    bool
	HoldReturnAfter time.Duration
	// Seq is the conversation's state_seq once back from hold (0: none), as
	// for the assigned and state-changed signals.
	Seq int64
}

// RecordStrayEventsInput is what a run started by echoes or receipts alone holds.
type RecordStrayEventsInput struct {
	PageID string
	PSID   string
	Events []contract.InboundEvent
}

type RouteConversationInput struct {
	ConversationID string
}

type RouteConversationResult struct {
	QueueID string
	// Rules: not queued yet; the workflow decides (EnqueueConversation).
	Rules *store.QueueingRules
}

type WakeQueuesInput struct {
	QueueIDs []string
}

type AssignQueueInput struct {
	QueueID string
	// Max bounds one activity call; the queue workflow calls again while it is reached.
	Max int
	// PassKey names the pass (the queue workflow's run and pass number), the same
	// for each attempt: a retry answers what an earlier attempt assigned.
	PassKey string
}

// AssignQueueResult is one assignment pass of a queue.
type AssignQueueResult struct {
	Assignments []contract.Assignment
	// NextOverflowAt is when the first waiting conversation reaches its
	// workstream's maximum wait; zero when none can overflow.
	NextOverflowAt time.Time
	// DeferredTo lists higher-priority queues an available agent with room was
	// left to; the queue looks again shortly in case they gave their work to others.
	DeferredTo []string
	// Incomplete: the pass stopped on an error after some assignments; pass again.
	Incomplete bool
	// NextAffinityEndAt is when the first conversation waiting for its preferred
	// agents stops waiting; zero when none waits.
	NextAffinityEndAt time.Time
}

type OverflowWaitingInput struct {
	QueueID string
}

type OverflowWaitingResult struct {
	// QueueIDs hold conversations that overflowed from the queue and still wait: wake them.
	QueueIDs []string
}

type SendMessageInput struct {
	MessageID     string
	MessagingType string // RESPONSE | MESSAGE_TAG
	Tag           string // HUMAN_AGENT with MESSAGE_TAG
}

type MarkMessageFailedInput struct {
	MessageID string
	Reason    string
	Error     string
}

// Kinds of automated notice (store.AutomatedKinds has their texts and settings).
const (
	NoticeGreeting          = "greeting"
	NoticeAgentJoined       = "agent_joined"
	NoticeAgentEnded        = "agent_ended"
	NoticeInactiveClosed    = "inactive_closed"
	NoticeSurvey            = "survey"
	NoticeAttachmentRefused = "attachment_refused"
	NoticeCustomerTimeout   = "customer_timeout"
)

// SendNoticeInput asks for one automated message; the activity sends nothing when
// the workstream has this kind switched off.
type SendNoticeInput struct {
	ConversationID string
	// MessageID is derived from the conversation and the notice's sequence number,
	// so a retried activity or a replayed workflow sends it once.
	MessageID string
	Kind      string
	// NextOpening fills {next_opening} (out_of_hours), named in TimeZone.
	NextOpening time.Time
	TimeZone    string
}

type SendAutomatedMessageInput struct {
	ConversationID string
	// MessageID is chosen by the workflow, so a retried activity sends once.
	MessageID string
	Text      string
}

type CloseConversationInput struct {
	ConversationID string
	Reason         string
	Disposition    string
	// AgentID is the agent who closes ("" for the service's own closes): a
	// conversation no longer theirs is not closed (not_assigned).
	AgentID string
	// Notices are sent first, in order (the farewell, the survey), so the
	// transcript ends with them. One that still cannot be sent after a few
	// attempts does not keep the conversation open.
	Notices []SendNoticeInput
}

type CloseConversationResult struct {
	// QueueIDs of the freed agent: their queue workflows are woken to use the capacity.
	QueueIDs []string
	// AgentID is the conversation's agent in Postgres ("" if it had none). The
	// queue's assigned signal may still be on its way (an agent can close as soon as
	// the assignment commits), and after the close the run ignores it.
	AgentID string
}

type AskBotInput struct {
	ConversationID string
}

// AskBotResult says whether the bot handed the conversation over to people.
type AskBotResult struct {
	Handoff bool
}

type HandOffFromBotInput struct {
	ConversationID string
	Reason         string
}

type SetPageStatusInput struct {
	PageUUID           string
	ProvisioningStatus string
	LastError          string
}

// SweepUnsentRepliesInput is one sweep.
type SweepUnsentRepliesInput struct {
	OlderThan time.Duration
	Max       int
}

// SweepUnsentRepliesResult counts what a sweep did.
type SweepUnsentRepliesResult struct {
	Failed   int // marked failed (not_sent), their agents told
	InFlight int // still known to their workflow: left to it
}
