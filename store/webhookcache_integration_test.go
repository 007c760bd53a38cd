//go:build integration

package store

// The webhook's account cache against a real Postgres: a change committed by
// one replica reaches the others' caches through NOTIFY (schema 0032), and the
// inbox refuses events routed on an answer older than a committed change even
// when the notification has not arrived (the version fence).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"fbchannel/agentevents"
	"fbchannel/schema/schematest"
	"fbchannel/secrets"
)

// replicas are stores on one database, as several starters are.
type replicas struct {
	t   *testing.T
	ctx context.Context
	dsn string
	box *secrets.Box
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	return &replicas{t: t, ctx: context.Background(), dsn: schematest.Migrated(t, "fbchannel_store_test_"), box: box}
}

// starter is a replica as the starter wires it: its own pool, its cache, and a
// LISTEN connection that drops the cache. It returns once the hub listens.
func (r *replicas) starter() *Store {
	r.t.Helper()
	s := r.store(NewWebhookCache(time.Hour)) // so that only invalidations can drop an answer
	hub := agentevents.Listen(r.dsn, agentevents.Options{Watchers: []agentevents.Watcher{s.Webhooks}})
	r.t.Cleanup(hub.Close)
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	select {
	case <-hub.Listening():
		return s
	case <-ctx.Done():
	}
	r.t.Fatal("the LISTEN connection did not come up")
	return nil
}

// deaf is a replica whose cache never hears of a change: the worst case of a
// notification still on its way.
func (r *replicas) deaf() *Store {
	c := NewWebhookCache(time.Hour)
	c.Listening(true)
	return r.store(c)
}

func (r *replicas) store(c *WebhookCache) *Store {
	r.t.Helper()
	db, err := Open(r.ctx, r.dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	return &Store{DB: db, Box: r.box, Webhooks: c}
}

// lookup reads the callback's accounts through s's cache.
func (r *replicas) lookup(s *Store, webhookID string) (WebhookLookup, error) {
	r.t.Helper()
	return s.WebhookAccounts(r.ctx, webhookID, false)
}

// warm reads the callback's accounts until s answers them from memory (the
// notification of the write that made them may still drop the first answers).
func (r *replicas) warm(s *Store, webhookID string) WebhookLookup {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l, err := r.lookup(s, webhookID)
		if err != nil {
			r.t.Fatal(err)
		}
		if l.Cached {
			return l
		}
	}
	r.t.Fatal("the lookup is never answered from the cache")
	return WebhookLookup{}
}

