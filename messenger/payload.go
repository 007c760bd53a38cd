package messenger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by ParseBatch, so that a webhook handler can tell a body it
// cannot read from a well-formed delivery for another kind of object.
var (
	ErrMalformed = errors.New("messenger: malformed webhook body")
	ErrNotPage   = errors.New("messenger: webhook object is not \"page\"")
)

// Event kinds returned by Event.Kind.
const (
	KindMessage     = "message"
	KindEcho        = "echo"
	KindPostback    = "postback"
	KindDelivery    = "delivery"
	KindRead        = "read"
	KindReaction    = "reaction"
	KindReferral    = "referral"
	KindMessageEdit = "message_edit"
	KindUnknown     = "unknown"
)

// Batch is one webhook delivery. Entries may belong to different pages of the
// same app.
type Batch struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry holds one page's events. Events arrive under Standby instead of
// Messaging while another app owns the thread.
type Entry struct {
	ID        string  `json:"id"`
	Time      int64   `json:"time"`
	Messaging []Event `json:"messaging"`
	Standby   []Event `json:"standby"`
}

// UnmarshalJSON accepts the page id as a JSON number as well as a string.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry
	var aux struct {
		plain
		ID flexID `json:"id"` // shallower than plain.ID, so it wins
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = Entry(aux.plain)
	e.ID = string(aux.ID)
	return nil
}

// Party is the sender or recipient of an event: a PSID or a page id.
type Party struct {
	ID string `json:"id"`
}

