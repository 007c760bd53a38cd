package api

// Request bodies: their JSON shapes and the checks that need no database. The
// store takes plain values; what only the database can check (an account that
// exists, a queue of the account) it answers as *store.InvalidInput.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"fbchannel/store"
)

// requestError is a request the caller must change (400 invalid_request); it
// is found before anything is written.
type requestError struct{ message string }

func (e *requestError) Error() string { return e.message }

func invalidf(format string, args ...any) error {
	return &requestError{message: fmt.Sprintf(format, args...)}
}

// validID says whether s can be an id (a UUID); ids that cannot be answer 404,
// as ids that match nothing do.
func validID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// optional is a JSON field that may be absent (Set false), null (Null) or a value.
type optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// optString is a JSON string field that may be absent or null.
type optString = optional[string]

func notNull[T any](name string, o optional[T]) error {
	if o.Set && o.Null {
		return invalidf("%s cannot be null.", name)
	}
	return nil
}

// requiredField answers "<name> is required." unless present.
func requiredField(name string, present bool) error {
	if !present {
		return invalidf("%s is required.", name)
	}
	return nil
}

// firstError is the first error of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// setName checks a given name (trimmed, not empty, at most store.MaxNameRunes) and
// stores it in *name.
func setName(in optional[string], name *string) error {
	if !in.Set {
		return nil
	}
	v := strings.TrimSpace(in.Value)
	if v == "" || utf8.RuneCountInString(v) > store.MaxNameRunes {
		return invalidf("name is required (at most %d characters).", store.MaxNameRunes)
	}
	*name = v
	return nil
}

// accountName is the account and the name of a queue's or a workstream's body:
// both required on create; the account never changes.
type accountName struct {
	AccountID optional[string] `json:"account_id"`
	Name      optional[string] `json:"name"`
}

// creating is the account of a create, and what its body lacks.
func (n accountName) creating() (string, error) {
	return n.AccountID.Value, firstError(requiredField("account_id", n.AccountID.Set && validID(n.AccountID.Value)), requiredField("name", n.Name.Set))
}

// accountThingInput is the body of a create of an account's queue or workstream.
type accountThingInput[T any] interface {
	creating() (accountID string, err error)
	// apply checks the body's values onto the new thing.
	apply(*T) error
}

// createForAccount is the handler of a POST that creates an account's queue or
// workstream: newThing has its defaults, create stores it (201 with what was
// stored); an account that does not exist is a 404.
func createForAccount[T any, In accountThingInput[T]](s *Server, newThing func(accountID string) T, create func(context.Context, T) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if !decode(w, r, &in) {
			return
		}
		accountID, err := in.creating()
		thing := newThing(accountID)
		if err = firstError(err, in.apply(&thing)); err == nil {
			thing, err = create(r.Context(), thing)
		}
		s.answer(w, r, http.StatusCreated, thing, err, "No account has this id.")
	}
}
