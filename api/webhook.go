package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"fbchannel/messenger"
	"fbchannel/ops"
	"fbchannel/store"
)

// webhookDeadline keeps the answer inside Facebook's 5-second delivery timeout.
const webhookDeadline = 4 * time.Second

// webhookLookups bounds a delivery's account lookups: a cached one, then fresh
// ones while pages or accounts keep changing under it (each change makes the
// inbox refuse events routed before it). After the last, 503: Facebook retries.
const webhookLookups = 3

// verifyWebhook answers Facebook's subscription handshake.
func (s *Server) verifyWebhook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Fresh: the handshake is rare, and a changed verify token must count at once.
	lookup, err := s.Store.WebhookAccounts(r.Context(), r.PathValue("page"), true)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		writeError(w, http.StatusNotFound, "not_found", "No page has this callback URL.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if q.Get("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(lookup.Accounts[0].VerifyToken)) != 1 {
		writeError(w, http.StatusForbidden, "forbidden", "The verify token does not match this page's.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// receiveWebhook accepts a delivery: 200 once every event in it is committed in
// the inbox (inbound_events, one transaction), whatever Temporal's state; the
// relay then hands the events to their conversation workflows, kicked here
// right after the commit. 503 only when Postgres could not take them (nothing
// was committed; Facebook redelivers).
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.WebhookMaxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.Metrics.WebhookRequest(ops.WebhookTooLarge)
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The delivery is larger than this service accepts.")
			return
		}
		s.Metrics.WebhookRequest(ops.WebhookMalformed)
		writeError(w, http.StatusBadRequest, "bad_request", "The delivery could not be read.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhookDeadline)
	defer cancel()
	var (
		batch              messenger.Batch
		parsed             bool
		events             []store.InboundEvent
		unreadable         []store.UnreadableEvent
		inserted           int
		fresh, lastAttempt bool
	)
	// The accounts usually come from the cache (store.WebhookCache). Whatever
	// the cache might have got wrong is judged again on a fresh read: a
	// signature it does not match, an entry for a page it does not list, and
	// events the inbox refused because pages or accounts changed since the
	// answer was read (the version fence).
	for attempt := 0; ; attempt++ {
		lastAttempt = attempt == webhookLookups-1
		lookup, err := s.Store.WebhookAccounts(ctx, r.PathValue("page"), fresh)
		if errors.Is(err, store.ErrGone) {
			// A deleted channel: Facebook may deliver for a while (or retry old
			// deliveries); acknowledge and ignore, so it neither retries nor alerts.
			s.Metrics.WebhookRequest(ops.WebhookIgnored)
			writeJSON(w, http.StatusOK, map[string]any{"accepted": 0})
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			s.Metrics.WebhookRequest(ops.WebhookNotFound)
			writeError(w, http.StatusNotFound, "not_found", "No page has this callback URL.")
			return
		}
		if err != nil {
			s.Metrics.WebhookRequest(ops.WebhookUnavailable)
			s.internalError(w, r, err)
			return
		}
		fresh = true // from here on, any doubt reads Postgres
		acct, signed := signedBy(lookup.Accounts, body, r.Header.Get("X-Hub-Signature-256"))
		if !signed && lookup.Cached && !lastAttempt {
			continue
		}
		if !signed {
			// Persistent 403s make Facebook disable the page: say so where admins look.
			s.Log.Warn("webhook signature mismatch", "webhook_id", r.PathValue("page"), "account_id", lookup.Accounts[0].AccountID)
			s.Metrics.WebhookRequest(ops.WebhookBadSignature)
			writeError(w, http.StatusForbidden, "bad_signature", "X-Hub-Signature-256 does not match the app secret.")
			return
		}
		if !parsed {
			if batch, err = messenger.ParseBatch(body); err != nil {
				s.Metrics.WebhookRequest(ops.WebhookMalformed)
				writeError(w, http.StatusBadRequest, "malformed", "The delivery is not a Messenger webhook batch: "+err.Error())
				return
			}
			parsed = true
		}
		var unknownPages bool
		events, unreadable, unknownPages = route(acct, r.PathValue("page"), batch)
		if unknownPages && lookup.Cached && !lastAttempt {
			continue // a page added since the answer was cached?
		}
		// The relay's signals continue this request's trace.
		trace := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(r.Context(), trace)
		for i := range events {
			events[i].TraceParent = trace.Get("traceparent")
		}
		inserted, err = s.Store.SaveInbox(ctx, lookup.Version, events, unreadable)
		if errors.Is(err, store.ErrAccountsChanged) && !lastAttempt {
			continue
		}
		if err != nil {
			s.Log.Error("webhook not accepted: the inbox could not store it", "page_uuid", r.PathValue("page"), "events", len(events), "err", err)
			s.Metrics.WebhookRequest(ops.WebhookUnavailable)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "The delivery could not be stored; Facebook will retry it.")
			return
		}
		break
	}
	if inserted > 0 {
		s.Relay.Kick()
	}
	for _, u := range unreadable {
		s.Log.Warn("webhook event unreadable; stored raw", "page_uuid", r.PathValue("page"), "page_id", u.PageID, "reason", u.Reason)
	}
	s.Metrics.WebhookRequest(ops.WebhookAccepted)
	s.Metrics.WebhookEventsIngested(len(events))
	s.Metrics.WebhookUnreadableEvents(len(unreadable))
	writeJSON(w, http.StatusOK, map[string]any{"accepted": len(events), "unreadable": len(unreadable)})
}

