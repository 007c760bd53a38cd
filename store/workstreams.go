package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"
	"golang.org/x/text/language"
)

// Workstream is how a page's conversations are handled: where they wait, how they
// are distributed and what they cost an agent. A page belongs to one workstream.
type Workstream struct {
	ID             string   `json:"id"`
	AccountID      string   `json:"account_id"`
	Name           string   `json:"name"`
	PageIDs        []string `json:"page_ids"`
	DefaultQueueID string   `json:"default_queue_id"`
	// Language is a BCP 47 tag (e.g. nl-NL), or "" when not set.
	Language string `json:"language"`
	// DistributionMode is push (queue workflows assign) or pick (agents pick).
	DistributionMode string `json:"distribution_mode"`
	// CapacityUnits is what one conversation takes of its agent's capacity.
	CapacityUnits int `json:"capacity_units"`
	// MaxWaitSeconds: after waiting this long in a queue, a conversation moves to
	// OverflowQueueID (once). Both nil when overflow is off.
	MaxWaitSeconds  *int    `json:"max_wait_seconds"`
	OverflowQueueID *string `json:"overflow_queue_id"`
	// AutoCloseAfterHours closes a conversation after that long without a customer message.
	AutoCloseAfterHours *int    `json:"auto_close_after_hours"`
	CustomerAttachments bool    `json:"customer_attachments"`
	AgentAttachments    bool    `json:"agent_attachments"`
	HumanAgentTag       bool    `json:"human_agent_tag"`
	BotURL              *string `json:"bot_url"`
	// Affinity and Timeouts: see store/affinity.go.
	Affinity Affinity `json:"affinity"`
	Timeouts Timeouts `json:"timeouts"`
	// Operating hours, out of hours and overflow before queueing (store/hours.go).
	WorkstreamHours
	// StateRules: wrap-up and hold (states.go).
	StateRules
}

// Distribution modes.
const (
	DistributionPush = "push"
	DistributionPick = "pick"
)

// ParseLanguage checks a BCP 47 tag and returns its canonical form (nl_NL → nl-NL).
func ParseLanguage(raw string) (string, error) {
	tag, err := language.Parse(raw)
	if err != nil || tag == language.Und {
		return "", fmt.Errorf("%q is not a BCP 47 language tag (for example nl, nl-NL, en-GB)", raw)
	}
	return tag.String(), nil
}

const workstreamColumns = "w.id, w.account_id, w.name, w.default_queue_id, w.language, w.distribution_mode, w.capacity_units, " +
	"w.max_wait_seconds, w.overflow_queue_id, w.auto_close_after_hours, w.customer_attachments, w.agent_attachments, " +
	"w.human_agent_tag, w.bot_url"

func scanWorkstream(row interface{ Scan(...any) error }) (Workstream, error) {
	var w Workstream
	var bot string
	err := row.Scan(&w.ID, &w.AccountID, &w.Name, &w.DefaultQueueID, &w.Language, &w.DistributionMode, &w.CapacityUnits,
		&w.MaxWaitSeconds, &w.OverflowQueueID, &w.AutoCloseAfterHours, &w.CustomerAttachments, &w.AgentAttachments,
		&w.HumanAgentTag, &bot)
	if bot != "" {
		w.BotURL = &bot
	}
	return w, err
}

func (s *Store) workstream(ctx context.Context, q querier, id string, lock bool) (Workstream, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(workstreamColumns).From("workstreams w").Where(sb.Equal("w.id", id))
	if lock {
		sb.ForUpdate()
	}
	w, err := scanWorkstream(queryRow(ctx, q, sb))
	if err != nil {
		return w, notFound(err, "workstream")
	}
	if w.StateRules, err = stateRules(ctx, q, id); err != nil {
		return w, err
	}
	if w.WorkstreamHours, err = workstreamHours(ctx, q, id); err != nil {
		return w, err
	}
	if w.PageIDs, err = workstreamPages(ctx, q, id); err != nil {
		return w, err
	}
	return w, loadWorkstreamRules(ctx, q, &w)
}

func workstreamPages(ctx context.Context, q querier, workstreamID string) ([]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id").From("pages").Where(sb.Equal("workstream_id", workstreamID), sb.NotEqual("provisioning_status", "deleted")).
		OrderBy("created_at", "id")
	return queryIDs(ctx, q, sb)
}

// GetWorkstream reads one workstream.
func (s *Store) GetWorkstream(ctx context.Context, id string) (Workstream, error) {
	if !validUUID(id) {
		return Workstream{}, ErrNotFound
	}
	return s.workstream(ctx, s.DB, id, false)
}

