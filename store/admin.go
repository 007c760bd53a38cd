package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/huandu/go-sqlbuilder"

	"fbchannel/secrets"
)

type Account struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	AppID  string `json:"app_id"`
	Status string `json:"status"`
	Pages  []Page `json:"pages,omitempty"`
	// PrivacyNoticeURL is the account's privacy notice address ("" for none).
	PrivacyNoticeURL string `json:"privacy_notice_url"`
	// RetentionDays: closed transcripts older than this are erased; 0 keeps them.
	RetentionDays int `json:"retention_days"`
}

type Page struct {
	ID                 string     `json:"id"`
	AccountID          string     `json:"account_id"`
	WebhookID          string     `json:"-"`
	PageID             string     `json:"page_id"`
	Name               string     `json:"name"`
	CallbackURL        string     `json:"callback_url"`
	VerifyToken        string     `json:"verify_token"`
	ProvisioningStatus string     `json:"provisioning_status"`
	LastError          string     `json:"last_error"`
	WorkstreamID       string     `json:"workstream_id"`
	DefaultQueueID     string     `json:"default_queue_id"`
	TokenExpiresAt     *time.Time `json:"token_expires_at"`
	LastHealthCheckAt  *time.Time `json:"last_health_check_at"`
	// ResubscribedAt is when the health check last found the app unsubscribed
	// and subscribed it again.
	ResubscribedAt *time.Time `json:"resubscribed_at"`
	// ParkedReplies counts agents' replies waiting for the page to be re-authorised.
	ParkedReplies int `json:"parked_replies"`
	// Warning tells the admin what needs doing soon (a token close to its expiry).
	Warning string `json:"warning,omitempty"`
}

// tokenWarningBefore is how early an expiring token shows a warning.
const tokenWarningBefore = 7 * 24 * time.Hour

type Agent struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Capacity int    `json:"capacity"`
	Presence string `json:"presence"`
	// Role is "agent" or "supervisor" (store/supervisors.go); read by AgentByToken.
	Role string `json:"role,omitempty"`
}

func accountAD(id string) string { return "account:" + id }
func pageAD(id string) string    { return "page:" + id }

// CreateAccount stores a Messenger app; the secret is sealed before it is written.
func (s *Store) CreateAccount(ctx context.Context, name, appID, appSecret string) (Account, error) {
	a := Account{ID: uuid.NewString(), Name: name, AppID: appID, Status: "active"}
	ib := pg.NewInsertBuilder()
	ib.InsertInto("accounts").Cols("id", "name", "app_id", "app_secret_enc").
		Values(a.ID, name, appID, s.Box.Seal(appSecret, accountAD(a.ID)))
	_, err := exec(ctx, s.DB, ib)
	return a, err
}

// GetAccount returns the account with its pages.
func (s *Store) GetAccount(ctx context.Context, id, publicBaseURL string) (Account, error) {
	if !validUUID(id) {
		return Account{}, ErrNotFound
	}
	sb := pg.NewSelectBuilder()
	sb.Select("id", "name", "app_id", "status", "privacy_notice_url", "retention_days").From("accounts").Where(sb.Equal("id", id))
	var a Account
	if err := queryRow(ctx, s.DB, sb).Scan(&a.ID, &a.Name, &a.AppID, &a.Status, &a.PrivacyNoticeURL, &a.RetentionDays); err != nil {
		return Account{}, notFound(err, "account")
	}
	pages, err := s.pages(ctx, "account_id", id, publicBaseURL)
	a.Pages = pages
	return a, err
}

const pageColumns = "p.id, p.webhook_id, p.account_id, p.page_id, p.name, p.verify_token, p.provisioning_status, p.last_error, " +
	"coalesce(p.workstream_id::text, ''), coalesce(w.default_queue_id::text, ''), p.token_expires_at, p.last_health_check_at, p.resubscribed_at, " +
	"(SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.page_uuid = p.id AND m.status = 'queued')"

func (s *Store) pages(ctx context.Context, column, value, publicBaseURL string) ([]Page, error) {
	sb := pg.NewSelectBuilder()
	sb.Select(pageColumns).From("pages p").JoinWithOption("LEFT", "workstreams w", "w.id = p.workstream_id").
		Where(sb.Equal("p."+column, value)).OrderBy("p.created_at")
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (Page, error) {
		var p Page
		if err := row.Scan(&p.ID, &p.WebhookID, &p.AccountID, &p.PageID, &p.Name, &p.VerifyToken, &p.ProvisioningStatus, &p.LastError,
			&p.WorkstreamID, &p.DefaultQueueID, &p.TokenExpiresAt, &p.LastHealthCheckAt, &p.ResubscribedAt, &p.ParkedReplies); err != nil {
			return p, err
		}
		if p.TokenExpiresAt != nil && time.Until(*p.TokenExpiresAt) < tokenWarningBefore && p.ProvisioningStatus == "active" {
			p.Warning = "The page token expires on " + p.TokenExpiresAt.UTC().Format("2006-01-02 15:04 MST") + "; it is refreshed automatically where Facebook allows it, otherwise paste a new one."
		}
		p.CallbackURL = CallbackURL(publicBaseURL, p.WebhookID)
		return p, nil
	})
}

