package store

// What the desk's conversation list shows on each row (issue 13): the last
// message's preview, how many customer messages the agent has not read, and
// since when the customer waits for an answer, with the workstream's colours for
// that wait. All of it is derived from messages at read time, so a reload shows
// exactly what the live events built.

import (
	"context"
	"sort"
	"time"

	"github.com/lib/pq"
)

// MessagePreview is the last message of a conversation, as a list row shows it.
type MessagePreview struct {
	Text      string    `json:"text"`
	Kind      string    `json:"kind"`
	Sender    string    `json:"sender"`
	AgentID   *string   `json:"agent_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// WaitColours are the workstream's thresholds for the list's wait colour:
// amber after AmberSeconds, red after RedSeconds (columns wait_amber_s and
// wait_red_s, defaults 120 and 300).
type WaitColours struct {
	AmberSeconds int `json:"amber_s"`
	RedSeconds   int `json:"red_s"`
}

// answeredAtSQL is when the conversation c was last answered: the newest reply by
// an agent or from the page itself (automated and bot messages answer nothing).
const answeredAtSQL = "(SELECT max(o.created_at) FROM messages o WHERE o.conversation_id = c.id AND o.direction = 'outbound' AND o.sender IN ('agent', 'page'))"

// unreadSQL counts c's customer messages after both the agent's last look and
// the last answer.
const unreadSQL = "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'inbound' AND m.sender = 'customer' " +
	"AND m.created_at > greatest(coalesce(c.agent_read_at, '-infinity'), coalesce(" + answeredAtSQL + ", '-infinity')))"

// addListActivity fills the list fields of the conversations, in one query,
// and orders the open ones by wait: the longest-waiting customer first, then
// those nobody waits on, newest first (closed ones stay last).
func (s *Store) addListActivity(ctx context.Context, list []Conversation) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]string, len(list))
	byID := make(map[string]*Conversation, len(list))
	for i := range list {
		ids[i] = list[i].ID
		byID[list[i].ID] = &list[i]
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT c.id, `+unreadSQL+`,
		(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'inbound' AND m.sender = 'customer'
			AND m.created_at > coalesce(`+answeredAtSQL+`, '-infinity')),
		lm.text, lm.kind, lm.sender, lm.agent_id, lm.created_at,
		coalesce(w.wait_amber_s, 120), coalesce(w.wait_red_s, 300)
		FROM conversations c JOIN pages p ON p.id = c.page_uuid LEFT JOIN workstreams w ON w.id = p.workstream_id
		LEFT JOIN LATERAL (SELECT m.text, m.kind, m.sender, m.agent_id, m.created_at FROM messages m
			WHERE m.conversation_id = c.id AND m.direction <> 'internal' ORDER BY m.created_at DESC, m.id DESC LIMIT 1) lm ON true
		WHERE c.id = ANY($1)`, pq.Array(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var unread int
		var waiting, lastAt *time.Time
		var text, kind, sender, agentID *string
		var colours WaitColours
		if err := rows.Scan(&id, &unread, &waiting, &text, &kind, &sender, &agentID, &lastAt, &colours.AmberSeconds, &colours.RedSeconds); err != nil {
			return err
		}
		c := byID[id]
		c.UnreadCount, c.WaitColours = unread, colours
		if c.Status != "closed" {
			c.WaitingSince = waiting // nobody waits on a closed conversation
		}
		if lastAt != nil {
			c.LastMessage = &MessagePreview{Text: *text, Kind: *kind, Sender: *sender, AgentID: agentID, CreatedAt: *lastAt}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sort.SliceStable(list, func(i, j int) bool { return waitsLonger(list[i], list[j]) })
	return nil
}

// waitsLonger orders the list: open before closed, then the oldest unanswered
// customer message first, then the newest conversation.
func waitsLonger(a, b Conversation) bool {
	if (a.Status == "closed") != (b.Status == "closed") {
		return b.Status == "closed"
	}
	switch {
	case a.WaitingSince != nil && b.WaitingSince != nil:
		return a.WaitingSince.Before(*b.WaitingSince)
	case (a.WaitingSince != nil) != (b.WaitingSince != nil):
		return a.WaitingSince != nil
	}
	return a.OpenedAt.After(b.OpenedAt)
}

// MarkReadByAgent records that the assigned agent has opened the conversation
// and reports whether customer messages were unread until now: the moment for
// Messenger's mark_seen, once per batch of unread messages.
func (s *Store) MarkReadByAgent(ctx context.Context, conversationID string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE conversations c SET agent_read_at = now()
		WHERE c.id = $1 AND `+unreadSQL+` > 0`, conversationID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Wait colour limits: a threshold is between a second and a day.
const maxWaitColourSeconds = 24 * 3600

// GetWaitColours reads a workstream's wait colour thresholds.
func (s *Store) GetWaitColours(ctx context.Context, workstreamID string) (WaitColours, error) {
	var c WaitColours
	if !validUUID(workstreamID) {
		return c, ErrNotFound
	}
	err := s.DB.QueryRowContext(ctx, `SELECT wait_amber_s, wait_red_s FROM workstreams WHERE id = $1`, workstreamID).Scan(&c.AmberSeconds, &c.RedSeconds)
	return c, notFound(err, "workstream")
}

// SetWaitColours sets a workstream's wait colour thresholds: amber before red,
// each between a second and a day. The desk reads them with each list.
func (s *Store) SetWaitColours(ctx context.Context, workstreamID string, c WaitColours) (WaitColours, error) {
	switch {
	case c.AmberSeconds < 1 || c.AmberSeconds > maxWaitColourSeconds || c.RedSeconds < 1 || c.RedSeconds > maxWaitColourSeconds:
		return c, invalidf("amber_s and red_s must be between 1 and %d seconds.", maxWaitColourSeconds)
	case c.AmberSeconds >= c.RedSeconds:
		return c, invalidf("amber_s must be less than red_s: the wait turns amber first, then red.")
	case !validUUID(workstreamID):
		return c, ErrNotFound
	}
	err := s.DB.QueryRowContext(ctx, `UPDATE workstreams SET wait_amber_s = $2, wait_red_s = $3, updated_at = now() WHERE id = $1
		RETURNING wait_amber_s, wait_red_s`, workstreamID, c.AmberSeconds, c.RedSeconds).Scan(&c.AmberSeconds, &c.RedSeconds)
	return c, notFound(err, "workstream")
}
