// Package simulator is a stand-in for Facebook's Graph API and webhook
// deliveries, for end-to-end tests and local runs. It answers the calls the
// graph package makes the way Facebook does (including its error bodies),
// records every call, and is steered through a control API under /_sim/.
package simulator

import (
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxRecorded bounds the request log of a long-running simulator; tests
// clear it long before.
const maxRecorded = 10000

// Simulator is an http.Handler; it is safe for concurrent use.
type Simulator struct {
	mu   sync.Mutex
	apps map[string]string // app id -> app secret
	// callbacks maps an app id to its webhook callback URL (set in the app
	// dashboard on Facebook); echoes of its sends are delivered there.
	callbacks map[string]string
	// echoes: deliver message echoes (on by default, as on Facebook for an app
	// subscribed to message_echoes).
	echoes bool
	sent   []SentMessage
	// senderActions are the accepted sender actions (typing, seen, reactions).
	senderActions []SenderAction
	pages         map[string]*pageState
	tokens        map[string]*tokenState
	profiles      map[string]ProfileData
	faults        []*faultState
	requests      []Request
	history       historyState // the Conversations API's threads (conversations.go)

	webhookClient *http.Client
}

type pageState struct {
	name string
	// subscriptions maps an app id to the webhook fields it subscribed to.
	subscriptions map[string][]string
}

type tokenState struct {
	pageID, appID       string
	scopes              []string
	issuedAt, expiresAt int64
	dataAccessExpiresAt int64
	userDerived         bool
	revoked             bool
	revokedSubcode      int
}

type faultState struct {
	Fault
	remaining int // 0: until cleared
}

// New returns an empty simulator: register apps, pages and profiles first.
func New() *Simulator {
	return &Simulator{
		apps:      map[string]string{},
		callbacks: map[string]string{},
		echoes:    true,
		pages:     map[string]*pageState{},
		tokens:    map[string]*tokenState{},
		profiles:  map[string]ProfileData{},
		// Facebook gives up on a webhook delivery after about 20 s.
		webhookClient: &http.Client{Timeout: 20 * time.Second},
	}
}

// ServeHTTP serves the control API under /_sim/ and the Graph API under
// /{version}/ for any version.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/bot" {
		serveDemoBot(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	s.serveGraph(w, r)
}

// RegisterApp makes appID known with its secret, for debug_token, token
// exchange and appsecret_proof checks.
func (s *Simulator) RegisterApp(appID, appSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = appSecret
}

// SetAppCallback sets the app's webhook callback URL, as an admin does in the app
// dashboard: Facebook then delivers the events of the pages the app subscribed to
// there. The simulator delivers message echoes (for pages whose subscription
// includes message_echoes); customer messages are posted by its control API.
func (s *Simulator) SetAppCallback(appID, callbackURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks[appID] = callbackURL
}

// SetEchoes turns the delivery of message echoes on (the default) or off, e.g. to
// play an echo that Facebook never delivers.
func (s *Simulator) SetEchoes(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echoes = on
}

// SentMessage is one message the Send API accepted.
type SentMessage struct {
	PageID   string    `json:"page_id"`
	PSID     string    `json:"psid"`
	MID      string    `json:"mid"`
	Metadata string    `json:"metadata,omitempty"`
	At       time.Time `json:"at"`
}

// SentMessages returns the messages the Send API accepted, oldest first, whether
// or not the caller received the answer (see Fault.AfterServe).
func (s *Simulator) SentMessages() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage{}, s.sent...)
}

// SenderAction is one sender action the Send API accepted: typing_on,
// typing_off, mark_seen, or react / unreact with the message's id (and emoji).
type SenderAction struct {
	PageID    string    `json:"page_id"`
	PSID      string    `json:"psid"`
	Action    string    `json:"action"`
	MessageID string    `json:"message_id,omitempty"`
	Reaction  string    `json:"reaction,omitempty"`
	At        time.Time `json:"at"`
}

// SenderActions returns the sender actions the Send API accepted for the
// customer psid ("" for everyone), of the given actions (none: all), oldest first.
func (s *Simulator) SenderActions(psid string, actions ...string) []SenderAction {
	return recorded(s, &s.senderActions, func(a SenderAction) bool {
		return (psid == "" || a.PSID == psid) && (len(actions) == 0 || slices.Contains(actions, a.Action))
	})
}

