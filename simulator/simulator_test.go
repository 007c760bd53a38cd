package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fbchannel/graph"
	"fbchannel/messenger"
)

const (
	appID     = "1001"
	appSecret = "app-secret"
	pageID    = "2002"
	pageToken = "EAApagetoken"
)

var cred = graph.Credentials{AccessToken: pageToken, AppSecret: appSecret}

func setup(t *testing.T) (*Simulator, *graph.Client, *httptest.Server) {
	t.Helper()
	sim := New()
	sim.RegisterApp(appID, appSecret)
	sim.RegisterPage(Page{PageID: pageID, Name: "Acme Support", AccessToken: pageToken, AppID: appID})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, graph.New(srv.URL, "v23.0", srv.Client()), srv
}

func wantGraphError(t *testing.T, err error, code, subcode int) *graph.Error {
	t.Helper()
	ge, ok := graph.AsError(err)
	if !ok {
		t.Fatalf("err = %v, want graph error %d/%d", err, code, subcode)
	}
	if ge.Code != code || ge.Subcode != subcode {
		t.Fatalf("error %d/%d (%s), want %d/%d", ge.Code, ge.Subcode, ge.Message, code, subcode)
	}
	if ge.FBTraceID == "" {
		t.Errorf("error without fbtrace_id: %+v", ge)
	}
	return ge
}

func TestSendMessage(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()

	res, err := c.SendMessage(ctx, pageID, graph.SendRequest{PSID: "PSID", MessagingType: "RESPONSE", Text: "Hallo", Metadata: "out:1"}, cred)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecipientID != "PSID" || !strings.HasPrefix(res.MessageID, "m_") {
		t.Errorf("result = %+v", res)
	}
	reqs := sim.Requests("/messages")
	if len(reqs) != 1 {
		t.Fatalf("recorded %d /messages calls", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v23.0/"+pageID+"/messages" || r.Query["access_token"] != pageToken || r.Query["appsecret_proof"] == "" {
		t.Errorf("recorded %+v", r)
	}
	if msg, _ := r.Body["message"].(map[string]any); msg["text"] != "Hallo" || msg["metadata"] != "out:1" || r.Body["messaging_type"] != "RESPONSE" {
		t.Errorf("recorded body %v", r.Body)
	}

	// Through /me, with an attachment and the human agent tag.
	_, err = c.SendMessage(ctx, "me", graph.SendRequest{PSID: "PSID", MessagingType: "MESSAGE_TAG", Tag: "HUMAN_AGENT",
		Attachment: &graph.OutboundAttachment{Type: "image", URL: "https://cdn/x.png"}}, cred)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendSenderAction(ctx, pageID, "PSID", "typing_on", cred); err != nil {
		t.Fatal(err)
	}
	if err := c.SendReaction(ctx, pageID, "PSID", "m_customer", "👍", cred); err != nil {
		t.Fatal(err)
	}
	// Sender actions have their own log, with a reaction's message and emoji.
	actions := sim.SenderActions("PSID")
	if len(actions) != 2 || actions[0].Action != "typing_on" || actions[1].Action != "react" ||
		actions[1].MessageID != "m_customer" || actions[1].Reaction != "👍" {
		t.Errorf("sender actions %+v", actions)
	}

	refused := []struct {
		name string
		page string
		req  graph.SendRequest
		cred graph.Credentials
		code int
		sub  int
	}{
		{"other page", "9999", graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, cred, 100, 33},
		{"no recipient", pageID, graph.SendRequest{MessagingType: "RESPONSE", Text: "x"}, cred, 100, 0},
		{"no messaging type", pageID, graph.SendRequest{PSID: "P", Text: "x"}, cred, 100, 0},
		{"bad messaging type", pageID, graph.SendRequest{PSID: "P", MessagingType: "NON_PROMOTIONAL_SUBSCRIPTION", Text: "x"}, cred, 100, 0},
		{"retired tag", pageID, graph.SendRequest{PSID: "P", MessagingType: "MESSAGE_TAG", Tag: "ACCOUNT_UPDATE", Text: "x"}, cred, 100, 0},
		{"tag outside MESSAGE_TAG", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Tag: "HUMAN_AGENT", Text: "x"}, cred, 100, 0},
		{"MESSAGE_TAG without tag", pageID, graph.SendRequest{PSID: "P", MessagingType: "MESSAGE_TAG", Text: "x"}, cred, 100, 0},
		{"text of 2000 characters", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: strings.Repeat("ä", 2000)}, cred, 100, 0},
		{"empty message", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE"}, cred, 100, 0},
		{"metadata too long", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x", Metadata: strings.Repeat("m", 1000)}, cred, 100, 0},
		{"bad attachment type", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Attachment: &graph.OutboundAttachment{Type: "gif", URL: "u"}}, cred, 100, 0},
		{"unknown token", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, graph.Credentials{AccessToken: "nope"}, 190, 0},
		{"wrong proof", pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, graph.Credentials{AccessToken: pageToken, AppSecret: "wrong"}, 100, 0},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.SendMessage(ctx, tt.page, tt.req, tt.cred)
			ge := wantGraphError(t, err, tt.code, tt.sub)
			if tt.name == "wrong proof" && ge.Message != "Invalid appsecret_proof provided in the API argument" {
				t.Errorf("message = %q", ge.Message)
			}
		})
	}

	// 1999 characters are fine, and no proof at all is accepted.
	_, err = c.SendMessage(ctx, pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: strings.Repeat("ä", 1999)},
		graph.Credentials{AccessToken: pageToken})
	if err != nil {
		t.Errorf("1999 characters without proof: %v", err)
	}

	sim.RevokeToken(pageToken, 460)
	_, err = c.SendMessage(ctx, pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, cred)
	if ge := wantGraphError(t, err, 190, 460); ge.Reason() != graph.ReasonTokenInvalid || ge.Message != "Invalid OAuth access token." {
		t.Errorf("revoked: %+v", ge)
	}
}

