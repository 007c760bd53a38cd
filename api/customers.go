package api

// Privacy (issue 6): erasing a customer, and each account's privacy notice.
//
// Workflow histories hold no message text to erase: the webhook stores each event
// in inbound_events and signals only its key, the starter stores an agent's reply
// before the send-message update carries its id, and activities read and write
// the text in Postgres. So DELETE /customers/{id} erases everything that holds the
// customer's words by erasing Postgres rows (store.EraseCustomer).

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"fbchannel/store"
)

// eraseCustomer: DELETE /api/v1/customers/{id} (admin). It erases the customer's
// messages (rows stay with a "deleted" marker), stored webhook events, the copies
// in agents' event logs, the bot summaries and transfer notes of its
// conversations, profile and contact link, and answers what it erased.
// Repeating it is harmless and answers zero counts.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.EraseCustomer(r.Context(), r.PathValue("id"))
	if s.answerStoreError(w, r, err, "No customer has this id.") {
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
// or "" removes it. It answers the account as GET shows it (privacy_notice_url
// included: it is a field of the account).
func (s *Server) patchAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PrivacyNoticeURL optString `json:"privacy_notice_url"`
		// RetentionDays (issue 15): closed conversations' transcripts older
		// than this many days are erased daily; 0 or null keeps them.
		RetentionDays optional[int] `json:"retention_days"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !in.PrivacyNoticeURL.Set && !in.RetentionDays.Set {
		writeError(w, http.StatusBadRequest, "invalid_request", "Nothing to change: send {\"privacy_notice_url\": \"https://...\"} (null removes it) or {\"retention_days\": 30} (0 keeps everything).")
		return
	}
	raw := strings.TrimSpace(in.PrivacyNoticeURL.Value)
	err := validPrivacyNoticeURL(raw)
	if err == nil && in.RetentionDays.Set && (in.RetentionDays.Value < 0 || in.RetentionDays.Value > store.MaxRetentionDays) {
		err = invalidf("retention_days must be a whole number of days from 0 (keep everything) to %d.", store.MaxRetentionDays)
	}
	// Both changes are checked before either is written.
	if err == nil && in.PrivacyNoticeURL.Set {
		err = s.Store.SetPrivacyNoticeURL(r.Context(), r.PathValue("id"), raw)
	}
	if err == nil && in.RetentionDays.Set {
		err = s.Store.SetRetentionDays(r.Context(), r.PathValue("id"), in.RetentionDays.Value)
	}
	if s.answerStoreError(w, r, err, "No account has this id.") {
		return
	}
	s.getAccount(w, r)
}

// maxPrivacyNoticeURL bounds the privacy notice address.
const maxPrivacyNoticeURL = 2000

// validPrivacyNoticeURL checks an account's privacy notice address: an absolute
// http(s) URL with a host, or "" for none.
func validPrivacyNoticeURL(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxPrivacyNoticeURL || !utf8.ValidString(raw) || strings.IndexFunc(raw, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return invalidf("privacy_notice_url must be an http or https URL of at most %d characters, without spaces.", maxPrivacyNoticeURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.User != nil {
		return invalidf("privacy_notice_url must be an http or https URL such as https://example.com/privacy.")
	}
	return nil
}
