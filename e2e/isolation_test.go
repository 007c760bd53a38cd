//go:build integration

package e2e

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects the starter's log lines from concurrent handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Agent B cannot read, send on, close, reopen or hear about agent A's conversation,
// and neither the desk's HTML nor the starter's logs hold a token or a secret.
func TestAgentsSeeOnlyTheirOwnConversations(t *testing.T) {
	st := newStack(t)
	logs := &lockedBuffer{}
	srv := st.server(temporalClient)
	srv.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logged := httptest.NewServer(srv.Handler())
	defer logged.Close()
	st.api.Config.Handler = srv.Handler()

	ch := st.connectPage()
	a := st.createAgent("amy", 1)
	b := st.createAgent("ben", 1)
	st.setPresence(a, "available")
	aEvents := st.openEvents(a, "")
	bEvents := st.openEvents(b, "")
	convID := st.customerAssigned(aEvents, ch, "2900000000000080", "private matter")

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/conversations/" + convID},
		{"POST", "/api/v1/conversations/" + convID + "/messages"},
		{"POST", "/api/v1/conversations/" + convID + "/close"},
		{"POST", "/api/v1/conversations/" + convID + "/reopen"},
	} {
		var body any
		if strings.HasSuffix(c.path, "/messages") {
			body = map[string]string{"text": "not mine"}
		}
		if code := st.call(c.method, c.path, b.Token, body, nil); code != 404 {
			t.Errorf("agent B %s %s: %d, want 404", c.method, c.path, code)
		}
	}
	var list []map[string]any
	st.call("GET", "/api/v1/me/conversations", b.Token, nil, &list)
	if len(list) != 0 {
		t.Fatalf("agent B lists %v", list)
	}
	if code := st.call("POST", "/api/v1/conversations/"+convID+"/messages", a.Token, map[string]string{"text": "hi amy here"}, nil); code != 201 {
		t.Fatalf("agent A send: %d", code)
	}
	aEvents.next(t, "message.status", 10*time.Second)
	if n := len(st.sim.Requests("/messages")); n != 1 {
		t.Fatalf("%d sends, want only agent A's", n)
	}
	// A stream delivers its agent's events in the order they were written. So the
	// first event agent B hears must be one of its own written after all of the
	// above: B's own assignment, of another customer.
	st.setPresence(b, "available")
	st.customerSays(ch, "2900000000000081", "another", "")
	select {
	case ev := <-bEvents.events:
		if id, _ := ev.Data["conversation_id"].(string); ev.Name != "conversation.assigned" || id == "" || id == convID {
			t.Fatalf("agent B's stream got %s %v before its own assignment", ev.Name, ev.Data)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent B was not assigned the other customer's conversation")
	}

	for _, page := range []string{"/desk", "/admin"} {
		resp, err := logged.Client().Get(logged.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, secret := range []string{a.Token, b.Token, st.adminToken, ch.PageToken, ch.AppSecret} {
			if bytes.Contains(html, []byte(secret)) {
				t.Fatalf("%s HTML holds a secret", page)
			}
		}
	}
	out := logs.String()
	for _, secret := range []string{a.Token, b.Token, st.adminToken, ch.PageToken, ch.AppSecret, "private matter", "hi amy here"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the starter's log holds %q", secret)
		}
	}
}
