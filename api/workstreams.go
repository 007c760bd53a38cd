package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// wakeQueues wakes the queues' workflows after a change that may make an
// assignment possible (contract.WakeQueues).
func (s *Server) wakeQueues(ctx context.Context, queueIDs []string) error {
	return contract.WakeQueues(ctx, s.Temporal, s.TaskQueue, queueIDs)
}

// wakeAgentQueues wakes every queue of the agent: a change to the agent (its
// capacity, its queues) may let them assign now.
func (s *Server) wakeAgentQueues(ctx context.Context, agentID string) error {
	queues, err := s.Store.AgentQueues(ctx, s.Store.DB, agentID)
	if err != nil {
		return err
	}
	return s.wakeQueues(ctx, queues)
}

// patchWorkstream changes a workstream's settings; absent fields stay as they are,
// and a request with any invalid value changes nothing (400). The queues holding
// the workstream's waiting conversations are woken: a change of distribution
// mode, capacity units or maximum wait applies to them at once.
func (s *Server) patchWorkstream(w http.ResponseWriter, r *http.Request) {
	var in workstreamInput
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	var ws store.Workstream
	var err error
	switch {
	case !validID(id):
		err = store.ErrNotFound
	case in.AccountID.Set:
		err = invalidf("account_id cannot be changed.")
	default:
		ws, err = s.Store.UpdateWorkstream(r.Context(), id, in.apply)
	}
	if s.answerStoreError(w, r, err, "No workstream has this id.") {
		return
	}
	// The change is committed: the answer says so even if the wake-up fails. A queue
	// not woken now is woken by its next event (a conversation queued or closed, an
	// agent's presence), so nothing is lost, only possibly later.
	queues, err := s.Store.WorkstreamQueues(r.Context(), id)
	if err == nil {
		err = s.wakeQueues(r.Context(), queues)
	}
	if err != nil {
		s.Log.WarnContext(r.Context(), "workstream saved but its queues were not woken", "workstream_id", id, "err", err)
	}
	writeJSON(w, http.StatusOK, ws)
}

// putAutomatedMessage switches one kind on or off and sets (or, with null, resets)
// its text; it applies to open conversations from their next notice on.
func (s *Server) putAutomatedMessage(w http.ResponseWriter, r *http.Request) {
	var in automatedMessageInput
	if !decode(w, r, &in) {
		return
	}
	id, kind := r.PathValue("id"), r.PathValue("kind")
	var m store.AutomatedMessage
	var err error
	switch {
	case !validID(id):
		err = store.ErrNotFound
	case !slices.Contains(store.AutomatedKinds, kind):
		err = invalidf("%q is not a kind of automated message; the kinds are %s.", kind, strings.Join(store.AutomatedKinds, ", "))
	default:
		err = firstError(notNull("enabled", in.Enabled), notNull("url_template", in.URLTemplate))
	}
	if err == nil {
		m, err = s.Store.SetAutomatedMessage(r.Context(), id, kind, func(m *store.AutomatedMessage) error { return in.apply(kind, m) })
	}
	s.answer(w, r, http.StatusOK, m, err, "No workstream has this id.")
}

// Limits of workstream settings.
const (
	maxCapacityUnits  = 100
	maxWaitLimit      = 7 * 24 * 3600 // a week, in seconds
	maxAutoCloseLimit = 365 * 24      // a year, in hours
)

// workstreamInput is the body of POST (every field may be given) and PATCH (absent
// fields stay as they are; null clears the fields that may be empty).
type workstreamInput struct {
	accountName
	PageIDs             optional[[]string] `json:"page_ids"`
	DefaultQueueID      optional[string]   `json:"default_queue_id"`
	Language            optional[string]   `json:"language"`
	DistributionMode    optional[string]   `json:"distribution_mode"`
	CapacityUnits       optional[int]      `json:"capacity_units"`
	MaxWaitSeconds      optional[int]      `json:"max_wait_seconds"`
	OverflowQueueID     optional[string]   `json:"overflow_queue_id"`
	AutoCloseAfterHours optional[int]      `json:"auto_close_after_hours"`
	CustomerAttachments optional[bool]     `json:"customer_attachments"`
	AgentAttachments    optional[bool]     `json:"agent_attachments"`
	HumanAgentTag       optional[bool]     `json:"human_agent_tag"`
	BotURL              optional[string]   `json:"bot_url"`
	workstreamRulesInput
	workstreamHoursInput
	// Conversation-state settings (workstream_states.go).
	stateRulesInput
}

// setNullableLimit applies a field that null turns off (nil) and that is
// otherwise between 1 and limit; outOfRange (formatted with limit) says so.
func setNullableLimit(in optional[int], limit int, dst **int, outOfRange string) error {
	if !in.Set {
		return nil
	}
	*dst = nil
	if in.Null {
		return nil
	}
	if v := in.Value; v < 1 || v > limit {
		return invalidf(outOfRange, limit)
	}
	v := in.Value
	*dst = &v
	return nil
}