// invalidated waits (on the cache's counter, with a deadline) until s's cache
// has been dropped since it counted since.
func (r *replicas) invalidated(s *Store, since int64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Webhooks.Invalidations() == since {
		if time.Now().After(deadline) {
			r.t.Fatal("the other replica's change did not drop this cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *replicas) page(s *Store, pageID string) Page {
	r.t.Helper()
	a, err := s.CreateAccount(r.ctx, "Account", "app-"+randomHex(4), "secret-"+randomHex(8))
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := s.CreatePage(r.ctx, a.ID, "Page", pageID, "token", "http://localhost")
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func TestWebhookCacheOfOneReplicaIsDroppedByAnothersWrite(t *testing.T) {
	r := newReplicas(t)
	a, b := r.starter(), r.starter()
	p := r.page(a, "2001")
	if l := r.warm(b, p.WebhookID); l.Accounts[0].Pages["2001"] != p.ID {
		t.Fatalf("cached answer %+v, want page %s", l.Accounts, p.ID)
	}

	// Deleted on a: b answers "gone" once told, and never caches that.
	since := b.Webhooks.Invalidations()
	if _, err := a.MarkPageDeleting(r.ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	r.invalidated(b, since)
	for range 2 {
		if _, err := r.lookup(b, p.WebhookID); !errors.Is(err, ErrGone) {
			t.Fatalf("after the deletion: %v, want ErrGone", err)
		}
	}

	// Added again on a (same Facebook page, same callback URL): b serves the new
	// page row, cached again.
	if err := a.ErasePage(r.ctx, p.ID, "channel_deleted"); err != nil {
		t.Fatal(err)
	}
	again, err := a.CreatePage(r.ctx, p.AccountID, "Again", "2001", "token", "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	if again.WebhookID != p.WebhookID {
		t.Fatalf("re-added page has webhook id %s, want %s", again.WebhookID, p.WebhookID)
	}
	if l := r.warm(b, p.WebhookID); l.Accounts[0].Pages["2001"] != again.ID {
		t.Fatalf("after re-adding: %+v, want page %s", l.Accounts, again.ID)
	}

	// The app secret changed on b: a is told too.
	if l := r.warm(a, p.WebhookID); l.Accounts[0].AppSecret == "rotated" {
		t.Fatal("secret already rotated")
	}
	since = a.Webhooks.Invalidations()
	if _, err := b.DB.ExecContext(r.ctx, `UPDATE accounts SET app_secret_enc = $1 WHERE id = $2`,
		b.Box.Seal("rotated", accountAD(p.AccountID)), p.AccountID); err != nil {
		t.Fatal(err)
	}
	r.invalidated(a, since)
	if l, err := r.lookup(a, p.WebhookID); err != nil || l.Cached || l.Accounts[0].AppSecret != "rotated" {
		t.Fatalf("after the secret's change: cached %v, %v (secret changed: %v)", l.Cached, err, err == nil && l.Accounts[0].AppSecret == "rotated")
	}

	// A health check's write that leaves the page live changes no version (so
	// it drops no cache).
	live := r.page(a, "2002")
	version := func() (v int64) {
		if err := a.DB.QueryRowContext(r.ctx, `SELECT version FROM webhook_accounts_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	if err := a.SetPageStatus(r.ctx, live.ID, "active", "", "Renamed", nil); err != nil {
		t.Fatal(err)
	}
	if after := version(); after != before {
		t.Fatalf("a status write moved the version from %d to %d", before, after)
	}
}

// A replica whose cache has not heard of a deletion routes a delivery on the
// old answer; the inbox refuses it (nothing stored), and the fresh lookup the
// webhook then makes sees the deletion. Deliveries routed on the current
// answer in the same group statement are stored.
func TestInboxRefusesEventsRoutedBeforeAChange(t *testing.T) {
	r := newReplicas(t)
	a, deaf := r.starter(), r.deaf()
	p, other := r.page(a, "3001"), r.page(a, "3002")
	stale := r.warm(deaf, p.WebhookID)
	if _, err := a.MarkPageDeleting(r.ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if l := r.warm(deaf, p.WebhookID); l.Version != stale.Version {
		t.Fatal("the deaf replica's cache changed")
	}
	current, err := deaf.WebhookAccounts(r.ctx, other.WebhookID, true)
	if err != nil {
		t.Fatal(err)
	}
	event := func(page Page, key string) []InboundEvent {
		return []InboundEvent{{PageID: page.PageID, PageUUID: page.ID, EventKey: key, PSID: "psid", Kind: "message", Payload: []byte(`{}`)}}
	}

	// Concurrent deliveries (one group statement, or several): the stale one is
	// refused, the current one stored.
	var wg sync.WaitGroup
	var staleErr, currentErr error
	var staleN, currentN int
	wg.Add(2)
	go func() {
		defer wg.Done()
		staleN, staleErr = deaf.SaveInbox(r.ctx, stale.Version, event(p, "m_stale"), nil)
	}()
	go func() {
		defer wg.Done()
		currentN, currentErr = deaf.SaveInbox(r.ctx, current.Version, event(other, "m_current"), nil)
	}()
	wg.Wait()
	if !errors.Is(staleErr, ErrAccountsChanged) || staleN != 0 {
		t.Fatalf("stale delivery: %d stored, %v; want ErrAccountsChanged", staleN, staleErr)
	}
	if currentErr != nil || currentN != 1 {
		t.Fatalf("current delivery: %d stored, %v", currentN, currentErr)
	}
	// A delivery with unreadable parts takes the transaction's path: refused too.
	unreadable := []UnreadableEvent{{PageID: p.PageID, PageUUID: p.ID, Reason: "test", Raw: []byte(`{}`)}}
	if _, err := deaf.SaveInbox(r.ctx, stale.Version, event(p, "m_stale2"), unreadable); !errors.Is(err, ErrAccountsChanged) {
		t.Fatalf("stale delivery with unreadable parts: %v; want ErrAccountsChanged", err)
	}
	var stored int
	if err := a.DB.QueryRowContext(r.ctx, `SELECT (SELECT count(*) FROM inbound_events WHERE page_uuid = $1) +
		(SELECT count(*) FROM inbound_unreadable WHERE page_uuid = $1)`, p.ID).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("rows stored for the deleted page: %d, %v", stored, err)
	}
	if _, err := deaf.WebhookAccounts(r.ctx, p.WebhookID, true); !errors.Is(err, ErrGone) {
		t.Fatalf("fresh lookup after the refusal: %v, want ErrGone", err)
	}
}
