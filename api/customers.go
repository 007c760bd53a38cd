package api

// Privacy (issue 6): erasing a customer, and each account's privacy notice.
//
// Workflow histories hold no message text to erase: the webhook stores each event
// in inbound_events and signals only its key, the starter stores an agent's reply
// before the send-message update carries its id, and activities read and write
// the text in Postgres. So DELETE /customers/{id} erases everything that holds the
// customer's words by erasing Postgres rows (store.EraseCustomer).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"fbchannel/store"
)

// eraseCustomer: DELETE /api/v1/customers/{id} (admin). It erases the customer's
// messages (rows stay with a "deleted" marker), stored webhook events, the copies
// in agents' event logs, the bot summaries and transfer notes of its
// conversations, profile and contact link, and answers what it erased.
// Repeating it is harmless and answers zero counts.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.EraseCustomer(r.Context(), r.PathValue("id"))
	if !s.storeError(w, r, err, "No customer has this id.") {
		return
	}
	s.Log.Info("customer erased", "customer_id", e.CustomerID, "messages", e.Messages, "inbound_events", e.InboundEvents,
		"agent_events", e.AgentEvents, "conversation_notes", e.ConversationNotes, "contact_links", e.ContactLinks)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": e.CustomerID, "status": "erased", "erased_at": e.ErasedAt,
		"erased": map[string]any{
			"messages": e.Messages, "inbound_events": e.InboundEvents, "agent_events": e.AgentEvents,
			"conversation_notes": e.ConversationNotes, "contact_links": e.ContactLinks, "profile": e.Profile,
		},
	})
}

// patchAccount: PATCH /api/v1/accounts/{id} {"privacy_notice_url"} (admin); null
// or "" removes it. It answers the account as GET shows it.
func (s *Server) patchAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PrivacyNoticeURL store.OptString `json:"privacy_notice_url"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !in.PrivacyNoticeURL.Set {
		writeError(w, http.StatusBadRequest, "invalid_request", "Nothing to change: send {\"privacy_notice_url\": \"https://...\"} (null removes it).")
		return
	}
	raw := strings.TrimSpace(in.PrivacyNoticeURL.Value)
	if err := s.Store.SetPrivacyNoticeURL(r.Context(), r.PathValue("id"), raw); !s.storeError(w, r, err, "No account has this id.") {
		return
	}
	s.withPrivacyNotice(s.getAccount)(w, r)
}

// withPrivacyNotice adds the account's privacy_notice_url to the answer of
// GET /api/v1/accounts/{id}, leaving everything else of it as it is.
func (s *Server) withPrivacyNotice(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{header: http.Header{}, status: http.StatusOK}
		next(rec, r)
		var body map[string]json.RawMessage
		if rec.status == http.StatusOK && json.Unmarshal(rec.body.Bytes(), &body) == nil {
			u, err := s.Store.PrivacyNoticeURL(r.Context(), r.PathValue("id"))
			if !s.storeError(w, r, err, "No account has this id.") {
				return
			}
			body["privacy_notice_url"], _ = json.Marshal(u)
			writeJSON(w, http.StatusOK, body)
			return
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// answerRecorder keeps a handler's answer so it can be amended.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *answerRecorder) Header() http.Header         { return r.header }
func (r *answerRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *answerRecorder) WriteHeader(status int)      { r.status = status }
