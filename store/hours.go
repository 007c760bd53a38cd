package store

// Operating hours and overflow before queueing (issue 15). A workstream (or a
// queue, overriding) has a calendar; before a routed conversation enters its
// queue, the conversation workflow asks for the queue's rules (QueueingRules),
// decides with its own clock whether the queue is open (the calendar package is
// pure, so the decision replays), and EnqueueConversation records what happens:
// queued as routed, held until the opening, transferred, or ended. The decision
// is made once per conversation (queueing_decisions' primary key) and recorded
// with its reason, together with an event for the queue's supervisors.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/huandu/go-sqlbuilder"

	"fbchannel/calendar"
)

// Actions before queueing.
const (
	ActionAssignAnyway = "assign_anyway" // queue as routed (out of hours: from the next opening)
	ActionTransfer     = "transfer"      // queue in queue_id instead
	ActionEnd          = "end"           // close the conversation with a message
)

// Reasons of a queueing decision.
const (
	ReasonOutOfHours = "out_of_hours"
	ReasonMaxWaiting = "max_waiting"
)

// Kinds of automated message of the queueing rules.
const (
	AutomatedOutOfHours = "out_of_hours" // {next_opening}: when the team is back
	AutomatedQueueFull  = "queue_full"   // the overflow ended the conversation
)

// maxWaitingLimit bounds overflow.max_waiting.
const maxWaitingLimit = 100000

// OutOfHours is what happens to a conversation whose queue is closed.
type OutOfHours struct {
	Action  string  `json:"action"`
	QueueID *string `json:"queue_id,omitempty"`
}

// Overflow is what happens to a conversation whose queue already holds
// MaxWaiting waiting conversations.
type Overflow struct {
	MaxWaiting int     `json:"max_waiting"`
	Action     string  `json:"action"`
	QueueID    *string `json:"queue_id,omitempty"`
}

// WorkstreamHours are a workstream's rules before queueing; nil is not set
// (always open; no overflow before queueing).
type WorkstreamHours struct {
	OperatingHours *calendar.Hours `json:"operating_hours"`
	OutOfHours     *OutOfHours     `json:"out_of_hours"`
	Overflow       *Overflow       `json:"overflow"`
}

// checkAction checks an action and its queue_id (required for transfer only).
func checkAction(field, action string, queueID *string) error {
	switch action {
	case ActionAssignAnyway, ActionEnd:
		if queueID != nil {
			return invalidf("%s.queue_id is for the transfer action only.", field)
		}
	case ActionTransfer:
		if queueID == nil || !validUUID(*queueID) {
			return invalidf("%s.queue_id is required with the transfer action and must be a queue id.", field)
		}
	default:
		return invalidf("%s.action must be assign_anyway, transfer or end.", field)
	}
	return nil
}

// CheckHours checks a calendar; the message names field.
func CheckHours(field string, h *calendar.Hours) error {
	if h == nil {
		return nil
	}
	if _, err := calendar.Parse(*h); err != nil {
		return invalidf("%s: %v.", field, err)
	}
	return nil
}

// Check checks the rules without the database.
func (h WorkstreamHours) Check() error {
	if err := CheckHours("operating_hours", h.OperatingHours); err != nil {
		return err
	}
	if h.OutOfHours != nil {
		if err := checkAction("out_of_hours", h.OutOfHours.Action, h.OutOfHours.QueueID); err != nil {
			return err
		}
	}
	if h.Overflow != nil {
		if v := h.Overflow.MaxWaiting; v < 1 || v > maxWaitingLimit {
			return invalidf("overflow.max_waiting must be between 1 and %d.", maxWaitingLimit)
		}
		if err := checkAction("overflow", h.Overflow.Action, h.Overflow.QueueID); err != nil {
			return err
		}
	}
	return nil
}

// jsonColumn reads a jsonb column into v (left nil when NULL).
func jsonColumn[T any](raw []byte) (*T, error) {
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	return v, json.Unmarshal(raw, v)
}