func TestMissingPermission(t *testing.T) {
	sim, c, _ := setup(t)
	sim.RegisterPage(Page{PageID: pageID, AccessToken: "limited", AppID: appID, Scopes: []string{"pages_show_list"}})
	limited := graph.Credentials{AccessToken: "limited", AppSecret: appSecret}
	_, err := c.SendMessage(context.Background(), pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, limited)
	if ge := wantGraphError(t, err, 230, 0); ge.Reason() != graph.ReasonPermissionDenied {
		t.Errorf("reason = %s", ge.Reason())
	}
	err = c.SubscribeApp(context.Background(), pageID, graph.SubscribedFields, limited)
	wantGraphError(t, err, 200, 0)
}

func TestFaults(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()
	send := func() error {
		_, err := c.SendMessage(ctx, pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, cred)
		return err
	}

	sim.AddFault(Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 551, Subcode: 1545041,
		Message: "(#551) This person isn't available right now.", Times: 1})
	ge := wantGraphError(t, send(), 551, 1545041)
	if ge.Reason() != graph.ReasonUserUnavailable || ge.Type != "OAuthException" {
		t.Errorf("fault error = %+v", ge)
	}
	if err := send(); err != nil {
		t.Fatalf("fault outlived Times: %v", err)
	}

	// Faults come before authentication, and only match their method.
	sim.AddFault(Fault{Method: "GET", PathSuffix: "/subscribed_apps", Code: 2, Message: "Service temporarily unavailable"})
	if err := send(); err != nil {
		t.Fatalf("GET fault hit a POST: %v", err)
	}
	for range 3 {
		_, err := c.SubscribedApps(ctx, pageID, graph.Credentials{AccessToken: "nope"})
		if ge := wantGraphError(t, err, 2, 0); !ge.Temporary() {
			t.Errorf("code 2 not temporary")
		}
	}

	sim.ClearFaults()
	sim.AddFault(Fault{PathSuffix: "/messages", HTTPStatus: 502})
	ge, ok := graph.AsError(send())
	if !ok || ge.HTTPStatus != 502 || ge.Code != 0 || ge.Reason() != graph.ReasonTransient {
		t.Errorf("bodiless fault = %+v", ge)
	}
	sim.ClearFaults()
	if err := send(); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	wantRequests(t, sim, "/messages", 5, "faulted calls are recorded too")
	sim.ClearRequests()
	wantRequests(t, sim, "", 0, "after ClearRequests")
}

