package api

import (
	"context"
	"net/http"
)

// answer ends a handler that read or wrote through the store: body with status,
// or, when err is set, the store error's answer (notFoundMessage for a missing
// row; see answerStoreError).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, body any, err error, notFoundMessage string) {
	if !s.answerStoreError(w, r, err, notFoundMessage) {
		writeJSON(w, status, body)
	}
}

// readByID is the handler of a GET that reads one thing named by the path's
// {id} (a resource, or the list of what an account or a workstream holds):
// read's value, or its error's answer (notFoundMessage for an id that matches
// nothing).
func readByID[T any](s *Server, read func(ctx context.Context, id string) (T, error), notFoundMessage string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := read(r.Context(), r.PathValue("id"))
		s.answer(w, r, http.StatusOK, v, err, notFoundMessage)
	}
}

// answerHidden ends a check of whether the caller may see what the path names:
// 503 when the check failed (err), and 404 notFoundMessage when it may not, as
// if nothing had this id. It reports whether it answered.
func (s *Server) answerHidden(w http.ResponseWriter, r *http.Request, visible bool, err error, notFoundMessage string) bool {
	switch {
	case err != nil:
		s.internalError(w, r, err)
	case !visible:
		writeError(w, http.StatusNotFound, "not_found", notFoundMessage)
	default:
		return false
	}
	return true
}