// CallbackURL is the webhook address an admin pastes into the Facebook app. It names
// the page's webhook id: the page's own id, or that of the first row of the same
// Facebook page when the page was connected before.
func CallbackURL(publicBaseURL, webhookID string) string {
	return strings.TrimRight(publicBaseURL, "/") + "/webhooks/facebook/" + webhookID
}

// GetPage returns one page by our id.
func (s *Store) GetPage(ctx context.Context, id, publicBaseURL string) (Page, error) {
	if !validUUID(id) {
		return Page{}, ErrNotFound
	}
	pages, err := s.pages(ctx, "id", id, publicBaseURL)
	if err != nil {
		return Page{}, err
	}
	if len(pages) == 0 {
		return Page{}, ErrNotFound
	}
	return pages[0], nil
}

// CreatePage stores a page with a fresh verify token, and gives it a default queue
// and workstream so one account, one page and one agent make a working channel.
// Agents that exist already join the new default queue.
func (s *Store) CreatePage(ctx context.Context, accountID, name, pageID, accessToken, publicBaseURL string) (Page, error) {
	if !validUUID(accountID) {
		return Page{}, ErrNotFound
	}
	p := Page{ID: uuid.NewString(), AccountID: accountID, PageID: pageID, Name: name,
		VerifyToken: secrets.RandomHex(24), ProvisioningStatus: "pending"}
	p.WebhookID = p.ID
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// The same Facebook page seen before keeps its callback URL and verify token.
		prior := pg.NewSelectBuilder()
		prior.Select("webhook_id", "verify_token").From("pages").Where(prior.Equal("page_id", pageID)).OrderBy("created_at").Limit(1)
		if err := queryRow(ctx, tx, prior).Scan(&p.WebhookID, &p.VerifyToken); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		sb := pg.NewSelectBuilder()
		sb.Select("status").From("accounts").Where(sb.Equal("id", accountID)).ForUpdate()
		var status string
		if err := queryRow(ctx, tx, sb).Scan(&status); err != nil {
			return notFound(err, "account")
		}
		if status != "active" {
			return ErrNotFound
		}
		queueID, workstreamID := uuid.NewString(), uuid.NewString()
		ib := pg.NewInsertBuilder()
		ib.InsertInto("queues").Cols("id", "account_id", "name", "is_default").Values(queueID, accountID, name+" default queue", true)
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		ib = pg.NewInsertBuilder()
		ib.InsertInto("workstreams").Cols("id", "account_id", "name", "default_queue_id").Values(workstreamID, accountID, name+" workstream", queueID)
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		ib = pg.NewInsertBuilder()
		ib.InsertInto("pages").Cols("id", "account_id", "page_id", "name", "access_token_enc", "verify_token", "workstream_id", "webhook_id").
			Values(p.ID, accountID, pageID, name, s.Box.Seal(accessToken, pageAD(p.ID)), p.VerifyToken, workstreamID, p.WebhookID)
		if _, err := exec(ctx, tx, ib); err != nil {
			if isUniqueViolation(err) {
				return &Refused{Code: "page_exists", Message: "Facebook page " + pageID + " is already connected to this account.", Err: ErrConflict}
			}
			return err
		}
		// Every existing agent joins the new default queue.
		if _, err := exec(ctx, tx, sqlbuilder.Buildf(
			"INSERT INTO queue_members (queue_id, agent_id) SELECT %v::uuid, id FROM agents ON CONFLICT DO NOTHING", queueID)); err != nil {
			return err
		}
		p.WorkstreamID, p.DefaultQueueID = workstreamID, queueID
		return nil
	})
	p.CallbackURL = CallbackURL(publicBaseURL, p.WebhookID)
	return p, err
}