// ListWorkstreams lists an account's workstreams, oldest first.
func (s *Store) ListWorkstreams(ctx context.Context, accountID string) ([]Workstream, error) {
	if !validUUID(accountID) {
		return nil, ErrNotFound
	}
	if err := accountExists(ctx, s.DB, accountID); err != nil {
		return nil, err
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id").From("workstreams").Where(sb.Equal("account_id", accountID)).OrderBy("created_at", "id")
	ids, err := queryIDs(ctx, s.DB, sb)
	if err != nil {
		return nil, err
	}
	list := []Workstream{}
	for _, id := range ids {
		w, err := s.workstream(ctx, s.DB, id, false)
		if err != nil {
			return nil, err
		}
		list = append(list, w)
	}
	return list, nil
}

func accountExists(ctx context.Context, q querier, accountID string) error {
	var status string
	return notFound(columnByID(ctx, q, "accounts", "status", accountID, false, &status), "account")
}

// NewWorkstream is a workstream of the account with the settings a new one
// starts from, for the caller to change before CreateWorkstream.
func NewWorkstream(accountID string) Workstream {
	return Workstream{AccountID: accountID, PageIDs: []string{}, DistributionMode: DistributionPush, CapacityUnits: 1,
		CustomerAttachments: true, AgentAttachments: true, Affinity: Affinity{Fallback: AffinityRoute},
		StateRules: StateRules{HoldReturnSeconds: DefaultHoldReturnSeconds,
			Offer: OfferRule{AutoAccept: true, CountdownSeconds: DefaultOfferCountdownSeconds, MissedToAway: DefaultOfferMissedToAway}}}
}

// CreateWorkstream stores w, whose values the caller has checked; the store
// checks what needs the database (an active account; queues and pages of the
// account) and answers *InvalidInput when that fails. Without a default queue it
// gets a queue of its own that every agent joins (as a page's default workstream
// does); the pages in w.PageIDs move to it.
func (s *Store) CreateWorkstream(ctx context.Context, w Workstream) (Workstream, error) {
	w.ID = uuid.NewString()
	if w.PageIDs == nil {
		w.PageIDs = []string{}
	}
	return s.writeWorkstream(ctx, w.ID, func(tx *sql.Tx) (Workstream, sqlbuilder.Builder, error) {
		if err := lockActiveAccount(ctx, tx, w.AccountID); err != nil {
			return w, nil, err
		}
		if w.DefaultQueueID == "" {
			w.DefaultQueueID = uuid.NewString()
			ib := pg.NewInsertBuilder()
			ib.InsertInto("queues").Cols("id", "account_id", "name", "is_default").Values(w.DefaultQueueID, w.AccountID, w.Name+" queue", true)
			if _, err := exec(ctx, tx, ib); err != nil {
				return w, nil, err
			}
			if _, err := exec(ctx, tx, sqlbuilder.Buildf(
				"INSERT INTO queue_members (queue_id, agent_id) SELECT %v::uuid, id FROM agents ON CONFLICT DO NOTHING", w.DefaultQueueID)); err != nil {
				return w, nil, err
			}
		}
		if err := checkWorkstreamRefs(ctx, tx, w, nil); err != nil {
			return w, nil, err
		}
		ib := pg.NewInsertBuilder()
		ib.InsertInto("workstreams").Cols("id", "account_id", "name", "default_queue_id", "language", "distribution_mode",
			"capacity_units", "max_wait_seconds", "overflow_queue_id", "auto_close_after_hours", "customer_attachments",
			"agent_attachments", "human_agent_tag", "bot_url").
			Values(w.ID, w.AccountID, w.Name, w.DefaultQueueID, w.Language, w.DistributionMode, w.CapacityUnits,
				w.MaxWaitSeconds, w.OverflowQueueID, w.AutoCloseAfterHours, w.CustomerAttachments, w.AgentAttachments,
				w.HumanAgentTag, stringOrEmpty(w.BotURL))
		return w, ib, nil
	})
}

// UpdateWorkstream changes a workstream: change gets the current settings under
// the workstream's row lock and edits them (its error is returned as it is),
// then the store checks the queues and pages, so a refused change writes
// nothing. Settings are read when they apply (HUMAN_AGENT at each send,
// distribution at each assignment pass), so a change reaches open conversations
// at once; the caller wakes the queues that hold the workstream's waiting
// conversations (WorkstreamQueues).
func (s *Store) UpdateWorkstream(ctx context.Context, id string, change func(*Workstream) error) (Workstream, error) {
	if !validUUID(id) {
		return Workstream{}, ErrNotFound
	}
	return s.writeWorkstream(ctx, id, func(tx *sql.Tx) (Workstream, sqlbuilder.Builder, error) {
		w, err := s.workstream(ctx, tx, id, true)
		if err != nil {
			return w, nil, err
		}
		before := w.PageIDs
		if err := change(&w); err != nil {
			return w, nil, err
		}
		if err := checkWorkstreamRefs(ctx, tx, w, before); err != nil {
			return w, nil, err
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("workstreams").Set(
			ub.Assign("name", w.Name), ub.Assign("default_queue_id", w.DefaultQueueID), ub.Assign("language", w.Language),
			ub.Assign("distribution_mode", w.DistributionMode), ub.Assign("capacity_units", w.CapacityUnits),
			ub.Assign("max_wait_seconds", w.MaxWaitSeconds), ub.Assign("overflow_queue_id", w.OverflowQueueID),
			ub.Assign("auto_close_after_hours", w.AutoCloseAfterHours), ub.Assign("customer_attachments", w.CustomerAttachments),
			ub.Assign("agent_attachments", w.AgentAttachments), ub.Assign("human_agent_tag", w.HumanAgentTag),
			ub.Assign("bot_url", stringOrEmpty(w.BotURL)), "updated_at = now()",
		).Where(ub.Equal("id", id))
		return w, ub, nil
	})
}

// writeWorkstream saves a workstream in one transaction: prepare checks it and
// builds its row's insert or update, then the row is written with what the
// workstream keeps in other tables (state rules, hours, routing rules, pages).
// The answer is the workstream read back as saved.
func (s *Store) writeWorkstream(ctx context.Context, id string, prepare func(*sql.Tx) (Workstream, sqlbuilder.Builder, error)) (Workstream, error) {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		w, row, err := prepare(tx)
		if err != nil {
			return err
		}
		if _, err := exec(ctx, tx, row); err != nil {
			return err
		}
		if err := saveStateRules(ctx, tx, id, w.StateRules); err != nil {
			return err
		}
		if err := saveWorkstreamHours(ctx, tx, w); err != nil {
			return err
		}
		return saveRulesAndPages(ctx, tx, w)
	})
	if err != nil {
		return Workstream{}, err
	}
	return s.GetWorkstream(ctx, id)
}

