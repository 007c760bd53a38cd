package simulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"fbchannel/messenger"
)

// PostCustomerMessage delivers a text message from psid to pageID the way
// Facebook does: a one-entry batch, signed, POSTed to callbackURL. mid ""
// gets a fresh "m_..." id. It returns the callback's status and body.
func (s *Simulator) PostCustomerMessage(ctx context.Context, callbackURL, appSecret, pageID, psid, text, mid string) (status int, body string, err error) {
	status, body, _, err = s.postCustomerMessage(ctx, callbackURL, appSecret, pageID, psid, text, mid)
	return status, body, err
}

func (s *Simulator) postCustomerMessage(ctx context.Context, callbackURL, appSecret, pageID, psid, text, mid string) (int, string, string, error) {
	if mid == "" {
		mid = newID("m_")
	}
	payload, err := TextBatch(pageID, time.Now().UnixMilli(), CustomerText{PSID: psid, MID: mid, Text: text})
	if err != nil {
		return 0, "", mid, err
	}
	status, body, err := s.PostWebhook(ctx, callbackURL, appSecret, payload)
	return status, body, mid, err
}

// CustomerText is one text message of a customer (PSID) with its Facebook id.
type CustomerText struct {
	PSID, MID, Text string
}

// TextBatch is a webhook payload as Facebook builds it: one entry for the page with
// each customer's text message, stamped at (Unix milliseconds), escaped the way
// Facebook signs it. Drivers that sign and post deliveries themselves (the soak)
// build them here.
func TextBatch(pageID string, at int64, texts ...CustomerText) ([]byte, error) {
	type party struct {
		ID string `json:"id"`
	}
	type message struct {
		MID  string `json:"mid"`
		Text string `json:"text"`
	}
	type event struct {
		Sender    party   `json:"sender"`
		Recipient party   `json:"recipient"`
		Timestamp int64   `json:"timestamp"`
		Message   message `json:"message"`
	}
	type entry struct {
		ID        string  `json:"id"`
		Time      int64   `json:"time"`
		Messaging []event `json:"messaging"`
	}
	events := make([]event, 0, len(texts))
	for _, t := range texts {
		events = append(events, event{Sender: party{t.PSID}, Recipient: party{pageID}, Timestamp: at, Message: message{MID: t.MID, Text: t.Text}})
	}
	payload, err := json.Marshal(struct {
		Object string  `json:"object"`
		Entry  []entry `json:"entry"`
	}{"page", []entry{{ID: pageID, Time: at, Messaging: events}}})
	if err != nil {
		return nil, err
	}
	return EscapeLikeFacebook(payload), nil
}

// PostWebhook signs payload exactly as given and POSTs it to callbackURL
// with Facebook's headers.
func (s *Simulator) PostWebhook(ctx context.Context, callbackURL, appSecret string, payload []byte) (status int, body string, err error) {
	req, err := NewWebhookRequest(ctx, callbackURL, appSecret, payload)
	if err != nil {
		return 0, "", err
	}
	resp, err := s.webhookClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("simulator: post webhook: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("simulator: read webhook answer: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

// NewWebhookRequest is a webhook delivery as Facebook makes it: a POST of
// payload, byte for byte, to callbackURL with Facebook's Content-Type and
// User-Agent and both of its signatures over the payload. Drivers that send
// deliveries through their own HTTP client (the ingest benchmark) build them
// here, so their deliveries are signed exactly as the simulator's.
func NewWebhookRequest(ctx context.Context, callbackURL, appSecret string, payload []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set(messenger.SignatureHeader, messenger.Sign(appSecret, payload))
	// Facebook still sends the legacy SHA-1 header; sending it too keeps
	// receivers honest about which one they check.
	legacy := hmac.New(sha1.New, []byte(appSecret))
	legacy.Write(payload)
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(legacy.Sum(nil)))
	return req, nil
}

// EscapeLikeFacebook rewrites JSON into the form Facebook signs: non-ASCII
// as \uXXXX escapes and "/" as "\/". A receiver that verifies a re-encoded
// body instead of the raw bytes then fails, as it would in production.
// Both characters only occur inside strings in encoding/json output, so the
// rewrite is safe.
func EscapeLikeFacebook(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == '/':
			out.WriteString(`\/`)
		case r >= utf8.RuneSelf:
			for _, unit := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&out, `\u%04x`, unit)
			}
		default:
			out.Write(b[:size])
		}
		b = b[size:]
	}
	return out.Bytes()
}

// echoRetries is how often an echo delivery is tried; Facebook retries failed
// deliveries with backoff.
const echoRetries = 5

// queueEcho delivers the echo of a message the page sent through the Send API to
// the app's callback URL, as Facebook does when the app subscribed the page to
// message_echoes: sender the page, recipient the customer, is_echo, the sending
// app's id and the metadata it set. Called with s.mu held; the delivery runs on
// its own, after the Send API answered or not.
func (s *Simulator) queueEcho(t *tokenState, psid, mid string, msg map[string]any) {
	callback, secret := s.callbacks[t.appID], s.apps[t.appID]
	page := s.pages[t.pageID]
	if !s.echoes || callback == "" || page == nil || !slices.Contains(page.subscriptions[t.appID], "message_echoes") {
		return
	}
	now := time.Now().UnixMilli()
	echo := map[string]any{"mid": mid, "is_echo": true}
	if id, err := strconv.ParseInt(t.appID, 10, 64); err == nil {
		echo["app_id"] = id
	} else {
		echo["app_id"] = t.appID
	}
	for _, k := range []string{"text", "metadata", "attachment", "quick_replies"} {
		if v, ok := msg[k]; ok {
			if k == "attachment" {
				echo["attachments"] = []any{v}
				continue
			}
			echo[k] = v
		}
	}
	batch := map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": t.pageID, "time": now,
		"messaging": []any{map[string]any{
			"sender": map[string]any{"id": t.pageID}, "recipient": map[string]any{"id": psid},
			"timestamp": now, "message": echo,
		}},
	}}}
	payload, err := json.Marshal(batch)
	if err != nil {
		return
	}
	payload = EscapeLikeFacebook(payload)
	go func() {
		wait := 500 * time.Millisecond
		for range echoRetries {
			status, _, err := s.PostWebhook(context.Background(), callback, secret, payload)
			if err == nil && status == http.StatusOK {
				return
			}
			time.Sleep(wait)
			wait *= 2
		}
	}()
}
