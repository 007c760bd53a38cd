package simulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Send API limits, counted in characters.
const (
	maxTextChars     = 2000 // text must be shorter
	maxMetadataChars = 1000 // metadata must be shorter
)

// longLivedSeconds is what Facebook grants an exchanged token: 60 days.
const longLivedSeconds = 5184000

var (
	messagingTypes = []string{"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"}
	retiredTags    = []string{"CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"}
	senderActions  = []string{"typing_on", "typing_off", "mark_seen", "react", "unreact"}
	attachmentKind = []string{"image", "audio", "video", "file", "template"}
	// webhookFields are the page webhook fields Facebook accepts; anything
	// else is refused, which catches typos in the channel's field list.
	webhookFields = []string{
		"messages", "messaging_postbacks", "messaging_optins", "messaging_optouts",
		"message_deliveries", "message_reads", "messaging_payments", "messaging_pre_checkouts",
		"messaging_checkout_updates", "messaging_account_linking", "messaging_referrals",
		"message_echoes", "messaging_game_plays", "standby", "messaging_handovers",
		"messaging_policy_enforcement", "message_reactions", "inbox_labels", "message_edits",
		"messaging_feedback", "messaging_customer_information", "messaging_in_thread_lead_form_submit",
		"response_feedback", "send_cart", "feed", "mention", "conversations", "leadgen",
	}
)

// apiError is an error answer in Facebook's shape.
type apiError struct {
	status  int
	code    int
	subcode int
	typ     string
	message string
}

func (e *apiError) body() map[string]any {
	inner := map[string]any{
		"message":    e.message,
		"type":       e.typ,
		"code":       e.code,
		"fbtrace_id": rand.Text()[:11],
	}
	if e.subcode != 0 {
		inner["error_subcode"] = e.subcode
	}
	return map[string]any{"error": inner}
}

func invalidParam(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, 100, 0, "OAuthException", "(#100) " + fmt.Sprintf(format, args...)}
}

func invalidToken(subcode int) *apiError {
	return &apiError{http.StatusBadRequest, 190, subcode, "OAuthException", "Invalid OAuth access token."}
}

func unsupported(method, id string) *apiError {
	return &apiError{http.StatusBadRequest, 100, 33, "GraphMethodException", fmt.Sprintf(
		"Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
		strings.ToLower(method), id)}
}

func missingPermission(code int, scope string) *apiError {
	return &apiError{http.StatusForbidden, code, 0, "OAuthException",
		fmt.Sprintf("(#%d) Requires %s permission to manage the object", code, scope)}
}

// graphRequest gives access to parameters wherever Facebook accepts them:
// the query, a form body or a JSON body.
type graphRequest struct {
	method  string
	query   url.Values
	form    url.Values
	json    map[string]any
	badBody bool
	header  http.Header
}

func (g *graphRequest) param(name string) string {
	if v := g.query.Get(name); v != "" {
		return v
	}
	if v := g.form.Get(name); v != "" {
		return v
	}
	if v, ok := g.json[name].(string); ok {
		return v
	}
	return ""
}

// value returns a structured parameter, which outside a JSON body arrives
// JSON-encoded in a string.
func (g *graphRequest) value(name string) any {
	if v, ok := g.json[name]; ok {
		return v
	}
	s := g.param(name)
	if s == "" {
		return nil
	}
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}

func (s *Simulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	g := &graphRequest{method: r.Method, query: r.URL.Query(), header: r.Header}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: map[string]string{}, At: time.Now()}
	for k := range g.query {
		rec.Query[k] = g.query.Get(k)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			g.form, _ = url.ParseQuery(string(raw))
			rec.Body = map[string]any{}
			for k := range g.form {
				rec.Body[k] = g.form.Get(k)
			}
		} else if json.Unmarshal(raw, &g.json) == nil {
			rec.Body = g.json
		} else {
			g.badBody = true
		}
	}
	// Sender actions have their own log (SenderActions), so that Requests
	// ("/messages") keeps counting the messages a test sent.
	if _, action := rec.Body["sender_action"]; !action {
		s.record(rec)
	}

	f, faulty := s.takeFault(r.Method, r.URL.Path)
	if faulty && !f.AfterServe {
		writeFault(w, f)
		return
	}
	status, body := s.route(g, r.URL.Path)
	if faulty {
		writeFault(w, f)
		return
	}
	writeJSON(w, status, body)
}

