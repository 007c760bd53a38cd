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
	queues, seq, err := s.Store.Hold(r.Context(), c.ID, me.ID)
	if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
		return
	}
	if seq > 0 {
		// Committed: the answer says so even if Temporal is slow. A queue not
		// woken now is woken by its next event; the search attribute is for
		// operators only.
		if err := s.wakeQueues(r.Context(), queues); err != nil {
			s.Log.WarnContext(r.Context(), "conversation held but the agent's queues were not woken", "conversation_id", c.ID, "err", err)
		}
		if err := s.Temporal.SignalWorkflow(r.Context(), contract.ConversationWorkflowID(c.PageID, c.Customer.PSID), "",
			contract.SignalStateChanged, contract.StateChange{ConversationID: c.ID, Status: contract.StatusOnHold, Seq: seq}); err != nil {
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

// acceptOffer makes the conversation offered to the agent active with it; 409
// offer_gone when it was declined, ran out or went elsewhere.
func (s *Server) acceptOffer(w http.ResponseWriter, r *http.Request, me store.Agent) {
	a, err := s.Store.AcceptOffer(r.Context(), r.PathValue("id"), me.ID)
	s.answerAssigned(w, r, a, err, "No conversation was offered to you with this id.")
}

// declineOffer gives the offered conversation back to its queue, which offers it
// to the next agent; 409 offer_gone as for accept.
func (s *Server) declineOffer(w http.ResponseWriter, r *http.Request, me store.Agent) {
	id := r.PathValue("id")
	queueID, seq, err := s.Store.DeclineOffer(r.Context(), id, me.ID)
	if s.answerStoreError(w, r, err, "No conversation was offered to you with this id.") {
		return
	}
	// The workflow hears of the decline before the queue's next offer can reach it.
	if c, err := s.Store.GetConversation(r.Context(), id); err == nil {
		if err := s.Temporal.SignalWorkflow(r.Context(), contract.ConversationWorkflowID(c.PageID, c.Customer.PSID), "",
			contract.SignalStateChanged, contract.StateChange{ConversationID: id, Status: contract.StatusWaiting, Seq: seq}); err != nil {
			s.Log.WarnContext(r.Context(), "offer declined but its workflow was not told", "conversation_id", id, "err", err)
		}
	}
	if err := s.wakeQueues(r.Context(), []string{queueID}); err != nil {
		s.Log.WarnContext(r.Context(), "offer declined but its queue was not woken", "conversation_id", id, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": contract.StatusWaiting})
}