// wantRequests checks how many Graph calls the simulator recorded whose path
// ends in pathSuffix ("" for all); why says what the count shows.
func wantRequests(t *testing.T, sim *Simulator, pathSuffix string, want int, why string) {
	t.Helper()
	if n := len(sim.Requests(pathSuffix)); n != want {
		t.Errorf("recorded %d calls ending in %q, want %d (%s)", n, pathSuffix, want, why)
	}
}

func TestDebugToken(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()
	expires := time.Now().Add(time.Hour).Unix()
	sim.RegisterPage(Page{PageID: pageID, AccessToken: "user-derived", AppID: appID, ExpiresAt: expires, UserDerived: true})

	info, err := c.DebugToken(ctx, appID, appSecret, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsValid || info.Type != "PAGE" || info.AppID != appID || info.ProfileID != pageID || info.ExpiresAt != 0 ||
		info.DataAccessExpiresAt <= time.Now().Unix() || info.IssuedAt == 0 || info.UserID != "" || info.Error != nil ||
		!slices.Equal(info.Scopes, DefaultScopes) {
		t.Errorf("info = %+v", info)
	}
	if len(info.GranularScopes) != 3 || !slices.Equal(info.GranularScopes[0].TargetIDs, []string{pageID}) {
		t.Errorf("granular scopes = %+v", info.GranularScopes)
	}

	info, err = c.DebugToken(ctx, appID, appSecret, "user-derived")
	if err != nil || info.ExpiresAt != expires || info.UserID == "" {
		t.Errorf("user-derived info = %+v, %v", info, err)
	}

	sim.RevokeToken(pageToken, 460)
	info, err = c.DebugToken(ctx, appID, appSecret, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if info.IsValid || info.Error == nil || info.Error.Code != 190 || info.Error.Subcode != 460 || info.ProfileID != pageID {
		t.Errorf("revoked info = %+v (error %+v)", info, info.Error)
	}

	info, err = c.DebugToken(ctx, appID, appSecret, "never-issued")
	if err != nil || info.IsValid || info.Error == nil || info.Error.Code != 190 {
		t.Errorf("unknown token info = %+v, %v", info, err)
	}

	_, err = c.DebugToken(ctx, appID, "wrong-secret", pageToken)
	wantGraphError(t, err, 190, 0)
	_, err = c.DebugToken(ctx, "unknown-app", appSecret, pageToken)
	wantGraphError(t, err, 190, 0)
}

func TestExpiredToken(t *testing.T) {
	sim, c, _ := setup(t)
	sim.RegisterPage(Page{PageID: pageID, AccessToken: "old", AppID: appID, ExpiresAt: time.Now().Add(-time.Minute).Unix()})
	_, err := c.Page(context.Background(), pageID, graph.Credentials{AccessToken: "old", AppSecret: appSecret})
	wantGraphError(t, err, 190, 463)
}

func TestUserProfile(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()
	sim.RegisterProfile("KNOWN", ProfileData{FirstName: "Anna", LastName: "Berg", ProfilePic: "https://pic/anna", Locale: "de_DE"})

	p, err := c.UserProfile(ctx, "KNOWN", cred)
	if err != nil {
		t.Fatal(err)
	}
	if p != (graph.Profile{FirstName: "Anna", LastName: "Berg", Name: "Anna Berg", ProfilePic: "https://pic/anna", Locale: "de_DE"}) {
		t.Errorf("profile = %+v", p)
	}

	_, err = c.UserProfile(ctx, "PHONE_ONLY", cred)
	ge := wantGraphError(t, err, 100, 2018218)
	if ge.Temporary() || ge.Message != "No profile available for this user." {
		t.Errorf("fallback error = %+v", ge)
	}

	page, err := c.Page(ctx, pageID, cred)
	if err != nil || page != (graph.PageInfo{ID: pageID, Name: "Acme Support"}) {
		t.Errorf("page = %+v, %v", page, err)
	}
}

func TestSubscriptions(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()

	apps, err := c.SubscribedApps(ctx, pageID, cred)
	if err != nil || len(apps) != 0 {
		t.Fatalf("initial subscriptions = %+v, %v", apps, err)
	}
	if err := c.SubscribeApp(ctx, pageID, graph.SubscribedFields, cred); err != nil {
		t.Fatal(err)
	}
	apps, err = c.SubscribedApps(ctx, pageID, cred)
	if err != nil || len(apps) != 1 || apps[0].ID != appID || !slices.Equal(apps[0].SubscribedFields, graph.SubscribedFields) {
		t.Fatalf("subscriptions = %+v, %v", apps, err)
	}
	if got := sim.SubscribedFields(pageID, appID); !slices.Equal(got, graph.SubscribedFields) {
		t.Errorf("SubscribedFields = %v", got)
	}

	err = c.SubscribeApp(ctx, pageID, []string{"messages", "mesages"}, cred)
	wantGraphError(t, err, 100, 0)
	err = c.SubscribeApp(ctx, pageID, nil, cred)
	wantGraphError(t, err, 100, 0)

	if err := c.UnsubscribeApp(ctx, pageID, cred); err != nil {
		t.Fatal(err)
	}
	if apps, _ := c.SubscribedApps(ctx, pageID, cred); len(apps) != 0 {
		t.Errorf("after unsubscribe = %+v", apps)
	}
}

func TestExchangeToken(t *testing.T) {
	_, c, _ := setup(t)
	ctx := context.Background()
	tok, err := c.ExchangeToken(ctx, appID, appSecret, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 5184000 || tok.AccessToken == "" || tok.AccessToken == pageToken {
		t.Fatalf("token = %+v", tok)
	}
	info, err := c.DebugToken(ctx, appID, appSecret, tok.AccessToken)
	if err != nil || !info.IsValid || info.ProfileID != pageID || info.ExpiresAt < time.Now().Unix()+5184000-60 {
		t.Errorf("exchanged token info = %+v, %v", info, err)
	}
	if _, err := c.Page(ctx, pageID, graph.Credentials{AccessToken: tok.AccessToken, AppSecret: appSecret}); err != nil {
		t.Errorf("exchanged token refused: %v", err)
	}
	_, err = c.ExchangeToken(ctx, appID, "wrong", pageToken)
	wantGraphError(t, err, 1, 0)
	_, err = c.ExchangeToken(ctx, appID, appSecret, "unknown")
	wantGraphError(t, err, 190, 0)
}

// receiver is a webhook endpoint that checks signatures like the real one.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sha1   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !messenger.VerifySignature(appSecret, body, r.Header.Get("X-Hub-Signature-256")) {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.sha1 = append(rc.sha1, r.Header.Get("X-Hub-Signature"))
	rc.mu.Unlock()
	io.WriteString(w, "EVENT_RECEIVED")
}

func TestPostCustomerMessage(t *testing.T) {
	sim, _, _ := setup(t)
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	ctx := context.Background()

	status, body, err := sim.PostCustomerMessage(ctx, hook.URL, appSecret, pageID, "PSID", "Käse/🧀", "")
	if err != nil || status != 200 || body != "EVENT_RECEIVED" {
		t.Fatalf("PostCustomerMessage = %d %q %v", status, body, err)
	}
	raw := rc.bodies[0]
	if !bytes.Contains(raw, []byte(`K\u00e4se\/\ud83e\uddc0`)) {
		t.Errorf("body not escaped like Facebook's: %s", raw)
	}
	if !strings.HasPrefix(rc.sha1[0], "sha1=") {
		t.Errorf("X-Hub-Signature = %q", rc.sha1[0])
	}
	batch, err := messenger.ParseBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	e := batch.Entry[0].Messaging[0]
	if batch.Entry[0].ID != pageID || e.Kind() != messenger.KindMessage || e.CustomerPSID() != "PSID" ||
		e.Recipient.ID != pageID || e.Message.Text != "Käse/🧀" || !strings.HasPrefix(e.Message.MID, "m_") || e.Timestamp == 0 {
		t.Errorf("delivered event = %+v %+v", e, e.Message)
	}

	status, _, err = sim.PostCustomerMessage(ctx, hook.URL, "wrong-secret", pageID, "PSID", "x", "m_given")
	if err != nil || status != http.StatusForbidden {
		t.Errorf("wrongly signed delivery = %d, %v", status, err)
	}

	// PostWebhook signs the bytes as given.
	payload := []byte(`{"object":"page","entry":[]}`)
	if status, _, err := sim.PostWebhook(ctx, hook.URL, appSecret, payload); err != nil || status != 200 {
		t.Errorf("PostWebhook = %d, %v", status, err)
	}
	if got := rc.bodies[len(rc.bodies)-1]; !bytes.Equal(got, payload) {
		t.Errorf("posted %s", got)
	}
}

func TestControlAPI(t *testing.T) {
	sim := New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	call := func(method, path, body string, wantStatus int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, raw, wantStatus)
		}
		var out map[string]any
		if raw[0] == '{' {
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}

	call("POST", "/_sim/apps", `{"app_id":"1001","app_secret":"app-secret"}`, 200)
	call("POST", "/_sim/pages", `{"page_id":"2002","name":"Acme","access_token":"EAApagetoken","app_id":"1001","scopes":[],"expires_at":0,"user_derived":false}`, 200)
	call("POST", "/_sim/profiles", `{"psid":"PSID","first_name":"Anna","last_name":"Berg","profile_pic":"https://pic","locale":"de_DE"}`, 200)
	call("POST", "/_sim/pages", `{"name":"no id"}`, 400)
	call("POST", "/_sim/apps", `not json`, 400)

	c := graph.New(srv.URL, "v99.9", srv.Client())
	if p, err := c.UserProfile(context.Background(), "PSID", cred); err != nil || p.FirstName != "Anna" {
		t.Fatalf("profile via control API = %+v, %v", p, err)
	}

	call("POST", "/_sim/faults", `{"method":"POST","path_suffix":"/messages","http_status":400,"code":551,"subcode":1545041,"message":"(#551) This person isn't available right now.","type":"OAuthException","times":1}`, 200)
	_, err := c.SendMessage(context.Background(), pageID, graph.SendRequest{PSID: "PSID", MessagingType: "RESPONSE", Text: "x"}, cred)
	wantGraphError(t, err, 551, 1545041)
	call("POST", "/_sim/faults", `{"path_suffix":"/messages","code":2}`, 200)
	call("DELETE", "/_sim/faults", ``, 200)
	if _, err := c.SendMessage(context.Background(), pageID, graph.SendRequest{PSID: "PSID", MessagingType: "RESPONSE", Text: "x"}, cred); err != nil {
		t.Fatalf("after DELETE /_sim/faults: %v", err)
	}

	resp, err := http.Get(srv.URL + "/_sim/requests?path_suffix=/messages")
	if err != nil {
		t.Fatal(err)
	}
	var reqs []Request
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(reqs) != 2 || reqs[1].Body["messaging_type"] != "RESPONSE" || reqs[1].Query["access_token"] != pageToken || reqs[1].At.IsZero() {
		t.Errorf("requests = %+v", reqs)
	}
	call("DELETE", "/_sim/requests", ``, 200)
	wantRequests(t, sim, "", 0, "after DELETE")

	out := call("POST", "/_sim/customer/messages", `{"callback_url":"`+hook.URL+`","app_secret":"app-secret","page_id":"2002","psid":"PSID","text":"hi","mid":"m_fixed"}`, 200)
	if out["status"] != float64(200) || out["body"] != "EVENT_RECEIVED" || out["mid"] != "m_fixed" {
		t.Errorf("customer message answer = %v", out)
	}
	out = call("POST", "/_sim/customer/messages", `{"callback_url":"`+hook.URL+`","app_secret":"app-secret","page_id":"2002","psid":"PSID","text":"hi"}`, 200)
	if mid, _ := out["mid"].(string); !strings.HasPrefix(mid, "m_") {
		t.Errorf("generated mid = %v", out["mid"])
	}
	out = call("POST", "/_sim/webhook", `{"callback_url":"`+hook.URL+`","app_secret":"other","payload":{"object":"page","entry":[]}}`, 200)
	if out["status"] != float64(403) {
		t.Errorf("wrongly signed webhook answer = %v", out)
	}
	call("POST", "/_sim/customer/messages", `{"callback_url":"http://127.0.0.1:1/none","page_id":"2002","psid":"P","text":"x"}`, 502)

	call("POST", "/_sim/tokens/revoke", `{"access_token":"EAApagetoken","subcode":460}`, 200)
	call("POST", "/_sim/tokens/revoke", `{"access_token":"unknown","subcode":460}`, 404)
	_, err = c.Page(context.Background(), pageID, cred)
	wantGraphError(t, err, 190, 460)

	call("GET", "/_sim/nothing", ``, 404)
}

func TestUnknownGraphPath(t *testing.T) {
	_, _, srv := setup(t)
	resp, err := http.Get(srv.URL + "/v23.0/" + pageID + "/feed/extra?access_token=" + pageToken)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 400 || body.Error.Code != 2500 {
		t.Errorf("unknown path = %d %+v %v", resp.StatusCode, body, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	sim, c, _ := setup(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i%5 == 0 {
				sim.AddFault(Fault{PathSuffix: "/never", Times: 1})
			}
			_, err := c.SendMessage(context.Background(), pageID, graph.SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, cred)
			if err != nil {
				t.Error(err)
			}
			sim.Requests("/messages")
		})
	}
	wg.Wait()
	wantRequests(t, sim, "/messages", 20, "every concurrent call")
}

// Like Facebook, a message the Send API accepts is echoed, signed with the app
// secret, to the app's callback URL when the app subscribed the page to
// message_echoes; an AfterServe fault loses the answer, not the message.
func TestSendIsEchoedToTheAppsCallback(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()
	echoes := make(chan messenger.Event, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !messenger.VerifySignature(appSecret, body, r.Header.Get(messenger.SignatureHeader)) {
			t.Errorf("echo not signed with the app secret")
		}
		batch, err := messenger.ParseBatch(body)
		if err != nil {
			t.Errorf("echo: %v", err)
		}
		for _, e := range batch.Entry {
			for _, ev := range e.Messaging {
				echoes <- ev
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hook.Close)
	sim.SetAppCallback(appID, hook.URL)
	send := func() (graph.SendResult, error) {
		return c.SendMessage(ctx, pageID, graph.SendRequest{PSID: "PSID", MessagingType: "RESPONSE", Text: "Hallo/ü", Metadata: "out:1"}, cred)
	}
	// noEcho sends and fails when an echo comes within 200 ms.
	noEcho := func(why string) {
		t.Helper()
		if _, err := send(); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-echoes:
			t.Fatalf("echo %s: %+v", why, ev)
		case <-time.After(200 * time.Millisecond):
		}
	}
	noEcho("without a message_echoes subscription")

	if err := c.SubscribeApp(ctx, pageID, graph.SubscribedFields, cred); err != nil {
		t.Fatal(err)
	}
	res, err := send()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-echoes:
		if ev.Kind() != messenger.KindEcho || ev.CustomerPSID() != "PSID" || ev.Sender.ID != pageID || ev.Message.MID != res.MessageID ||
			ev.Message.Metadata != "out:1" || ev.Message.Text != "Hallo/ü" || ev.Message.AppID != 1001 {
			t.Errorf("echo %+v %+v", ev, ev.Message)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo")
	}

	sim.AddFault(Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 502, Times: 1, AfterServe: true})
	if _, err := send(); err == nil {
		t.Fatal("the answer of an AfterServe fault arrived")
	}
	select {
	case ev := <-echoes:
		sent := sim.SentMessages()
		if len(sent) != 3 || sent[2].MID != ev.Message.MID || sent[2].Metadata != "out:1" {
			t.Errorf("sent %+v, echo %+v", sent, ev.Message)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo of the message whose answer was lost")
	}

	sim.SetEchoes(false)
	noEcho("while echoes are off")
}
