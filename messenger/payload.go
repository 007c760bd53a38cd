package messenger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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
	// Unreadable holds the entries and events ParseBatch could not read, each
	// with its raw JSON and the reason; the readable rest of the batch is in Entry.
	Unreadable []Unreadable `json:"-"`
}

// Unreadable is an entry or event of a delivery that could not be read (a field
// of the wrong type, a shape this package does not know). It is kept raw so
// that nothing Facebook sent is lost, and so that it never costs the batch its
// other events.
type Unreadable struct {
	// PageID is the entry's page id; empty when the entry itself was unreadable.
	PageID string
	// PSID is the sender's id when it could be read, for erasure; often empty.
	PSID   string
	Raw    json.RawMessage
	Reason string
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
		ID   flexID  `json:"id"` // shallower than plain.ID, so it wins
		Time flexInt `json:"time"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = Entry(aux.plain)
	e.ID, e.Time = string(aux.ID), int64(aux.Time)
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

// UnmarshalJSON accepts the timestamp as a number or as a string of digits.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var aux struct {
		plain
		Timestamp flexInt `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = Event(aux.plain)
	e.Timestamp = int64(aux.Timestamp)
	return nil
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
	Seq         int64        `json:"seq,omitempty"`
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
		Seq   flexInt         `json:"seq"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = Message(aux.plain)
	m.AppID, m.Seq = lenientInt(aux.AppID), int64(aux.Seq)
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
	Seq       int64    `json:"seq,omitempty"`
}

// UnmarshalJSON accepts watermark and seq as numbers or strings of digits.
func (d *Delivery) UnmarshalJSON(b []byte) error {
	type plain Delivery
	var aux struct {
		plain
		Watermark flexInt `json:"watermark"`
		Seq       flexInt `json:"seq"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*d = Delivery(aux.plain)
	d.Watermark, d.Seq = int64(aux.Watermark), int64(aux.Seq)
	return nil
}

// Read says that everything sent at or before Watermark was read.
type Read struct {
	Watermark int64 `json:"watermark"`
	Seq       int64 `json:"seq,omitempty"`
}

// UnmarshalJSON accepts watermark and seq as numbers or strings of digits,
// the way a Delivery does.
func (r *Read) UnmarshalJSON(b []byte) error {
	var d Delivery
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	*r = Read{Watermark: d.Watermark, Seq: d.Seq}
	return nil
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

// UnmarshalJSON accepts num_edit as a number or a string of digits.
func (m *MessageEdit) UnmarshalJSON(b []byte) error {
	type plain MessageEdit
	var aux struct {
		plain
		NumEdit flexInt `json:"num_edit"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = MessageEdit(aux.plain)
	m.NumEdit = int(aux.NumEdit)
	return nil
}

// ParseBatch decodes a webhook body. It fails only when the body is not a JSON
// object (ErrMalformed) or its object is not "page" (ErrNotPage). Everything
// else is read entry by entry and event by event: an entry or event that cannot
// be read (a field of the wrong type, an unknown shape) goes to Unreadable with
// its reason and never costs the batch its other events. Unknown fields and
// event kinds are kept out of the result rather than rejected, as Facebook adds
// them without notice. Verify the signature over the same bytes first.
func ParseBatch(body []byte) (Batch, error) {
	var top struct {
		Object json.RawMessage `json:"object"`
		Entry  json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var object string
	if json.Unmarshal(top.Object, &object) != nil || object != "page" {
		return Batch{}, ErrNotPage
	}
	b := Batch{Object: object}
	if isNull(top.Entry) {
		return b, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(top.Entry, &entries); err != nil {
		b.Unreadable = append(b.Unreadable, Unreadable{Raw: top.Entry, Reason: "entry: " + reason(err)})
		return b, nil
	}
	for _, raw := range entries {
		b.readEntry(raw)
	}
	return b, nil
}

// readEntry adds one entry's readable events to b.Entry and the rest to
// b.Unreadable.
func (b *Batch) readEntry(raw json.RawMessage) {
	var head struct {
		ID   flexID          `json:"id"`
		Time json.RawMessage `json:"time"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		b.Unreadable = append(b.Unreadable, Unreadable{Raw: raw, Reason: "entry: " + reason(err)})
		return
	}
	entry := Entry{ID: string(head.ID)}
	var t flexInt
	if t.UnmarshalJSON(orNull(head.Time)) == nil {
		entry.Time = int64(t) // an unreadable entry time is not worth an event: nothing uses it
	}
	var lists struct {
		Messaging json.RawMessage `json:"messaging"`
		Standby   json.RawMessage `json:"standby"`
	}
	_ = json.Unmarshal(raw, &lists) // raw is an object: head was read from it
	read := func(field string, list json.RawMessage) []Event {
		if isNull(list) {
			return nil
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(list, &raws); err != nil {
			b.Unreadable = append(b.Unreadable, Unreadable{PageID: entry.ID, Raw: list, Reason: field + ": " + reason(err)})
			return nil
		}
		events := make([]Event, 0, len(raws))
		for _, r := range raws {
			var ev Event
			if err := json.Unmarshal(r, &ev); err != nil {
				b.Unreadable = append(b.Unreadable, Unreadable{PageID: entry.ID, PSID: senderID(r), Raw: r, Reason: field + " event: " + reason(err)})
				continue
			}
			events = append(events, ev)
		}
		return events
	}
	entry.Messaging = read("messaging", lists.Messaging)
	entry.Standby = read("standby", lists.Standby)
	b.Entry = append(b.Entry, entry)
}

// senderID reads the sender's id of an event that is otherwise unreadable, so
// that erasing the customer can find it; "" when even that cannot be read.
func senderID(raw json.RawMessage) string {
	var ev struct {
		Sender struct {
			ID flexID `json:"id"`
		} `json:"sender"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return ""
	}
	return string(ev.Sender.ID)
}

// reason says in one line why a part of a delivery could not be read, naming
// the field when encoding/json knows it.
func reason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		// The "plain" types of the lenient decoders show in the path; they are ours, not Facebook's.
		field := strings.ReplaceAll("."+typeErr.Field, ".plain.", ".")[1:]
		return fmt.Sprintf("field %s: %s is not a %s", field, typeErr.Value, typeErr.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
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

// flexInt decodes an integer Facebook documents as a number but that arrives
// as a string of digits now and then (timestamps, watermarks, seq, num_edit).
// null is 0; anything else (a bool, an object, words) is an error, which makes
// the event unreadable rather than silently wrong.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	text := string(b)
	switch {
	case text == "null":
		*n = 0
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return err
		}
		text = strings.TrimSpace(text)
	}
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	// A float with nothing after the point (1.7e12) is still an integer.
	if f, err := strconv.ParseFloat(text, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		*n = flexInt(f)
		return nil
	}
	return fmt.Errorf("%s is not an integer", strconv.Quote(truncate(string(b), 40)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
