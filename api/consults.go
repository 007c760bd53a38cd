package api

// Consults (issue 13): the primary agent invites another agent, or a queue, to
// look at the conversation with it. The consultant reads the conversation live
// (its events are copied to consultants, store/consults.go) and writes notes,
// nothing else: every other call still needs the assigned agent. Consults are
// Postgres rows, not workflow state: nothing about them reaches Facebook, and
// the one change they can make to the conversation, the transfer, goes through
// the transfer path, which tells the workflow.

import (
	"net/http"

	"fbchannel/store"
)

// viewedConversation loads a conversation the agent may read: its own, or one
// it consults on (primary says which). Anything else is 404.
func (s *Server) viewedConversation(w http.ResponseWriter, r *http.Request, me store.Agent) (c store.Conversation, primary bool, ok bool) {
	c, err := s.Store.GetConversation(r.Context(), r.PathValue("id"))
	if err == nil {
		primary = c.AgentID != nil && *c.AgentID == me.ID
		if !primary {
			var consulting bool
			if consulting, err = s.Store.IsConsultant(r.Context(), c.ID, me.ID); err == nil && !consulting {
				err = store.ErrNotFound
			}
		}
	}
	return c, primary, !s.answerStoreError(w, r, err, "No conversation of yours has this id.")
}

// startConsult answers POST /api/v1/conversations/{id}/consults with
// {"agent_id"} or {"queue_id"}: 201 {"id","agent_id","status",...}.
func (s *Server) startConsult(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		AgentID string `json:"agent_id"`
		QueueID string `json:"queue_id"`
	}
	if !decode(w, r, &in) {
		return
	}
	var err error
	switch {
	case (in.AgentID == "") == (in.QueueID == ""):
		err = invalidf("Give exactly one of agent_id and queue_id.")
	case in.AgentID != "" && !validID(in.AgentID):
		err = invalidf("agent_id: no agent has id %q.", in.AgentID)
	case in.QueueID != "" && !validID(in.QueueID):
		err = invalidf("queue_id: no queue has id %q.", in.QueueID)
	}
	var k store.Consult
	if err == nil {
		k, err = s.Store.StartConsult(r.Context(), store.ConsultRequest{
			ConversationID: r.PathValue("id"), PrimaryID: me.ID, AgentID: in.AgentID, QueueID: in.QueueID,
		})
	}
	s.answer(w, r, http.StatusCreated, k, err, "No conversation of yours has this id.")
}

// endConsult answers DELETE /api/v1/conversations/{id}/consults/{consult_id}:
// the primary agent or the consultant ends the consult.
func (s *Server) endConsult(w http.ResponseWriter, r *http.Request, me store.Agent) {
	k, err := s.Store.EndConsult(r.Context(), r.PathValue("id"), r.PathValue("consult_id"), me.ID)
	s.answer(w, r, http.StatusOK, k, err, "No consult of yours has this id.")
}

// transferToConsultant answers POST .../consults/{consult_id}/transfer: the
// primary agent hands the conversation to its consultant through the ordinary
// transfer (capacity checked under the consultant's lock, the workflow told),
// and the consult ends in the transfer's transaction.
func (s *Server) transferToConsultant(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 && !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	consults, err := s.Store.ActiveConsults(r.Context(), id)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	req := store.TransferRequest{ConversationID: id, FromAgentID: me.ID, ConsultID: r.PathValue("consult_id"), Note: in.Note}
	for _, k := range consults {
		if k.ID == req.ConsultID {
			req.ToAgentID = k.AgentID
		}
	}
	if req.ToAgentID == "" {
		writeError(w, http.StatusNotFound, "not_found", "No active consult on this conversation has this id.")
		return
	}
	s.transfer(w, r, req, "No conversation of yours has this id.")
}