// jsonValue is v for a jsonb column: NULL when nil.
func jsonValue[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// workstreamHours reads a workstream's rules.
func workstreamHours(ctx context.Context, q querier, id string) (WorkstreamHours, error) {
	h, _, err := workstreamAndQueueHours(ctx, q, id, "")
	return h, err
}

// workstreamAndQueueHours reads a workstream's rules and, with a queueID, that
// queue's own calendar, in one query: routing asks on every new conversation.
func workstreamAndQueueHours(ctx context.Context, q querier, id, queueID string) (WorkstreamHours, *calendar.Hours, error) {
	sb := pg.NewSelectBuilder()
	sb.From("workstreams w").Where(sb.Equal("w.id", id))
	// No queue joins no row: the queue's column is NULL.
	sb.JoinWithOption("LEFT", "queues q", "q.id = "+sb.Var(nullIfEmpty(queueID))+"::uuid")
	sb.Select("w.operating_hours", "w.out_of_hours", "w.overflow", "q.operating_hours")
	var raw [4][]byte
	var h WorkstreamHours
	if err := queryRow(ctx, q, sb).Scan(&raw[0], &raw[1], &raw[2], &raw[3]); err != nil {
		return h, nil, notFound(err, "workstream")
	}
	var errs [4]error
	var own *calendar.Hours
	h.OperatingHours, errs[0] = jsonColumn[calendar.Hours](raw[0])
	h.OutOfHours, errs[1] = jsonColumn[OutOfHours](raw[1])
	h.Overflow, errs[2] = jsonColumn[Overflow](raw[2])
	own, errs[3] = jsonColumn[calendar.Hours](raw[3])
	return h, own, errors.Join(errs[:]...)
}

// saveWorkstreamHours checks the rules' queues (the account's; a transfer out of
// hours goes to a queue with hours of its own, else it would keep the
// workstream's and be closed whenever this one is) and stores the rules.
func saveWorkstreamHours(ctx context.Context, tx *sql.Tx, w Workstream) error {
	h := w.WorkstreamHours
	if err := h.Check(); err != nil {
		return err
	}
	if h.OutOfHours != nil && h.OutOfHours.QueueID != nil {
		target := *h.OutOfHours.QueueID
		if err := queueOfAccount(ctx, tx, target, w.AccountID); err != nil {
			return fmt.Errorf("out_of_hours.queue_id: %w", err)
		}
		own, err := queueHours(ctx, tx, target)
		if err != nil {
			return err
		}
		if own == nil && h.OperatingHours != nil {
			return invalidf("out_of_hours.queue_id: queue %s has no operating_hours of its own, so it keeps this workstream's and is closed when it is; give it its own (00:00–24:00 every day for a 24/7 queue).", target)
		}
	}
	if h.Overflow != nil && h.Overflow.QueueID != nil {
		if err := queueOfAccount(ctx, tx, *h.Overflow.QueueID, w.AccountID); err != nil {
			return fmt.Errorf("overflow.queue_id: %w", err)
		}
	}
	values := make([]any, 3)
	var errs [3]error
	values[0], errs[0] = jsonValue(h.OperatingHours)
	values[1], errs[1] = jsonValue(h.OutOfHours)
	values[2], errs[2] = jsonValue(h.Overflow)
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("workstreams").Set(ub.Assign("operating_hours", values[0]), ub.Assign("out_of_hours", values[1]),
		ub.Assign("overflow", values[2])).Where(ub.Equal("id", w.ID))
	_, err := exec(ctx, tx, ub)
	return err
}

// queueHours reads a queue's own calendar (nil: it keeps its workstream's).
func queueHours(ctx context.Context, q querier, queueID string) (*calendar.Hours, error) {
	var raw []byte
	if err := columnByID(ctx, q, "queues", "operating_hours", queueID, false, &raw); err != nil {
		return nil, notFound(err, "queue")
	}
	return jsonColumn[calendar.Hours](raw)
}

// saveQueueHours stores a queue's own calendar (nil: it keeps its workstream's).
func saveQueueHours(ctx context.Context, q querier, queueID string, h *calendar.Hours) error {
	if err := CheckHours("operating_hours", h); err != nil {
		return err
	}
	v, err := jsonValue(h)
	if err != nil {
		return err
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("queues").Set(ub.Assign("operating_hours", v)).Where(ub.Equal("id", queueID))
	_, err = exec(ctx, q, ub)
	return err
}

// QueueingRules is what the conversation workflow decides with before a
// conversation enters its routed queue.
type QueueingRules struct {
	QueueID string
	// Hours is the queue's calendar (its own, else the workstream's); nil: always open.
	Hours *calendar.Hours
	// OutOfHours is the workstream's choice (assign_anyway when it has none), and
	// TransferHours the transfer queue's calendar (nil: always open).
	OutOfHours    OutOfHours
	TransferHours *calendar.Hours
	// Overflow is the workstream's overflow before queueing (nil: none).
	Overflow *Overflow
}

// queueingRules reads the rules for a conversation of a workstream routed to a
// queue; nil when there are none (the queue is always open and never overflows
// before queueing), so the conversation is queued at once.
func queueingRules(ctx context.Context, q querier, workstreamID, queueID string) (*QueueingRules, error) {
	w, own, err := workstreamAndQueueHours(ctx, q, workstreamID, queueID)
	if err != nil {
		return nil, err
	}
	r := &QueueingRules{QueueID: queueID, Hours: own, Overflow: w.Overflow, OutOfHours: OutOfHours{Action: ActionAssignAnyway}}
	if r.Hours == nil {
		r.Hours = w.OperatingHours
	}
	if r.Hours == nil && r.Overflow == nil {
		return nil, nil
	}
	if w.OutOfHours != nil {
		r.OutOfHours = *w.OutOfHours
	}
	if r.OutOfHours.QueueID != nil {
		if r.TransferHours, err = effectiveHours(ctx, q, *r.OutOfHours.QueueID, w); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// effectiveHours is a queue's calendar for a workstream's conversation: the
// queue's own, else the workstream's.
func effectiveHours(ctx context.Context, q querier, queueID string, w WorkstreamHours) (*calendar.Hours, error) {
	own, err := queueHours(ctx, q, queueID)
	if own != nil || err != nil {
		return own, err
	}
	return w.OperatingHours, nil
}

// QueueingRequest is the conversation workflow's decision about the hours: the
// workflow knows the time, the store the queue's length.
type QueueingRequest struct {
	ConversationID string
	Rules          QueueingRules
	// OutOfHours: the queue is closed now; NextOpening is when it opens. HoldUntil
	// (assign_anyway, or a transfer queue that is closed too) is when the
	// conversation may enter its queue.
	OutOfHours  bool
	NextOpening time.Time
	HoldUntil   time.Time
}

// QueueingDecision is what happened before the conversation entered its queue.
type QueueingDecision struct {
	// Reason is "" when the conversation was queued as routed, in QueueID.
	Reason string
	Action string
	// QueueID is where the conversation waits (or will from HoldUntil); "" when ended.
	QueueID     string
	NextOpening time.Time
	HoldUntil   time.Time
}

// EnqueueConversation puts a routed, waiting conversation in its queue as the
// rules and the workflow's request say, in one transaction with its decision and
// the supervisors' event. Out of hours is the workflow's finding; the overflow
// counts the queue's waiting conversations under the queue's row lock, so two
// conversations deciding together count one after the other. Idempotent: a
// decision already made (or a conversation already queued) is answered as it is.
func (s *Store) EnqueueConversation(ctx context.Context, req QueueingRequest) (QueueingDecision, error) {
	var d QueueingDecision
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		status, _, err := lockConversation(ctx, tx, req.ConversationID)
		if err != nil {
			return err
		}
		known, err := queueingDecision(ctx, tx, req.ConversationID)
		if err != nil || known != nil {
			if known != nil {
				d = *known
			}
			return err
		}
		if err := columnByID(ctx, tx, "conversations", "coalesce(queue_id::text, '')", req.ConversationID, false, &d.QueueID); err != nil || d.QueueID != "" || status != "waiting" {
			return err // already queued, or no longer waiting: nothing to decide
		}
		rules := req.Rules
		d.QueueID = rules.QueueID
		switch {
		case req.OutOfHours:
			d.Reason, d.Action, d.NextOpening, d.HoldUntil = ReasonOutOfHours, rules.OutOfHours.Action, req.NextOpening, req.HoldUntil
			if d.Action == ActionTransfer {
				d.QueueID = *rules.OutOfHours.QueueID
			}
		case rules.Overflow != nil:
			full, err := queueFull(ctx, tx, rules.QueueID, rules.Overflow.MaxWaiting)
			if err != nil || !full {
				if err == nil {
					err = enterQueue(ctx, tx, req.ConversationID, d.QueueID)
				}
				return err
			}
			d.Reason, d.Action = ReasonMaxWaiting, rules.Overflow.Action
			if d.Action == ActionTransfer {
				d.QueueID = *rules.Overflow.QueueID
			}
		default:
			return enterQueue(ctx, tx, req.ConversationID, d.QueueID)
		}
		if d.Action == ActionEnd {
			d.QueueID = ""
		}
		if err := recordQueueingDecision(ctx, tx, req.ConversationID, rules.QueueID, d); err != nil {
			return err
		}
		if d.QueueID == "" || !d.HoldUntil.IsZero() {
			return nil // ended, or held: it enters its queue at HoldUntil (ReleaseHeldConversation)
		}
		return enterQueue(ctx, tx, req.ConversationID, d.QueueID)
	})
	return d, err
}

// queueFull says whether the queue holds maxWaiting waiting conversations or more,
// counted under its row lock.
func queueFull(ctx context.Context, tx *sql.Tx, queueID string, maxWaiting int) (bool, error) {
	var id string
	if err := columnByID(ctx, tx, "queues", "id", queueID, true, &id); err != nil {
		return false, notFound(err, "queue")
	}
	sb := pg.NewSelectBuilder()
	sb.Select("count(*)").From("conversations").Where(sb.Equal("queue_id", queueID), sb.Equal("status", "waiting"))
	var n int
	err := queryRow(ctx, tx, sb).Scan(&n)
	return n >= maxWaiting, err
}

// enterQueue puts a waiting conversation in a queue; its wait starts now.
func enterQueue(ctx context.Context, tx *sql.Tx, conversationID, queueID string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("conversations").Set(ub.Assign("queue_id", queueID), "enqueued_at = now()").
		Where(ub.Equal("id", conversationID), ub.Equal("status", "waiting"))
	_, err := exec(ctx, tx, ub)
	return err
}

func recordQueueingDecision(ctx context.Context, tx *sql.Tx, conversationID, routedQueue string, d QueueingDecision) error {
	ib := pg.NewInsertBuilder()
	ib.InsertInto("queueing_decisions").Cols("conversation_id", "queue_id", "reason", "action", "to_queue_id", "next_opening", "held_until").
		Values(conversationID, routedQueue, d.Reason, d.Action, nullIfEmpty(d.QueueID), nullIfZero(d.NextOpening), nullIfZero(d.HoldUntil))
	if _, err := exec(ctx, tx, ib); err != nil {
		return err
	}
	// The supervisors of the routed queue see why it did not get the conversation.
	sup := sqlbuilder.Buildf("SELECT sq.agent_id::text FROM supervisor_queues sq JOIN agents a ON a.id = sq.agent_id "+
		"WHERE sq.queue_id = %v AND a.role = %v ORDER BY sq.agent_id", routedQueue, RoleSupervisor)
	ids, err := queryIDs(ctx, tx, sup)
	if err != nil {
		return err
	}
	data := map[string]any{"queue_id": routedQueue, "reason": d.Reason, "action": d.Action, "to_queue_id": nullIfEmpty(d.QueueID),
		"next_opening": nullIfZero(d.NextOpening), "held_until": nullIfZero(d.HoldUntil)}
	for _, id := range ids {
		if err := insertEvent(ctx, tx, id, "conversation.queueing_decided", conversationID, "queueing:"+conversationID+":"+id, data); err != nil {
			return err
		}
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullIfZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// queueingDecision reads a conversation's decision; nil when none was made.
func queueingDecision(ctx context.Context, q querier, conversationID string) (*QueueingDecision, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("reason", "action", "coalesce(to_queue_id::text, '')", "next_opening", "held_until").
		From("queueing_decisions").Where(sb.Equal("conversation_id", conversationID))
	var d QueueingDecision
	var next, hold sql.NullTime
	err := queryRow(ctx, q, sb).Scan(&d.Reason, &d.Action, &d.QueueID, &next, &hold)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	d.NextOpening, d.HoldUntil = next.Time, hold.Time
	return &d, err
}

// QueueingDecisionOf reads a conversation's decision before queueing; nil when
// it entered its queue as routed (or has not been routed yet).
func (s *Store) QueueingDecisionOf(ctx context.Context, conversationID string) (*QueueingDecision, error) {
	if !validUUID(conversationID) {
		return nil, ErrNotFound
	}
	return queueingDecision(ctx, s.DB, conversationID)
}

// ReleaseHeldConversation puts a conversation held until its queue's opening in
// that queue (its wait starts now) and answers the queue; "" when there is
// nothing to release (closed meanwhile, or released already and answered again).
func (s *Store) ReleaseHeldConversation(ctx context.Context, conversationID string) (queueID string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		status, _, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		d, err := queueingDecision(ctx, tx, conversationID)
		if err != nil || d == nil || d.QueueID == "" || status != "waiting" {
			return err
		}
		queueID = d.QueueID
		ub := pg.NewUpdateBuilder()
		ub.Update("queueing_decisions").Set("released_at = coalesce(released_at, now())").Where(ub.Equal("conversation_id", conversationID))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		ub = pg.NewUpdateBuilder()
		ub.Update("conversations").Set(ub.Assign("queue_id", queueID), "enqueued_at = now()").
			Where(ub.Equal("id", conversationID), ub.IsNull("queue_id"))
		_, err = exec(ctx, tx, ub)
		return err
	})
	return queueID, err
}

// OpeningNotice renders kind for the conversation (AutomatedNoticeFor) with
// {next_opening} named in the workstream's language and the calendar's zone.
func (s *Store) OpeningNotice(ctx context.Context, conversationID, kind string, opening time.Time, zone string) (AutomatedNotice, error) {
	notice, err := s.AutomatedNoticeFor(ctx, conversationID, kind)
	if err != nil || !notice.Enabled {
		return notice, err
	}
	sb := pg.NewSelectBuilder()
	sb.Select("coalesce(w.language, '')").From("conversations c").Join("pages p", "p.id = c.page_uuid").
		JoinWithOption("LEFT", "workstreams w", "w.id = coalesce(p.workstream_id, c.workstream_id)").Where(sb.Equal("c.id", conversationID))
	var tag string
	if err := queryRow(ctx, s.DB, sb).Scan(&tag); err != nil {
		return notice, err
	}
	loc, err := calendar.Location(zone)
	if err != nil {
		loc = time.UTC // the zone was checked when saved; a zone database without it still names a time
	}
	notice.Text = strings.ReplaceAll(notice.Text, "{next_opening}", calendar.FormatOpening(opening, loc, textLanguage(tag)))
	return notice, nil
}
