package store

import "context"

// AssignWaiting is AssignQueue without the overflow deadline and deferrals: the
// activity of queue workflows started before those existed.
func (s *Store) AssignWaiting(ctx context.Context, queueID string, max int) ([]Assigned, error) {
	pass, err := s.AssignQueue(ctx, queueID, max)
	return pass.Assigned, err
}
