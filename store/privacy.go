package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErasedCustomerName is what an erased customer is called from then on.
const ErasedCustomerName = "Deleted customer"

// erasedProfileFetchedAt keeps an erased customer's profile from being fetched
// again: FetchCustomerProfile finds it fresh, so "Deleted customer" stays.
var erasedProfileFetchedAt = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Erasure is what DELETE /customers/{id} erased. Counts are of what this call
// changed, so repeating it answers zeros.
type Erasure struct {
	CustomerID string `json:"customer_id"`
	// Messages of the customer's conversations whose text and attachments were
	// emptied; each keeps its row with erased_at set: the transcript's marker.
	Messages int64 `json:"messages"`
	// InboundEvents are the stored webhook events (raw payloads) deleted.
	InboundEvents int64 `json:"inbound_events"`
	// AgentEvents are agents' SSE replay entries whose message copy was emptied.
	AgentEvents int64 `json:"agent_events"`
	// ConversationNotes counts conversations whose free text about the customer
	// (the bot's hand-over summary, the last transfer note) was emptied.
	ConversationNotes int64 `json:"conversation_notes"`
	// ContactLinks is 1 when the customer's contact link was removed (audited).
	ContactLinks int64 `json:"contact_links"`
	// Profile says whether name, picture or locale were erased now.
	Profile  bool      `json:"profile"`
	ErasedAt time.Time `json:"erased_at"`
}

// EraseCustomer erases a customer's messages, stored webhook events, the message
// copies in agents' event logs, the bot summaries and transfer notes of its
// conversations, its profile and its contact link, in one transaction.
// Conversations, message rows (kind, direction, times, statuses) and the link
// audit stay, so transcripts show where something was and reports still add up.
func (s *Store) EraseCustomer(ctx context.Context, customerID string) (Erasure, error) {
	e := Erasure{CustomerID: customerID}
	if !validUUID(customerID) {
		return e, fmt.Errorf("customer: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("page_id", "psid", "contact_id", "name", "profile_pic", "locale", "erased_at", "now()").
			From("customers").Where(sb.Equal("id", customerID)).ForUpdate()
		var pageID, psid, name, pic, locale string
		var contactID *string
		var erasedAt *time.Time
		if err := queryRow(ctx, tx, sb).Scan(&pageID, &psid, &contactID, &name, &pic, &locale, &erasedAt, &e.ErasedAt); err != nil {
			return notFound(err, "customer")
		}
		if erasedAt != nil {
			e.ErasedAt = *erasedAt
		}
		conversations := pg.NewSelectBuilder()
		conversations.Select("id").From("conversations").Where(conversations.Equal("customer_id", customerID))

		// Every message of the customer's conversations, both directions: replies
		// quote and answer the customer.
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("text", ""), "attachments = '[]'::jsonb",
			"erased_at = coalesce(erased_at, "+ub.Var(e.ErasedAt)+")", "updated_at = now()").
			Where(ub.In("conversation_id", conversations),
				"(erased_at IS NULL OR text <> '' OR attachments <> '[]'::jsonb)")
		var err error
		if e.Messages, err = rowsChanged(exec(ctx, tx, ub)); err != nil {
			return err
		}

		// Agents' event logs hold a copy of each message (message.received,
		// message.updated) for SSE replay.
		ub = pg.NewUpdateBuilder()
		ub.Update("agent_events").
			Set("data = jsonb_set(data, '{message}', (data->'message') || jsonb_build_object('text', '', 'attachments', '[]'::jsonb, 'erased_at', "+ub.Var(e.ErasedAt)+"::timestamptz))").
			Where(ub.In("conversation_id", conversations), "jsonb_typeof(data->'message') = 'object'",
				"(coalesce(data->'message'->>'text', '') <> '' OR coalesce(data->'message'->'attachments', '[]'::jsonb) <> '[]'::jsonb OR NOT (data->'message' ? 'erased_at'))")
		if e.AgentEvents, err = rowsChanged(exec(ctx, tx, ub)); err != nil {
			return err
		}
		// customer.updated carries the profile itself, message.reaction the
		// customer's reactions: those copies go.
		db := pg.NewDeleteBuilder()
		db.DeleteFrom("agent_events").Where(db.In("conversation_id", conversations), db.In("name", "customer.updated", "message.reaction"))
		if _, err := exec(ctx, tx, db); err != nil {
			return err
		}
		// The reactions on the conversations' messages (store/reactions.go).
		if _, err := tx.ExecContext(ctx, `DELETE FROM message_reactions WHERE message_id IN
			(SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.customer_id = $1)`, customerID); err != nil {
			return err
		}

		// What the bot and agents wrote about the customer on its conversations.
		ub = pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("bot_summary", ""), ub.Assign("transfer_note", "")).
			Where(ub.Equal("customer_id", customerID), "(bot_summary <> '' OR transfer_note <> '')")
		if e.ConversationNotes, err = rowsChanged(exec(ctx, tx, ub)); err != nil {
			return err
		}

		// The raw webhook payloads hold the customer's words.
		db = pg.NewDeleteBuilder()
		db.DeleteFrom("inbound_events").Where(db.Equal("page_id", pageID), db.Equal("psid", psid))
		if e.InboundEvents, err = rowsChanged(exec(ctx, tx, db)); err != nil {
			return err
		}

		if contactID != nil {
			if err := setCustomerContact(ctx, tx, customerID, nil); err != nil {
				return err
			}
			if err := auditLink(ctx, tx, "unlink", customerID, *contactID, auditActor{}, "customer erased"); err != nil {
				return err
			}
			e.ContactLinks = 1
		}

		e.Profile = name != ErasedCustomerName || pic != "" || locale != ""
		ub = pg.NewUpdateBuilder()
		ub.Update("customers").Set(ub.Assign("name", ErasedCustomerName), ub.Assign("profile_pic", ""), ub.Assign("locale", ""),
			ub.Assign("profile_fetched_at", erasedProfileFetchedAt), ub.Assign("erased_at", e.ErasedAt)).
			Where(ub.Equal("id", customerID))
		_, err = exec(ctx, tx, ub)
		return err
	})
	return e, err
}

func rowsChanged(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SetPrivacyNoticeURL stores an account's privacy notice address ("" clears
// it), checked by the caller.
func (s *Store) SetPrivacyNoticeURL(ctx context.Context, accountID, raw string) error {
	return s.setAccountSetting(ctx, accountID, "privacy_notice_url", raw)
}

// setAccountSetting sets one column of an account's settings; an unknown
// account is ErrNotFound.
func (s *Store) setAccountSetting(ctx context.Context, accountID, column string, value any) error {
	if !validUUID(accountID) {
		return fmt.Errorf("account: %w", ErrNotFound)
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("accounts").Set(ub.Assign(column, value)).Where(ub.Equal("id", accountID))
	n, err := rowsChanged(exec(ctx, s.DB, ub))
	if err == nil && n == 0 {
		err = fmt.Errorf("account: %w", ErrNotFound)
	}
	return err
}

// pagePrivacyNoticeURL is the privacy notice of the account a page belongs to.
func pagePrivacyNoticeURL(ctx context.Context, q querier, pageUUID string) (string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("a.privacy_notice_url").From("pages p").Join("accounts a", "a.id = p.account_id").Where(sb.Equal("p.id", pageUUID))
	var u string
	err := queryRow(ctx, q, sb).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return u, err
}
