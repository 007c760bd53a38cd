package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// TokenInfo is debug_token's answer about a token. IsValid false with Error
// set is a normal answer, not a failed call.
type TokenInfo struct {
	AppID       string `json:"app_id"`
	Type        string `json:"type"` // "PAGE" for page tokens
	Application string `json:"application"`
	IsValid     bool   `json:"is_valid"`
	IssuedAt    int64  `json:"issued_at"`
	// ExpiresAt 0 means the token does not expire by date; it can still be
	// invalidated.
	ExpiresAt           int64           `json:"expires_at"`
	DataAccessExpiresAt int64           `json:"data_access_expires_at"`
	Scopes              []string        `json:"scopes"`
	GranularScopes      []GranularScope `json:"granular_scopes,omitempty"`
	ProfileID           string          `json:"profile_id"` // the page id, for page tokens
	UserID              string          `json:"user_id"`
	Error               *Error          `json:"error,omitempty"`
}

// GranularScope lists the objects (pages) a permission was granted for.
type GranularScope struct {
	Scope     string   `json:"scope"`
	TargetIDs []string `json:"target_ids,omitempty"`
}

// HasScope reports whether the token was granted scope.
func (t TokenInfo) HasScope(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// DebugToken inspects inputToken with the app's own token (APPID|SECRET), so
// it works even when inputToken is no longer valid.
func (c *Client) DebugToken(ctx context.Context, appID, appSecret, inputToken string) (TokenInfo, error) {
	appToken := appID + "|" + appSecret
	q := authQuery(url.Values{"input_token": {inputToken}}, appToken, appSecret)
	var resp struct {
		Data struct {
			TokenInfo
			// Shallower than TokenInfo's fields of the same names, so they win:
			// Facebook sends these ids as numbers at times, and the error is
			// made below from the three fields its object carries.
			AppID     flexString `json:"app_id"`
			ProfileID flexString `json:"profile_id"`
			UserID    flexString `json:"user_id"`
			Error     *struct {
				Code    int    `json:"code"`
				Subcode int    `json:"subcode"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"data"`
	}
	err := c.do(ctx, call{method: http.MethodGet, path: "/debug_token", query: q,
		secrets: []string{appSecret, inputToken}}, &resp)
	if err != nil {
		return TokenInfo{}, err
	}
	d := resp.Data
	info := d.TokenInfo
	info.AppID, info.ProfileID, info.UserID = string(d.AppID), string(d.ProfileID), string(d.UserID)
	if d.Error != nil {
		msg := d.Error.Message
		if inputToken != "" {
			msg = strings.ReplaceAll(msg, inputToken, "[redacted]")
		}
		info.Error = &Error{Code: d.Error.Code, Subcode: d.Error.Subcode, Message: msg}
	}
	return info, nil
}

// PageInfo is the page's id and name.
type PageInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Page reads the page's id and name; a cheap way to check that a token
// belongs to the page.
func (c *Client) Page(ctx context.Context, pageID string, cred Credentials) (PageInfo, error) {
	return readFields[PageInfo](ctx, c, "page id", pageID, "id,name", cred)
}

// readFields reads the named fields of one Graph object (what says what id
// is, for the error when it is not a path segment).
func readFields[T any](ctx context.Context, c *Client, what, id, fields string, cred Credentials) (T, error) {
	var v T
	p, err := segment(what, id)
	if err != nil {
		return v, err
	}
	err = c.do(ctx, call{method: http.MethodGet, path: p, secrets: cred.secrets(),
		query: authQuery(url.Values{"fields": {fields}}, cred.AccessToken, cred.AppSecret)}, &v)
	return v, err
}

// SubscribedFields are the webhook fields the channel needs on each page.
var SubscribedFields = []string{
	"messages",
	"messaging_postbacks",
	"message_echoes",
	"message_deliveries",
	"message_reads",
	"messaging_referrals",
	"message_reactions",
	"message_edits",
}

// SubscribedApp is one app subscribed to a page's webhooks.
type SubscribedApp struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	SubscribedFields []string `json:"subscribed_fields"`
}

// SubscribeApp subscribes the token's app to the page's webhooks. Facebook
// drops the subscription after an hour of failed deliveries, so this is also
// how a page is repaired.
func (c *Client) SubscribeApp(ctx context.Context, pageID string, fields []string, cred Credentials) error {
	p, err := segment("page id", pageID)
	if err != nil {
		return err
	}
	q := authQuery(url.Values{"subscribed_fields": {strings.Join(fields, ",")}}, cred.AccessToken, cred.AppSecret)
	return c.success(ctx, call{method: http.MethodPost, path: p + "/subscribed_apps", query: q, secrets: cred.secrets()})
}

// SubscribedApps lists the apps subscribed to the page's webhooks.
func (c *Client) SubscribedApps(ctx context.Context, pageID string, cred Credentials) ([]SubscribedApp, error) {
	p, err := segment("page id", pageID)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data []SubscribedApp `json:"data"`
	}
	err = c.do(ctx, call{method: http.MethodGet, path: p + "/subscribed_apps", secrets: cred.secrets(),
		query: authQuery(nil, cred.AccessToken, cred.AppSecret)}, &resp)
	return resp.Data, err
}

// UnsubscribeApp removes the token's app from the page's webhooks.
func (c *Client) UnsubscribeApp(ctx context.Context, pageID string, cred Credentials) error {
	p, err := segment("page id", pageID)
	if err != nil {
		return err
	}
	return c.success(ctx, call{method: http.MethodDelete, path: p + "/subscribed_apps", secrets: cred.secrets(),
		query: authQuery(nil, cred.AccessToken, cred.AppSecret)})
}

func (c *Client) success(ctx context.Context, cl call) error {
	var resp struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, cl, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return errors.New("graph: " + cl.method + " " + cl.path + ": Facebook did not confirm success")
	}
	return nil
}

