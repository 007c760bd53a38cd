package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testCred = Credentials{AccessToken: "page-token", AppSecret: "app-secret"}

// recorded is what the fake Graph endpoint saw.
type recorded struct {
	method string
	path   string
	query  url.Values
	body   map[string]any
}

func fakeGraph(t *testing.T, status int, answer string) (*Client, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.method, rec.path, rec.query = r.Method, r.URL.Path, r.URL.Query()
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &rec.body); err != nil {
				t.Errorf("request body is not JSON: %s", b)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", "v23.0", srv.Client()), rec
}

func wantAuth(t *testing.T, rec *recorded, token, secret string) {
	t.Helper()
	if got := rec.query.Get("access_token"); got != token {
		t.Errorf("access_token = %q, want %q", got, token)
	}
	if got, want := rec.query.Get("appsecret_proof"), AppSecretProof(token, secret); got != want {
		t.Errorf("appsecret_proof = %q, want %q", got, want)
	}
}

func TestAppSecretProof(t *testing.T) {
	// printf '%s' page-token | openssl dgst -sha256 -hmac app-secret
	const want = "d8b448b9cc7d64c51098271805b3cc20b5b715e52bd587eb71b610259587c856"
	if got := AppSecretProof("page-token", "app-secret"); got != want {
		t.Fatalf("AppSecretProof = %s, want %s", got, want)
	}
}

