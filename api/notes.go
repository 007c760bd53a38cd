package api

// Internal notes (issue 13). A note is a Postgres write and an agent event in
// one transaction, straight from the API, not a step of the conversation
// workflow: it never touches Facebook, so there is nothing for the workflow to
// order, retry or make durable beyond the commit itself, and a note stays
// possible when the workflow is busy, closing or gone (a note after close).
// Its place in the transcript comes from its created_at, like every message.

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"fbchannel/store"
)

// maxInternalNoteRunes bounds a note; notes are never sent, so Messenger's limit does
// not apply, but a transcript entry should stay readable.
const maxInternalNoteRunes = 5000

// noteText checks a note's text and returns it trimmed.
func noteText(text string) (string, error) {
	t := strings.TrimSpace(text)
	if t == "" || !utf8.ValidString(t) || utf8.RuneCountInString(t) > maxInternalNoteRunes {
		return "", invalidf("text is required (at most %d characters).", maxInternalNoteRunes)
	}
	return t, nil
}

// addNote answers POST /api/v1/conversations/{id}/notes with the stored note,
// a message with kind "note" and direction "internal".
func (s *Server) addNote(w http.ResponseWriter, r *http.Request, me store.Agent) {
	// The assigned agent and its consultants write notes (consults.go).
	c, _, ok := s.viewedConversation(w, r, me)
	var in struct {
		Text string `json:"text"`
	}
	if !ok || !decode(w, r, &in) {
		return
	}
	text, err := noteText(in.Text)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	m, err := s.Store.AddNote(r.Context(), c.ID, me.ID, text)
	if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
		return
	}
	writeJSON(w, http.StatusCreated, m)
}
