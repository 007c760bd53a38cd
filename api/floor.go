package api

// The supervisors' live floor and their actions on conversations (issue 14,
// parts 2 and 3). A supervisor acts only in the queues it supervises (404 for
// any other, as if the conversation did not exist); the admin token everywhere.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// floorSettle collects the rings of one burst of changes (an assignment writes
// several rows) into one read of the floor.
const floorSettle = 150 * time.Millisecond

// maxCloseReasonRunes bounds a force close's reason.
const maxCloseReasonRunes = 500

// supervisor is who acts: the admin (every queue) or a supervising agent.
func (s *Server) supervisor(w http.ResponseWriter, r *http.Request, me *store.Agent) (store.Supervisor, bool) {
	queues, ok := s.supervisedQueues(w, r, me)
	if !ok {
		return store.Supervisor{}, false
	}
	if me == nil {
		return store.Supervisor{Name: "Admin"}, true
	}
	return store.Supervisor{AgentID: me.ID, Name: me.Name, Queues: queues}, true
}

// supervisorBody reads the caller as a supervisor and the request's JSON body;
// false when it has answered (not a supervisor, or a bad body).
func supervisorBody[T any](s *Server, w http.ResponseWriter, r *http.Request, me *store.Agent) (store.Supervisor, T, bool) {
	var in T
	sup, ok := s.supervisor(w, r, me)
	return sup, in, ok && decode(w, r, &in)
}

// floorFilter reads the floor's filters from the query: state, queue, agent,
// page and wait_s (the least wait, in seconds). A queue the supervisor does
// not supervise is a 404.
func floorFilter(r *http.Request, sup store.Supervisor) (store.FloorFilter, error) {
	q := r.URL.Query()
	f := store.FloorFilter{State: q.Get("state"), QueueID: q.Get("queue"), AgentID: q.Get("agent"), Page: q.Get("page")}
	switch {
	case f.QueueID != "" && !validID(f.QueueID):
		return f, invalidf("queue: %q is not a queue id.", f.QueueID)
	case f.QueueID != "" && !sup.Supervises(f.QueueID):
		return f, fmt.Errorf("queue: %w", store.ErrNotFound)
	case f.AgentID != "" && !validID(f.AgentID):
		return f, invalidf("agent: %q is not an agent id.", f.AgentID)
	case len(f.State) > 40 || len(f.Page) > 100:
		return f, invalidf("state and page are short identifiers.")
	}
	if v := q.Get("wait_s"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, invalidf("wait_s must be a whole number of seconds, 0 or more.")
		}
		f.MinWaitS = n
	}
	return f, nil
}

// floorRequest reads the caller as a supervisor and the floor's filters;
// false when it has answered.
func (s *Server) floorRequest(w http.ResponseWriter, r *http.Request, me *store.Agent) (store.Supervisor, store.FloorFilter, bool) {
	sup, ok := s.supervisor(w, r, me)
	if !ok {
		return sup, store.FloorFilter{}, false
	}
	f, err := floorFilter(r, sup)
	return sup, f, !s.answerStoreError(w, r, err, "You supervise no queue with this id.")
}

// floor answers GET /api/v1/supervisor/floor.
func (s *Server) floor(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, f, ok := s.floorRequest(w, r, me)
	if !ok {
		return
	}
	floor, err := s.Store.SupervisorFloor(r.Context(), sup.Queues, f)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	writeJSON(w, http.StatusOK, floor)
}

// floorEvents streams the floor as Server-Sent Events, snapshot then changes:
// a "floor" event with the whole floor (as GET /supervisor/floor answers it,
// with the same filters) at once and again after every change, and with
// ?monitor={conversation id} a "transcript" event with that conversation and
// its messages at once and after every change to them. Each event is the whole
// state, so a client that reconnects needs no Last-Event-ID: the first events
// of the new stream are the state now.
//
// Postgres rings the agent events hub ("floor" for conversations, presence,
// capacity and membership; "conversation:{id}" for messages; schema 0024); the
// stream also reads on the hub's safety poll, which refreshes the times shown.
func (s *Server) floorEvents(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, f, ok := s.floorRequest(w, r, me)
	if !ok {
		return
	}
	monitored := r.URL.Query().Get("monitor")
	if monitored != "" {
		_, err := s.Store.SupervisedConversation(r.Context(), sup, monitored)
		if s.answerStoreError(w, r, err, "No conversation in your queues has this id.") {
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "no_streaming", "Streaming is not supported here.")
		return
	}
	ctx := r.Context()
	// Subscribe before the first read: a change committed in between rings.
	var wake <-chan struct{}
	poll := eventPoll
	if s.Events != nil {
		keys := []string{}
		if monitored != "" {
			keys = append(keys, "conversation:"+monitored)
		}
		sub := s.Events.Subscribe("floor", keys...)
		defer sub.Close()
		wake, poll = sub.Wake(), s.Events.SafetyPoll()
	}
	beginStream(w, flusher)

	// send writes one event with the state now; a database error skips it and
	// the next ring or poll tries again.
	send := func(name string, v any, err error) {
		if err != nil {
			return
		}
		body, err := json.Marshal(v)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, body)
		flusher.Flush()
	}
	sendAll := func() {
		floor, err := s.Store.SupervisorFloor(ctx, sup.Queues, f)
		send("floor", floor, err)
		if monitored != "" {
			conv, err := s.Store.GetConversation(ctx, monitored)
			send("transcript", conv, err)
		}
	}
	sendAll()
	runStream(ctx, w, flusher, wake, poll, func() {
		if sleep(ctx, floorSettle) {
			sendAll()
		}
	}, sendAll)
}

