package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// The store's errors. Callers tell them apart with errors.Is and errors.As,
// never by their text; the API maps each to one HTTP answer (api.storeError).

// ErrNotFound is returned when a row does not exist (or is not the caller's to see).
var ErrNotFound = errors.New("not found")

// ErrGone is returned for something that existed and was deleted.
var ErrGone = errors.New("deleted")

// ErrAccountsChanged: SaveInbox stored nothing because pages or accounts changed
// after the delivery was routed (its version is older than the database's);
// the caller looks the accounts up again and routes it again.
var ErrAccountsChanged = errors.New("pages or accounts changed since the delivery was routed")

// ErrConflict is returned when a write would break a uniqueness rule users can
// see. It comes wrapped in a *Refused that says which rule.
var ErrConflict = errors.New("conflict")

// ErrNotWaiting: the conversation was assigned (or closed) by someone else
// first. It comes wrapped in a *Refused.
var ErrNotWaiting = errors.New("conversation is not waiting")

// errAgentUnavailable: the agent is not available (or does not exist) when an
// assignment asks for an available agent; the caller tries another or none.
var errAgentUnavailable = errors.New("agent not available")

// InvalidInput is a request the caller must change (HTTP 400); nothing was written.
type InvalidInput struct{ Message string }

func (e *InvalidInput) Error() string { return e.Message }

func invalidf(format string, args ...any) error {
	return &InvalidInput{Message: fmt.Sprintf(format, args...)}
}

// Refused is a request that is valid but cannot be done in the current state
// (HTTP 409), with a stable code and a sentence for people. Err, when set, is
// the sentinel it refines (ErrConflict, ErrNotWaiting), for errors.Is.
type Refused struct {
	Code, Message string
	Err           error
}

func (e *Refused) Error() string { return e.Message }

func (e *Refused) Unwrap() error { return e.Err }

// notFound turns "no row" into ErrNotFound, naming what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}