func TestSendMessage(t *testing.T) {
	tests := []struct {
		name string
		req  SendRequest
		want string
	}{
		{
			name: "text in window",
			req:  SendRequest{PSID: "PSID", MessagingType: MessagingTypeResponse, Text: "Hallo, K\u00e4se", Metadata: "out:1"},
			want: `{"recipient":{"id":"PSID"},"messaging_type":"RESPONSE","message":{"text":"Hallo, Käse","metadata":"out:1"}}`,
		},
		{
			name: "human agent tag",
			req:  SendRequest{PSID: "PSID", MessagingType: MessagingTypeMessageTag, Tag: TagHumanAgent, Text: "late reply"},
			want: `{"recipient":{"id":"PSID"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"late reply"}}`,
		},
		{
			name: "attachment",
			req:  SendRequest{PSID: "PSID", MessagingType: MessagingTypeResponse, Metadata: "out:2", Attachment: &OutboundAttachment{Type: "image", URL: "https://cdn.example/a.png"}},
			want: `{"recipient":{"id":"PSID"},"messaging_type":"RESPONSE","message":{"metadata":"out:2","attachment":{"type":"image","payload":{"url":"https://cdn.example/a.png","is_reusable":true}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := fakeGraph(t, 200, `{"recipient_id":"PSID","message_id":"m_abc"}`)
			res, err := c.SendMessage(context.Background(), "PAGE", tt.req, testCred)
			if err != nil {
				t.Fatal(err)
			}
			if res != (SendResult{RecipientID: "PSID", MessageID: "m_abc"}) {
				t.Errorf("result = %+v", res)
			}
			if rec.method != http.MethodPost || rec.path != "/v23.0/PAGE/messages" {
				t.Errorf("called %s %s", rec.method, rec.path)
			}
			wantAuth(t, rec, "page-token", "app-secret")
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rec.body, want) {
				t.Errorf("body = %v\nwant   %v", rec.body, want)
			}
		})
	}
}

func TestSendMessageErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		reason    Reason
		temporary bool
		readable  string
	}{
		{"outside window", 400, `{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"Axyz"}}`,
			ReasonWindowClosed, false, "24-hour window has closed"},
		{"not receiving", 400, `{"error":{"message":"(#10) This person isn't receiving messages from you right now.","type":"OAuthException","code":10,"error_subcode":2018108}}`,
			ReasonUserUnavailable, false, "can't receive messages right now (Facebook error 10/2018108)"},
		{"thread owned", 400, `{"error":{"code":10,"error_subcode":2018300}}`, ReasonThreadOwned, false, "Another app"},
		{"other code 10", 400, `{"error":{"code":10,"error_subcode":1}}`, ReasonPermissionDenied, false, "permission"},
		{"unavailable 551", 400, `{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041}}`,
			ReasonUserUnavailable, false, "The customer can't receive messages right now (Facebook error 551/1545041)."},
		{"password changed", 400, `{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.","type":"OAuthException","code":190,"error_subcode":460}}`,
			ReasonTokenInvalid, false, "This page's access token is no longer valid (the password was changed); an admin must re-authorise the page"},
		{"permission 200", 403, `{"error":{"code":200}}`, ReasonPermissionDenied, false, "permission"},
		{"permission 230", 400, `{"error":{"code":230}}`, ReasonPermissionDenied, false, "permission"},
		{"permission 3", 400, `{"error":{"code":3}}`, ReasonPermissionDenied, false, "permission"},
		{"invalid parameter", 400, `{"error":{"message":"(#100) Tag is not allowed","type":"OAuthException","code":100}}`, ReasonInvalidRequest, false, "invalid"},
		{"attachment too large", 400, `{"error":{"code":100,"error_subcode":2018109}}`, ReasonInvalidRequest, false, "too large"},
		{"rate limit 613", 400, `{"error":{"code":613}}`, ReasonRateLimited, true, "rate-limiting"},
		{"rate limit 4", 403, `{"error":{"code":4}}`, ReasonRateLimited, true, "rate-limiting"},
		{"rate limit 32", 400, `{"error":{"code":32}}`, ReasonRateLimited, true, "rate-limiting"},
		{"rate limit 17", 400, `{"error":{"code":17}}`, ReasonRateLimited, true, "rate-limiting"},
		{"business use case", 400, `{"error":{"code":80006}}`, ReasonRateLimited, true, "rate-limiting"},
		{"unknown error 1", 500, `{"error":{"code":1,"is_transient":true}}`, ReasonTransient, true, "temporary"},
		{"service 2", 503, `{"error":{"code":2}}`, ReasonTransient, true, "temporary"},
		{"1200", 400, `{"error":{"code":1200}}`, ReasonTransient, true, "temporary"},
		{"unknown code but transient", 400, `{"error":{"code":9999,"is_transient":true}}`, ReasonTransient, true, "temporary"},
		{"unknown code", 400, `{"error":{"code":9999}}`, ReasonInvalidRequest, false, "invalid"},
		{"bad gateway without body", 502, `<html>Bad Gateway</html>`, ReasonTransient, true, "HTTP 502 from Facebook"},
		{"429 without body", 429, ``, ReasonTransient, true, "temporary"},
		{"404 without body", 404, `not json`, ReasonInvalidRequest, false, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeGraph(t, tt.status, tt.body)
			_, err := c.SendMessage(context.Background(), "PAGE", SendRequest{PSID: "P", MessagingType: "RESPONSE", Text: "x"}, testCred)
			ge, ok := AsError(err)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if ge.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus = %d", ge.HTTPStatus)
			}
			if got := ge.Reason(); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
			if got := ge.Temporary(); got != tt.temporary {
				t.Errorf("Temporary = %v, want %v", got, tt.temporary)
			}
			if got := ge.Readable(); !strings.Contains(got, tt.readable) {
				t.Errorf("Readable = %q, want it to contain %q", got, tt.readable)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	c, _ := fakeGraph(t, 400, `{"error":{"message":"Invalid token page-token for app-secret","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC","is_transient":false,"error_user_title":"Expired","error_user_msg":"Token page-token expired"}}`)
	_, err := c.Page(context.Background(), "PAGE", testCred)
	ge, ok := AsError(fmt.Errorf("activity: %w", err))
	if !ok {
		t.Fatalf("AsError(%v) failed", err)
	}
	want := Error{HTTPStatus: 400, Code: 190, Subcode: 463, Type: "OAuthException", FBTraceID: "AbC",
		Message: "Invalid token [redacted] for [redacted]", UserTitle: "Expired", UserMessage: "Token [redacted] expired"}
	if *ge != want {
		t.Errorf("error = %+v\nwant    %+v", *ge, want)
	}
	msg := ge.Error()
	for _, s := range []string{"190/463", "HTTP 400", "AbC"} {
		if !strings.Contains(msg, s) {
			t.Errorf("Error() = %q lacks %q", msg, s)
		}
	}
	if strings.Contains(msg, "page-token") || strings.Contains(msg, "app-secret") {
		t.Errorf("Error() leaks a secret: %q", msg)
	}
}

func TestNetworkErrorHidesSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	c := New(srv.URL, "v23.0", &http.Client{Timeout: 20 * time.Millisecond})

	checks := map[string]error{}
	_, checks["send"] = c.SendMessage(context.Background(), "PAGE", SendRequest{PSID: "P", Text: "x"}, testCred)
	_, checks["exchange"] = c.ExchangeToken(context.Background(), "APP", "app-secret", "page-token")
	_, checks["debug"] = c.DebugToken(context.Background(), "APP", "app-secret", "page-token")
	for name, err := range checks {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if _, ok := AsError(err); ok {
			t.Errorf("%s: transport failure reported as *Error: %v", name, err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) || !ue.Timeout() {
			t.Errorf("%s: want a timeout *url.Error, got %v", name, err)
		}
		if s := err.Error(); strings.Contains(s, "page-token") || strings.Contains(s, "app-secret") || strings.Contains(s, "appsecret_proof") {
			t.Errorf("%s: error leaks a secret: %s", name, s)
		}
	}
}

func TestDebugToken(t *testing.T) {
	c, rec := fakeGraph(t, 200, `{"data":{"app_id":"APP","type":"PAGE","application":"Support","is_valid":false,"issued_at":10,"expires_at":0,"data_access_expires_at":20,
		"scopes":["pages_messaging","pages_manage_metadata"],"granular_scopes":[{"scope":"pages_messaging","target_ids":["PAGE"]}],"profile_id":"PAGE","user_id":12345,
		"error":{"code":190,"subcode":460,"message":"The session has been invalidated"}}}`)
	info, err := c.DebugToken(context.Background(), "APP", "app-secret", "page-token")
	if err != nil {
		t.Fatal(err)
	}
	if rec.method != http.MethodGet || rec.path != "/v23.0/debug_token" || rec.query.Get("input_token") != "page-token" {
		t.Errorf("called %s %s %v", rec.method, rec.path, rec.query)
	}
	wantAuth(t, rec, "APP|app-secret", "app-secret")
	if info.AppID != "APP" || info.Type != "PAGE" || info.IsValid || info.ProfileID != "PAGE" || info.UserID != "12345" ||
		info.DataAccessExpiresAt != 20 || !info.HasScope("pages_manage_metadata") || len(info.GranularScopes) != 1 {
		t.Errorf("info = %+v", info)
	}
	if info.Error == nil || info.Error.Code != 190 || info.Error.Subcode != 460 || info.Error.Reason() != ReasonTokenInvalid {
		t.Errorf("info.Error = %+v", info.Error)
	}
}

func TestPageAndSubscriptions(t *testing.T) {
	ctx := context.Background()

	c, rec := fakeGraph(t, 200, `{"id":"PAGE","name":"Acme"}`)
	page, err := c.Page(ctx, "PAGE", testCred)
	if err != nil || page != (PageInfo{ID: "PAGE", Name: "Acme"}) {
		t.Fatalf("Page = %+v, %v", page, err)
	}
	if rec.path != "/v23.0/PAGE" || rec.query.Get("fields") != "id,name" {
		t.Errorf("called %s %v", rec.path, rec.query)
	}

	c, rec = fakeGraph(t, 200, `{"success":true}`)
	if err := c.SubscribeApp(ctx, "PAGE", SubscribedFields, testCred); err != nil {
		t.Fatal(err)
	}
	if rec.method != http.MethodPost || rec.path != "/v23.0/PAGE/subscribed_apps" ||
		rec.query.Get("subscribed_fields") != "messages,messaging_postbacks,message_echoes,message_deliveries,message_reads,messaging_referrals,message_reactions,message_edits" {
		t.Errorf("called %s %s %v", rec.method, rec.path, rec.query)
	}
	wantAuth(t, rec, "page-token", "app-secret")

	if err := c.UnsubscribeApp(ctx, "PAGE", testCred); err != nil || rec.method != http.MethodDelete {
		t.Errorf("UnsubscribeApp: %v, method %s", err, rec.method)
	}

	c, _ = fakeGraph(t, 200, `{"success":false}`)
	if err := c.SubscribeApp(ctx, "PAGE", SubscribedFields, testCred); err == nil {
		t.Error("success:false was not reported")
	}

	c, rec = fakeGraph(t, 200, `{"data":[{"id":"APP","name":"Support","category":"Business","subscribed_fields":["messages","message_echoes"]}]}`)
	apps, err := c.SubscribedApps(ctx, "PAGE", testCred)
	if err != nil {
		t.Fatal(err)
	}
	want := []SubscribedApp{{ID: "APP", Name: "Support", SubscribedFields: []string{"messages", "message_echoes"}}}
	if !reflect.DeepEqual(apps, want) || rec.method != http.MethodGet {
		t.Errorf("SubscribedApps = %+v via %s", apps, rec.method)
	}

	if err := c.SubscribeApp(ctx, "", nil, testCred); err == nil {
		t.Error("empty page id accepted")
	}
}

func TestUserProfile(t *testing.T) {
	ctx := context.Background()
	c, rec := fakeGraph(t, 200, `{"first_name":"Anna","last_name":"Berg","profile_pic":"https://pic","locale":"de_DE","id":"PSID"}`)
	p, err := c.UserProfile(ctx, "PSID", testCred)
	if err != nil {
		t.Fatal(err)
	}
	if p != (Profile{FirstName: "Anna", LastName: "Berg", Name: "Anna Berg", ProfilePic: "https://pic", Locale: "de_DE"}) {
		t.Errorf("profile = %+v", p)
	}
	if rec.path != "/v23.0/PSID" || rec.query.Get("fields") != "first_name,last_name,profile_pic,locale" {
		t.Errorf("called %s %v", rec.path, rec.query)
	}

	c, _ = fakeGraph(t, 200, `{"name":"Only Name"}`)
	if p, err := c.UserProfile(ctx, "PSID", testCred); err != nil || p.Name != "Only Name" {
		t.Errorf("name-only profile = %+v, %v", p, err)
	}

	c, _ = fakeGraph(t, 400, `{"error":{"message":"No profile available for this user.","type":"OAuthException","code":100,"error_subcode":2018218}}`)
	_, err = c.UserProfile(ctx, "PSID", testCred)
	ge, ok := AsError(err)
	if !ok || ge.Subcode != SubcodeNoProfile || ge.Reason() != ReasonInvalidRequest || ge.Temporary() {
		t.Errorf("no profile err = %v", err)
	}
}

func TestExchangeToken(t *testing.T) {
	c, rec := fakeGraph(t, 200, `{"access_token":"long-token","token_type":"bearer","expires_in":5184000}`)
	tok, err := c.ExchangeToken(context.Background(), "APP", "app-secret", "short-token")
	if err != nil {
		t.Fatal(err)
	}
	if tok != (LongLivedToken{AccessToken: "long-token", ExpiresIn: 5184000}) {
		t.Errorf("token = %+v", tok)
	}
	want := url.Values{"grant_type": {"fb_exchange_token"}, "client_id": {"APP"}, "client_secret": {"app-secret"}, "fb_exchange_token": {"short-token"}}
	if rec.path != "/v23.0/oauth/access_token" || !reflect.DeepEqual(rec.query, want) {
		t.Errorf("called %s %v", rec.path, rec.query)
	}
}

func TestSenderAction(t *testing.T) {
	c, rec := fakeGraph(t, 200, `{"recipient_id":"PSID"}`)
	if err := c.SendSenderAction(context.Background(), "PAGE", "PSID", SenderActionTypingOn, testCred); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"recipient": map[string]any{"id": "PSID"}, "sender_action": "typing_on"}
	if !reflect.DeepEqual(rec.body, want) {
		t.Errorf("body = %v", rec.body)
	}
}

