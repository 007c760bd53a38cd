package store

import (
	"context"
	"database/sql"
	"errors"
)

// SenderActionMinInterval is Messenger's pace for sender actions on one
// conversation: at most one a second (issue 13).
const SenderActionMinInterval = "1 second"

// SenderActionSlot is the conversation a sender action may go to now.
type SenderActionSlot struct {
	PageUUID, PageID, PSID string
}

// ClaimSenderAction takes the conversation's one-per-second sender-action slot
// when a sender action is allowed at all: the conversation is not closed and
// the customer's last message is within Messenger's 24-hour window. The claim is
// one conditional UPDATE of the conversation's row, so starters running side by
// side share the pace. ok is false when it is not allowed or the slot is taken.
func (s *Store) ClaimSenderAction(ctx context.Context, conversationID string) (slot SenderActionSlot, ok bool, err error) {
	if !validUUID(conversationID) {
		return slot, false, nil
	}
	err = s.DB.QueryRowContext(ctx, `UPDATE conversations c SET sender_action_at = now()
		FROM customers cu
		WHERE c.id = $1 AND cu.id = c.customer_id AND c.status <> 'closed'
			AND c.last_customer_message_at > now() - interval '24 hours'
			AND (c.sender_action_at IS NULL OR c.sender_action_at <= now() - interval '`+SenderActionMinInterval+`')
		RETURNING c.page_uuid, c.page_id, cu.psid`, conversationID).Scan(&slot.PageUUID, &slot.PageID, &slot.PSID)
	if errors.Is(err, sql.ErrNoRows) {
		return slot, false, nil
	}
	return slot, err == nil, err
}