// Messaging types and the one message tag this channel may use.
const (
	MessagingTypeResponse   = "RESPONSE"
	MessagingTypeUpdate     = "UPDATE"
	MessagingTypeMessageTag = "MESSAGE_TAG"
	MessagingTypeUtility    = "UTILITY"
	TagHumanAgent           = "HUMAN_AGENT"
)

// SendRequest is one outgoing message: Text or Attachment. Metadata comes
// back on the echo, which lets the sender recognise its own message after a
// retry. Tag is only for MessagingType MESSAGE_TAG and only for a human
// agent's reply.
type SendRequest struct {
	PSID          string
	MessagingType string
	Tag           string
	Text          string
	Metadata      string
	Attachment    *OutboundAttachment
}

// OutboundAttachment is a file Facebook fetches from URL. Type is image,
// audio, video or file.
type OutboundAttachment struct {
	Type string
	URL  string
}

// SendResult identifies the sent message; MessageID is the mid its echo and
// delivery receipts carry.
type SendResult struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

type sendBody struct {
	Recipient     recipient    `json:"recipient"`
	MessagingType string       `json:"messaging_type,omitempty"`
	Tag           string       `json:"tag,omitempty"`
	Message       *sendMessage `json:"message,omitempty"`
	SenderAction  string       `json:"sender_action,omitempty"`
	// Payload names the message of a react or unreact sender action.
	Payload *reactionPayload `json:"payload,omitempty"`
}

type reactionPayload struct {
	MessageID string `json:"message_id"`
	Reaction  string `json:"reaction,omitempty"`
}

type recipient struct {
	ID string `json:"id"`
}

type sendMessage struct {
	Text       string          `json:"text,omitempty"`
	Metadata   string          `json:"metadata,omitempty"`
	Attachment *sendAttachment `json:"attachment,omitempty"`
}

type sendAttachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL        string `json:"url"`
		IsReusable bool   `json:"is_reusable"`
	} `json:"payload"`
}