// apply merges in into w and checks every value that needs no database.
func (in workstreamInput) apply(w *store.Workstream) error {
	if err := firstError(
		notNull("account_id", in.AccountID), notNull("name", in.Name), notNull("page_ids", in.PageIDs),
		notNull("default_queue_id", in.DefaultQueueID), notNull("distribution_mode", in.DistributionMode),
		notNull("capacity_units", in.CapacityUnits), notNull("customer_attachments", in.CustomerAttachments),
		notNull("agent_attachments", in.AgentAttachments), notNull("human_agent_tag", in.HumanAgentTag),
	); err != nil {
		return err
	}
	if err := setName(in.Name, &w.Name); err != nil {
		return err
	}
	if err := in.stateRulesInput.apply(&w.StateRules); err != nil {
		return err
	}
	if in.PageIDs.Set {
		seen := map[string]bool{}
		w.PageIDs = []string{}
		for _, id := range in.PageIDs.Value {
			if !validID(id) {
				return invalidf("page_ids: %q is not a page id.", id)
			}
			if !seen[id] {
				seen[id] = true
				w.PageIDs = append(w.PageIDs, id)
			}
		}
	}
	if in.DefaultQueueID.Set {
		if !validID(in.DefaultQueueID.Value) {
			return invalidf("default_queue_id: %q is not a queue id.", in.DefaultQueueID.Value)
		}
		w.DefaultQueueID = in.DefaultQueueID.Value
	}
	if in.Language.Set {
		w.Language = ""
		if raw := strings.TrimSpace(in.Language.Value); !in.Language.Null && raw != "" {
			tag, err := store.ParseLanguage(raw)
			if err != nil {
				return invalidf("language: %v", err)
			}
			w.Language = tag
		}
	}
	if in.DistributionMode.Set {
		if in.DistributionMode.Value != store.DistributionPush && in.DistributionMode.Value != store.DistributionPick {
			return invalidf("distribution_mode must be push (conversations are assigned) or pick (agents pick them).")
		}
		w.DistributionMode = in.DistributionMode.Value
	}
	if in.CapacityUnits.Set {
		if in.CapacityUnits.Value < 1 || in.CapacityUnits.Value > maxCapacityUnits {
			return invalidf("capacity_units must be between 1 and %d.", maxCapacityUnits)
		}
		w.CapacityUnits = in.CapacityUnits.Value
	}
	if err := setNullableLimit(in.MaxWaitSeconds, maxWaitLimit, &w.MaxWaitSeconds,
		"max_wait_seconds must be between 1 and %d (a week), or null for no overflow."); err != nil {
		return err
	}
	if in.OverflowQueueID.Set {
		w.OverflowQueueID = nil
		if !in.OverflowQueueID.Null {
			if !validID(in.OverflowQueueID.Value) {
				return invalidf("overflow_queue_id: %q is not a queue id.", in.OverflowQueueID.Value)
			}
			v := in.OverflowQueueID.Value
			w.OverflowQueueID = &v
		}
	}
	if (w.MaxWaitSeconds == nil) != (w.OverflowQueueID == nil) {
		return invalidf("max_wait_seconds and overflow_queue_id go together: set both to overflow, or neither.")
	}
	if err := setNullableLimit(in.AutoCloseAfterHours, maxAutoCloseLimit, &w.AutoCloseAfterHours,
		"auto_close_after_hours must be between 1 and %d, or null to never close automatically."); err != nil {
		return err
	}
	if in.CustomerAttachments.Set {
		w.CustomerAttachments = in.CustomerAttachments.Value
	}
	if in.AgentAttachments.Set {
		w.AgentAttachments = in.AgentAttachments.Value
	}
	if in.HumanAgentTag.Set {
		w.HumanAgentTag = in.HumanAgentTag.Value
	}
	if in.BotURL.Set {
		w.BotURL = nil
		if raw := strings.TrimSpace(in.BotURL.Value); !in.BotURL.Null && raw != "" {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(raw) > 2000 {
				return invalidf("bot_url must be an absolute http(s) URL, or null for no bot.")
			}
			w.BotURL = &raw
		}
	}
	if err := in.workstreamRulesInput.apply(w); err != nil {
		return err
	}
	return in.workstreamHoursInput.apply(&w.WorkstreamHours)
}

// automatedMessageInput changes one kind; absent fields stay, text null goes
// back to the default text.
type automatedMessageInput struct {
	Enabled     optional[bool]   `json:"enabled"`
	Text        optional[string] `json:"text"`
	URLTemplate optional[string] `json:"url_template"`
}

// apply merges in into the kind's setting m and checks the result.
func (in automatedMessageInput) apply(kind string, m *store.AutomatedMessage) error {
	if in.Enabled.Set {
		m.Enabled = in.Enabled.Value
	}
	if in.Text.Set {
		m.Text, m.Overridden = m.DefaultText, false
		if !in.Text.Null {
			text := strings.TrimSpace(in.Text.Value)
			if text == "" || utf8.RuneCountInString(text) > 2000 {
				return invalidf("text must have 1 to 2000 characters (null goes back to the default text).")
			}
			m.Text, m.Overridden = text, true
		}
	}
	if in.URLTemplate.Set {
		m.URLTemplate = strings.TrimSpace(in.URLTemplate.Value)
	}
	if m.URLTemplate != "" && kind != store.AutomatedSurvey {
		return invalidf("url_template is for the survey only.")
	}
	if kind == store.AutomatedSurvey && (m.Enabled || m.URLTemplate != "") {
		if err := validSurveyTemplate(m.URLTemplate); err != nil {
			return err
		}
	}
	return nil
}

func validSurveyTemplate(template string) error {
	u, err := url.Parse(strings.ReplaceAll(template, "{conversation_id}", "00000000-0000-0000-0000-000000000000"))
	if template == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalidf("url_template must be an absolute http(s) address for the survey, e.g. https://survey.example.com/s?c={conversation_id}.")
	}
	return nil
}
