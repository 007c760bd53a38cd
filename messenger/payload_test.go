package messenger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func parseOne(t *testing.T, event string) Event {
	t.Helper()
	b, err := ParseBatch([]byte(`{"object":"page","entry":[{"id":"PAGE","time":1700000000000,"messaging":[` + event + `]}]}`))
	if err != nil {
		t.Fatalf("ParseBatch: %v", err)
	}
	if len(b.Entry) != 1 || len(b.Entry[0].Messaging) != 1 {
		t.Fatalf("want one entry with one event, got %+v", b)
	}
	return b.Entry[0].Messaging[0]
}

func TestEventKindPSIDAndKey(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		kind    string
		psid    string
		key     string // "h:" means a hash key is expected
		inspect func(t *testing.T, e Event)
	}{
		{
			name:  "text message",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1700000000001,"message":{"mid":"m_1","text":"K\u00e4se \ud83e\uddc0","unknown_field":{"x":1}}}`,
			kind:  KindMessage, psid: "PSID", key: "m_1",
			inspect: func(t *testing.T, e Event) {
				if e.Message.Text != "Käse 🧀" || e.Timestamp != 1700000000001 {
					t.Errorf("message = %+v, timestamp %d", e.Message, e.Timestamp)
				}
			},
		},
		{
			name:  "echo from the page inbox",
			event: `{"sender":{"id":"PAGE"},"recipient":{"id":"PSID"},"timestamp":2,"message":{"mid":"m_2","text":"hi","is_echo":true,"app_id":263902037430900,"metadata":"out:42"}}`,
			kind:  KindEcho, psid: "PSID", key: "m_2",
			inspect: func(t *testing.T, e Event) {
				if e.Message.AppID != PageInboxAppID || e.Message.Metadata != "out:42" {
					t.Errorf("echo = %+v", e.Message)
				}
			},
		},
		{
			name:  "app_id as string",
			event: `{"sender":{"id":"PAGE"},"recipient":{"id":"PSID"},"message":{"mid":"m_3","is_echo":true,"app_id":"1234"}}`,
			kind:  KindEcho, psid: "PSID", key: "m_3",
			inspect: func(t *testing.T, e Event) {
				if e.Message.AppID != 1234 {
					t.Errorf("AppID = %d", e.Message.AppID)
				}
			},
		},
		{
			name: "attachments: sticker twice, fallback without payload, null payload, template, unknown type",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":3,"message":{"mid":"m_4","attachments":[
				{"type":"sticker","payload":{"url":"https:\/\/x\/s.png","sticker_id":369239263222822}},
				{"type":"image","payload":{"url":"https://x/s.png","sticker_id":369239263222822}},
				{"type":"fallback","title":"A link","URL":"https://example.com"},
				{"type":"fallback","payload":null},
				{"type":"template","payload":{"template_type":"generic","elements":[{"title":"t"}]}},
				{"type":"hologram","payload":"opaque"},
				{"type":"image","payload":{"url":5,"sticker_id":"77"}}]}}`,
			kind: KindMessage, psid: "PSID", key: "m_4",
			inspect: func(t *testing.T, e Event) {
				a := e.Message.Attachments
				if len(a) != 7 {
					t.Fatalf("attachments = %d", len(a))
				}
				if a[0].Payload.URL != "https://x/s.png" || a[0].Payload.StickerID != 369239263222822 {
					t.Errorf("sticker = %+v", a[0])
				}
				if a[2].URL != "https://example.com" || a[2].Title != "A link" || a[2].Payload.URL != "" {
					t.Errorf("fallback = %+v", a[2])
				}
				if a[5].Type != "hologram" || a[6].Payload.URL != "" || a[6].Payload.StickerID != 77 {
					t.Errorf("odd payloads = %+v %+v", a[5], a[6])
				}
			},
		},
		{
			name:  "quick reply and reply_to",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"message":{"mid":"m_5","text":"Yes","quick_reply":{"payload":"YES"},"reply_to":{"mid":"m_0","is_self_reply":true}}}`,
			kind:  KindMessage, psid: "PSID", key: "m_5",
			inspect: func(t *testing.T, e Event) {
				if e.Message.QuickReply.Payload != "YES" || e.Message.ReplyTo.MID != "m_0" || !e.Message.ReplyTo.IsSelfReply {
					t.Errorf("message = %+v", e.Message)
				}
			},
		},
		{
			name:  "postback",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":6,"postback":{"title":"Get Started","payload":"GET_STARTED","mid":"m_6"}}`,
			kind:  KindPostback, psid: "PSID", key: "m_6",
		},
		{
			name:  "postback without mid",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":6,"postback":{"payload":"GET_STARTED"}}`,
			kind:  KindPostback, psid: "PSID", key: "h:",
		},
		{
			name:  "delivery without mids or timestamp",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"delivery":{"watermark":1700000000000}}`,
			kind:  KindDelivery, psid: "PSID", key: "h:",
			inspect: func(t *testing.T, e Event) {
				if e.Delivery.Watermark != 1700000000000 || e.Delivery.MIDs != nil || e.Timestamp != 0 {
					t.Errorf("delivery = %+v", e)
				}
			},
		},
		{
			name:  "read",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":7,"read":{"watermark":7}}`,
			kind:  KindRead, psid: "PSID", key: "h:",
		},
		{
			name:  "reaction",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":8,"reaction":{"reaction":"love","emoji":"\u2764\ufe0f","action":"react","mid":"m_1"}}`,
			kind:  KindReaction, psid: "PSID", key: "m_1:react:love:8",
		},
		{
			name:  "referral",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":9,"referral":{"ref":"promo","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
			kind:  KindReferral, psid: "PSID", key: "h:",
		},
		{
			name:  "message edit",
			event: `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":10,"message_edit":{"mid":"m_1","text":"fixed","num_edit":2}}`,
			kind:  KindMessageEdit, psid: "PSID", key: "m_1:edit:2",
		},
		{
			name:  "policy enforcement has no sender",
			event: `{"recipient":{"id":"PAGE"},"timestamp":11,"policy_enforcement":{"action":"block","reason":"spam"}}`,
			kind:  KindUnknown, psid: "", key: "h:",
		},
		{
			name:  "numeric ids",
			event: `{"sender":{"id":1234567890123456789},"recipient":{"id":42},"timestamp":12,"message":{"mid":"m_7","text":"n"}}`,
			kind:  KindMessage, psid: "1234567890123456789", key: "m_7",
		},
		{
			name:  "null sender",
			event: `{"sender":null,"recipient":{"id":null},"message":{"mid":"m_8"}}`,
			kind:  KindMessage, psid: "", key: "m_8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseOne(t, tt.event)
			if got := e.Kind(); got != tt.kind {
				t.Errorf("Kind = %q, want %q", got, tt.kind)
			}
			if got := e.CustomerPSID(); got != tt.psid {
				t.Errorf("CustomerPSID = %q, want %q", got, tt.psid)
			}
			key := e.Key()
			if tt.key == "h:" {
				if !strings.HasPrefix(key, "h:") || len(key) != 2+64 {
					t.Errorf("Key = %q, want h:<sha256>", key)
				}
			} else if key != tt.key {
				t.Errorf("Key = %q, want %q", key, tt.key)
			}
			if again := parseOne(t, tt.event).Key(); again != key {
				t.Errorf("redelivery Key = %q, first %q", again, key)
			}
			if tt.inspect != nil {
				tt.inspect(t, e)
			}
		})
	}
}

