package api

import (
	"context"
	"net/http"

	"go.temporal.io/sdk/client"

	"fbchannel/store"
	"fbchannel/workflows"
)

// wakeQueues signals each queue's workflow, starting it when it is not running,
// after a change that may make an assignment possible.
func (s *Server) wakeQueues(ctx context.Context, queueIDs []string) error {
	seen := map[string]bool{}
	for _, q := range queueIDs {
		if q == "" || seen[q] {
			continue
		}
		seen[q] = true
		_, err := s.Temporal.SignalWithStartWorkflow(ctx, workflows.QueueWorkflowID(q), workflows.SignalQueueWake, struct{}{},
			client.StartWorkflowOptions{TaskQueue: s.TaskQueue}, workflows.QueueWorkflow, workflows.QueueInput{QueueID: q})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) createWorkstream(w http.ResponseWriter, r *http.Request) {
	var in store.WorkstreamInput
	if !decode(w, r, &in) {
		return
	}
	ws, err := s.Store.CreateWorkstream(r.Context(), in)
	if s.answerStoreError(w, r, err, "No account has this id.") {
		return
	}
	writeJSON(w, http.StatusCreated, ws)
}

func (s *Server) listWorkstreams(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListWorkstreams(r.Context(), r.PathValue("id"))
	if s.answerStoreError(w, r, err, "No account has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getWorkstream(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Store.GetWorkstream(r.Context(), r.PathValue("id"))
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
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
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
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
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
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
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, m)
}