// A reaction is the react sender action naming the message and the emoji;
// removing it is unreact with the message id alone.
func TestSendReaction(t *testing.T) {
	c, rec := fakeGraph(t, 200, `{"recipient_id":"PSID"}`)
	if err := c.SendReaction(context.Background(), "PAGE", "PSID", "m_1", "👍", testCred); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"recipient": map[string]any{"id": "PSID"}, "sender_action": "react",
		"payload": map[string]any{"message_id": "m_1", "reaction": "👍"}}
	if !reflect.DeepEqual(rec.body, want) {
		t.Errorf("react body = %v", rec.body)
	}
	if err := c.SendReaction(context.Background(), "PAGE", "PSID", "m_1", "", testCred); err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"recipient": map[string]any{"id": "PSID"}, "sender_action": "unreact",
		"payload": map[string]any{"message_id": "m_1"}}
	if !reflect.DeepEqual(rec.body, want) {
		t.Errorf("unreact body = %v", rec.body)
	}
}

func TestNewDefaults(t *testing.T) {
	c := New("https://graph.facebook.com", "v23.0", nil)
	if c.HTTP == nil || c.HTTP.Timeout != 15*time.Second {
		t.Fatalf("default client = %+v", c.HTTP)
	}
}

func TestUndecodableSuccess(t *testing.T) {
	c, _ := fakeGraph(t, 200, `not json`)
	_, err := c.SendMessage(context.Background(), "PAGE", SendRequest{PSID: "P", Text: "x"}, testCred)
	if err == nil {
		t.Fatal("undecodable answer accepted")
	}
	if _, ok := AsError(err); ok {
		t.Errorf("undecodable 200 reported as a Facebook error: %v", err)
	}
}