func writeFault(w http.ResponseWriter, f Fault) {
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	if f.Code == 0 && f.Message == "" {
		w.WriteHeader(status)
		return
	}
	typ := f.Type
	if typ == "" {
		typ = "OAuthException"
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("(#%d) Simulated error", f.Code)
	}
	e := &apiError{status, f.Code, f.Subcode, typ, msg}
	writeJSON(w, status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Simulator) route(g *graphRequest, path string) (int, any) {
	_, rest, _ := strings.Cut(strings.Trim(path, "/"), "/")
	parts := strings.Split(rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		out any
		err *apiError
	)
	switch {
	case g.badBody:
		err = invalidParam("The request body could not be decoded as JSON")
	case rest == "":
		err = &apiError{http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: " + path}
	case len(parts) == 1 && parts[0] == "debug_token":
		out, err = s.debugToken(g)
	case len(parts) == 2 && parts[0] == "oauth" && parts[1] == "access_token":
		out, err = s.exchangeToken(g)
	case len(parts) == 1:
		out, err = s.object(g, parts[0])
	case len(parts) == 2 && parts[1] == "conversations":
		out, err = s.conversations(g, parts[0])
	case len(parts) == 2 && parts[1] == "messages" && g.method == http.MethodGet:
		out, err = s.threadMessages(g, parts[0])
	case len(parts) == 2 && parts[1] == "messages":
		out, err = s.sendMessage(g, parts[0])
	case len(parts) == 2 && parts[1] == "subscribed_apps":
		out, err = s.subscribedApps(g, parts[0])
	default:
		err = &apiError{http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /" + strings.Join(parts[1:], "/")}
	}
	if err != nil {
		return err.status, err.body()
	}
	return http.StatusOK, out
}

// authenticateAs answers a request to the object id that only method serves:
// a request of another method is unsupported, as Graph says before it looks
// at the token; then authenticate. It answers the token and id with "me" made
// the token's page. Called with s.mu held.
func (s *Simulator) authenticateAs(g *graphRequest, method, id string) (*tokenState, string, *apiError) {
	if g.method != method {
		return nil, id, unsupported(g.method, id)
	}
	t, err := s.authenticate(g)
	if err != nil {
		return nil, id, err
	}
	if id == "me" {
		id = t.pageID
	}
	return t, id, nil
}

// authenticate checks the page token the way Graph does. Called with s.mu held.
func (s *Simulator) authenticate(g *graphRequest) (*tokenState, *apiError) {
	token := g.param("access_token")
	if token == "" {
		auth := g.header.Get("Authorization")
		if t, ok := strings.CutPrefix(auth, "Bearer "); ok {
			token = t
		} else if t, ok := strings.CutPrefix(auth, "OAuth "); ok {
			token = t
		}
	}
	if token == "" {
		return nil, &apiError{http.StatusBadRequest, 104, 0, "OAuthException", "An access token is required to request this resource."}
	}
	t, ok := s.tokens[token]
	if !ok {
		return nil, invalidToken(0)
	}
	if bad, subcode := t.invalid(time.Now()); bad {
		return nil, invalidToken(subcode)
	}
	if err := s.checkProof(g, token, s.apps[t.appID]); err != nil {
		return nil, err
	}
	return t, nil
}

// checkProof verifies appsecret_proof when the caller sent one.
func (s *Simulator) checkProof(g *graphRequest, token, appSecret string) *apiError {
	proof := g.param("appsecret_proof")
	if proof == "" {
		return nil
	}
	got, err := hex.DecodeString(proof)
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(token))
	if err != nil || appSecret == "" || !hmac.Equal(got, mac.Sum(nil)) {
		return &apiError{http.StatusBadRequest, 100, 0, "GraphMethodException", "Invalid appsecret_proof provided in the API argument"}
	}
	return nil
}

func (t *tokenState) invalid(now time.Time) (bool, int) {
	switch {
	case t.revoked:
		return true, t.revokedSubcode
	case t.expiresAt != 0 && now.Unix() >= t.expiresAt:
		return true, 463
	}
	return false, 0
}

func tokenErrorMessage(subcode int) string {
	switch subcode {
	case 458:
		return "Error validating access token: The user has not authorized application."
	case 459:
		return "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given."
	case 460:
		return "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."
	case 463:
		return "Error validating access token: Session has expired."
	case 464:
		return "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user."
	}
	return "Error validating access token: The session is invalid."
}

func (s *Simulator) debugToken(g *graphRequest) (any, *apiError) {
	if g.method != http.MethodGet {
		return nil, unsupported(g.method, "debug_token")
	}
	appToken := g.param("access_token")
	appID, secret, _ := strings.Cut(appToken, "|")
	registered, ok := s.apps[appID]
	if !ok || secret == "" || !hmac.Equal([]byte(secret), []byte(registered)) {
		return nil, invalidToken(0)
	}
	if err := s.checkProof(g, appToken, registered); err != nil {
		return nil, err
	}
	input := g.param("input_token")
	if input == "" {
		return nil, invalidParam("The parameter input_token is required")
	}
	t, ok := s.tokens[input]
	if !ok {
		return map[string]any{"data": map[string]any{
			"is_valid": false,
			"scopes":   []string{},
			"error":    map[string]any{"code": 190, "message": "Invalid OAuth access token."},
		}}, nil
	}
	granular := []map[string]any{}
	for _, sc := range t.scopes {
		gs := map[string]any{"scope": sc}
		if strings.HasPrefix(sc, "pages_") {
			gs["target_ids"] = []string{t.pageID}
		}
		granular = append(granular, gs)
	}
	data := map[string]any{
		"app_id":                 t.appID,
		"type":                   "PAGE",
		"application":            appName(t.appID),
		"is_valid":               true,
		"issued_at":              t.issuedAt,
		"expires_at":             t.expiresAt,
		"data_access_expires_at": t.dataAccessExpiresAt,
		"scopes":                 t.scopes,
		"granular_scopes":        granular,
		"profile_id":             t.pageID,
	}
	if t.userDerived {
		data["user_id"] = "10000" + t.pageID
	}
	if bad, subcode := t.invalid(time.Now()); bad {
		data["is_valid"] = false
		e := map[string]any{"code": 190, "message": tokenErrorMessage(subcode)}
		if subcode != 0 {
			e["subcode"] = subcode
		}
		data["error"] = e
	}
	return map[string]any{"data": data}, nil
}

func appName(appID string) string { return "Simulated app " + appID }

func (s *Simulator) exchangeToken(g *graphRequest) (any, *apiError) {
	if g.method != http.MethodGet {
		return nil, unsupported(g.method, "access_token")
	}
	if gt := g.param("grant_type"); gt != "fb_exchange_token" {
		return nil, invalidParam("Unsupported grant_type %q", gt)
	}
	appID := g.param("client_id")
	secret, ok := s.apps[appID]
	if !ok {
		return nil, &apiError{http.StatusBadRequest, 101, 0, "OAuthException", "Error validating application. Invalid application ID."}
	}
	if !hmac.Equal([]byte(g.param("client_secret")), []byte(secret)) {
		return nil, &apiError{http.StatusBadRequest, 1, 0, "OAuthException", "Error validating client secret."}
	}
	old, ok := s.tokens[g.param("fb_exchange_token")]
	if !ok || old.appID != appID {
		return nil, invalidToken(0)
	}
	now := time.Now()
	if bad, subcode := old.invalid(now); bad {
		return nil, invalidToken(subcode)
	}
	token := newID("EAAsim")
	fresh := *old
	fresh.scopes = slices.Clone(old.scopes)
	fresh.issuedAt = now.Unix()
	fresh.expiresAt = now.Unix() + longLivedSeconds
	fresh.dataAccessExpiresAt = now.Add(90 * 24 * time.Hour).Unix()
	s.tokens[token] = &fresh
	return map[string]any{"access_token": token, "token_type": "bearer", "expires_in": longLivedSeconds}, nil
}

// object answers GET /{id} for a page or a customer's profile.
func (s *Simulator) object(g *graphRequest, id string) (any, *apiError) {
	_, id, err := s.authenticateAs(g, http.MethodGet, id)
	if err != nil {
		return nil, err
	}
	fields := strings.Split(g.param("fields"), ",")
	if page, ok := s.pages[id]; ok {
		if g.param("fields") == "" {
			fields = []string{"id", "name"}
		}
		out := map[string]any{"id": id}
		if slices.Contains(fields, "name") {
			out["name"] = page.name
		}
		return out, nil
	}
	prof, ok := s.profiles[id]
	if !ok {
		return nil, &apiError{http.StatusBadRequest, 100, 2018218, "OAuthException", "No profile available for this user."}
	}
	if g.param("fields") == "" {
		fields = []string{"first_name", "last_name", "profile_pic"}
	}
	name := prof.Name
	if name == "" {
		name = strings.TrimSpace(prof.FirstName + " " + prof.LastName)
	}
	values := map[string]string{
		"first_name":  prof.FirstName,
		"last_name":   prof.LastName,
		"name":        name,
		"profile_pic": prof.ProfilePic,
		"locale":      prof.Locale,
	}
	out := map[string]any{"id": id}
	for _, f := range fields {
		// Facebook leaves out what it does not share rather than sending "".
		if v := values[f]; v != "" {
			out[f] = v
		}
	}
	return out, nil
}

// pageFor resolves the page in the path against the token's page.
func pageFor(g *graphRequest, t *tokenState, id string) *apiError {
	if id != "me" && id != t.pageID {
		return unsupported(g.method, id)
	}
	return nil
}

func (s *Simulator) sendMessage(g *graphRequest, id string) (any, *apiError) {
	t, id, err := s.authenticateAs(g, http.MethodPost, id)
	if err != nil {
		return nil, err
	}
	if err := pageFor(g, t, id); err != nil {
		return nil, err
	}
	if !slices.Contains(t.scopes, "pages_messaging") {
		return nil, missingPermission(230, "pages_messaging")
	}
	rcpt, _ := g.value("recipient").(map[string]any)
	psid, _ := rcpt["id"].(string)
	if psid == "" {
		return nil, invalidParam("The parameter recipient is required")
	}
	answer := map[string]any{"recipient_id": psid}

	if action := g.param("sender_action"); action != "" {
		if !slices.Contains(senderActions, action) {
			return nil, invalidParam("Param sender_action must be one of {%s} - got %q", strings.Join(senderActions, ", "), action)
		}
		if g.value("message") != nil {
			return nil, invalidParam("Param sender_action cannot be sent with message")
		}
		rec := SenderAction{PageID: t.pageID, PSID: psid, Action: action, At: time.Now()}
		if action == "react" || action == "unreact" {
			p, _ := g.value("payload").(map[string]any)
			rec.MessageID, _ = p["message_id"].(string)
			rec.Reaction, _ = p["reaction"].(string)
			switch {
			case rec.MessageID == "":
				return nil, invalidParam("Param payload[message_id] is required for sender_action %s", action)
			case action == "react" && rec.Reaction == "":
				return nil, invalidParam("Param payload[reaction] is required for sender_action react")
			}
		}
		s.senderActions = append(s.senderActions, rec)
		if len(s.senderActions) > maxRecorded {
			s.senderActions = append(s.senderActions[:0:0], s.senderActions[len(s.senderActions)-maxRecorded/2:]...)
		}
		return answer, nil
	}

	mtype := g.param("messaging_type")
	if !slices.Contains(messagingTypes, mtype) {
		return nil, invalidParam("Param messaging_type must be one of {%s} - got %q", strings.Join(messagingTypes, ", "), mtype)
	}
	switch tag := g.param("tag"); {
	case tag == "" && mtype == "MESSAGE_TAG":
		return nil, invalidParam("Param tag is required for messaging_type MESSAGE_TAG")
	case tag == "":
	case slices.Contains(retiredTags, tag):
		return nil, invalidParam("Message tag %s has been retired and is no longer supported", tag)
	case tag != "HUMAN_AGENT":
		return nil, invalidParam("Param tag must be HUMAN_AGENT - got %q", tag)
	case mtype != "MESSAGE_TAG":
		return nil, invalidParam("Param tag requires messaging_type MESSAGE_TAG")
	}

	msg, ok := g.value("message").(map[string]any)
	if !ok {
		return nil, invalidParam("The parameter message is required")
	}
	text, textOK := msg["text"].(string)
	attachment, hasAttachment := msg["attachment"]
	if _, present := msg["text"]; present && !textOK {
		return nil, invalidParam("Param message[text] must be a string")
	}
	switch {
	case text != "" && hasAttachment:
		return nil, invalidParam("Only one of message[text] and message[attachment] may be set")
	case text == "" && !hasAttachment:
		return nil, invalidParam("The message must have text or an attachment")
	case utf8.RuneCountInString(text) >= maxTextChars:
		return nil, invalidParam("Length of param message[text] must be less than %d", maxTextChars)
	}
	if md, present := msg["metadata"]; present {
		mds, ok := md.(string)
		if !ok || utf8.RuneCountInString(mds) >= maxMetadataChars {
			return nil, invalidParam("Param message[metadata] must be a string shorter than %d characters", maxMetadataChars)
		}
	}
	if hasAttachment {
		if err := checkAttachment(attachment); err != nil {
			return nil, err
		}
	}
	mid := newID("m_")
	answer["message_id"] = mid
	md, _ := msg["metadata"].(string)
	s.sent = append(s.sent, SentMessage{PageID: t.pageID, PSID: psid, MID: mid, Metadata: md, At: time.Now()})
	if len(s.sent) > maxRecorded {
		s.sent = append(s.sent[:0:0], s.sent[len(s.sent)-maxRecorded/2:]...)
	}
	s.queueEcho(t, psid, mid, msg)
	return answer, nil
}

func checkAttachment(v any) *apiError {
	a, ok := v.(map[string]any)
	if !ok {
		return invalidParam("Param message[attachment] must be an object")
	}
	typ, _ := a["type"].(string)
	if !slices.Contains(attachmentKind, typ) {
		return invalidParam("Param message[attachment][type] must be one of {%s} - got %q", strings.Join(attachmentKind, ", "), typ)
	}
	p, _ := a["payload"].(map[string]any)
	url, _ := p["url"].(string)
	id, _ := p["attachment_id"].(string)
	tmpl, _ := p["template_type"].(string)
	if url == "" && id == "" && tmpl == "" {
		return invalidParam("Param message[attachment][payload] requires url or attachment_id")
	}
	return nil
}

func (s *Simulator) subscribedApps(g *graphRequest, id string) (any, *apiError) {
	t, err := s.authenticate(g)
	if err != nil {
		return nil, err
	}
	if err := pageFor(g, t, id); err != nil {
		return nil, err
	}
	page, ok := s.pages[t.pageID]
	if !ok {
		return nil, unsupported(g.method, id)
	}
	success := map[string]any{"success": true}
	switch g.method {
	case http.MethodGet:
		appIDs := make([]string, 0, len(page.subscriptions))
		for appID := range page.subscriptions {
			appIDs = append(appIDs, appID)
		}
		sort.Strings(appIDs)
		data := []map[string]any{}
		for _, appID := range appIDs {
			data = append(data, map[string]any{
				"id":                appID,
				"name":              appName(appID),
				"subscribed_fields": page.subscriptions[appID],
			})
		}
		return map[string]any{"data": data}, nil
	case http.MethodPost:
		if !slices.Contains(t.scopes, "pages_manage_metadata") {
			return nil, missingPermission(200, "pages_manage_metadata")
		}
		fields, err := subscribedFieldsParam(g)
		if err != nil {
			return nil, err
		}
		page.subscriptions[t.appID] = fields
		return success, nil
	case http.MethodDelete:
		delete(page.subscriptions, t.appID)
		return success, nil
	}
	return nil, unsupported(g.method, id)
}

func subscribedFieldsParam(g *graphRequest) ([]string, *apiError) {
	var fields []string
	switch v := g.value("subscribed_fields").(type) {
	case string:
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	case []any:
		for _, f := range v {
			if s, ok := f.(string); ok {
				fields = append(fields, s)
			}
		}
	}
	if len(fields) == 0 {
		return nil, invalidParam("The parameter subscribed_fields is required")
	}
	for i, f := range fields {
		if !slices.Contains(webhookFields, f) {
			return nil, invalidParam("Param subscribed_fields[%d] must be one of {%s} - got %q", i, strings.Join(webhookFields, ", "), f)
		}
	}
	return fields, nil
}
