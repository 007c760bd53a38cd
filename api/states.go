package api

import (
	"net/http"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Conversation states (issue 13): hold, end (to wrap-up) and finish. Each change
// is one Postgres transaction with its agent event (store/states.go); the
// conversation's workflows are told so the Temporal UI shows the state.

// holdConversation puts the agent's active conversation on hold: its capacity is
// free at once (the agent's queues are woken) and it stays the agent's.
func (s *Server) holdConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	queues, changed, err := s.Store.Hold(r.Context(), c.ID, me.ID)
	if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
		return
	}
	if changed {
		// Committed: the answer says so even if Temporal is slow. A queue not
		// woken now is woken by its next event; the search attribute is for
		// operators only.
		if err := s.wakeQueues(r.Context(), queues); err != nil {
			s.Log.WarnContext(r.Context(), "conversation held but the agent's queues were not woken", "conversation_id", c.ID, "err", err)
		}
		if err := s.Temporal.SignalWorkflow(r.Context(), contract.ConversationWorkflowID(c.PageID, c.Customer.PSID), "",
			contract.SignalStateChanged, contract.StateChange{ConversationID: c.ID, Status: contract.StatusOnHold}); err != nil {
			s.Log.WarnContext(r.Context(), "conversation held but its workflow was not told", "conversation_id", c.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": contract.StatusOnHold})
}

// endConversation is the agent's end: wrap_up, or closed when the workstream has
// no wrap-up.
func (s *Server) endConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	s.endOrClose(w, r, me, true)
}

// finishWrapUp closes the agent's conversation in wrap-up.
func (s *Server) finishWrapUp(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	in, note, ok := s.dispositionInput(w, r)
	if ok {
		s.finishWrapUpOf(w, r, me, c, in.Disposition, note)
	}
}

func (s *Server) finishWrapUpOf(w http.ResponseWriter, r *http.Request, me store.Agent, c store.Conversation, disposition, note string) {
	queues, err := s.Store.FinishWrapUp(r.Context(), c.ID, me.ID, "", disposition)
	if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
		return
	}
	if note != "" {
		if _, err := s.Store.AddNote(r.Context(), c.ID, me.ID, note); s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
			return
		}
	}
	if err := s.wakeQueues(r.Context(), queues); err != nil {
		s.Log.WarnContext(r.Context(), "wrap-up finished but the agent's queues were not woken", "conversation_id", c.ID, "err", err)
	}
	// The wrap-up's workflow ends (and shows closed); gone already after a timeout.
	if err := s.Temporal.SignalWorkflow(r.Context(), contract.WrapUpWorkflowID(c.ID), "", contract.SignalWrapUpFinished, struct{}{}); err != nil && !workflowRefused(err) {
		s.Log.WarnContext(r.Context(), "wrap-up finished but its workflow was not told", "conversation_id", c.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": contract.StatusClosed})
}