// UnmarshalJSON accepts the id as a JSON number as well as a string.
func (p *Party) UnmarshalJSON(b []byte) error {
	var aux struct {
		ID flexID `json:"id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.ID = string(aux.ID)
	return nil
}

// Event is one entry of a messaging or standby array. Exactly one of the
// pointer fields below Timestamp is normally set; kinds this package does not
// model (policy_enforcement, thread control, optins, ...) leave all of them
// nil. Sender may be absent and a delivery may lack Timestamp.
type Event struct {
	Sender      *Party       `json:"sender,omitempty"`
	Recipient   *Party       `json:"recipient,omitempty"`
	Timestamp   int64        `json:"timestamp,omitempty"`
	Message     *Message     `json:"message,omitempty"`
	Postback    *Postback    `json:"postback,omitempty"`
	Delivery    *Delivery    `json:"delivery,omitempty"`
	Read        *Read        `json:"read,omitempty"`
	Reaction    *Reaction    `json:"reaction,omitempty"`
	Referral    *Referral    `json:"referral,omitempty"`
	MessageEdit *MessageEdit `json:"message_edit,omitempty"`
}

// Message is a message from the customer or, with IsEcho, one the page sent
// (through us, the Page Inbox or another app, told apart by AppID and the
// Metadata we set on send).
type Message struct {
	MID         string       `json:"mid"`
	Text        string       `json:"text,omitempty"`
	IsEcho      bool         `json:"is_echo,omitempty"`
	AppID       int64        `json:"app_id,omitempty"`
	Metadata    string       `json:"metadata,omitempty"`
	QuickReply  *QuickReply  `json:"quick_reply,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	ReplyTo     *ReplyTo     `json:"reply_to,omitempty"`
	IsDeleted   bool         `json:"is_deleted,omitempty"`
}

// PageInboxAppID is the app id on echoes of messages sent from the Page Inbox.
const PageInboxAppID int64 = 263902037430900

// UnmarshalJSON tolerates app_id as a string; it only identifies the sending
// app, so an unreadable one becomes 0 instead of failing the delivery.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var aux struct {
		plain
		AppID json.RawMessage `json:"app_id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = Message(aux.plain)
	m.AppID = lenientInt(aux.AppID)
	return nil
}

// QuickReply is the payload of the quick reply button the customer tapped.
type QuickReply struct {
	Payload string `json:"payload"`
}

// ReplyTo names the message the customer replied to.
type ReplyTo struct {
	MID         string `json:"mid"`
	IsSelfReply bool   `json:"is_self_reply,omitempty"`
}

// Attachment is one attachment of a message. Type is image, audio, video,
// file, sticker, template, fallback, reel, post or a kind added later.
type Attachment struct {
	Type    string            `json:"type"`
	Payload AttachmentPayload `json:"payload"`
	// Title and URL are where fallback attachments (shared links) put what
	// other kinds carry in Payload.
	Title string `json:"title,omitempty"`
	URL   string `json:"url,omitempty"`
}

// AttachmentPayload holds the parts of an attachment payload we use.
type AttachmentPayload struct {
	URL       string `json:"url,omitempty"`
	StickerID int64  `json:"sticker_id,omitempty"`
}

// UnmarshalJSON never fails: the payload's shape depends on the attachment
// type (fallbacks may send null, templates and products send structures of
// their own), and one odd attachment must not make Facebook redeliver, and
// eventually unsubscribe, the whole batch.
func (p *AttachmentPayload) UnmarshalJSON(b []byte) error {
	var aux struct {
		URL       json.RawMessage `json:"url"`
		StickerID json.RawMessage `json:"sticker_id"`
	}
	if json.Unmarshal(b, &aux) != nil {
		return nil
	}
	var url string
	if json.Unmarshal(aux.URL, &url) == nil {
		p.URL = url
	}
	p.StickerID = lenientInt(aux.StickerID)
	return nil
}

// Postback is a tap on a button or "Get Started".
type Postback struct {
	Title   string `json:"title,omitempty"`
	Payload string `json:"payload,omitempty"`
	MID     string `json:"mid,omitempty"`
}

// Delivery says that messages sent before Watermark were delivered; MIDs may
// be missing.
type Delivery struct {
	MIDs      []string `json:"mids,omitempty"`
	Watermark int64    `json:"watermark"`
}

// Read says that everything sent at or before Watermark was read.
type Read struct {
	Watermark int64 `json:"watermark"`
}

// Reaction is a reaction added ("react") or removed ("unreact") on MID.
type Reaction struct {
	Reaction string `json:"reaction,omitempty"`
	Emoji    string `json:"emoji,omitempty"`
	Action   string `json:"action,omitempty"`
	MID      string `json:"mid,omitempty"`
}

// Referral is an m.me link, ad or plugin referral.
type Referral struct {
	Ref    string `json:"ref,omitempty"`
	Source string `json:"source,omitempty"`
	Type   string `json:"type,omitempty"`
}

// MessageEdit is the new text of an edited message; NumEdit counts the edits.
type MessageEdit struct {
	MID     string `json:"mid"`
	Text    string `json:"text,omitempty"`
	NumEdit int    `json:"num_edit"`
}

// ParseBatch decodes a webhook body. Unknown fields and event kinds are kept
// out of the result rather than rejected, as Facebook adds them without
// notice. Verify the signature over the same bytes first.
func ParseBatch(body []byte) (Batch, error) {
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if b.Object != "page" {
		return Batch{}, ErrNotPage
	}
	return b, nil
}

// Kind names the event's kind; echoes are told apart from customer messages.
func (e Event) Kind() string {
	switch {
	case e.Message != nil && e.Message.IsEcho:
		return KindEcho
	case e.Message != nil:
		return KindMessage
	case e.Postback != nil:
		return KindPostback
	case e.Delivery != nil:
		return KindDelivery
	case e.Read != nil:
		return KindRead
	case e.Reaction != nil:
		return KindReaction
	case e.Referral != nil:
		return KindReferral
	case e.MessageEdit != nil:
		return KindMessageEdit
	default:
		return KindUnknown
	}
}

// CustomerPSID returns the customer's page-scoped id: the sender, except on
// echoes, which the page sends to the customer.
func (e Event) CustomerPSID() string {
	p := e.Sender
	if e.Kind() == KindEcho {
		p = e.Recipient
	}
	if p == nil {
		return ""
	}
	return p.ID
}

// Key returns a key that is equal for redeliveries of the same event and
// differs between events, for de-duplication (Facebook delivers at least
// once). Events that carry a mid use it; the others are keyed by a hash of
// their re-encoded fields, which a redelivery reproduces.
func (e Event) Key() string {
	switch e.Kind() {
	case KindMessage, KindEcho:
		if e.Message.MID != "" && e.Message.IsDeleted {
			return e.Message.MID + ":deleted" // the unsend is an event of its own
		}
		if e.Message.MID != "" {
			return e.Message.MID
		}
	case KindPostback:
		if e.Postback.MID != "" {
			return e.Postback.MID
		}
	case KindMessageEdit:
		if e.MessageEdit.MID != "" {
			return e.MessageEdit.MID + ":edit:" + strconv.Itoa(e.MessageEdit.NumEdit)
		}
	case KindReaction:
		if e.Reaction.MID != "" {
			// The timestamp keeps react, unreact, react again three events, while a
			// redelivery (same timestamp) stays one.
			return e.Reaction.MID + ":" + e.Reaction.Action + ":" + e.Reaction.Reaction + ":" + strconv.FormatInt(e.Timestamp, 10)
		}
	}
	// Marshalling these plain structs cannot fail.
	canonical, _ := json.Marshal(e)
	sum := sha256.Sum256(canonical)
	return "h:" + hex.EncodeToString(sum[:])
}

// flexID decodes an id Facebook documents as a string but that some payloads
// (and hand-written tests) send as a number. The number's literal text is
// kept, as a float64 would lose digits of a 16-digit id.
type flexID string

func (id *flexID) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = flexID(s)
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*id = flexID(b)
		return nil
	default:
		return errors.New("messenger: id is neither a string nor a number")
	}
}

// lenientInt reads an integer sent as a number or a string; anything else
// is 0.
func lenientInt(raw json.RawMessage) int64 {
	if len(raw) == 0 {
		return 0
	}
	text := string(raw)
	if raw[0] == '"' && json.Unmarshal(raw, &text) != nil {
		return 0
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
