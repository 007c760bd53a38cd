package api

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

func temporalSearchAttributes(pageID, psid, status string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		contract.FacebookPageIDKey.ValueSet(pageID),
		contract.CustomerPSIDKey.ValueSet(psid),
		contract.ConversationStatusKey.ValueSet(status),
	)
}

// required checks that each named field is a non-empty string of sane length.
func required(w http.ResponseWriter, fields map[string]string) bool {
	for name, v := range fields {
		v = strings.TrimSpace(v)
		if v == "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "Field "+name+" is required.")
			return false
		}
		if utf8.RuneCountInString(v) > 500 {
			writeError(w, http.StatusBadRequest, "invalid_request", "Field "+name+" is too long (500 characters at most).")
			return false
		}
	}
	return true
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name      string `json:"name"`
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	if !decode(w, r, &in) || !required(w, map[string]string{"name": in.Name, "app_id": in.AppID, "app_secret": in.AppSecret}) {
		return
	}
	a, err := s.Store.CreateAccount(r.Context(), strings.TrimSpace(in.Name), strings.TrimSpace(in.AppID), in.AppSecret)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": a.ID, "name": a.Name, "app_id": a.AppID})
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.Store.GetAccount(r.Context(), r.PathValue("id"), s.PublicBaseURL)
	s.answer(w, r, http.StatusOK, a, err, "No account has this id.")
}

func validPageID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (s *Server) createPage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        string `json:"name"`
		PageID      string `json:"page_id"`
		AccessToken string `json:"access_token"`
		// ImportHistoryDays (issue 15): days of Messenger history imported on
		// connect; absent: the default (30), 0: none.
		ImportHistoryDays *int `json:"import_history_days"`
	}
	if !decode(w, r, &in) || !required(w, map[string]string{"name": in.Name, "page_id": in.PageID, "access_token": in.AccessToken}) {
		return
	}
	if err := validImportHistoryDays(in.ImportHistoryDays); err != nil {
		s.answerStoreError(w, r, err, "")
		return
	}
	if !validPageID(in.PageID) {
		writeError(w, http.StatusBadRequest, "invalid_request", "page_id must be the page's numeric Facebook id (Page → About → Page ID).")
		return
	}
	p, err := s.Store.CreatePage(r.Context(), r.PathValue("id"), strings.TrimSpace(in.Name), in.PageID, strings.TrimSpace(in.AccessToken), s.PublicBaseURL)
	if err == nil && in.ImportHistoryDays != nil {
		err = s.Store.SetImportHistoryDays(r.Context(), p.ID, *in.ImportHistoryDays)
	}
	if s.answerStoreError(w, r, err, "No active account has this id.") {
		return
	}
	if err := s.provision(r, p.ID); err != nil {
		// The page is saved; its workflow starts with the next token update or retry.
		s.Log.Error("start page workflow", "page_uuid", p.ID, "err", err)
		p.LastError = "Provisioning has not started yet (Temporal unreachable); save the token again to retry."
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": p.ID, "page_id": p.PageID, "name": p.Name, "callback_url": p.CallbackURL, "verify_token": p.VerifyToken,
		"provisioning_status": p.ProvisioningStatus, "last_error": p.LastError, "default_queue_id": p.DefaultQueueID,
		"workstream_id": p.WorkstreamID,
	})
}

// provision starts the page's workflow, or asks the running one to provision again.
func (s *Server) provision(r *http.Request, pageUUID string) error {
	_, err := s.Temporal.SignalWithStartWorkflow(r.Context(), contract.PageWorkflowID(pageUUID), contract.SignalReprovision, struct{}{},
		client.StartWorkflowOptions{TaskQueue: s.TaskQueue}, workflows.PageWorkflow, contract.PageInput{PageUUID: pageUUID})
	if err == nil {
		err = workflows.StartHistoryImport(r.Context(), s.Temporal, s.TaskQueue, pageUUID)
	}
	return err
}

func (s *Server) getPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.GetPage(r.Context(), r.PathValue("id"), s.PublicBaseURL)
	if s.answerStoreError(w, r, err, "No page has this id.") {
		return
	}
	s.writePageWithImport(w, r, p)
}

func (s *Server) replacePageToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccessToken string `json:"access_token"`
	}
	if !decode(w, r, &in) || !required(w, map[string]string{"access_token": in.AccessToken}) {
		return
	}
	err := s.Store.ReplacePageToken(r.Context(), r.PathValue("id"), strings.TrimSpace(in.AccessToken))
	if s.answerStoreError(w, r, err, "No connected page has this id.") {
		return
	}
	if err := s.provision(r, r.PathValue("id")); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "provisioning_status": "pending"})
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		Capacity *int   `json:"capacity"`
	}
	if !decode(w, r, &in) || !required(w, map[string]string{"name": in.Name, "email": in.Email}) {
		return
	}
	if !strings.Contains(in.Email, "@") {
		writeError(w, http.StatusBadRequest, "invalid_request", "email must be an email address.")
		return
	}
	capacity := 3 // a sensible default for asynchronous messaging
	if in.Capacity != nil {
		capacity = *in.Capacity
	}
	if capacity < 0 || capacity > 100 {
		writeError(w, http.StatusBadRequest, "invalid_request", "capacity must be between 0 and 100.")
		return
	}
	a, token, err := s.Store.CreateAgent(r.Context(), strings.TrimSpace(in.Name), strings.TrimSpace(in.Email), capacity)
	s.answer(w, r, http.StatusCreated, map[string]any{"id": a.ID, "name": a.Name, "email": a.Email, "capacity": a.Capacity, "token": token}, err, "")
}

// deletePage starts the page's deletion saga (202); calling it again is harmless.
func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	status, err := s.Store.MarkPageDeleting(r.Context(), id)
	if s.answerStoreError(w, r, err, "No page has this id.") {
		return
	}
	if status == "deleting" {
		if err := contract.DeletePage(r.Context(), s.Temporal, s.TaskQueue, id); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "provisioning_status": status})
}

// deleteAccount deletes a configured channel: every page's saga, then the secret.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	status, err := s.Store.MarkAccountDeleting(r.Context(), id)
	if s.answerStoreError(w, r, err, "No account has this id.") {
		return
	}
	if status == "deleting" {
		_, err := s.Temporal.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{
			ID: contract.AccountDeletionWorkflowID(id), TaskQueue: s.TaskQueue,
			// A second DELETE joins the deletion already under way.
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.AccountDeletionWorkflow, contract.AccountInput{AccountID: id})
		if err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": status})
}
