// Package api is the starter's HTTP surface: Facebook webhooks, the admin API, the
// agent API and its event stream. It reads and writes Postgres for configuration
// and starts, signals and updates workflows; it never runs workflow code.
package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"go.temporal.io/sdk/client"

	"fbchannel/agentevents"
	"fbchannel/desk"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/relay"
	"fbchannel/store"
)

// Server holds the starter's dependencies.
type Server struct {
	Store           *store.Store
	Temporal        client.Client
	TaskQueue       string
	PublicBaseURL   string
	AdminToken      string
	WebhookMaxBytes int64
	Log             *slog.Logger
	// Metrics records webhook and HTTP metrics and is served at /metrics; when
	// nil, Handler gives the server a fresh ops.NewStarter().
	Metrics *ops.Metrics
	// Events wakes agents' event streams when Postgres notifies a new event (the
	// starter's one LISTEN connection); when nil, streams poll (tools and tests).
	Events *agentevents.Hub
	// Relay hands the webhook inbox on to Temporal; the webhook handler kicks
	// it after each commit. Nil: events wait for another starter's relay.
	Relay *relay.Relay
	// Graph sends the best-effort sender actions (typing, seen, reactions;
	// senderactions.go). Nil: they are not sent.
	Graph *graph.Client
}

// Handler routes every endpoint of CONTRACT.md, plus /healthz, /readyz (Postgres;
// Temporal down only warns, as webhooks still go into the inbox) and /metrics.
func (s *Server) Handler() http.Handler {
	if s.Metrics == nil {
		s.Metrics = ops.NewStarter()
	}
	mux := http.NewServeMux()
	ops.Mount(mux, s.Metrics, ops.PostgresCheck(s.Store.DB), ops.WarnOnly(ops.TemporalCheck(s.Temporal), s.Log))
	mux.HandleFunc("GET /webhooks/facebook/{page}", s.verifyWebhook)
	mux.HandleFunc("POST /webhooks/facebook/{page}", s.receiveWebhook)

	// The admin's reads of one thing by the path's {id} (readByID). A workstream's
	// automated messages are every kind: on or off, its text in the workstream's
	// language, and whether the text is its own.
	mux.HandleFunc("GET /api/v1/workstreams/{id}", s.admin(readByID(s, s.Store.GetWorkstream, "No workstream has this id.")))
	mux.HandleFunc("GET /api/v1/accounts/{id}/workstreams", s.admin(readByID(s, s.Store.ListWorkstreams, "No account has this id.")))
	mux.HandleFunc("GET /api/v1/workstreams/{id}/automated-messages", s.admin(readByID(s, s.Store.AutomatedMessages, "No workstream has this id.")))
	mux.HandleFunc("GET /api/v1/accounts/{id}/queues", s.admin(readByID(s, s.Store.QueueViews, "No account has this id.")))
	mux.HandleFunc("GET /api/v1/queues/{id}", s.admin(readByID(s, s.Store.QueueView, "No queue has this id.")))
	mux.HandleFunc("GET /api/v1/accounts/{id}/quick-replies", s.admin(readByID(s, s.Store.AccountQuickReplies, "No account has this id.")))
	mux.HandleFunc("GET /api/v1/workstreams/{id}/wait-colours", s.admin(readByID(s, s.Store.GetWaitColours, "No workstream has this id.")))
	mux.HandleFunc("GET /api/v1/agents/{id}/supervision", s.admin(readByID(s, s.Store.GetSupervision, "No agent has this id.")))

	mux.HandleFunc("POST /api/v1/accounts", s.admin(s.createAccount))
	mux.HandleFunc("GET /api/v1/accounts/{id}", s.admin(s.getAccount))
	mux.HandleFunc("PATCH /api/v1/accounts/{id}", s.admin(s.patchAccount))
	mux.HandleFunc("DELETE /api/v1/customers/{id}", s.admin(s.eraseCustomer))
	mux.HandleFunc("DELETE /api/v1/accounts/{id}", s.admin(s.deleteAccount))
	mux.HandleFunc("DELETE /api/v1/pages/{id}", s.admin(s.deletePage))
	mux.HandleFunc("POST /api/v1/accounts/{id}/pages", s.admin(s.createPage))
	mux.HandleFunc("GET /api/v1/pages/{id}", s.admin(s.getPage))
	mux.HandleFunc("PATCH /api/v1/pages/{id}", s.admin(s.patchPage))
	mux.HandleFunc("PUT /api/v1/pages/{id}/token", s.admin(s.replacePageToken))
	mux.HandleFunc("POST /api/v1/agents", s.admin(s.createAgent))
	mux.HandleFunc("PATCH /api/v1/workstreams/{id}", s.admin(s.patchWorkstream))
	// Workstreams, routing rules, queues, membership and the supervisor view (issue 4).
	mux.HandleFunc("POST /api/v1/workstreams", s.admin(createForAccount[store.Workstream, workstreamInput](s, store.NewWorkstream, s.Store.CreateWorkstream)))
	mux.HandleFunc("GET /api/v1/workstreams/{id}/routing-rules", s.admin(s.getRoutingRules))
	mux.HandleFunc("PUT /api/v1/workstreams/{id}/routing-rules", s.admin(s.putRoutingRules))
	mux.HandleFunc("PUT /api/v1/workstreams/{id}/automated-messages/{kind}", s.admin(s.putAutomatedMessage))
	mux.HandleFunc("POST /api/v1/queues", s.admin(createForAccount[store.Queue, queueInput](s, newQueue, s.Store.CreateQueue)))
	mux.HandleFunc("GET /api/v1/queues", s.admin(s.listQueues))
	mux.HandleFunc("PATCH /api/v1/queues/{id}", s.admin(s.patchQueue))
	mux.HandleFunc("PUT /api/v1/queues/{id}/members/{agent_id}", s.admin(s.putQueueMember))
	mux.HandleFunc("DELETE /api/v1/queues/{id}/members/{agent_id}", s.admin(s.deleteQueueMember))
	mux.HandleFunc("GET /api/v1/queues/{id}/conversations", s.adminOrAgent(s.queueConversations))
	mux.HandleFunc("GET /api/v1/agents/{id}", s.adminOrAgent(s.getAgent))
	mux.HandleFunc("PATCH /api/v1/agents/{id}", s.admin(s.patchAgent))
	mux.HandleFunc("POST /api/v1/conversations/{id}/pick", s.agent(s.pickConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/transfer", s.agent(s.transferConversation))
	mux.HandleFunc("GET /api/v1/conversations/{id}/transfer-targets", s.agent(s.transferTargets))

	mux.HandleFunc("PUT /api/v1/me/presence", s.agent(s.setPresence))
	mux.HandleFunc("GET /api/v1/me/events", s.agent(s.events))
	mux.HandleFunc("GET /api/v1/me/conversations", s.agent(s.myConversations))
	mux.HandleFunc("GET /api/v1/conversations/{id}", s.agent(s.getConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/messages", s.agent(s.sendMessage))
	mux.HandleFunc("POST /api/v1/conversations/{id}/close", s.agent(s.closeConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/reopen", s.agent(s.reopenConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/hold", s.agent(s.holdConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/end", s.agent(s.endConversation))
	mux.HandleFunc("POST /api/v1/conversations/{id}/wrap-up/finish", s.agent(s.finishWrapUp))
	mux.HandleFunc("POST /api/v1/conversations/{id}/accept", s.agent(s.acceptOffer))
	mux.HandleFunc("POST /api/v1/conversations/{id}/decline", s.agent(s.declineOffer))
	mux.HandleFunc("POST /api/v1/conversations/{id}/contact", s.agent(s.linkContact))
	mux.HandleFunc("DELETE /api/v1/conversations/{id}/contact", s.agent(s.unlinkContact))

	// Quick replies and internal notes (issue 13; quickreplies.go, notes.go).
	mux.HandleFunc("GET /api/v1/quick-replies", s.agent(s.searchQuickReplies))
	mux.HandleFunc("POST /api/v1/quick-replies", s.agent(s.createMyQuickReply))
	mux.HandleFunc("PATCH /api/v1/quick-replies/{qr}", s.agent(s.updateMyQuickReply))
	mux.HandleFunc("DELETE /api/v1/quick-replies/{qr}", s.agent(s.deleteMyQuickReply))
	mux.HandleFunc("POST /api/v1/accounts/{id}/quick-replies", s.admin(s.createAccountQuickReply))
	mux.HandleFunc("PATCH /api/v1/accounts/{id}/quick-replies/{qr}", s.admin(s.updateAccountQuickReply))
	mux.HandleFunc("DELETE /api/v1/accounts/{id}/quick-replies/{qr}", s.admin(s.deleteAccountQuickReply))
	mux.HandleFunc("POST /api/v1/conversations/{id}/notes", s.agent(s.addNote))

	// Consults, typing, seen and reactions (issue 13; consults.go, senderactions.go).
	mux.HandleFunc("POST /api/v1/conversations/{id}/consults", s.agent(s.startConsult))
	mux.HandleFunc("DELETE /api/v1/conversations/{id}/consults/{consult_id}", s.agent(s.endConsult))
	mux.HandleFunc("POST /api/v1/conversations/{id}/consults/{consult_id}/transfer", s.agent(s.transferToConsultant))
	mux.HandleFunc("POST /api/v1/conversations/{id}/typing", s.agent(s.typing))
	mux.HandleFunc("POST /api/v1/conversations/{id}/messages/{message_id}/reaction", s.agent(s.setReaction))
	mux.HandleFunc("DELETE /api/v1/conversations/{id}/messages/{message_id}/reaction", s.agent(s.setReaction))
	mux.HandleFunc("PUT /api/v1/workstreams/{id}/wait-colours", s.admin(s.putWaitColours))

	// Contacts: admins and agents alike (contacts.go); linking is the agent's, above.
	mux.HandleFunc("GET /api/v1/contacts", s.adminOrAgent(s.searchContacts))
	mux.HandleFunc("POST /api/v1/contacts", s.adminOrAgent(s.createContact))
	mux.HandleFunc("GET /api/v1/contacts/{id}", s.adminOrAgent(s.getContact))
	mux.HandleFunc("PATCH /api/v1/contacts/{id}", s.adminOrAgent(s.patchContact))

	// Supervisors, their live floor and transcript export (supervisor.go,
	// floor.go, export.go).
	s.registerSupervisor(mux)
	// Service KPIs (reports.go).
	s.registerReports(mux)

	// The agent desk and admin console (desk/) and desk sign-in (session.go).
	desk.Register(mux)
	mux.HandleFunc("POST /desk/session", s.createSession)
	mux.HandleFunc("GET /desk/session", s.agent(s.getSession))
	mux.HandleFunc("DELETE /desk/session", s.deleteSession)
	return s.Metrics.Instrument(mux)
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeError answers with the contract's error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// internalError logs the cause and answers 503 when the database is the problem,
// so clients (and Facebook) retry.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable; please retry.")
}

// answerStoreError answers a store call that failed, the one way every handler
// does: 400 invalid_request saying what to change (*store.InvalidInput, or the
// request's own checks, *requestError, which may run inside a store call), 409
// with the refusal's stable code (*store.Refused), 404 not_found with
// notFoundMessage (store.ErrNotFound: the id in the path matches nothing the
// caller may see), and 503 unavailable for anything else (logged, so clients
// retry). It reports whether it answered; on nil it writes nothing and the
// handler carries on.
func (s *Server) answerStoreError(w http.ResponseWriter, r *http.Request, err error, notFoundMessage string) bool {
	var invalid *store.InvalidInput
	var badRequest *requestError
	var refused *store.Refused
	switch {
	case err == nil:
		return false
	case errors.As(err, &invalid), errors.As(err, &badRequest):
		// err, not invalid: a wrapping store call may name the field first.
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.As(err, &refused):
		writeError(w, http.StatusConflict, refused.Code, refused.Message)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", notFoundMessage)
	default:
		s.internalError(w, r, err)
	}
	return true
}

// decode reads a JSON body into v, refusing unknown shapes with a clear 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	// A misspelt field is refused, not silently ignored.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "The request body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

func (s *Server) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized", "A valid admin bearer token is required.")
			return
		}
		next(w, r)
	}
}

type agentKey struct{}

func (s *Server) agent(next func(http.ResponseWriter, *http.Request, store.Agent)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			// No bearer token: the desk's session cookie (session.go), with CSRF checks.
			if a, ok := s.sessionAgent(w, r); ok {
				next(w, r, a)
			}
			return
		}
		if a, ok := s.agentByToken(w, r, token, "A valid agent bearer token is required."); ok {
			next(w, r, a)
		}
	}
}

// agentByToken is the agent whose token this is; false when it has answered:
// 401 unknownMessage for a token no agent has, 503 when the lookup failed.
func (s *Server) agentByToken(w http.ResponseWriter, r *http.Request, token, unknownMessage string) (store.Agent, bool) {
	a, err := s.Store.AgentByToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unauthorized", unknownMessage)
		return a, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return a, false
	}
	return a, true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	return token, ok && token != ""
}
