package api

// Contacts (issue 6): admins and agents search, create, read and update
// contacts; an agent links the customer of one of its own conversations to a
// contact (an existing one, or a new one made from the conversation) and can
// unlink it. The link is on the customer row, so the customer's later
// conversations come linked. Every link and unlink is audited
// (contact_link_audit) and shown in the contact's link_history.

import (
	"net/http"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"fbchannel/store"
)

const noContact = "No contact has this id."

// searchContacts: GET /api/v1/contacts?q= (name, email or phone contains q).
func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var list []store.Contact
	err := invalidf("q must be valid UTF-8 and at most %d characters.", maxSearchRunes)
	if utf8.ValidString(q) && utf8.RuneCountInString(q) <= maxSearchRunes {
		list, err = s.Store.SearchContacts(r.Context(), q)
	}
	s.answer(w, r, http.StatusOK, list, err, noContact)
}

// createContact: POST /api/v1/contacts {"name","email","phone","notes"}.
func (s *Server) createContact(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	var in contactInput
	if !decode(w, r, &in) {
		return
	}
	var c store.Contact
	err := in.apply(&c, true)
	if err == nil {
		c, err = s.Store.CreateContact(r.Context(), c)
	}
	s.answer(w, r, http.StatusCreated, c, err, noContact)
}

// getContact: GET /api/v1/contacts/{id}, with linked customers, their
// conversations and the link history. An agent sees the last message only of its
// own conversations: it reads only its own conversations.
func (s *Server) getContact(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	viewer := ""
	if me != nil {
		viewer = me.ID
	}
	d, err := s.Store.GetContact(r.Context(), r.PathValue("id"), viewer)
	s.answer(w, r, http.StatusOK, d, err, noContact)
}

// patchContact: PATCH /api/v1/contacts/{id}; absent fields stay, null clears
// email, phone and notes.
func (s *Server) patchContact(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	var in contactInput
	if !decode(w, r, &in) {
		return
	}
	c, err := s.Store.UpdateContact(r.Context(), r.PathValue("id"), func(c *store.Contact) error { return in.apply(c, false) })
	s.answer(w, r, http.StatusOK, c, err, noContact)
}

// linkContact: POST /api/v1/conversations/{id}/contact with {"contact_id"} or
// {"create": {"name","email","phone","notes"}}; only the conversation's agent.
func (s *Server) linkContact(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		ContactID *string       `json:"contact_id"`
		Create    *contactInput `json:"create"`
	}
	conv, ok := s.ownConversationWith(w, r, me, &in)
	if !ok {
		return
	}
	if (in.ContactID == nil) == (in.Create == nil) {
		writeError(w, http.StatusBadRequest, "invalid_request", `Send either {"contact_id": "..."} or {"create": {"name": "..."}}.`)
		return
	}
	req := store.LinkRequest{CustomerID: conv.Customer.ID, ConversationID: conv.ID, AgentID: me.ID}
	var err error
	if in.ContactID != nil {
		if !validID(*in.ContactID) {
			writeError(w, http.StatusBadRequest, "invalid_request", "contact_id must be a contact's id.")
			return
		}
		req.ContactID = *in.ContactID
	} else {
		req.Create = &store.Contact{}
		err = in.Create.apply(req.Create, true)
	}
	var res store.LinkResult
	if err == nil {
		res, err = s.Store.LinkContact(r.Context(), req)
	}
	if s.answerStoreError(w, r, err, noContact) {
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{
		"conversation_id": conv.ID, "customer_id": conv.Customer.ID, "contact": res.Contact, "changed": res.Changed,
	})
}

// unlinkContact: DELETE /api/v1/conversations/{id}/contact; only the
// conversation's agent. Unlinking an unlinked customer changes nothing.
func (s *Server) unlinkContact(w http.ResponseWriter, r *http.Request, me store.Agent) {
	conv, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	was, err := s.Store.UnlinkContact(r.Context(), conv.Customer.ID, conv.ID, me.ID)
	if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"conversation_id": conv.ID, "customer_id": conv.Customer.ID, "contact": nil, "unlinked": was, "changed": was != nil,
	})
}

// Limits of contact fields.
const (
	maxContactName  = 200
	maxContactEmail = 254
	maxContactPhone = 40
	maxContactNotes = 4000
	maxSearchRunes  = 200
)

// contactInput is the body of POST /contacts (name required) and PATCH
// /contacts/{id} (absent fields stay; null clears email, phone and notes).
type contactInput struct {
	Name  optString `json:"name"`
	Email optString `json:"email"`
	Phone optString `json:"phone"`
	Notes optString `json:"notes"`
	// PreferredAgents: ranked agent ids (issue 15; api/workstream_affinity.go).
	PreferredAgents optional[[]string] `json:"preferred_agents"`
}

// apply checks in and merges it into c.
func (in contactInput) apply(c *store.Contact, creating bool) error {
	if creating && (!in.Name.Set || in.Name.Null) {
		return invalidf("name is required.")
	}
	if in.Name.Set {
		if in.Name.Null {
			return invalidf("name cannot be null.")
		}
		name := strings.TrimSpace(in.Name.Value)
		if name == "" {
			return invalidf("name is required.")
		}
		if err := contactText("name", name, maxContactName, false); err != nil {
			return err
		}
		c.Name = name
	}
	if in.Email.Set {
		email := strings.TrimSpace(in.Email.Value)
		if email != "" {
			if err := contactText("email", email, maxContactEmail, false); err != nil {
				return err
			}
			addr, err := mail.ParseAddress(email)
			if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
				return invalidf("email must be an address like name@example.com.")
			}
		}
		c.Email = email
	}
	if in.Phone.Set {
		phone := strings.TrimSpace(in.Phone.Value)
		if phone != "" {
			if utf8.RuneCountInString(phone) > maxContactPhone {
				return invalidf("phone must be at most %d characters.", maxContactPhone)
			}
			digits := 0
			for i, r := range phone {
				switch {
				case r >= '0' && r <= '9':
					digits++
				case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.', r == '/':
				default:
					return invalidf("phone may hold digits, spaces, a leading + and - ( ) . / only.")
				}
			}
			if digits < 5 {
				return invalidf("phone must have at least 5 digits.")
			}
		}
		c.Phone = phone
	}
	if in.Notes.Set {
		notes := strings.TrimSpace(in.Notes.Value)
		if err := contactText("notes", notes, maxContactNotes, true); err != nil {
			return err
		}
		c.Notes = notes
	}
	return preferredAgents(in.PreferredAgents, c)
}

// plainText refuses invalid UTF-8, control characters (newlines only where
// multiline) and over-long values.
func contactText(field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return invalidf("%s must be valid UTF-8.", field)
	}
	if utf8.RuneCountInString(v) > max {
		return invalidf("%s must be at most %d characters.", field, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return invalidf("%s must not contain control characters.", field)
		}
	}
	return nil
}
