package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/messenger"
	"fbchannel/ops"
	"fbchannel/store"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// webhookDeadline keeps the answer inside Facebook's 5-second delivery timeout.
const webhookDeadline = 4 * time.Second

// maxParallelSignals bounds concurrent SignalWithStart calls of one delivery.
const maxParallelSignals = 16

// verifyWebhook answers Facebook's subscription handshake.
func (s *Server) verifyWebhook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	accts, err := s.Store.WebhookAccounts(r.Context(), r.PathValue("page"))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		writeError(w, http.StatusNotFound, "not_found", "No page has this callback URL.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if q.Get("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(accts[0].VerifyToken)) != 1 {
		writeError(w, http.StatusForbidden, "forbidden", "The verify token does not match this page's.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// receiveWebhook accepts a delivery: 200 only once every event in it is stored and
// signalled into its conversation workflow; any failure answers 503 and leaves the
// database as it was, so Facebook's redelivery starts clean.
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
	accts, err := s.Store.WebhookAccounts(r.Context(), r.PathValue("page"))
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
	acct, signed := signedBy(accts, body, r.Header.Get("X-Hub-Signature-256"))
	if !signed {
		// Persistent 403s make Facebook disable the page: say so where admins look.
		s.Log.Warn("webhook signature mismatch", "webhook_id", r.PathValue("page"), "account_id", accts[0].AccountID)
		s.Metrics.WebhookRequest(ops.WebhookBadSignature)
		writeError(w, http.StatusForbidden, "bad_signature", "X-Hub-Signature-256 does not match the app secret.")
		return
	}
	batch, err := messenger.ParseBatch(body)
	if err != nil {
		s.Metrics.WebhookRequest(ops.WebhookMalformed)
		writeError(w, http.StatusBadRequest, "malformed", "The delivery is not a Messenger webhook batch: "+err.Error())
		return
	}
	rows, signals := s.route(acct, batch)

	ctx, cancel := context.WithTimeout(r.Context(), webhookDeadline)
	defer cancel()
	// Stored (and committed) before the signals, so a worker never looks for an
	// event that is not there yet; taken back if the signals fail.
	inserted, err := s.Store.SaveInboundEvents(ctx, rows)
	if err == nil {
		if err = s.signalAll(ctx, signals); err != nil {
			if derr := s.Store.DeleteInboundEvents(context.WithoutCancel(ctx), inserted); derr != nil {
				s.Log.Error("could not take back unsignalled events", "events", len(inserted), "err", derr)
			}
		}
	}
	if err != nil {
		s.Log.Error("webhook not accepted", "page_uuid", r.PathValue("page"), "events", len(rows), "err", err)
		s.Metrics.WebhookRequest(ops.WebhookUnavailable)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The delivery could not be stored; Facebook will retry it.")
		return
	}
	s.Metrics.WebhookRequest(ops.WebhookAccepted)
	s.Metrics.WebhookEventsIngested(len(rows))
	writeJSON(w, http.StatusOK, map[string]any{"accepted": len(rows)})
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

// route picks the events we serve: entries of the account's live pages, events
// with a customer. Facebook sends all of an app's pages to one callback URL.
func (s *Server) route(acct store.WebhookAccount, batch messenger.Batch) ([]store.InboundEvent, []contract.InboundEvent) {
	var rows []store.InboundEvent
	var signals []contract.InboundEvent
	for _, entry := range batch.Entry {
		pageUUID, ok := acct.Pages[entry.ID]
		if !ok {
			continue
		}
		for _, ev := range entry.Messaging {
			psid, kind := ev.CustomerPSID(), ev.Kind()
			if psid == "" || kind == "unknown" {
				continue
			}
			payload, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			key := ev.Key()
			rows = append(rows, store.InboundEvent{PageID: entry.ID, EventKey: key, PSID: psid, Kind: kind, Payload: payload})
			signals = append(signals, contract.InboundEvent{
				PageUUID: pageUUID, PageID: entry.ID, PSID: psid, EventKey: key, Kind: kind, Timestamp: ev.Timestamp,
			})
		}
	}
	return rows, signals
}

// signalAll signals each conversation's events in order; different conversations
// are signalled concurrently.
func (s *Server) signalAll(ctx context.Context, events []contract.InboundEvent) error {
	var order []string
	byWorkflow := map[string][]contract.InboundEvent{}
	for _, ev := range events {
		id := contract.ConversationWorkflowID(ev.PageID, ev.PSID)
		if _, ok := byWorkflow[id]; !ok {
			order = append(order, id)
		}
		byWorkflow[id] = append(byWorkflow[id], ev)
	}
	errs := make(chan error, len(order))
	sem := make(chan struct{}, maxParallelSignals)
	for _, id := range order {
		sem <- struct{}{}
		go func(id string, evs []contract.InboundEvent) {
			defer func() { <-sem }()
			for _, ev := range evs {
				if err := s.signalInbound(ctx, id, ev); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(id, byWorkflow[id])
	}
	var first error
	for range order {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) signalInbound(ctx context.Context, workflowID string, ev contract.InboundEvent) error {
	defer func(start time.Time) { s.Metrics.ObserveSignal(time.Since(start)) }(time.Now())
	_, err := s.Temporal.SignalWithStartWorkflow(ctx, workflowID, contract.SignalInbound, ev,
		client.StartWorkflowOptions{
			TaskQueue:             s.TaskQueue,
			TypedSearchAttributes: temporalSearchAttributes(ev.PageID, ev.PSID, contract.StatusWaiting),
		},
		workflows.ConversationWorkflow, contract.ConversationInput{PageID: ev.PageID, PSID: ev.PSID})
	return err
}
