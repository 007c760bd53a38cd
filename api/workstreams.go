package api

import (
	"context"
	"errors"
	"net/http"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// storeError answers the store's typed refusals (400 with what to change, 409
// with a stable code, 404) and anything else as retryable. It reports whether err
// was nil.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error, notFoundMessage string) bool {
	var invalid *store.InvalidInput
	var refused *store.Refused
	switch {
	case err == nil:
		return true
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.As(err, &refused):
		writeError(w, http.StatusConflict, refused.Code, refused.Message)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", notFoundMessage)
	default:
		s.internalError(w, r, err)
	}
	return false
}

// wakeQueues wakes the queues' workflows after a change that may make an
// assignment possible (contract.WakeQueues).
func (s *Server) wakeQueues(ctx context.Context, queueIDs []string) error {
	return contract.WakeQueues(ctx, s.Temporal, s.TaskQueue, queueIDs)
}

func (s *Server) createWorkstream(w http.ResponseWriter, r *http.Request) {
	var in store.WorkstreamInput
	if !decode(w, r, &in) {
		return
	}
	ws, err := s.Store.CreateWorkstream(r.Context(), in)
	if !s.storeError(w, r, err, "No account has this id.") {
		return
	}
	writeJSON(w, http.StatusCreated, ws)
}

func (s *Server) listWorkstreams(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListWorkstreams(r.Context(), r.PathValue("id"))
	if !s.storeError(w, r, err, "No account has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getWorkstream(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Store.GetWorkstream(r.Context(), r.PathValue("id"))
	if !s.storeError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

// patchWorkstream changes a workstream's settings; absent fields stay as they are,
// and a request with any invalid value changes nothing (400). The queues holding
// the workstream's waiting conversations are woken: a change of distribution
// mode, capacity units or maximum wait applies to them at once.
func (s *Server) patchWorkstream(w http.ResponseWriter, r *http.Request) {
	var in store.WorkstreamInput
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	ws, err := s.Store.UpdateWorkstream(r.Context(), id, in)
	if !s.storeError(w, r, err, "No workstream has this id.") {
		return
	}
	// The change is committed: the answer says so even if the wake-up fails. A queue
	// not woken now is woken by its next event (a conversation queued or closed, an
	// agent's presence), so nothing is lost, only possibly later.
	queues, err := s.Store.WorkstreamQueues(r.Context(), id)
	if err == nil {
		err = s.wakeQueues(r.Context(), queues)
	}
	if err != nil {
		s.Log.WarnContext(r.Context(), "workstream saved but its queues were not woken", "workstream_id", id, "err", err)
	}
	writeJSON(w, http.StatusOK, ws)
}

// listAutomatedMessages shows every kind of automated message of a workstream: on
// or off, its text in the workstream's language, and whether the text is its own.
func (s *Server) listAutomatedMessages(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.AutomatedMessages(r.Context(), r.PathValue("id"))
	if !s.storeError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// putAutomatedMessage switches one kind on or off and sets (or, with null, resets)
// its text; it applies to open conversations from their next notice on.
func (s *Server) putAutomatedMessage(w http.ResponseWriter, r *http.Request) {
	var in store.AutomatedMessageInput
	if !decode(w, r, &in) {
		return
	}
	m, err := s.Store.SetAutomatedMessage(r.Context(), r.PathValue("id"), r.PathValue("kind"), in)
	if !s.storeError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, m)
}