// signedBy finds the account whose app secret signed the delivery.
func signedBy(accts []store.WebhookAccount, body []byte, signature string) (store.WebhookAccount, bool) {
	for _, a := range accts {
		if messenger.VerifySignature(a.AppSecret, body, signature) {
			return a, true
		}
	}
	return store.WebhookAccount{}, false
}

// containsNUL tells whether JSON holds a NUL character, the one Postgres cannot
// store in text or jsonb: a \u0000 escape whose backslash is not itself escaped.
func containsNUL(payload []byte) bool {
	for i := 0; ; {
		j := bytes.Index(payload[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		slashes := 0
		for k := at - 1; k >= 0 && payload[k] == '\\'; k-- {
			slashes++
		}
		if slashes%2 == 0 {
			return true
		}
		i = at + 1
	}
}

// route picks what we keep: the events of the account's live pages that have a
// customer, and the unreadable parts of those pages' entries (or of entries
// whose page could not be read, kept under the callback's page). Facebook sends
// all of an app's pages to one callback URL. unknownPages tells that entries
// of pages the account does not list were dropped.
func route(acct store.WebhookAccount, callbackPage string, batch messenger.Batch) (events []store.InboundEvent, unreadable []store.UnreadableEvent, unknownPages bool) {
	for _, entry := range batch.Entry {
		pageUUID, ok := acct.Pages[entry.ID]
		if !ok {
			unknownPages = true
			continue
		}
		for _, ev := range entry.Messaging {
			psid, kind := ev.CustomerPSID(), ev.Kind()
			if psid == "" || kind == messenger.KindUnknown {
				continue
			}
			payload, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			if containsNUL(payload) {
				unreadable = append(unreadable, store.UnreadableEvent{PageID: entry.ID, PageUUID: pageUUID, PSID: psid, Raw: payload,
					Reason: "the event contains a NUL character (\\u0000), which cannot be stored as text"})
				continue
			}
			events = append(events, store.InboundEvent{
				PageID: entry.ID, PageUUID: pageUUID, EventKey: ev.Key(), PSID: psid, Kind: kind, Payload: payload,
			})
		}
	}
	for _, u := range batch.Unreadable {
		pageUUID, ok := acct.Pages[u.PageID]
		if u.PageID != "" && !ok {
			unknownPages = true
			continue // another account's page, or none we serve
		}
		if !ok {
			pageUUID = callbackPage
		}
		unreadable = append(unreadable, store.UnreadableEvent{PageID: u.PageID, PageUUID: pageUUID, PSID: u.PSID, Reason: u.Reason, Raw: u.Raw})
	}
	return events, unreadable, unknownPages
}
