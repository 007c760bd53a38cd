package graph

import (
	"errors"
	"fmt"
	"strings"
)

// Error is an error answer from the Graph API, or a non-2xx answer without a
// readable error body (Code 0).
type Error struct {
	HTTPStatus  int
	Code        int
	Subcode     int
	Type        string
	Message     string
	FBTraceID   string
	UserTitle   string
	UserMessage string
	IsTransient bool
}

// Error includes the code and subcode, which is what support and Facebook's
// docs key on. Tokens never appear: the client scrubs them from Message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: error")
	if e.Code != 0 {
		fmt.Fprintf(&b, " %s", e.codes())
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " [fbtrace_id %s]", e.FBTraceID)
	}
	return b.String()
}

func (e *Error) codes() string {
	if e.Subcode != 0 {
		return fmt.Sprintf("%d/%d", e.Code, e.Subcode)
	}
	return fmt.Sprintf("%d", e.Code)
}

// Reason is a stable classification of an Error that callers branch on and
// that the agent API reports.
type Reason string

const (
	ReasonWindowClosed     Reason = "window_closed"
	ReasonUserUnavailable  Reason = "user_unavailable"
	ReasonTokenInvalid     Reason = "token_invalid"
	ReasonRateLimited      Reason = "rate_limited"
	ReasonPermissionDenied Reason = "permission_denied"
	ReasonInvalidRequest   Reason = "invalid_request"
	ReasonTransient        Reason = "transient"
	ReasonThreadOwned      Reason = "thread_owned_by_other_app"
)

// Subcodes of code 10 that the Send API uses to say why a message was refused.
const (
	SubcodeOutsideWindow   = 2018278
	SubcodeNotReceiving    = 2018108
	SubcodeThreadOwned     = 2018300
	SubcodeNoProfile       = 2018218
	SubcodeNoMatchingUser  = 2018001
	SubcodeAttachmentSize  = 2018109
	SubcodeAttachmentFetch = 2018008
	SubcodeAttachmentType  = 2018047
)

// Reason classifies the error. The code decides; the HTTP status only
// matters for codes this table does not know.
func (e *Error) Reason() Reason {
	switch c := e.Code; {
	case c == 190 || c == 102:
		return ReasonTokenInvalid
	case c == 10:
		switch e.Subcode {
		case SubcodeOutsideWindow:
			return ReasonWindowClosed
		case SubcodeNotReceiving:
			return ReasonUserUnavailable
		case SubcodeThreadOwned:
			return ReasonThreadOwned
		}
		return ReasonPermissionDenied
	case c == 551:
		return ReasonUserUnavailable
	case c == 3 || c == 368 || (c >= 200 && c <= 299):
		return ReasonPermissionDenied
	case c == 100:
		return ReasonInvalidRequest
	case c == 4 || c == 17 || c == 32 || c == 613 || (c >= 80000 && c <= 80014):
		return ReasonRateLimited
	case c == 1 || c == 2 || c == 1200:
		return ReasonTransient
	case e.HTTPStatus >= 500 || e.IsTransient:
		return ReasonTransient
	case c == 0 && e.HTTPStatus == 429:
		return ReasonTransient
	}
	return ReasonInvalidRequest
}

// Temporary reports whether repeating the same call later may succeed.
// Everything else needs a person (re-authorisation, a new customer message,
// a fixed request) first.
func (e *Error) Temporary() bool {
	r := e.Reason()
	return r == ReasonRateLimited || r == ReasonTransient || e.IsTransient
}

// Readable says in one sentence, for an agent or admin, what went wrong and
// what (if anything) they can do.
func (e *Error) Readable() string {
	ref := "Facebook error " + e.codes()
	if e.Code == 0 {
		ref = fmt.Sprintf("HTTP %d from Facebook", e.HTTPStatus)
	}
	r := e.Reason()
	if r == ReasonTokenInvalid {
		return "This page's access token is no longer valid" + tokenCauses[e.Subcode] + "; an admin must re-authorise the page (" + ref + ")."
	}
	if s, ok := reasonSentences[r]; ok {
		return s + " (" + ref + ")."
	}
	if s, ok := subcodeSentences[e.Subcode]; ok {
		return s + " (" + ref + ")."
	}
	return "Facebook rejected the request as invalid (" + ref + ")."
}

// reasonSentences are Readable's sentences for the reasons that say enough,
// without the reference to Facebook's codes that ends each.
var reasonSentences = map[Reason]string{
	ReasonWindowClosed:     "Messenger's 24-hour window has closed (and the 7-day human agent window, where it applies), so Facebook won't deliver this message until the customer writes again",
	ReasonUserUnavailable:  "The customer can't receive messages right now",
	ReasonThreadOwned:      "Another app, such as the Page Inbox, currently controls this conversation, so this reply can't be sent",
	ReasonRateLimited:      "Facebook is rate-limiting this page; the message will go out once the limit resets",
	ReasonPermissionDenied: "The app is missing a permission Facebook requires for this; an admin must check the app's permissions for this page",
	ReasonTransient:        "Facebook had a temporary problem; trying again later should work",
}

// subcodeSentences say what is wrong with an invalid request, where its
// subcode tells.
var subcodeSentences = map[int]string{
	SubcodeAttachmentSize:  "The attachment is too large for Messenger",
	SubcodeAttachmentFetch: "Facebook could not download the attachment from its URL",
	SubcodeAttachmentType:  "The attachment's content does not match its declared type",
	SubcodeNoMatchingUser:  "Facebook doesn't know this customer on this page",
	SubcodeNoProfile:       "Facebook has no profile for this customer",
}

// tokenCauses name why a token became invalid, by its subcode.
var tokenCauses = map[int]string{
	458: " (the app was removed from the account)",
	459: " (the account is checkpointed)",
	460: " (the password was changed)",
	463: " (it expired)",
	464: " (the account is unconfirmed)",
}

// AsError finds a *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