// checkWorkstreamRefs checks that the queues and pages a workstream names are the
// account's, and that no page is left without a workstream.
func checkWorkstreamRefs(ctx context.Context, tx *sql.Tx, w Workstream, pagesBefore []string) error {
	if err := queueOfAccount(ctx, tx, w.DefaultQueueID, w.AccountID); err != nil {
		return fmt.Errorf("default_queue_id: %w", err)
	}
	if w.OverflowQueueID != nil {
		if err := queueOfAccount(ctx, tx, *w.OverflowQueueID, w.AccountID); err != nil {
			return fmt.Errorf("overflow_queue_id: %w", err)
		}
	}
	in := map[string]bool{}
	for _, id := range w.PageIDs {
		in[id] = true
		sb := pg.NewSelectBuilder()
		sb.Select("count(*)").From("pages").Where(sb.Equal("id", id), sb.Equal("account_id", w.AccountID),
			sb.NotIn("provisioning_status", "deleting", "deleted"))
		var n int
		if err := queryRow(ctx, tx, sb).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return invalidf("page_ids: the account has no connected page with id %s.", id)
		}
	}
	for _, id := range pagesBefore {
		if !in[id] {
			return invalidf("page_ids: page %s would be left without a workstream; add it to another workstream instead of removing it here.", id)
		}
	}
	return nil
}

// queueOfAccount answers an *InvalidInput when the queue is not the account's.
func queueOfAccount(ctx context.Context, q querier, queueID, accountID string) error {
	if !validUUID(queueID) {
		return invalidf("%q is not a queue id.", queueID)
	}
	sb := pg.NewSelectBuilder()
	sb.Select("count(*)").From("queues").Where(sb.Equal("id", queueID), sb.Equal("account_id", accountID))
	var n int
	if err := queryRow(ctx, q, sb).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return invalidf("the account has no queue with id %s.", queueID)
	}
	return nil
}

// saveRulesAndPages writes what the workstream's row leaves out: its rules
// (affinity and timeouts, store/affinity.go) and the pages that move to it.
func saveRulesAndPages(ctx context.Context, tx *sql.Tx, w Workstream) error {
	if err := saveWorkstreamRules(ctx, tx, w); err != nil {
		return err
	}
	return movePages(ctx, tx, w)
}

func movePages(ctx context.Context, tx *sql.Tx, w Workstream) error {
	if len(w.PageIDs) == 0 {
		return nil
	}
	ids := make([]any, len(w.PageIDs))
	for i, id := range w.PageIDs {
		ids[i] = id
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(ub.Assign("workstream_id", w.ID), "updated_at = now()").Where(ub.In("id", ids...))
	_, err := exec(ctx, tx, ub)
	return err
}

// WorkstreamQueues lists the queues to wake after a workstream changed: those
// holding its waiting conversations, its default and its overflow queue.
func (s *Store) WorkstreamQueues(ctx context.Context, id string) ([]string, error) {
	w, err := s.GetWorkstream(ctx, id)
	if err != nil {
		return nil, err
	}
	sb := pg.NewSelectBuilder()
	sb.Select("DISTINCT queue_id::text").From("conversations").
		Where(sb.Equal("workstream_id", id), sb.Equal("status", "waiting"), sb.IsNotNull("queue_id"))
	ids, err := queryIDs(ctx, s.DB, sb)
	if err != nil {
		return nil, err
	}
	ids = append(ids, w.DefaultQueueID)
	if w.OverflowQueueID != nil {
		ids = append(ids, *w.OverflowQueueID)
	}
	return uniqueIDs(ids), nil
}

func stringOrEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func uniqueIDs(ids []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// MaxNameRunes bounds the names of workstreams, queues and routing rules.
const MaxNameRunes = 200
