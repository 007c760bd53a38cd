package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// ContactSearchLimit is how many contacts a search returns at most.
const ContactSearchLimit = 50

// Contact is a person the support team knows. A Messenger customer (one PSID on
// one page) is linked to at most one contact; the link is on the customer row,
// so every later conversation of that customer comes linked.
type Contact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	Notes string `json:"notes"`
	// PreferredAgents are the agents the contact's conversations go to first,
	// ranked (at most MaxPreferredAgents; see store/affinity.go).
	PreferredAgents []string  `json:"preferred_agents"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// ContactSummary is the contact as a conversation shows it.
type ContactSummary struct {
	Contact
	// LinkedAt is when the conversation's customer was linked to the contact.
	LinkedAt *time.Time `json:"linked_at"`
}

// ContactField is a conversation's "contact": null when its customer is not
// linked, and left out where it was not loaded (conversation lists).
type ContactField struct {
	Loaded bool
	Value  *ContactSummary
}

// IsZero makes `omitzero` leave out a contact that was not loaded.
func (f ContactField) IsZero() bool { return !f.Loaded }

func (f ContactField) MarshalJSON() ([]byte, error) { return json.Marshal(f.Value) }

// ContactDetail is GET /contacts/{id}: the contact, its customers with their
// conversations, and the link history.
type ContactDetail struct {
	Contact
	Customers   []LinkedCustomer   `json:"customers"`
	LinkHistory []ContactLinkEvent `json:"link_history"`
}

// LinkedCustomer is a customer linked to a contact.
type LinkedCustomer struct {
	Customer
	PageID        string                 `json:"page_id"`
	LinkedAt      *time.Time             `json:"linked_at"`
	Conversations []PreviousConversation `json:"conversations"`
}

// ContactLinkEvent is one row of the link audit.
type ContactLinkEvent struct {
	ID             int64     `json:"id"`
	Action         string    `json:"action"` // link | unlink
	CustomerID     string    `json:"customer_id"`
	ContactID      string    `json:"contact_id"`
	Actor          string    `json:"actor"`    // agent | admin
	AgentID        *string   `json:"agent_id"` // nil when an admin did it
	ConversationID *string   `json:"conversation_id"`
	Reason         string    `json:"reason,omitempty"`
	At             time.Time `json:"at"`
}

const contactColumns = "ct.id, ct.name, ct.email, ct.phone, ct.notes, ct.created_at, ct.updated_at, " + preferredAgentsColumn

func scanContact(row rowScanner, extra ...any) (Contact, error) {
	var c Contact
	var preferred pq.StringArray
	err := row.Scan(append([]any{&c.ID, &c.Name, &c.Email, &c.Phone, &c.Notes, &c.CreatedAt, &c.UpdatedAt, &preferred}, extra...)...)
	c.PreferredAgents = []string(preferred)
	if c.PreferredAgents == nil {
		c.PreferredAgents = []string{}
	}
	return c, err
}

// likePattern escapes LIKE's wildcards so a search means what was typed.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// phoneDigits is q's digits when q looks like a phone number (digits and phone
// punctuation only), else "".
func phoneDigits(q string) string {
	var b strings.Builder
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("+-()./ ", r):
		default:
			return ""
		}
	}
	return b.String()
}

// SearchContacts finds contacts whose name, email or phone contains q (any case),
// ordered by name; an empty q lists the most recently changed.
func (s *Store) SearchContacts(ctx context.Context, q string) ([]Contact, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(contactColumns).From("contacts ct")
	if q == "" {
		sb.OrderBy("ct.updated_at DESC", "ct.id")
	} else {
		p := likePattern(q)
		or := []string{sb.ILike("ct.name", p), sb.ILike("ct.email", p), sb.ILike("ct.phone", p)}
		if digits := phoneDigits(q); len(digits) >= 3 {
			// "+4420 7946" finds "+44 20 7946 0000": phones compare by their digits.
			or = append(or, "regexp_replace(ct.phone, '[^0-9]', '', 'g') LIKE "+sb.Var("%"+digits+"%"))
		}
		sb.Where(sb.Or(or...)).OrderBy("lower(ct.name)", "ct.id")
	}
	sb.Limit(ContactSearchLimit)
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (Contact, error) { return scanContact(row) })
}

// CreateContact stores c (its values checked by the caller) as a new contact.
func (s *Store) CreateContact(ctx context.Context, c Contact) (Contact, error) {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = createContact(ctx, tx, c)
		return err
	})
	return c, err
}

func createContact(ctx context.Context, tx *sql.Tx, c Contact) (Contact, error) {
	c.ID = uuid.NewString()
	ib := pg.NewInsertBuilder()
	ib.InsertInto("contacts").Cols("id", "name", "email", "phone", "notes").Values(c.ID, c.Name, c.Email, c.Phone, c.Notes).
		Returning("created_at", "updated_at")
	if err := queryRow(ctx, tx, ib).Scan(&c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	if c.PreferredAgents == nil {
		c.PreferredAgents = []string{}
	}
	return c, setPreferredAgents(ctx, tx, c.ID, c.PreferredAgents)
}

func (s *Store) contact(ctx context.Context, q querier, id string, lock bool) (Contact, error) {
	if !validUUID(id) {
		return Contact{}, fmt.Errorf("contact: %w", ErrNotFound)
	}
	sb := pg.NewSelectBuilder()
	sb.Select(contactColumns).From("contacts ct").Where(sb.Equal("ct.id", id))
	if lock {
		sb.ForUpdate()
	}
	c, err := scanContact(queryRow(ctx, q, sb))
	return c, notFound(err, "contact")
}

// GetContact returns a contact with its customers, their conversations (newest
// first) and the link history (newest first). An agent (viewerAgentID not "")
// sees the last message only of conversations assigned to it: the others are
// listed with their dates, status and outcome, not their words. An admin ("")
// sees them all.
func (s *Store) GetContact(ctx context.Context, id, viewerAgentID string) (ContactDetail, error) {
	var d ContactDetail
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		c, err := s.contact(ctx, tx, id, false)
		if err != nil {
			return err
		}
		d.Contact = c
		if d.Customers, err = linkedCustomers(ctx, tx, id, viewerAgentID); err != nil {
			return err
		}
		d.LinkHistory, err = linkHistory(ctx, tx, id)
		return err
	})
	return d, err
}

func linkedCustomers(ctx context.Context, tx *sql.Tx, contactID, viewerAgentID string) ([]LinkedCustomer, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id", "psid", "name", "profile_pic", "locale", "page_id", "contact_linked_at").From("customers").
		Where(sb.Equal("contact_id", contactID)).OrderBy("contact_linked_at DESC NULLS LAST", "id").Limit(100)
	list, err := queryAll(ctx, tx, sb, func(row rowScanner) (LinkedCustomer, error) {
		var c LinkedCustomer
		err := row.Scan(&c.ID, &c.PSID, &c.Name, &c.ProfilePic, &c.Locale, &c.PageID, &c.LinkedAt)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Conversations, err = customerConversations(ctx, tx, list[i].ID, "", time.Time{}, viewerAgentID); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// customerConversations summarises a customer's conversations, newest first:
// all of them, or those opened up to before other than exceptID. With
// onlyTextOf set, last messages are given only for that agent's conversations.
func customerConversations(ctx context.Context, q querier, customerID, exceptID string, before time.Time, onlyTextOf string) ([]PreviousConversation, error) {
	// Notes are internal: never the preview of what was said with the customer.
	sb := pg.NewSelectBuilder()
	last := "coalesce((SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.kind <> 'note' ORDER BY m.created_at DESC, m.id DESC LIMIT 1), '')"
	if onlyTextOf != "" {
		last = "CASE WHEN c.agent_id = " + sb.Var(onlyTextOf) + " THEN " + last + " ELSE '' END"
	}
	sb.Select("c.id", "c.status", "c.opened_at", "c.closed_at", "c.close_reason", "c.disposition", last).
		From("conversations c").Where(sb.Equal("c.customer_id", customerID))
	if exceptID != "" {
		sb.Where(sb.NotEqual("c.id", exceptID), sb.LessEqualThan("c.opened_at", before))
	}
	sb.OrderBy("c.opened_at DESC").Limit(20)
	return queryAll(ctx, q, sb, func(row rowScanner) (PreviousConversation, error) {
		var p PreviousConversation
		err := row.Scan(&p.ID, &p.Status, &p.OpenedAt, &p.ClosedAt, &p.CloseReason, &p.Disposition, &p.LastMessage)
		return p, err
	})
}

func linkHistory(ctx context.Context, q querier, contactID string) ([]ContactLinkEvent, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id", "action", "customer_id", "contact_id", "actor", "agent_id", "conversation_id", "reason", "created_at").
		From("contact_link_audit").Where(sb.Equal("contact_id", contactID)).OrderBy("id DESC").Limit(100)
	return queryAll(ctx, q, sb, func(row rowScanner) (ContactLinkEvent, error) {
		var e ContactLinkEvent
		err := row.Scan(&e.ID, &e.Action, &e.CustomerID, &e.ContactID, &e.Actor, &e.AgentID, &e.ConversationID, &e.Reason, &e.At)
		return e, err
	})
}

// UpdateContact changes a contact: change edits it as it is, under its row lock
// (its error is returned as it is and nothing is written).
func (s *Store) UpdateContact(ctx context.Context, id string, change func(*Contact) error) (Contact, error) {
	var c Contact
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = s.contact(ctx, tx, id, true); err != nil {
			return err
		}
		before := slices.Clone(c.PreferredAgents)
		if err := change(&c); err != nil {
			return err
		}
		if !slices.Equal(before, c.PreferredAgents) {
			if err := setPreferredAgents(ctx, tx, id, c.PreferredAgents); err != nil {
				return err
			}
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("contacts").Set(ub.Assign("name", c.Name), ub.Assign("email", c.Email), ub.Assign("phone", c.Phone),
			ub.Assign("notes", c.Notes), "updated_at = now()").Where(ub.Equal("id", id)).Returning("updated_at")
		return queryRow(ctx, tx, ub).Scan(&c.UpdatedAt)
	})
	return c, err
}

// LinkRequest links a conversation's customer to a contact: an existing one
// (ContactID) or a new one made from Create.
type LinkRequest struct {
	CustomerID     string
	ConversationID string
	AgentID        string
	ContactID      string
	Create         *Contact // checked by the caller
}

// LinkResult says what a link did.
type LinkResult struct {
	Contact Contact
	Created bool // a new contact was made
	Changed bool // the customer's link changed (and was audited)
}

// LinkContact links the customer to the contact, in one transaction with its
// audit rows. A customer linked elsewhere is moved (an unlink and a link are
// audited); linking again to the same contact changes nothing.
func (s *Store) LinkContact(ctx context.Context, req LinkRequest) (LinkResult, error) {
	var res LinkResult
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if req.Create != nil {
			c, err := createContact(ctx, tx, *req.Create)
			if err != nil {
				return err
			}
			res.Contact, res.Created = c, true
		}
		current, err := lockCustomerContact(ctx, tx, req.CustomerID)
		if err != nil {
			return err
		}
		if req.Create == nil {
			if res.Contact, err = s.contact(ctx, tx, req.ContactID, false); err != nil {
				return err
			}
		}
		if current != nil && *current == res.Contact.ID {
			return nil
		}
		res.Changed = true
		actor := auditActor{agentID: req.AgentID, conversationID: req.ConversationID}
		if current != nil {
			if err := auditLink(ctx, tx, "unlink", req.CustomerID, *current, actor, "linked to another contact"); err != nil {
				return err
			}
		}
		reason := ""
		if res.Created {
			reason = "contact created from the conversation"
		}
		if err := setCustomerContact(ctx, tx, req.CustomerID, &res.Contact.ID); err != nil {
			return err
		}
		return auditLink(ctx, tx, "link", req.CustomerID, res.Contact.ID, actor, reason)
	})
	return res, err
}

// UnlinkContact removes the customer's link and audits it; it returns the
// contact that was linked, or nil when there was none (nothing changes).
func (s *Store) UnlinkContact(ctx context.Context, customerID, conversationID, agentID string) (*Contact, error) {
	var was *Contact
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		current, err := lockCustomerContact(ctx, tx, customerID)
		if err != nil || current == nil {
			return err
		}
		c, err := s.contact(ctx, tx, *current, false)
		if err != nil {
			return err
		}
		was = &c
		if err := setCustomerContact(ctx, tx, customerID, nil); err != nil {
			return err
		}
		return auditLink(ctx, tx, "unlink", customerID, *current, auditActor{agentID: agentID, conversationID: conversationID}, "")
	})
	return was, err
}

// lockCustomerContact takes the customer's row lock (links of one customer happen
// one after another) and returns its contact.
func lockCustomerContact(ctx context.Context, tx *sql.Tx, customerID string) (*string, error) {
	if !validUUID(customerID) {
		return nil, fmt.Errorf("customer: %w", ErrNotFound)
	}
	var contactID *string
	err := columnByID(ctx, tx, "customers", "contact_id", customerID, true, &contactID)
	return contactID, notFound(err, "customer")
}

func setCustomerContact(ctx context.Context, tx *sql.Tx, customerID string, contactID *string) error {
	ub := pg.NewUpdateBuilder()
	linkedAt := "contact_linked_at = NULL"
	if contactID != nil {
		linkedAt = "contact_linked_at = now()"
	}
	ub.Update("customers").Set(ub.Assign("contact_id", contactID), linkedAt).Where(ub.Equal("id", customerID))
	_, err := exec(ctx, tx, ub)
	return err
}

// auditActor is who changed a link: an agent (from a conversation) or an admin.
type auditActor struct {
	agentID        string // "" for an admin
	conversationID string
}

func auditLink(ctx context.Context, tx *sql.Tx, action, customerID, contactID string, who auditActor, reason string) error {
	var agentID, conversationID any
	actor := "admin"
	if who.agentID != "" {
		agentID, actor = who.agentID, "agent"
	}
	if who.conversationID != "" {
		conversationID = who.conversationID
	}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("contact_link_audit").Cols("action", "customer_id", "contact_id", "agent_id", "actor", "conversation_id", "reason").
		Values(action, customerID, contactID, agentID, actor, conversationID, reason)
	_, err := exec(ctx, tx, ib)
	return err
}

// customerContact is the contact a customer is linked to, for its conversations.
func customerContact(ctx context.Context, q querier, customerID string) (ContactField, error) {
	f := ContactField{Loaded: true}
	sb := pg.NewSelectBuilder()
	sb.Select(contactColumns, "cu.contact_linked_at").From("customers cu").Join("contacts ct", "ct.id = cu.contact_id").
		Where(sb.Equal("cu.id", customerID))
	var linkedAt *time.Time
	c, err := scanContact(queryRow(ctx, q, sb), &linkedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	f.Value = &ContactSummary{Contact: c, LinkedAt: linkedAt}
	return f, nil
}