func TestHashKeysDifferBetweenEvents(t *testing.T) {
	a := parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"read":{"watermark":1}}`).Key()
	b := parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"read":{"watermark":2}}`).Key()
	c := parseOne(t, `{"sender":{"id":"OTHER"},"recipient":{"id":"PAGE"},"read":{"watermark":1}}`).Key()
	d := parseOne(t, `{"recipient":{"id":"PAGE"},"sender":{"id":"PSID"},"read":{"watermark":1},"new_field":true}`).Key()
	if a == b || a == c || b == c {
		t.Errorf("distinct events share a key: %s %s %s", a, b, c)
	}
	if a != d {
		t.Errorf("field order or unknown fields changed the key: %s vs %s", a, d)
	}
}

func TestParseBatch(t *testing.T) {
	body := `{"object":"page","entry":[
		{"id":"P1","time":1,"messaging":[{"sender":{"id":"A"},"recipient":{"id":"P1"},"message":{"mid":"m_a"}},{"sender":{"id":"B"},"recipient":{"id":"P1"},"read":{"watermark":1}}]},
		{"id":2,"time":2,"standby":[{"sender":{"id":"C"},"recipient":{"id":"2"},"message":{"mid":"m_c"}}],"changes":[]}
	],"extra":"ignored"}`
	b, err := ParseBatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entry) != 2 || b.Entry[0].ID != "P1" || b.Entry[1].ID != "2" || b.Entry[1].Time != 2 {
		t.Fatalf("entries = %+v", b.Entry)
	}
	if len(b.Entry[0].Messaging) != 2 || len(b.Entry[1].Standby) != 1 || b.Entry[1].Standby[0].Message.MID != "m_c" {
		t.Fatalf("events = %+v", b.Entry)
	}

	errorCases := []struct {
		name string
		body string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"truncated", `{"object":"page","entry":[`, ErrMalformed},
		{"not an object", `[1,2]`, ErrMalformed},
		{"object is a number", `{"object":7,"entry":[]}`, ErrNotPage},
		{"instagram", `{"object":"instagram","entry":[]}`, ErrNotPage},
		{"no object", `{"entry":[]}`, ErrNotPage},
		{"null", `null`, ErrNotPage},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseBatch([]byte(tt.body)); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNumbersSentAsStrings(t *testing.T) {
	e := parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":"1700000000001","message_edit":{"mid":"m_1","text":"x","num_edit":"3"}}`)
	if e.Timestamp != 1700000000001 || e.MessageEdit.NumEdit != 3 || e.Key() != "m_1:edit:3" {
		t.Errorf("edit = %+v, timestamp %d, key %s", e.MessageEdit, e.Timestamp, e.Key())
	}
	e = parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1.700000000002e12,"delivery":{"mids":["m"],"watermark":"1700000000000","seq":"12"}}`)
	if e.Timestamp != 1700000000002 || e.Delivery.Watermark != 1700000000000 || e.Delivery.Seq != 12 {
		t.Errorf("delivery = %+v, timestamp %d", e.Delivery, e.Timestamp)
	}
	e = parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":null,"read":{"watermark":" 7 ","seq":null}}`)
	if e.Read.Watermark != 7 || e.Timestamp != 0 {
		t.Errorf("read = %+v", e.Read)
	}
	e = parseOne(t, `{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"message":{"mid":"m_2","seq":"5","text":"hi"}}`)
	if e.Message.Seq != 5 || e.Message.Text != "hi" {
		t.Errorf("message = %+v", e.Message)
	}
	b, err := ParseBatch([]byte(`{"object":"page","entry":[{"id":"P","time":"1700000000000","messaging":[]}]}`))
	if err != nil || b.Entry[0].Time != 1700000000000 || len(b.Unreadable) != 0 {
		t.Errorf("entry time as a string: %+v %v", b, err)
	}
}

