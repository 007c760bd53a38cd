package api

import (
	"encoding/json"
	"testing"

	"fbchannel/messenger"
	"fbchannel/store"
)

func TestContainsNUL(t *testing.T) {
	for payload, want := range map[string]bool{
		`{"text":"a\u0000b"}`:     true,
		`{"text":"\\\u0000"}`:     true,  // an escaped backslash, then a NUL
		`{"text":"\\u0000"}`:      false, // the six characters \u0000, typed by the customer
		`{"text":"\\\\u0000"}`:    false,
		`{"text":"plain \u00e4"}`: false,
	} {
		if got := containsNUL([]byte(payload)); got != want {
			t.Errorf("containsNUL(%s) = %v, want %v", payload, got, want)
		}
	}
}

// route keeps the account's pages' readable events, turns those Postgres
// cannot store into unreadable ones, and keeps unreadable parts of our pages
// (or of no readable page) but not of other pages.
func TestRouteSplitsReadableAndUnreadable(t *testing.T) {
	body := `{"object":"page","entry":[
		{"id":"P","messaging":[
			{"sender":{"id":"A"},"recipient":{"id":"P"},"timestamp":1,"message":{"mid":"m1","text":"hi"}},
			{"sender":{"id":"A"},"recipient":{"id":"P"},"timestamp":2,"message":{"mid":"m2","text":"nul \u0000 here"}},
			{"sender":{"id":"A"},"recipient":{"id":"P"},"timestamp":3,"message":{"mid":5}},
			{"recipient":{"id":"P"},"timestamp":4,"policy_enforcement":{"action":"block"}}]},
		{"id":"OTHER","messaging":[{"sender":{"id":"B"},"message":{"mid":6}}]},
		{"id":false}]}`
	batch, err := messenger.ParseBatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	acct := store.WebhookAccount{Pages: map[string]string{"P": "page-uuid"}}
	events, unreadable, unknownPages := route(acct, "callback-uuid", batch)
	if !unknownPages {
		t.Error("the entry of page OTHER was dropped without saying so")
	}
	if len(events) != 1 || events[0].EventKey != "m1" || events[0].PageUUID != "page-uuid" || events[0].PSID != "A" {
		t.Fatalf("events = %+v", events)
	}
	var ev messenger.Event
	if err := json.Unmarshal(events[0].Payload, &ev); err != nil || ev.Message.Text != "hi" {
		t.Fatalf("payload %s: %v", events[0].Payload, err)
	}
	if len(unreadable) != 3 {
		t.Fatalf("unreadable = %+v", unreadable)
	}
	if u := unreadable[0]; u.PageID != "P" || u.PSID != "A" || u.PageUUID != "page-uuid" {
		t.Errorf("the NUL event: %+v", u)
	}
	if u := unreadable[1]; u.PageID != "P" || u.PSID != "A" || u.Reason == "" {
		t.Errorf("the wrong-typed event: %+v", u)
	}
	if u := unreadable[2]; u.PageID != "" || u.PageUUID != "callback-uuid" {
		t.Errorf("the unreadable entry: %+v", u)
	}
}