// monitorConversation answers POST .../monitor with the conversation and its
// transcript, read-only; its agent is told (conversation.monitored). The live
// transcript follows on GET /supervisor/events?monitor={id}.
func (s *Server) monitorConversation(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, ok := s.supervisor(w, r, me)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.Store.MonitorConversation(r.Context(), sup, id)
	if s.answerStoreError(w, r, err, "No conversation in your queues has this id.") {
		return
	}
	s.writeConversation(w, r, id)
}

// joinConversation answers POST .../join: {"note"} stores an internal note,
// {"text"} sends a message to the customer as the page; both are marked as
// the supervisor's (sender "supervisor") and reach the agent's desk live.
func (s *Server) joinConversation(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, in, ok := supervisorBody[struct {
		Note string `json:"note"`
		Text string `json:"text"`
	}](s, w, r, me)
	if !ok {
		return
	}
	id := r.PathValue("id")
	const notFound = "No conversation in your queues has this id."
	switch {
	case (strings.TrimSpace(in.Note) == "") == (strings.TrimSpace(in.Text) == ""):
		writeError(w, http.StatusBadRequest, "invalid_request", "Give exactly one of note (an internal note) and text (a message to the customer).")
	case in.Note != "":
		text, err := noteText(in.Note)
		if s.answerStoreError(w, r, err, "") {
			return
		}
		m, err := s.Store.SupervisorNote(r.Context(), sup, id, text)
		if s.answerStoreError(w, r, err, notFound) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"note": m})
	default:
		if problem := replyProblem(in.Text, nil); problem != "" {
			writeError(w, http.StatusBadRequest, "invalid_request", problem)
			return
		}
		c, err := s.Store.SupervisedConversation(r.Context(), sup, id)
		if s.answerStoreError(w, r, err, notFound) {
			return
		}
		m, err := s.Store.InsertSupervisorReply(r.Context(), sup, id, in.Text)
		if s.answerStoreError(w, r, err, notFound) {
			return
		}
		out, ok := s.deliverReply(w, r, c, m.ID, sup.AgentID)
		if ok {
			writeJSON(w, http.StatusOK, map[string]any{"message": out})
		}
	}
}

// reassignConversation answers POST .../reassign {"agent_id"|"queue_id",
// "force"?, "note"?}: the transfer's locking and capacity rules (assign.go),
// with force giving the conversation to an agent without room.
func (s *Server) reassignConversation(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, in, ok := supervisorBody[struct {
		AgentID string `json:"agent_id"`
		QueueID string `json:"queue_id"`
		Force   bool   `json:"force"`
		Note    string `json:"note"`
	}](s, w, r, me)
	if !ok {
		return
	}
	s.transfer(w, r, store.TransferRequest{ConversationID: r.PathValue("id"), ToAgentID: in.AgentID, ToQueueID: in.QueueID, Note: in.Note,
		Supervisor: &sup, Force: in.Force}, "No conversation in your queues has this id.")
}

// forceCloseConversation answers POST .../close {"reason"}: the conversation
// workflow closes it (it owns the lifecycle; a close racing the agent's is
// serialised there, and only one of them closes). 200 when this close was
// the one; 409 conversation_not_open when another close came first.
func (s *Server) forceCloseConversation(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, in, ok := supervisorBody[struct {
		Reason string `json:"reason"`
	}](s, w, r, me)
	if !ok {
		return
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > maxCloseReasonRunes {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("reason is required (at most %d characters).", maxCloseReasonRunes))
		return
	}
	c, err := s.Store.SupervisedConversation(r.Context(), sup, r.PathValue("id"))
	if s.answerStoreError(w, r, err, "No conversation in your queues has this id.") {
		return
	}
	if c.Status == contract.StatusClosed {
		writeError(w, http.StatusConflict, "conversation_not_open", "This conversation is already closed.")
		return
	}
	if err := s.closeInWorkflow(r.Context(), c, contract.CloseRequest{ConversationID: c.ID, AgentID: sup.AgentID, Reason: store.CloseReasonSupervisor}); err != nil {
		s.workflowError(w, r, err)
		return
	}
	won, err := s.Store.SupervisorClosed(r.Context(), sup, c.ID, reason)
	if s.answerStoreError(w, r, err, "No conversation in your queues has this id.") {
		return
	}
	if !won {
		writeError(w, http.StatusConflict, "conversation_not_open", "The conversation was closed by someone else first.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": contract.StatusClosed, "close_reason": store.CloseReasonSupervisor})
}

// supervisorActions lists a conversation's audited supervisor actions.
func (s *Server) supervisorActions(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	sup, ok := s.supervisor(w, r, me)
	if !ok {
		return
	}
	id := r.PathValue("id")
	_, err := s.Store.SupervisedConversation(r.Context(), sup, id)
	if s.answerStoreError(w, r, err, "No conversation in your queues has this id.") {
		return
	}
	list, err := s.Store.SupervisorActions(r.Context(), id)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	writeJSON(w, http.StatusOK, list)
}