// An event with wrong-typed fields is kept raw with its reason; the events
// around it are read as usual.
func TestUnreadableEventsDoNotCostTheBatch(t *testing.T) {
	body := `{"object":"page","entry":[
		{"id":"P1","time":1,"messaging":[
			{"sender":{"id":"A"},"recipient":{"id":"P1"},"timestamp":1,"message":{"mid":"m_a","text":"first"}},
			{"sender":{"id":"B"},"recipient":{"id":"P1"},"timestamp":2,"message":{"mid":"m_b","text":["not","text"]}},
			{"sender":{"id":"C"},"recipient":{"id":"P1"},"timestamp":"soon","message":{"mid":"m_c"}},
			{"sender":"D","message":{"mid":"m_d"}},
			{"sender":{"id":"E"},"recipient":{"id":"P1"},"timestamp":3,"message":{"mid":"m_e","text":"last"}}],
		 "standby":{"not":"a list"}},
		{"id":true,"messaging":[]},
		{"id":"P2","messaging":[{"sender":{"id":"F"},"message_edit":{"mid":"m_f","num_edit":true}}]},
		"an entry that is a string"
	]}`
	b, err := ParseBatch([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entry) != 2 || len(b.Entry[0].Messaging) != 2 || b.Entry[0].Messaging[0].Message.Text != "first" ||
		b.Entry[0].Messaging[1].Message.Text != "last" || len(b.Entry[1].Messaging) != 0 {
		t.Fatalf("readable events = %+v", b.Entry)
	}
	want := []struct{ page, psid, raw, reason string }{
		{"P1", "B", `"m_b"`, "message.text"},
		{"P1", "C", `"soon"`, "not an integer"},
		{"P1", "", `"D"`, "messaging event"},
		{"P1", "", `{"not":"a list"}`, "standby"},
		{"", "", `"id":true`, "entry"},
		{"P2", "F", `"m_f"`, "messaging event"},
		{"", "", `"an entry that is a string"`, "entry"},
	}
	if len(b.Unreadable) != len(want) {
		t.Fatalf("unreadable = %+v", b.Unreadable)
	}
	for i, w := range want {
		u := b.Unreadable[i]
		if u.PageID != w.page || u.PSID != w.psid || !strings.Contains(string(u.Raw), w.raw) || !strings.Contains(u.Reason, w.reason) {
			t.Errorf("unreadable %d = {%s %s %s %q}, want page %q psid %q raw with %s, reason with %q", i, u.PageID, u.PSID, u.Raw, u.Reason, w.page, w.psid, w.raw, w.reason)
		}
	}

	// An entry list that is not a list: the whole of it is unreadable, still no error.
	b, err = ParseBatch([]byte(`{"object":"page","entry":{"id":"P"}}`))
	if err != nil || len(b.Entry) != 0 || len(b.Unreadable) != 1 || string(b.Unreadable[0].Raw) != `{"id":"P"}` {
		t.Fatalf("entry object: %+v %v", b, err)
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m","text":"\u00e4","attachments":[{"type":"fallback"}]}}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"id":1,"standby":[{"sender":{"id":2},"message":{"is_echo":true,"app_id":"x"}},{"delivery":{}},{"reaction":{}},{"message_edit":{}},{"postback":{}}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"messaging":[{"message":{"attachments":[{"payload":null},{"payload":[]},{"payload":{"sticker_id":1e99}}]}}]}]}`))
	f.Add([]byte(`null`))
	// Wrong-typed fields: numbers as strings, strings as numbers, objects where lists go.
	f.Add([]byte(`{"object":"page","entry":[{"id":"1","time":"1","messaging":[{"sender":{"id":"2"},"timestamp":"17","message":{"mid":5,"text":["x"],"seq":"3"}},{"sender":{"id":"2"},"timestamp":"x","read":{"watermark":"9"}}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"id":{},"messaging":{}},{"id":"1","standby":"s","messaging":[{"sender":"2","delivery":{"watermark":true,"mids":"m"}},{"message_edit":{"num_edit":"1e3"}},{"timestamp":1.5}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"timestamp":"-9223372036854775809","postback":{"title":1}},{"reaction":"love"},[],null,7]}]}`))
	f.Add([]byte(`{"object":"page","entry":"nope"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseBatch(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotPage) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, u := range b.Unreadable {
			if u.Reason == "" || len(u.Raw) == 0 || !json.Valid(u.Raw) {
				t.Fatalf("unreadable without reason or raw JSON: %+v", u)
			}
		}
		for _, entry := range b.Entry {
			for _, events := range [][]Event{entry.Messaging, entry.Standby} {
				for _, e := range events {
					if e.Kind() == "" || e.Key() == "" {
						t.Fatalf("empty kind or key for %+v", e)
					}
					e.CustomerPSID()
				}
			}
		}
	})
}
