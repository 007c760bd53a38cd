package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// WebhookAccountsChannel is the NOTIFY channel schema 0032 rings, with the new
// version, whenever what WebhookAccounts returns may have changed.
const WebhookAccountsChannel = "webhook_accounts"

// DefaultWebhookCacheTTL bounds how long an answer is served from memory: the
// backstop should a notification be lost without the connection noticing. The
// inbox insert's version fence keeps even an expired-late answer from storing
// events (see SaveInbox); what the TTL bounds is how long a stale answer can
// refuse a delivery before the webhook reads again.
const DefaultWebhookCacheTTL = 10 * time.Second

// WebhookCache keeps WebhookAccounts answers in memory, so that a webhook
// delivery's acknowledgement costs no lookup round trip. It holds what the
// lookup returns (the app secret decrypted, as the lookup hands it to the
// webhook), never a "not found" or a "gone", and nothing while its
// invalidations cannot reach it:
//
//   - every notification on WebhookAccountsChannel drops it whole (changes to
//     pages and accounts are rare; one miss per callback URL follows each);
//   - so does any loss or return of the LISTEN connection, and while the
//     connection is down nothing is cached;
//   - an answer is kept at most ttl;
//   - an answer read before a drop is not stored after it (generation).
//
// It is a Watcher of agentevents' Hub (Channel, Notified, Listening). Until the
// hub says it listens, the cache stores nothing.
type WebhookCache struct {
	ttl time.Duration

	mu         sync.Mutex
	listening  bool
	generation uint64
	entries    map[string]webhookCacheEntry // by webhook id

	hits, misses, invalidations atomic.Int64
}

type webhookCacheEntry struct {
	accounts []WebhookAccount
	version  int64
	expires  time.Time
}

// NewWebhookCache makes an empty cache whose answers live at most ttl
// (DefaultWebhookCacheTTL when zero).
func NewWebhookCache(ttl time.Duration) *WebhookCache {
	if ttl <= 0 {
		ttl = DefaultWebhookCacheTTL
	}
	return &WebhookCache{ttl: ttl, entries: map[string]webhookCacheEntry{}}
}

// Channel is the channel the cache listens on.
func (c *WebhookCache) Channel() string { return WebhookAccountsChannel }

// Notified drops everything: pages or accounts changed (the payload is the new
// version, which the inbox fence checks; the cache needs only the doorbell).
func (c *WebhookCache) Notified(string) { c.drop() }

// Listening drops everything (notifications may have been missed) and caches
// again only while up.
func (c *WebhookCache) Listening(up bool) {
	c.mu.Lock()
	c.listening = up
	c.mu.Unlock()
	c.drop()
}

// Invalidations counts the drops: notifications, and the connection's losses
// and returns. Tests wait on it.
func (c *WebhookCache) Invalidations() int64 { return c.invalidations.Load() }

// Hits and Misses count lookups served from memory and read from Postgres.
func (c *WebhookCache) Hits() int64   { return c.hits.Load() }
func (c *WebhookCache) Misses() int64 { return c.misses.Load() }

func (c *WebhookCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	clear(c.entries)
	c.invalidations.Add(1)
}

// get answers a live entry (never when fresh: the caller doubts it), or the
// generation a read from Postgres must carry to be stored.
func (c *WebhookCache) get(webhookID string, fresh bool) (webhookCacheEntry, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[webhookID]
	if ok && !fresh && time.Now().Before(e.expires) {
		c.hits.Add(1)
		return e, c.generation, true
	}
	if ok {
		delete(c.entries, webhookID)
	}
	c.misses.Add(1)
	return webhookCacheEntry{}, c.generation, false
}

// put stores what a read from Postgres found, unless the cache was dropped
// since the read began (the answer may predate the change that dropped it) or
// the connection is down.
func (c *WebhookCache) put(webhookID string, generation uint64, accounts []WebhookAccount, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || generation != c.generation {
		return
	}
	c.entries[webhookID] = webhookCacheEntry{accounts: accounts, version: version, expires: time.Now().Add(c.ttl)}
}
