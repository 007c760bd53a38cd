package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"fbchannel/store"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// maxTextRunes is Messenger's limit: text must be under 2000 characters.
const maxTextRunes = 1999

var presences = map[string]bool{"available": true, "busy": true, "away": true, "offline": true}

func (s *Server) setPresence(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		Status string `json:"status"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !presences[in.Status] {
		writeError(w, http.StatusBadRequest, "invalid_request", "status must be one of available, busy, away, offline.")
		return
	}
	queues, err := s.Store.SetPresence(r.Context(), me.ID, in.Status)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if in.Status == "available" {
		// Waiting conversations are assigned now, without a new customer message.
		if err := s.wakeQueues(r.Context(), queues); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": in.Status})
}

func (s *Server) myConversations(w http.ResponseWriter, r *http.Request, me store.Agent) {
	list, err := s.Store.AgentConversations(r.Context(), me.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// ownConversation loads a conversation the agent may act on; anything else is 404,
// so an agent cannot learn which other conversations exist.
func (s *Server) ownConversation(w http.ResponseWriter, r *http.Request, me store.Agent) (store.Conversation, bool) {
	c, err := s.Store.GetConversation(r.Context(), r.PathValue("id"))
	if err == nil && (c.AgentID == nil || *c.AgentID != me.ID) {
		err = store.ErrNotFound
	}
	return c, !s.answerStoreError(w, r, err, "No conversation of yours has this id.")
}

// ownConversationWith is ownConversation for a call with a JSON body, decoded
// into in once the conversation is found to be the agent's.
func (s *Server) ownConversationWith(w http.ResponseWriter, r *http.Request, me store.Agent, in any) (store.Conversation, bool) {
	c, ok := s.ownConversation(w, r, me)
	return c, ok && decode(w, r, in)
}

// getConversation answers with the conversation to its agent or a consultant;
// the agent opening it reads the customer's messages (markSeen).
func (s *Server) getConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	if c, primary, ok := s.viewedConversation(w, r, me); ok {
		if primary && s.markSeen(r, c) {
			c.UnreadCount = 0
		}
		writeJSON(w, http.StatusOK, c)
	}
}

// sendMessage stores the reply, then asks the conversation workflow to send it
// and answers with the real outcome of the Graph call.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, me store.Agent) {
	var in struct {
		Text        string             `json:"text"`
		Attachments []store.Attachment `json:"attachments"`
	}
	c, ok := s.ownConversationWith(w, r, me, &in)
	if !ok {
		return
	}
	if problem := replyProblem(in.Text, in.Attachments); problem != "" {
		writeError(w, http.StatusBadRequest, "invalid_request", problem)
		return
	}
	if len(in.Attachments) > 0 && !c.AgentAttachments {
		// Nothing is stored or sent: the workstream's policy forbids it.
		writeError(w, http.StatusUnprocessableEntity, "attachments_disabled",
			"This workstream does not let agents send attachments; send the information as text, or ask an admin to allow agent attachments.")
		return
	}
	if c.Status != contract.StatusAssigned {
		writeError(w, http.StatusConflict, "conversation_not_open", "This conversation is "+c.Status+"; reopen it to reply.")
		return
	}
	id, err := s.Store.InsertAgentReply(r.Context(), c.ID, c.PageID, me.ID, in.Text, in.Attachments)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out, ok := s.deliverReply(w, r, c, id, me.ID)
	if !ok {
		return
	}
	status := http.StatusCreated
	if out.Status == "queued" {
		status = http.StatusAccepted // parked until the page is re-authorised
	}
	writeJSON(w, status, out)
}

// deliverReply asks the conversation workflow to send the stored reply id (an
// agent's, or a supervisor's: agentID is then the supervisor's, "" for the
// admin) and returns the real outcome of the Graph call; when it cannot, it
// answers the request itself and returns false.
func (s *Server) deliverReply(w http.ResponseWriter, r *http.Request, c store.Conversation, id, agentID string) (contract.SendOutcome, bool) {
	handle, err := s.Temporal.UpdateWorkflow(r.Context(), client.UpdateWorkflowOptions{
		WorkflowID: contract.ConversationWorkflowID(c.PageID, c.Customer.PSID),
		UpdateID:   id,
		UpdateName: contract.UpdateSendMessage,
		Args: []any{contract.SendMessageRequest{
			ConversationID: c.ID, MessageID: id, AgentID: agentID, HumanAgentAllowed: c.HumanAgentTag,
		}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var out contract.SendOutcome
	if err == nil {
		err = handle.Get(r.Context(), &out)
	}
	if err != nil {
		if workflowRefused(err) {
			// The workflow never took the reply: it does not exist.
			_ = s.Store.DeleteUnsentReply(context.WithoutCancel(r.Context()), id)
		} else {
			// The update may still run (its outcome then arrives as message.status):
			// the reply stays for the workflow, never deleted under its feet.
			// The reply's id comes along, so the desk can follow its message.status.
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"id": id, "status": "sending", "error": map[string]string{
				"code":    "outcome_unknown",
				"message": "The reply was accepted but its outcome is not known yet; watch its status before sending it again.",
			}})
			return out, false
		}
		s.workflowError(w, r, err)
		return out, false
	}
	return out, true
}

// attachmentTypes are the files the Send API takes by URL.
var attachmentTypes = map[string]bool{"image": true, "audio": true, "video": true, "file": true}

// replyProblem says what is wrong with a reply, or "" when it can be sent. A
// Messenger message carries text or one attachment, never both.
func replyProblem(text string, attachments []store.Attachment) string {
	switch {
	case len(attachments) > 1:
		return "Send one attachment per message: Messenger carries one file in each."
	case len(attachments) == 1 && strings.TrimSpace(text) != "":
		return "Send the text and the attachment as two messages: a Messenger message carries one or the other."
	case len(attachments) == 1:
		a := attachments[0]
		if !attachmentTypes[a.Type] {
			return "attachments[0].type must be image, audio, video or file."
		}
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(a.URL) > 2000 {
			return "attachments[0].url must be an absolute http(s) address Facebook can fetch the file from."
		}
		return ""
	case strings.TrimSpace(text) == "":
		return "text is required (or one attachment)."
	case !utf8.ValidString(text) || utf8.RuneCountInString(text) > maxTextRunes:
		return "text must be valid UTF-8 and under 2000 characters."
	}
	return ""
}

// workflowRefused says the workflow is gone or refused the request (its update
// validator or handler returned an error, which reaches the client as an
// application error), so nothing of it will run later.
func workflowRefused(err error) bool {
	var notFound *serviceerror.NotFound
	var applicationErr *temporal.ApplicationError
	return errors.As(err, &notFound) || errors.As(err, &applicationErr)
}

// workflowError maps Temporal's answers: a workflow that is gone or refused the
// request is a conflict the agent can understand; anything else is retryable.
func (s *Server) workflowError(w http.ResponseWriter, r *http.Request, err error) {
	var applicationErr *temporal.ApplicationError
	if errors.As(err, &applicationErr) && applicationErr.Type() == store.ErrNotAssigned.Code {
		// Reassigned or transferred between the request and the close.
		writeError(w, http.StatusConflict, store.ErrNotAssigned.Code, store.ErrNotAssigned.Message)
		return
	}
	if workflowRefused(err) {
		writeError(w, http.StatusConflict, "conversation_not_open", "This conversation is no longer open.")
		return
	}
	s.internalError(w, r, err)
}

func (s *Server) closeConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	s.endOrClose(w, r, me, false)
}

// endOrClose is the agent's close (end false: closed at once) and end (end true:
// to wrap-up when the workstream has one, see states.go), both through the
// conversation workflow's close update. A conversation in wrap-up is finished.
func (s *Server) endOrClose(w http.ResponseWriter, r *http.Request, me store.Agent, end bool) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	in, note, ok := s.dispositionInput(w, r)
	if !ok {
		return
	}
	switch {
	case c.Status == contract.StatusWrapUp && !end:
		s.finishWrapUpOf(w, r, me, c, in.Disposition, note)
		return
	case c.Status == contract.StatusClosed || c.Status == contract.StatusWrapUp:
		if note != "" {
			if _, err := s.Store.AddNote(r.Context(), c.ID, me.ID, note); s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": c.Status})
		return
	}
	if err := s.closeInWorkflow(r.Context(), c, contract.CloseRequest{
		ConversationID: c.ID, AgentID: me.ID, Reason: contract.CloseReasonAgent, Disposition: in.Disposition, End: end,
	}); err != nil {
		s.workflowError(w, r, err)
		return
	}
	if note != "" {
		// After the close, so a refused close leaves no note; the note needs
		// no workflow (notes.go).
		if _, err := s.Store.AddNote(r.Context(), c.ID, me.ID, note); s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
			return
		}
	}
	status := contract.StatusClosed
	if end {
		got, err := s.Store.GetConversation(r.Context(), c.ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		status = got.Status
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": status})
}

// dispositionInput reads the optional body of close, end and finish:
// {"disposition","note"}; the note is the disposition note, stored as an
// internal note.
func (s *Server) dispositionInput(w http.ResponseWriter, r *http.Request) (in dispositionBody, note string, ok bool) {
	if r.ContentLength != 0 && !decode(w, r, &in) {
		return in, "", false
	}
	in.Disposition = strings.TrimSpace(in.Disposition)
	if utf8.RuneCountInString(in.Disposition) > 200 {
		writeError(w, http.StatusBadRequest, "invalid_request", "disposition must be at most 200 characters.")
		return in, "", false
	}
	if strings.TrimSpace(in.Note) != "" {
		var err error
		if note, err = noteText(in.Note); s.answerStoreError(w, r, err, "") {
			return in, "", false
		}
	}
	return in, note, true
}

type dispositionBody struct {
	Disposition string `json:"disposition"`
	Note        string `json:"note"`
}

// closeInWorkflow asks the conversation's workflow, which owns its lifecycle,
// to close it, and waits until it has.
func (s *Server) closeInWorkflow(ctx context.Context, c store.Conversation, req contract.CloseRequest) error {
	handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   contract.ConversationWorkflowID(c.PageID, c.Customer.PSID),
		UpdateName:   contract.UpdateClose,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, nil)
	}
	return err
}

// reopenWait bounds how long reopen waits for the closing run to finish and the
// reopened one to take the conversation back.
const reopenWait = 10 * time.Second

// reopenConversation starts a run of the customer's workflow for the same
// conversation. It is refused when the customer has opened a newer conversation.
func (s *Server) reopenConversation(w http.ResponseWriter, r *http.Request, me store.Agent) {
	c, ok := s.ownConversation(w, r, me)
	if !ok {
		return
	}
	if c.Status != contract.StatusClosed {
		writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": c.Status})
		return
	}
	if !replyPossible(c, time.Now()) {
		writeError(w, http.StatusConflict, "window_closed",
			"Messenger's window for this customer has closed, so the conversation cannot be reopened; it reopens by itself when the customer writes.")
		return
	}
	workflowID := contract.ConversationWorkflowID(c.PageID, c.Customer.PSID)
	ctx, cancel := context.WithTimeout(r.Context(), reopenWait)
	defer cancel()
	for {
		_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                                       workflowID,
			TaskQueue:                                s.TaskQueue,
			WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			TypedSearchAttributes:                    temporalSearchAttributes(c.PageID, c.Customer.PSID, contract.StatusAssigned),
		}, workflows.ConversationWorkflow, contract.ConversationInput{
			PageID: c.PageID, PSID: c.Customer.PSID,
			Reopen: &contract.ReopenRequest{ConversationID: c.ID, AgentID: me.ID},
		})
		if err == nil {
			break
		}
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			s.internalError(w, r, err)
			return
		}
		// Either this conversation's run is still finishing its close, or the
		// customer has a newer conversation. Ask the running one which it is.
		var state contract.ConversationState
		if v, qerr := s.Temporal.QueryWorkflow(ctx, workflowID, "", contract.QueryState); qerr == nil && v.Get(&state) == nil &&
			state.ConversationID != "" && state.ConversationID != c.ID {
			writeError(w, http.StatusConflict, "newer_conversation", "The customer has a newer open conversation; continue there.")
			return
		}
		if !sleep(ctx, 200*time.Millisecond) {
			writeError(w, http.StatusConflict, "conversation_busy", "The conversation is still closing; try again in a moment.")
			return
		}
	}
	for {
		got, err := s.Store.GetConversation(ctx, c.ID)
		if err == nil && got.Status != contract.StatusClosed {
			writeJSON(w, http.StatusOK, map[string]string{"id": c.ID, "status": got.Status})
			return
		}
		if !sleep(ctx, 100*time.Millisecond) {
			writeJSON(w, http.StatusAccepted, map[string]string{"id": c.ID, "status": "reopening"})
			return
		}
	}
}

// replyPossible says whether an agent could still write to the customer: inside the
// 24-hour window, or the HUMAN_AGENT window where the workstream enables it.
func replyPossible(c store.Conversation, now time.Time) bool {
	if c.Window.HumanAgentUntil != nil && now.Before(*c.Window.HumanAgentUntil) {
		return true
	}
	return c.Window.ExpiresAt != nil && now.Before(*c.Window.ExpiresAt)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
