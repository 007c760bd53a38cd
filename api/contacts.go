package api

// Contacts (issue 6): admins and agents search, create, read and update
// contacts; an agent links the customer of one of its own conversations to a
// contact (an existing one, or a new one made from the conversation) and can
// unlink it. The link is on the customer row, so the customer's later
// conversations come linked. Every link and unlink is audited
// (contact_link_audit) and shown in the contact's link_history.

import (
	"net/http"

	"github.com/google/uuid"

	"fbchannel/store"
)

const noContact = "No contact has this id."

// searchContacts: GET /api/v1/contacts?q= (name, email or phone contains q).
func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	list, err := s.Store.SearchContacts(r.Context(), r.URL.Query().Get("q"))
	if s.answerStoreError(w, r, err, noContact) {
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// createContact: POST /api/v1/contacts {"name","email","phone","notes"}.
func (s *Server) createContact(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	var in store.ContactInput
	if !decode(w, r, &in) {
		return
	}
	c, err := s.Store.CreateContact(r.Context(), in)
	if s.answerStoreError(w, r, err, noContact) {
		return
	}
	writeJSON(w, http.StatusCreated, c)
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
	if s.answerStoreError(w, r, err, noContact) {
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// patchContact: PATCH /api/v1/contacts/{id}; absent fields stay, null clears
// email, phone and notes.
func (s *Server) patchContact(w http.ResponseWriter, r *http.Request, _ *store.Agent) {
	var in store.ContactInput
	if !decode(w, r, &in) {
		return
	}
	c, err := s.Store.UpdateContact(r.Context(), r.PathValue("id"), in)
	if s.answerStoreError(w, r, err, noContact) {
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// linkContact: POST /api/v1/conversations/{id}/contact with {"contact_id"} or
// {"create": {"name","email","phone","notes"}}; only the conversation's agent.
func (s *Server) linkContact(w http.ResponseWriter, r *http.Request, me store.Agent) {
	conv, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	var in struct {
		ContactID *string             `json:"contact_id"`
		Create    *store.ContactInput `json:"create"`
	}
	if !decode(w, r, &in) {
		return
	}
	if (in.ContactID == nil) == (in.Create == nil) {
		writeError(w, http.StatusBadRequest, "invalid_request", `Send either {"contact_id": "..."} or {"create": {"name": "..."}}.`)
		return
	}
	req := store.LinkRequest{CustomerID: conv.Customer.ID, ConversationID: conv.ID, AgentID: me.ID, Create: in.Create}
	if in.ContactID != nil {
		if !validContactID(*in.ContactID) {
			writeError(w, http.StatusBadRequest, "invalid_request", "contact_id must be a contact's id.")
			return
		}
		req.ContactID = *in.ContactID
	}
	res, err := s.Store.LinkContact(r.Context(), req)
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

// validContactID says whether s is a well-formed id (a UUID).
func validContactID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}