// SendMessage sends through the Send API. A network error leaves it unknown
// whether the message went out; Metadata on the echo resolves that.
func (c *Client) SendMessage(ctx context.Context, pageID string, req SendRequest, cred Credentials) (SendResult, error) {
	p, err := segment("page id", pageID)
	if err != nil {
		return SendResult{}, err
	}
	msg := &sendMessage{Text: req.Text, Metadata: req.Metadata}
	if a := req.Attachment; a != nil {
		msg.Attachment = &sendAttachment{Type: a.Type}
		msg.Attachment.Payload.URL = a.URL
		msg.Attachment.Payload.IsReusable = true
	}
	body := sendBody{
		Recipient:     recipient{ID: req.PSID},
		MessagingType: req.MessagingType,
		Tag:           req.Tag,
		Message:       msg,
	}
	var res SendResult
	err = c.do(ctx, call{method: http.MethodPost, path: p + "/messages", body: body, secrets: cred.secrets(),
		query: authQuery(nil, cred.AccessToken, cred.AppSecret)}, &res)
	return res, err
}

// Sender actions.
const (
	SenderActionTypingOn  = "typing_on"
	SenderActionTypingOff = "typing_off"
	SenderActionMarkSeen  = "mark_seen"
	SenderActionReact     = "react"
	SenderActionUnreact   = "unreact"
)

// SendSenderAction shows typing or marks the customer's messages seen. It is
// a separate request because Facebook refuses a sender action combined with a
// message.
func (c *Client) SendSenderAction(ctx context.Context, pageID, psid, action string, cred Credentials) error {
	p, err := segment("page id", pageID)
	if err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodPost, path: p + "/messages", secrets: cred.secrets(),
		body:  sendBody{Recipient: recipient{ID: psid}, SenderAction: action},
		query: authQuery(nil, cred.AccessToken, cred.AppSecret)}, nil)
}

// SendReaction reacts to the customer's message mid with an emoji, or, with
// emoji "", removes the page's reaction (unreact carries the message id only).
func (c *Client) SendReaction(ctx context.Context, pageID, psid, mid, emoji string, cred Credentials) error {
	p, err := segment("page id", pageID)
	if err != nil {
		return err
	}
	body := sendBody{Recipient: recipient{ID: psid}, SenderAction: SenderActionReact, Payload: &reactionPayload{MessageID: mid, Reaction: emoji}}
	if emoji == "" {
		body.SenderAction = SenderActionUnreact
	}
	return c.do(ctx, call{method: http.MethodPost, path: p + "/messages", secrets: cred.secrets(),
		body: body, query: authQuery(nil, cred.AccessToken, cred.AppSecret)}, nil)
}

// Profile is what Facebook shares about a customer; any field may be empty.
type Profile struct {
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Name       string `json:"name"`
	ProfilePic string `json:"profile_pic"` // expires; do not store for long
	Locale     string `json:"locale"`
}

// UserProfile reads a customer's profile. Facebook often has none (error
// 100/2018218) or only part of one; callers must fall back rather than fail.
// Name is filled from the first and last name when Facebook sends no name.
func (c *Client) UserProfile(ctx context.Context, psid string, cred Credentials) (Profile, error) {
	prof, err := readFields[Profile](ctx, c, "psid", psid, "first_name,last_name,profile_pic,locale", cred)
	if err != nil {
		return Profile{}, err
	}
	if prof.Name == "" {
		prof.Name = strings.TrimSpace(prof.FirstName + " " + prof.LastName)
	}
	return prof, nil
}

// LongLivedToken is the result of a token exchange. ExpiresIn is in seconds;
// 0 means Facebook gave no expiry.
type LongLivedToken struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// ExchangeToken trades a short-lived token for a long-lived one (about 60
// days). It authenticates with the app secret itself, so no access_token or
// proof is sent.
func (c *Client) ExchangeToken(ctx context.Context, appID, appSecret, token string) (LongLivedToken, error) {
	q := url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {appID},
		"client_secret":     {appSecret},
		"fb_exchange_token": {token},
	}
	var res LongLivedToken
	err := c.do(ctx, call{method: http.MethodGet, path: "/oauth/access_token", query: q,
		secrets: []string{appSecret, token}}, &res)
	return res, err
}

func (cred Credentials) secrets() []string {
	return []string{cred.AccessToken, cred.AppSecret}
}