// ReplacePageToken seals a new token and moves the page back to pending.
func (s *Store) ReplacePageToken(ctx context.Context, pageUUID, accessToken string) error {
	if !validUUID(pageUUID) {
		return ErrNotFound
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(
		ub.Assign("access_token_enc", s.Box.Seal(accessToken, pageAD(pageUUID))),
		ub.Assign("provisioning_status", "pending"),
		ub.Assign("last_error", ""),
		"updated_at = now()",
	).Where(ub.Equal("id", pageUUID), ub.NotIn("provisioning_status", "deleting", "deleted"))
	res, err := exec(ctx, s.DB, ub)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// PageCredentials are what a Graph call on a page needs. Never log them.
type PageCredentials struct {
	PageUUID    string
	PageID      string
	AppID       string
	AppSecret   string
	AccessToken string
}

// PageCredentials opens the page's token and its app's secret.
func (s *Store) PageCredentials(ctx context.Context, q querier, pageUUID string) (PageCredentials, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("p.page_id", "a.id", "a.app_id", "a.app_secret_enc", "p.access_token_enc").
		From("pages p").Join("accounts a", "a.id = p.account_id").Where(sb.Equal("p.id", pageUUID))
	var c PageCredentials
	var accountID string
	var secretEnc, tokenEnc []byte
	if err := queryRow(ctx, q, sb).Scan(&c.PageID, &accountID, &c.AppID, &secretEnc, &tokenEnc); err != nil {
		return c, notFound(err, "page")
	}
	if secretEnc == nil || tokenEnc == nil {
		return c, ErrNotFound // the channel was deleted and its secrets erased
	}
	var err error
	if c.AppSecret, err = s.Box.Open(secretEnc, accountAD(accountID)); err != nil {
		return c, err
	}
	if c.AccessToken, err = s.Box.Open(tokenEnc, pageAD(pageUUID)); err != nil {
		return c, err
	}
	c.PageUUID = pageUUID
	return c, nil
}

// SetPageStatus records the page's provisioning status.
func (s *Store) SetPageStatus(ctx context.Context, pageUUID, status, lastError string, name string, tokenExpiresAt *time.Time) error {
	ub := pg.NewUpdateBuilder()
	assignments := []string{
		ub.Assign("provisioning_status", status),
		ub.Assign("last_error", lastError),
		"updated_at = now()",
		"last_health_check_at = now()",
	}
	if name != "" {
		assignments = append(assignments, ub.Assign("name", name))
	}
	if tokenExpiresAt != nil {
		assignments = append(assignments, ub.Assign("token_expires_at", *tokenExpiresAt))
	}
	ub.Update("pages").Set(assignments...).Where(ub.Equal("id", pageUUID), ub.NotIn("provisioning_status", "deleting", "deleted"))
	_, err := exec(ctx, s.DB, ub)
	return err
}

// WebhookAccount is what the webhook needs to check a delivery and route its entries.
type WebhookAccount struct {
	AccountID   string
	AppSecret   string
	VerifyToken string            // shared by every page row of the Facebook page
	Pages       map[string]string // Facebook page id -> our page id, for the account's live pages
}

// WebhookLookup is what WebhookAccounts answers.
type WebhookLookup struct {
	Accounts []WebhookAccount
	// Version is the version of pages and accounts the answer was read at
	// (schema 0032): SaveInbox refuses events routed with an older one.
	Version int64
	// Cached tells the answer came from memory (Store.Webhooks): a delivery it
	// would refuse or drop (a signature that does not match, a page it does not
	// list) is judged again on a fresh read before that.
	Cached bool
}

// WebhookAccounts loads the accounts behind a callback URL: every live page row of
// the Facebook page it names, one per account. Usually one; the signature tells
// which app (and so which account) a delivery is from. With a cache
// (s.Webhooks) the answer may come from memory unless fresh is set; a fresh read
// replaces the cached answer. "Not found" and "gone" are never cached.
func (s *Store) WebhookAccounts(ctx context.Context, webhookID string, fresh bool) (WebhookLookup, error) {
	if !validUUID(webhookID) {
		return WebhookLookup{}, ErrNotFound
	}
	webhookID = uuid.MustParse(webhookID).String()
	var generation uint64
	if s.Webhooks != nil {
		var e webhookCacheEntry
		var ok bool
		if e, generation, ok = s.Webhooks.get(webhookID, fresh); ok {
			return WebhookLookup{Accounts: e.accounts, Version: e.version, Cached: true}, nil
		}
	}
	l, err := s.readWebhookAccounts(ctx, webhookID)
	if err == nil && s.Webhooks != nil {
		s.Webhooks.put(webhookID, generation, l.Accounts, l.Version)
	}
	return l, err
}

func (s *Store) readWebhookAccounts(ctx context.Context, webhookID string) (WebhookLookup, error) {
	// Every webhook delivery the cache cannot answer asks, so this is one round
	// trip: the account's live pages and the version come in the same query
	// (one snapshot, so the version is the data's), and the id (checked to be a
	// UUID, and written in its canonical form) is part of the text, so the
	// driver sends a simple query instead of preparing a statement first.
	rows, err := s.DB.QueryContext(ctx, `SELECT (SELECT version FROM webhook_accounts_version), a.id, a.app_secret_enc, p.verify_token,
			(SELECT coalesce(json_object_agg(lp.page_id, lp.id), '{}') FROM pages lp
			 WHERE lp.account_id = a.id AND lp.provisioning_status NOT IN ('deleting', 'deleted'))
		FROM pages p JOIN accounts a ON a.id = p.account_id
		WHERE p.webhook_id = '`+webhookID+`'
		  AND p.provisioning_status NOT IN ('deleting', 'deleted') AND a.app_secret_enc IS NOT NULL
		ORDER BY p.created_at`)
	if err != nil {
		return WebhookLookup{}, err
	}
	var version int64
	accts, err := scanAll(rows, func(row rowScanner) (WebhookAccount, error) {
		var w WebhookAccount
		var secretEnc, pages []byte
		if err := row.Scan(&version, &w.AccountID, &secretEnc, &w.VerifyToken, &pages); err != nil {
			return w, err
		}
		if err := json.Unmarshal(pages, &w.Pages); err != nil {
			return w, err
		}
		var err error
		w.AppSecret, err = s.Box.Open(secretEnc, accountAD(w.AccountID))
		return w, err
	})
	if err != nil {
		return WebhookLookup{}, err
	}
	if len(accts) == 0 {
		any := pg.NewSelectBuilder()
		any.Select("count(*)").From("pages").Where(any.Equal("webhook_id", webhookID))
		var n int
		if err := queryRow(ctx, s.DB, any).Scan(&n); err != nil {
			return WebhookLookup{}, err
		}
		if n > 0 {
			return WebhookLookup{}, ErrGone
		}
		return WebhookLookup{}, ErrNotFound
	}
	return WebhookLookup{Accounts: accts, Version: version}, nil
}

// CreateAgent stores an agent with a hashed token and puts it in every default
// queue; the token is returned once and never stored.
func (s *Store) CreateAgent(ctx context.Context, name, email string, capacity int) (Agent, string, error) {
	a := Agent{ID: uuid.NewString(), Name: name, Email: email, Capacity: capacity, Presence: "offline"}
	token := secrets.NewToken("agt_")
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		ib := pg.NewInsertBuilder()
		ib.InsertInto("agents").Cols("id", "name", "email", "token_hash", "capacity").
			Values(a.ID, name, email, secrets.HashToken(token), capacity)
		if _, err := exec(ctx, tx, ib); err != nil {
			if isUniqueViolation(err) {
				return &Refused{Code: "agent_exists", Message: "An agent with this email exists already.", Err: ErrConflict}
			}
			return err
		}
		_, err := exec(ctx, tx, sqlbuilder.Buildf(
			"INSERT INTO queue_members (queue_id, agent_id) SELECT id, %v::uuid FROM queues WHERE is_default", a.ID))
		return err
	})
	return a, token, err
}

