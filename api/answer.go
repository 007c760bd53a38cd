package api

import "net/http"

// answer ends a handler that read or wrote through the store: body with status,
// or, when err is set, the store error's answer (notFoundMessage for a missing
// row; see answerStoreError).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, body any, err error, notFoundMessage string) {
	if !s.answerStoreError(w, r, err, notFoundMessage) {
		writeJSON(w, status, body)
	}
}