// recorded copies, under the lock, the entries of a log that keep accepts.
func recorded[T any](s *Simulator, log *[]T, keep func(T) bool) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []T{}
	for _, v := range *log {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// Page registers a page and one valid page access token for it.
type Page struct {
	PageID      string   `json:"page_id"`
	Name        string   `json:"name"`
	AccessToken string   `json:"access_token"`
	AppID       string   `json:"app_id"`
	Scopes      []string `json:"scopes"`
	ExpiresAt   int64    `json:"expires_at"` // unix seconds; 0 never expires
	// UserDerived marks a token obtained through a user (debug_token then
	// reports a user_id), as opposed to a system user's token.
	UserDerived bool `json:"user_derived"`
}

// DefaultScopes are granted when a Page lists none: what the channel needs.
var DefaultScopes = []string{"pages_messaging", "pages_manage_metadata", "pages_show_list"}

// RegisterPage registers (or renames) a page and adds its token. Tokens
// registered earlier for the page stay valid, as on Facebook.
func (s *Simulator) RegisterPage(p Page) {
	scopes := p.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	name := p.Name
	if name == "" {
		name = "Page " + p.PageID
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	page, ok := s.pages[p.PageID]
	if !ok {
		page = &pageState{subscriptions: map[string][]string{}}
		s.pages[p.PageID] = page
	}
	page.name = name
	if p.AccessToken != "" {
		s.tokens[p.AccessToken] = &tokenState{
			pageID:              p.PageID,
			appID:               p.AppID,
			scopes:              append([]string(nil), scopes...),
			issuedAt:            now.Unix(),
			expiresAt:           p.ExpiresAt,
			dataAccessExpiresAt: now.Add(90 * 24 * time.Hour).Unix(),
			userDerived:         p.UserDerived,
		}
	}
}

// ProfileData is what the User Profile API returns for a PSID.
type ProfileData struct {
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Name       string `json:"name,omitempty"`
	ProfilePic string `json:"profile_pic"`
	Locale     string `json:"locale"`
}

// RegisterProfile makes a customer's profile available; without one the
// profile call fails like it does for many real accounts.
func (s *Simulator) RegisterProfile(psid string, p ProfileData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[psid] = p
}

// RevokeToken invalidates a token with the given 190 subcode (460 password
// changed, 458 app removed, ...). Unknown tokens are ignored.
func (s *Simulator) RevokeToken(token string, subcode int) {
	s.revoke(token, subcode)
}

func (s *Simulator) revoke(token string, subcode int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[token]
	if ok {
		t.revoked, t.revokedSubcode = true, subcode
	}
	return ok
}

// SubscribedFields returns the webhook fields appID is subscribed to on the
// page, nil if none.
func (s *Simulator) SubscribedFields(pageID, appID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pages[pageID]; ok {
		return append([]string(nil), p.subscriptions[appID]...)
	}
	return nil
}

// Fault makes matching Graph calls fail with the given error instead of being
// served. Method "" matches any method; PathSuffix "" any path. A fault with
// Code 0 and no Message answers HTTPStatus with an empty body, like a proxy
// failure.
type Fault struct {
	Method     string `json:"method"`
	PathSuffix string `json:"path_suffix"`
	HTTPStatus int    `json:"http_status"` // 0: 400
	Code       int    `json:"code"`
	Subcode    int    `json:"subcode"`
	Message    string `json:"message"`
	Type       string `json:"type"`  // "": OAuthException
	Times      int    `json:"times"` // 0: until cleared
	// AfterServe serves the call first (a send is accepted, recorded and echoed)
	// and answers the fault instead of the result: an answer lost on its way
	// back, e.g. a timeout or a proxy failure after Facebook took the message.
	AfterServe bool `json:"after_serve"`
}

// AddFault adds a fault; faults are tried in the order added.
func (s *Simulator) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, remaining: f.Times})
}

// ClearFaults removes every fault.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Simulator) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if !strings.HasSuffix(path, f.PathSuffix) {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// Request is one recorded Graph call. Query holds the first value of each
// parameter; Body the JSON or form body, nil if there was none.
type Request struct {
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query"`
	Body   map[string]any    `json:"body"`
	At     time.Time         `json:"at"`
}

// Requests returns the recorded Graph calls whose path ends in pathSuffix
// ("" for all), oldest first.
func (s *Simulator) Requests(pathSuffix string) []Request {
	return recorded(s, &s.requests, func(r Request) bool { return strings.HasSuffix(r.Path, pathSuffix) })
}

// ClearRequests forgets the recorded calls.
func (s *Simulator) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.sent = nil
	s.senderActions = nil
}

func (s *Simulator) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) >= maxRecorded {
		s.requests = append(s.requests[:0:0], s.requests[len(s.requests)-maxRecorded/2:]...)
	}
	s.requests = append(s.requests, r)
}

// newID returns a random id in the style of Facebook's: prefix plus opaque
// characters.
func newID(prefix string) string {
	return prefix + rand.Text()
}