// AgentByToken authenticates a bearer token.
func (s *Store) AgentByToken(ctx context.Context, token string) (Agent, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id", "name", "email", "capacity", "presence", "role").From("agents").Where(sb.Equal("token_hash", secrets.HashToken(token)))
	var a Agent
	err := queryRow(ctx, s.DB, sb).Scan(&a.ID, &a.Name, &a.Email, &a.Capacity, &a.Presence, &a.Role)
	return a, notFound(err, "agent")
}

// SetPresence records an agent's presence and returns its queues, whose workflows
// must be woken when the agent became available.
func (s *Store) SetPresence(ctx context.Context, agentID, presence string) ([]string, error) {
	ub := pg.NewUpdateBuilder()
	ub.Update("agents").Set(ub.Assign("presence", presence), "presence_changed_at = now()").Where(ub.Equal("id", agentID))
	if _, err := exec(ctx, s.DB, ub); err != nil {
		return nil, err
	}
	return s.AgentQueues(ctx, s.DB, agentID)
}

// AgentQueues lists the queues an agent belongs to.
func (s *Store) AgentQueues(ctx context.Context, q querier, agentID string) ([]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("queue_id").From("queue_members").Where(sb.Equal("agent_id", agentID)).OrderBy("queue_id")
	return queryIDs(ctx, q, sb)
}

func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// RotatePageToken stores a refreshed token without touching the page's status.
func (s *Store) RotatePageToken(ctx context.Context, pageUUID, accessToken string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(ub.Assign("access_token_enc", s.Box.Seal(accessToken, pageAD(pageUUID))), "updated_at = now()").
		Where(ub.Equal("id", pageUUID))
	_, err := exec(ctx, s.DB, ub)
	return err
}

// MarkResubscribed records that the app was found unsubscribed and subscribed again.
func (s *Store) MarkResubscribed(ctx context.Context, pageUUID string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set("resubscribed_at = now()", "updated_at = now()").Where(ub.Equal("id", pageUUID))
	_, err := exec(ctx, s.DB, ub)
	return err
}
