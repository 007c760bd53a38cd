package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"fbchannel/store"
)

func TestAnswerStoreErrorMapsEachKindOnce(t *testing.T) {
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, c := range []struct {
		err           error
		status        int
		code, message string
	}{
		{fmt.Errorf("queue_id: %w", &store.InvalidInput{Message: "the account has no queue with id x."}),
			http.StatusBadRequest, "invalid_request", "queue_id: the account has no queue with id x."},
		{invalidf("name is required."), http.StatusBadRequest, "invalid_request", "name is required."},
		{&store.Refused{Code: "already_assigned", Message: "Someone else took it.", Err: store.ErrNotWaiting},
			http.StatusConflict, "already_assigned", "Someone else took it."},
		{fmt.Errorf("conversation: %w", store.ErrNotFound), http.StatusNotFound, "not_found", "No such thing."},
		{errors.New("connection refused"), http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable; please retry."},
	} {
		w := httptest.NewRecorder()
		if !s.answerStoreError(w, httptest.NewRequest("GET", "/", nil), c.err, "No such thing.") {
			t.Fatalf("%v: not answered", c.err)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || body.Error.Code != c.code || body.Error.Message != c.message {
			t.Errorf("%v: answered %d %+v, want %d %s %q", c.err, w.Code, body.Error, c.status, c.code, c.message)
		}
	}
	w := httptest.NewRecorder()
	if s.answerStoreError(w, httptest.NewRequest("GET", "/", nil), nil, "No such thing.") || w.Body.Len() != 0 {
		t.Fatal("a nil error was answered")
	}
}
