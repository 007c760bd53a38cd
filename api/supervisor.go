package api

import (
	"net/http"
	"slices"

	"fbchannel/store"
)

// Supervisors (issue 14). An agent with role "supervisor" signs in to the desk
// like any agent and also reads the conversations of the queues an admin gave
// it; the admin token can do everything a supervisor can, on every queue. A
// queue outside a supervisor's list is answered as if it did not exist (404).

// registerSupervisor adds the supervisor routes and the admin's supervision API
// (its GET is among the admin's reads in Handler).
func (s *Server) registerSupervisor(mux *http.ServeMux) {
	mux.HandleFunc("PUT /api/v1/agents/{id}/supervision", s.admin(s.putSupervision))
	mux.HandleFunc("GET /api/v1/supervisor/conversations", s.adminOrAgent(s.supervisorConversations))
	mux.HandleFunc("GET /api/v1/supervisor/queues/{id}/conversations", s.adminOrAgent(s.supervisorQueueConversations))
	mux.HandleFunc("GET /api/v1/conversations/{id}/transcript", s.adminOrAgent(s.transcript))
	mux.HandleFunc("GET /api/v1/accounts/{id}/export", s.admin(s.exportAccount))
	// The live floor and the supervisors' actions (floor.go).
	mux.HandleFunc("GET /api/v1/supervisor/floor", s.adminOrAgent(s.floor))
	mux.HandleFunc("GET /api/v1/supervisor/events", s.adminOrAgent(s.floorEvents))
	mux.HandleFunc("POST /api/v1/supervisor/conversations/{id}/monitor", s.adminOrAgent(s.monitorConversation))
	mux.HandleFunc("POST /api/v1/supervisor/conversations/{id}/join", s.adminOrAgent(s.joinConversation))
	mux.HandleFunc("POST /api/v1/supervisor/conversations/{id}/reassign", s.adminOrAgent(s.reassignConversation))
	mux.HandleFunc("POST /api/v1/supervisor/conversations/{id}/close", s.adminOrAgent(s.forceCloseConversation))
	mux.HandleFunc("GET /api/v1/supervisor/conversations/{id}/actions", s.adminOrAgent(s.supervisorActions))
}

// supervisorListLimit bounds the minimal supervisor page's list.
const supervisorListLimit = 500

type supervisionInput struct {
	Role     string   `json:"role"`
	QueueIDs []string `json:"queue_ids"`
}

// putSupervision sets an agent's role and replaces its supervised queues.
func (s *Server) putSupervision(w http.ResponseWriter, r *http.Request) {
	var in supervisionInput
	if !decode(w, r, &in) {
		return
	}
	sup, err := s.Store.SetSupervision(r.Context(), r.PathValue("id"), in.Role, in.QueueIDs)
	if s.answerStoreError(w, r, err, "No agent has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, sup)
}

// supervisedQueues is what the caller supervises: nil for the admin (every
// queue), the list for a supervisor; an agent that is not a supervisor gets 403
// and ok false.
func (s *Server) supervisedQueues(w http.ResponseWriter, r *http.Request, me *store.Agent) (ids []string, ok bool) {
	if me == nil {
		return nil, true
	}
	sup, err := s.Store.GetSupervision(r.Context(), me.ID)
	if s.answerStoreError(w, r, err, "No agent has this id.") {
		return nil, false
	}
	if sup.Role != store.RoleSupervisor {
		writeError(w, http.StatusForbidden, "not_supervisor", "Only a supervisor (or the admin) may do this; ask an admin to make you one.")
		return nil, false
	}
	return sup.QueueIDs, true
}

// supervisorConversations lists the conversations of the caller's supervised
// queues (every queue for the admin), open ones first: the /supervisor page.
func (s *Server) supervisorConversations(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	queues, ok := s.supervisedQueues(w, r, me)
	if !ok {
		return
	}
	list, err := s.Store.SupervisorConversations(r.Context(), queues, supervisorListLimit)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	if queues == nil {
		queues = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue_ids": queues, "all_queues": me == nil, "conversations": list})
}

// supervisorQueueConversations lists one supervised queue's conversations; a
// queue the supervisor does not supervise is a 404.
func (s *Server) supervisorQueueConversations(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	queues, ok := s.supervisedQueues(w, r, me)
	if !ok {
		return
	}
	queueID := r.PathValue("id")
	if queues != nil && !slices.Contains(queues, queueID) {
		writeError(w, http.StatusNotFound, "not_found", "You supervise no queue with this id.")
		return
	}
	if !validID(queueID) {
		writeError(w, http.StatusNotFound, "not_found", "No queue has this id.")
		return
	}
	list, err := s.Store.SupervisorConversations(r.Context(), []string{queueID}, supervisorListLimit)
	if s.answerStoreError(w, r, err, "No queue has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// mayReadConversation says whether the caller may read a conversation: the
// admin, the conversation's agent, or a supervisor of its queue.
func (s *Server) mayReadConversation(r *http.Request, me *store.Agent, agentID, queueID *string) (bool, error) {
	if me == nil || agentID != nil && *agentID == me.ID {
		return true, nil
	}
	if queueID == nil {
		return false, nil
	}
	return s.Store.SupervisesQueue(r.Context(), me.ID, *queueID)
}
