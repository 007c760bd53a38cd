package store

import (
	"context"
	"database/sql"
	"maps"
	"slices"
)

// Opened is what opening a conversation with its first events did.
type Opened struct {
	Opening
	// Records are the first events' records, in the order given.
	Records []InboundRecord
	// Routed: the conversation is in its queue, RoutedQueueID. Not routed with a
	// bot, when routing waits for the profile (RoutesByLocale), or when the queue's
	// operating hours or an overflow before queueing decide first (Held).
	Routed        bool
	RoutedQueueID string
	Held          *QueueingRules
	// Assigned: routed and given (or offered) to an agent at once. Nil leaves it
	// to the queue's workflow; DeferredTo are the higher-priority queues an agent
	// was left to. Both want waking.
	Assigned   *Assigned
	DeferredTo []string
}

// OpenWithFirstEvents is a customer's first message in one transaction: it opens
// the conversation (OpenConversation), records its first events (RecordInbound)
// and, unless a bot has it or routing waits for the profile, routes it
// (RouteConversation) and makes its queue's pass for it (assignOpening). One
// commit instead of four is a few milliseconds off the way to the agent. Each
// step is idempotent on conversationID, so a retry redoes nothing twice and
// answers what the first attempt decided.
//
// With waitForMissing, an event not stored (Missing: its delivery failed after
// it was signalled, and Facebook redelivers it) stops the opening after
// recording: routing may look at the first message's text, so it waits for the
// retry that has it.
func (s *Store) OpenWithFirstEvents(ctx context.Context, conversationID, pageUUID, pageID, psid string, keys []InboundKey, waitForMissing bool) (Opened, error) {
	var o Opened
	deferred := map[string]bool{}
	err := s.InTx(ctx, func(tx *sql.Tx) (err error) {
		if o.Opening, err = openConversation(ctx, tx, conversationID, pageUUID, pageID, psid); err != nil || !o.Served {
			return err
		}
		if o.Records, err = s.recordInbound(ctx, tx, conversationID, keys); err != nil || o.Bot || o.RoutesByLocale {
			return err
		}
		if waitForMissing && slices.ContainsFunc(o.Records, func(r InboundRecord) bool { return r.Missing }) {
			return nil
		}
		if o.RoutedQueueID, o.Held, err = routeConversation(ctx, tx, conversationID); err != nil || o.Held != nil {
			return err
		}
		o.Routed = true
		o.Assigned, err = assignOpening(ctx, tx, conversationID, o.RoutedQueueID, deferred)
		return err
	})
	o.DeferredTo = slices.Sorted(maps.Keys(deferred))
	return o, err
}
