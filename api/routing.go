package api

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

type routingRules struct {
	Rules []store.RoutingRule `json:"rules"`
}

func (s *Server) getRoutingRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.Store.RoutingRules(r.Context(), r.PathValue("id"))
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, routingRules{Rules: rules})
}

// putRoutingRules replaces a workstream's ordered rule set. The whole set is
// checked before anything is saved: an unknown field or operator, a regular
// expression that does not compile, a locale that is not BCP 47 or a queue or
// page of another account is a 400 naming the rule and condition.
func (s *Server) putRoutingRules(w http.ResponseWriter, r *http.Request) {
	var in routingRules
	if !decode(w, r, &in) {
		return
	}
	rules, err := s.Store.SaveRoutingRules(r.Context(), r.PathValue("id"), in.Rules)
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, routingRules{Rules: rules})
}

// pickConversation gives a waiting conversation of one of the agent's queues to
// the agent. Of two agents picking at once exactly one gets 200; the other 409.
func (s *Server) pickConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	a, err := s.Store.Pick(r.Context(), r.PathValue("id"), me.ID)
	s.answerAssigned(w, r, a, err, "No conversation waiting in your queues has this id.")
}

// answerAssigned answers an assignment the agent made itself (a pick, an
// accepted offer): the workflow is told its agent, the answer is the conversation.
func (s *Server) answerAssigned(w http.ResponseWriter, r *http.Request, a store.Assigned, err error, notFound string) {
	if s.answerStoreError(w, r, err, notFound) {
		return
	}
	s.tellConversation(r, a)
	s.writeConversation(w, r, a.ConversationID)
}

// tellConversation lets the conversation's workflow know its agent. The assignment
// is committed and the agent already has its event; a workflow that is gone or a
// Temporal hiccup only leaves the workflow's search attributes behind, so it is
// logged, not reported.
func (s *Server) tellConversation(r *http.Request, a store.Assigned) {
	err := s.Temporal.SignalWorkflow(r.Context(), contract.ConversationWorkflowID(a.PageID, a.PSID), "", contract.SignalAssigned, a)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		s.Log.Warn("could not signal the assignment to the conversation workflow", "conversation_id", a.ConversationID, "err", err)
	}
}

func (s *Server) writeConversation(w http.ResponseWriter, r *http.Request, id string) {
	c, err := s.Store.GetConversation(r.Context(), id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// transferConversation hands the agent's conversation to another agent
// ({"agent_id"}) or a queue ({"queue_id"}), with an optional note for the next
// agent. The first agent's capacity is released and its queues woken; a target
// agent without room is a 409.
func (s *Server) transferConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		AgentID string `json:"agent_id"`
		QueueID string `json:"queue_id"`
		Note    string `json:"note"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.transfer(w, r, store.TransferRequest{ConversationID: r.PathValue("id"), FromAgentID: me.ID, ToAgentID: in.AgentID, ToQueueID: in.QueueID, Note: in.Note},
		"No conversation of yours has this id.")
}

// transfer checks and makes a transfer, tells the conversation's workflow its new
// agent and wakes the queues, and answers with the conversation (the agent's
// transfer, the consult's way to a transfer and a supervisor's reassignment;
// notFound is what a missing conversation is to the caller).
func (s *Server) transfer(w http.ResponseWriter, r *http.Request, req store.TransferRequest, notFound string) {
	req.Note = strings.TrimSpace(req.Note)
	var out store.Transferred
	err := transferProblem(req)
	if err == nil {
		out, err = s.Store.Transfer(r.Context(), req)
	}
	if s.answerStoreError(w, r, err, notFound) {
		return
	}
	if out.Assignment != nil {
		s.tellConversation(r, *out.Assignment)
	}
	if err := s.wakeQueues(r.Context(), out.WakeQueues); err != nil {
		// The transfer is saved; the queues are woken by the next event anyway.
		s.Log.Warn("could not wake queues after a transfer", "conversation_id", req.ConversationID, "err", err)
	}
	s.writeConversation(w, r, req.ConversationID)
}

// transferTarget is an agent the conversation can be transferred to, as the desk
// shows it: enough to choose (presence, room), nothing private (no email).
type transferTarget struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Presence          string   `json:"presence"`
	RemainingCapacity int      `json:"remaining_capacity"`
	Queues            []string `json:"queues"`
}

type transferQueue struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Length          int    `json:"length"`
	AgentsAvailable int    `json:"agents_available"`
}

// transferTargets lists where the conversation's agent can transfer it: the
// queues of the conversation's account and the agents who are members of them
// (the agent itself left out), for the desk's transfer control. It is a read
// for choosing; the transfer itself re-checks presence and room under locks.
func (s *Server) transferTargets(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	page, err := s.Store.GetPage(r.Context(), c.PageUUID, s.PublicBaseURL)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	views, err := s.Store.QueueViews(r.Context(), page.AccountID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := struct {
		Agents []*transferTarget `json:"agents"`
		Queues []transferQueue   `json:"queues"`
	}{Agents: []*transferTarget{}, Queues: []transferQueue{}}
	byID := map[string]*transferTarget{}
	for _, v := range views {
		out.Queues = append(out.Queues, transferQueue{ID: v.ID, Name: v.Name, Length: v.Length, AgentsAvailable: v.AgentsAvailable})
		for _, a := range v.Agents {
			if a.ID == me.ID {
				continue
			}
			t := byID[a.ID]
			if t == nil {
				t = &transferTarget{ID: a.ID, Name: a.Name, Presence: a.Presence, RemainingCapacity: a.RemainingCapacity, Queues: []string{}}
				byID[a.ID] = t
				out.Agents = append(out.Agents, t)
			}
			t.Queues = append(t.Queues, v.Name)
		}
	}
	sort.SliceStable(out.Agents, func(i, j int) bool {
		return strings.ToLower(out.Agents[i].Name) < strings.ToLower(out.Agents[j].Name)
	})
	writeJSON(w, http.StatusOK, out)
}

// maxNoteRunes bounds a transfer note.
const maxNoteRunes = 1000

// transferProblem checks a transfer request before the store looks at it.
func transferProblem(req store.TransferRequest) error {
	switch {
	case (req.ToAgentID == "") == (req.ToQueueID == ""):
		return invalidf("Give exactly one of agent_id and queue_id.")
	case utf8.RuneCountInString(req.Note) > maxNoteRunes:
		return invalidf("note must be at most %d characters.", maxNoteRunes)
	case req.ToAgentID == req.FromAgentID:
		return invalidf("The conversation is already yours; choose another agent.")
	case req.ToAgentID != "" && !validID(req.ToAgentID):
		return invalidf("agent_id: no agent has id %q.", req.ToAgentID)
	case req.ToQueueID != "" && !validID(req.ToQueueID):
		return invalidf("queue_id: no queue has id %q.", req.ToQueueID)
	}
	return nil
}
