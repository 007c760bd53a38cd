// Package graph is a client for the parts of Facebook's Graph API the
// Messenger channel uses. Every failure Facebook reports is a *Error with a
// stable Reason; transport failures are plain errors, which callers treat as
// temporary.
package graph

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// DefaultTimeout bounds a call when New is given no http.Client. It is well
// under the activity timeouts that wrap these calls, so a hung connection
// fails as a retryable error instead of a timed-out activity.
const DefaultTimeout = 15 * time.Second

// maxResponseBytes guards against a misbehaving endpoint; real answers are a
// few kilobytes.
const maxResponseBytes = 4 << 20

// Client calls {BaseURL}/{Version}/... . It is safe for concurrent use.
type Client struct {
	BaseURL string
	Version string
	HTTP    *http.Client
	// TracerProvider makes a client span per call (nil: otel's global provider,
	// a no-op unless tracing is set up). The span names the method and path
	// template only: the query holds the access token, so it is never recorded.
	TracerProvider trace.TracerProvider
}

// New returns a client for baseURL (e.g. https://graph.facebook.com) pinned
// to version (e.g. v23.0).
func New(baseURL, version string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{BaseURL: baseURL, Version: version, HTTP: httpClient}
}

// Credentials authenticate a call as a page.
type Credentials struct {
	AccessToken string
	AppSecret   string
}

// AppSecretProof proves to Facebook that the caller also holds the app
// secret, which apps can require so that a leaked token alone is useless.
func AppSecretProof(accessToken, appSecret string) string {
	h := hmac.New(sha256.New, []byte(appSecret))
	h.Write([]byte(accessToken))
	return hex.EncodeToString(h.Sum(nil))
}

// authQuery adds the token and its proof. Without an app secret the proof is
// left out: one keyed with "" would be wrong and make Facebook refuse a call
// that would otherwise succeed.
func authQuery(q url.Values, accessToken, appSecret string) url.Values {
	if q == nil {
		q = url.Values{}
	}
	q.Set("access_token", accessToken)
	if appSecret != "" {
		q.Set("appsecret_proof", AppSecretProof(accessToken, appSecret))
	}
	return q
}

type call struct {
	method string
	path   string // after the version, starting with "/"
	query  url.Values
	body   any // sent as JSON when non-nil
	// secrets are scrubbed from Facebook's error text, which can echo
	// request parameters back.
	secrets []string
}

func (c *Client) do(ctx context.Context, cl call, out any) (err error) {
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	route := pathTemplate(cl.path)
	ctx, span := tp.Tracer("fbchannel/graph").Start(ctx, cl.method+" "+route, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", cl.method), attribute.String("url.template", route),
			attribute.String("graph.api.version", c.Version)))
	defer func() {
		if gerr, ok := AsError(err); ok {
			span.SetAttributes(attribute.Int("http.response.status_code", gerr.HTTPStatus),
				attribute.String("graph.error.reason", string(gerr.Reason())), attribute.Int("graph.error.code", gerr.Code))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error()) // scrubbed of tokens and secrets
		}
		span.End()
	}()
	return c.send(ctx, cl, out)
}

// pathTemplate replaces the ids in a Graph path (numeric page ids, PSIDs) with
// {id}, for low-cardinality span names: "/{id}/subscribed_apps".
func pathTemplate(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.ContainsAny(s, "0123456789") {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

func (c *Client) send(ctx context.Context, cl call, out any) error {
	what := cl.method + " " + cl.path // safe to show: ids only, no query
	endpoint := strings.TrimRight(c.BaseURL, "/")
	if v := strings.Trim(c.Version, "/"); v != "" {
		endpoint += "/" + v
	}
	endpoint += cl.path
	if len(cl.query) > 0 {
		endpoint += "?" + cl.query.Encode()
	}

	var body io.Reader
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return fmt.Errorf("graph: %s: encode request: %w", what, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, endpoint, body)
	if err != nil {
		return fmt.Errorf("graph: %s: %w", what, scrubURL(err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("graph: %s: %w", what, scrubURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("graph: %s: read response: %w", what, scrubURL(err))
	}

	if apiErr := parseError(resp.StatusCode, raw, cl.secrets); apiErr != nil {
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("graph: %s: decode response (HTTP %d): %w", what, resp.StatusCode, err)
	}
	return nil
}

// parseError returns the error a response carries, or nil for a success.
func parseError(status int, raw []byte, secrets []string) *Error {
	var env struct {
		Error *struct {
			Message     string `json:"message"`
			Type        string `json:"type"`
			Code        int    `json:"code"`
			Subcode     int    `json:"error_subcode"`
			FBTraceID   string `json:"fbtrace_id"`
			IsTransient bool   `json:"is_transient"`
			UserTitle   string `json:"error_user_title"`
			UserMessage string `json:"error_user_msg"`
		} `json:"error"`
	}
	// A partly mistyped error body still tells more than none, so decoding
	// errors are ignored and whatever was read is used.
	_ = json.Unmarshal(raw, &env)
	ok := status >= 200 && status < 300
	if env.Error == nil || (ok && env.Error.Code == 0) {
		if ok {
			return nil
		}
		return &Error{HTTPStatus: status}
	}
	scrub := func(s string) string {
		for _, secret := range secrets {
			if secret != "" {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
		return s
	}
	e := env.Error
	return &Error{
		HTTPStatus:  status,
		Code:        e.Code,
		Subcode:     e.Subcode,
		Type:        e.Type,
		Message:     scrub(e.Message),
		FBTraceID:   e.FBTraceID,
		UserTitle:   scrub(e.UserTitle),
		UserMessage: scrub(e.UserMessage),
		IsTransient: e.IsTransient,
	}
}

// scrubURL drops the query from the URL a *url.Error prints, as it holds the
// access token, the proof and, for token exchange, the app secret.
func scrubURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	clean, _, _ := strings.Cut(ue.URL, "?")
	return &url.Error{Op: ue.Op, URL: clean, Err: ue.Err}
}

// segment escapes one path segment and refuses an empty one, which would
// silently address a different Graph object.
func segment(kind, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("graph: empty %s", kind)
	}
	return "/" + url.PathEscape(id), nil
}

// flexString decodes ids Facebook sometimes sends as numbers.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	if string(b) != "null" {
		*s = flexString(b)
	}
	return nil
}
