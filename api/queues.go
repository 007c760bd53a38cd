package api

import (
	"crypto/subtle"
	"net/http"

	"fbchannel/calendar"
	"fbchannel/store"
)

// adminOrAgent lets the admin token through (agent nil) and otherwise
// authenticates an agent as the agent API does.
func (s *Server) adminOrAgent(next func(http.ResponseWriter, *http.Request, *store.Agent)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token, ok := bearer(r); ok && subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) == 1 {
			next(w, r, nil)
			return
		}
		s.agent(func(w http.ResponseWriter, r *http.Request, a store.Agent) { next(w, r, &a) })(w, r)
	}
}

// newQueue is a new queue's defaults.
func newQueue(accountID string) store.Queue {
	return store.Queue{AccountID: accountID, ServiceLevelSeconds: store.DefaultServiceLevelSeconds}
}

// listQueues is the supervisor view: every queue (or ?account_id=) with its length,
// oldest wait, available agents and each member's load.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	views, err := s.Store.QueueViews(r.Context(), r.URL.Query().Get("account_id"))
	s.answer(w, r, http.StatusOK, views, err, "No account has this id.")
}

// patchQueue renames a queue or changes its priority; the queue is woken, since a
// new priority changes which agents it may use.
func (s *Server) patchQueue(w http.ResponseWriter, r *http.Request) {
	var in queueInput
	if !decode(w, r, &in) {
		return
	}
	var q store.Queue
	err := invalidf("account_id cannot be changed.")
	if !in.AccountID.Set {
		q, err = s.Store.UpdateQueue(r.Context(), r.PathValue("id"), in.apply)
	}
	if s.answerStoreError(w, r, err, "No queue has this id.") {
		return
	}
	if err := s.wakeQueues(r.Context(), []string{q.ID}); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// putQueueMember adds an agent to a queue and wakes the queue: the agent may take
// its waiting conversations now.
func (s *Server) putQueueMember(w http.ResponseWriter, r *http.Request) {
	queueID, agentID := r.PathValue("id"), r.PathValue("agent_id")
	err := s.Store.AddQueueMember(r.Context(), queueID, agentID)
	if s.answerStoreError(w, r, err, "No queue or agent has this id.") {
		return
	}
	if err := s.wakeQueues(r.Context(), []string{queueID}); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"queue_id": queueID, "agent_id": agentID})
}

// deleteQueueMember takes an agent out of a queue; its conversations stay with it.
// The agent's other queues are woken: work it was leaving to this queue (a higher
// priority) may be theirs now.
func (s *Server) deleteQueueMember(w http.ResponseWriter, r *http.Request) {
	queueID, agentID := r.PathValue("id"), r.PathValue("agent_id")
	err := s.Store.RemoveQueueMember(r.Context(), queueID, agentID)
	if s.answerStoreError(w, r, err, "No queue or agent has this id.") {
		return
	}
	if err := s.wakeAgentQueues(r.Context(), agentID); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"queue_id": queueID, "agent_id": agentID})
}

// queueConversations lists a queue's waiting conversations, oldest first, for the
// admin and the queue's members (to pick from).
func (s *Server) queueConversations(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	queueID := r.PathValue("id")
	if me != nil {
		member, err := s.Store.IsQueueMember(r.Context(), queueID, me.ID)
		if s.answerHidden(w, r, member, err, "You are not a member of a queue with this id.") {
			return
		}
	}
	list, err := s.Store.QueueConversations(r.Context(), queueID, 500)
	s.answer(w, r, http.StatusOK, list, err, "No queue has this id.")
}

// getAgent shows an agent's presence, capacity, load, remaining capacity, queues
// and open conversations, to the admin or to the agent itself.
func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	id := r.PathValue("id")
	if me != nil && me.ID != id {
		writeError(w, http.StatusNotFound, "not_found", "You can only see yourself.")
		return
	}
	v, err := s.Store.AgentView(r.Context(), id)
	s.answer(w, r, http.StatusOK, v, err, "No agent has this id.")
}

// patchAgent changes an agent's capacity (units, 0–100). The agent's queues are
// woken: a larger capacity is room for waiting conversations now.
func (s *Server) patchAgent(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Capacity *int `json:"capacity"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Capacity == nil || *in.Capacity < 0 || *in.Capacity > 100 {
		writeError(w, http.StatusBadRequest, "invalid_request", "capacity must be between 0 and 100.")
		return
	}
	id := r.PathValue("id")
	err := s.Store.UpdateAgentCapacity(r.Context(), id, *in.Capacity)
	if s.answerStoreError(w, r, err, "No agent has this id.") {
		return
	}
	if err := s.wakeAgentQueues(r.Context(), id); err != nil {
		s.internalError(w, r, err)
		return
	}
	v, err := s.Store.AgentView(r.Context(), id)
	s.answer(w, r, http.StatusOK, v, err, "No agent has this id.")
}

// Queue priorities: a larger number is served first.
const (
	minPriority = -1000
	maxPriority = 1000
)

// maxServiceLevelSeconds is a day, as the schema's check allows.
const maxServiceLevelSeconds = 86400

// queueInput is the body of POST /queues and PATCH /queues/{id}.
type queueInput struct {
	accountName
	Priority optional[int] `json:"priority"`
	// OperatingHours overrides the workstream's calendar (api/workstream_hours.go).
	OperatingHours optional[calendar.Hours] `json:"operating_hours"`
	// The queue's service level target in seconds (README "Service KPIs").
	ServiceLevelSeconds optional[int] `json:"service_level_seconds"`
}

func (in queueInput) apply(q *store.Queue) error {
	if err := firstError(notNull("account_id", in.AccountID), notNull("name", in.Name), notNull("priority", in.Priority),
		notNull("service_level_seconds", in.ServiceLevelSeconds)); err != nil {
		return err
	}
	if err := setName(in.Name, &q.Name); err != nil {
		return err
	}
	if in.Priority.Set {
		if in.Priority.Value < minPriority || in.Priority.Value > maxPriority {
			return invalidf("priority must be between %d and %d (a larger number is served first).", minPriority, maxPriority)
		}
		q.Priority = in.Priority.Value
	}
	if in.ServiceLevelSeconds.Set {
		if in.ServiceLevelSeconds.Value < 1 || in.ServiceLevelSeconds.Value > maxServiceLevelSeconds {
			return invalidf("service_level_seconds must be between 1 and %d.", maxServiceLevelSeconds)
		}
		q.ServiceLevelSeconds = in.ServiceLevelSeconds.Value
	}
	return applyQueueHours(in.OperatingHours, q)
}
