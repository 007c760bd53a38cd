package store

import (
	"context"
)

// Workstream is how a page's conversations are handled (CONTRACT style, extended).
type Workstream struct {
	ID             string `json:"id"`
	AccountID      string `json:"account_id"`
	Name           string `json:"name"`
	DefaultQueueID string `json:"default_queue_id"`
	HumanAgentTag  bool   `json:"human_agent_tag"`
}

// GetWorkstream reads one workstream.
func (s *Store) GetWorkstream(ctx context.Context, id string) (Workstream, error) {
	if !validUUID(id) {
		return Workstream{}, ErrNotFound
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id", "account_id", "name", "default_queue_id", "human_agent_tag").From("workstreams").Where(sb.Equal("id", id))
	var w Workstream
	err := queryRow(ctx, s.DB, sb).Scan(&w.ID, &w.AccountID, &w.Name, &w.DefaultQueueID, &w.HumanAgentTag)
	return w, notFound(err, "workstream")
}

// WorkstreamChanges are the fields a PATCH may set; nil leaves a field as it is.
type WorkstreamChanges struct {
	Name          *string
	HumanAgentTag *bool
}

// UpdateWorkstream applies changes. The HUMAN_AGENT setting is read at each send,
// so a change applies to open conversations at once.
func (s *Store) UpdateWorkstream(ctx context.Context, id string, ch WorkstreamChanges) (Workstream, error) {
	if !validUUID(id) {
		return Workstream{}, ErrNotFound
	}
	ub := pg.NewUpdateBuilder()
	var set []string
	if ch.Name != nil {
		set = append(set, ub.Assign("name", *ch.Name))
	}
	if ch.HumanAgentTag != nil {
		set = append(set, ub.Assign("human_agent_tag", *ch.HumanAgentTag))
	}
	if len(set) > 0 {
		ub.Update("workstreams").Set(set...).Where(ub.Equal("id", id))
		res, err := exec(ctx, s.DB, ub)
		if err != nil {
			return Workstream{}, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Workstream{}, ErrNotFound
		}
	}
	return s.GetWorkstream(ctx, id)
}
