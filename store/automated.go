package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// Kinds of automated message: what the service itself says to the customer.
const (
	AutomatedGreeting          = "greeting"           // the conversation waits in a queue
	AutomatedAgentJoined       = "agent_joined"       // an agent was assigned; {agent_name}
	AutomatedAgentEnded        = "agent_ended"        // the agent closed the conversation
	AutomatedInactiveClosed    = "inactive_closed"    // closed after the workstream's inactivity limit
	AutomatedSurvey            = "survey"             // at close; {survey_url} from url_template
	AutomatedAttachmentRefused = "attachment_refused" // the workstream does not take customer attachments
	AutomatedCustomerTimeout   = "customer_timeout"   // closed: the customer did not answer the agent in time
)

// AutomatedKinds lists every kind, in the order a conversation meets them.
var AutomatedKinds = []string{
	AutomatedGreeting, AutomatedAgentJoined, AutomatedAgentEnded, AutomatedInactiveClosed,
	AutomatedSurvey, AutomatedAttachmentRefused, AutomatedCustomerTimeout,
	AutomatedOutOfHours, AutomatedQueueFull, // store/hours.go
}

// enabledByDefault: nothing is said in the page's name until an admin chooses it,
// except the refusal of an attachment, without which the customer's file would
// vanish without a word; the customer timeout's close, which the admin chose by
// setting the timeout (a conversation that closes unexplained looks broken); and
// the queueing rules' messages, without which a customer writing at night (or
// ended by the overflow) would hear nothing.
func enabledByDefault(kind string) bool {
	return kind == AutomatedAttachmentRefused || kind == AutomatedCustomerTimeout || kind == AutomatedOutOfHours || kind == AutomatedQueueFull
}

// fallbackLanguage is used when the workstream's language has no texts.
const fallbackLanguage = "en"

// AutomatedMessage is one kind's setting for a workstream, as the admin API shows it.
type AutomatedMessage struct {
	Kind    string `json:"kind"`
	Enabled bool   `json:"enabled"`
	// Text is what is sent (placeholders still in it); DefaultText is the
	// language's default, which Text equals unless Overridden.
	Text        string `json:"text"`
	DefaultText string `json:"default_text"`
	Overridden  bool   `json:"overridden"`
	Language    string `json:"language"`
	// URLTemplate is the survey's address; {conversation_id} is filled in.
	URLTemplate string `json:"url_template,omitempty"`
}

// textLanguage is the language whose texts a workstream uses: the primary subtag of
// its BCP 47 tag (nl-NL → nl).
func textLanguage(tag string) string {
	base, _, _ := strings.Cut(strings.ToLower(tag), "-")
	if base == "" {
		return fallbackLanguage
	}
	return base
}

// AutomatedMessages lists every kind's setting for a workstream.
func (s *Store) AutomatedMessages(ctx context.Context, workstreamID string) ([]AutomatedMessage, error) {
	if !validUUID(workstreamID) {
		return nil, ErrNotFound
	}
	var tag string
	if err := columnByID(ctx, s.DB, "workstreams", "language", workstreamID, false, &tag); err != nil {
		return nil, notFound(err, "workstream")
	}
	out := make([]AutomatedMessage, 0, len(AutomatedKinds))
	for _, kind := range AutomatedKinds {
		m, err := s.automatedMessage(ctx, s.DB, workstreamID, tag, kind)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// automatedMessage is one kind's setting for a workstream whose language tag is tag.
func (s *Store) automatedMessage(ctx context.Context, q querier, workstreamID, tag, kind string) (AutomatedMessage, error) {
	m := AutomatedMessage{Kind: kind, Enabled: enabledByDefault(kind), Language: textLanguage(tag)}
	// The language's own text, or English when the language has none.
	sb := pg.NewSelectBuilder()
	sb.Select("language", "text").From("automated_message_texts").
		Where(sb.Equal("kind", kind), sb.In("language", m.Language, fallbackLanguage)).
		OrderBy("language = " + sb.Var(fallbackLanguage)).Limit(1)
	if err := queryRow(ctx, q, sb).Scan(&m.Language, &m.DefaultText); err != nil {
		return m, err
	}
	m.Text = m.DefaultText
	sb = pg.NewSelectBuilder()
	sb.Select("enabled", "text", "url_template").From("workstream_automated_messages").
		Where(sb.Equal("workstream_id", workstreamID), sb.Equal("kind", kind))
	var text sql.NullString
	err := queryRow(ctx, q, sb).Scan(&m.Enabled, &text, &m.URLTemplate)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil
	}
	if text.Valid {
		m.Text, m.Overridden = text.String, true
	}
	return m, err
}

// SetAutomatedMessage changes one kind of a workstream: change edits the kind's
// setting as it is, under the workstream's row lock (its error is returned as
// it is and nothing is written). A Text that is not Overridden goes back to the
// language's default.
func (s *Store) SetAutomatedMessage(ctx context.Context, workstreamID, kind string, change func(*AutomatedMessage) error) (AutomatedMessage, error) {
	if !validUUID(workstreamID) {
		return AutomatedMessage{}, ErrNotFound
	}
	var out AutomatedMessage
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// Lock the workstream: two admins saving the same kind apply one after the other.
		var tag string
		if err := columnByID(ctx, tx, "workstreams", "language", workstreamID, true, &tag); err != nil {
			return notFound(err, "workstream")
		}
		m, err := s.automatedMessage(ctx, tx, workstreamID, tag, kind)
		if err != nil {
			return err
		}
		if err := change(&m); err != nil {
			return err
		}
		var override *string
		if m.Overridden {
			override = &m.Text
		}
		ib := pg.NewInsertBuilder()
		ib.InsertInto("workstream_automated_messages").Cols("workstream_id", "kind", "enabled", "text", "url_template").
			Values(workstreamID, kind, m.Enabled, override, m.URLTemplate)
		ib.SQL("ON CONFLICT (workstream_id, kind) DO UPDATE SET enabled = EXCLUDED.enabled, text = EXCLUDED.text, " +
			"url_template = EXCLUDED.url_template, updated_at = now()")
		if _, err := exec(ctx, tx, ib); err != nil {
			return err
		}
		out, err = s.automatedMessage(ctx, tx, workstreamID, tag, kind)
		return err
	})
	return out, err
}

// AutomatedNotice is an automated message ready to send in one conversation, or
// Enabled false when its workstream does not send this kind.
type AutomatedNotice struct {
	Enabled bool
	Text    string
}

// AutomatedNoticeFor renders kind for a conversation in its workstream's language,
// with the conversation's agent and survey address filled in. The page's current
// workstream decides, so a change applies to open conversations at once.
func (s *Store) AutomatedNoticeFor(ctx context.Context, conversationID, kind string) (AutomatedNotice, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("w.id", "coalesce(w.language, '')", "coalesce(a.name, '')").From("conversations c").
		Join("pages p", "p.id = c.page_uuid").
		JoinWithOption("LEFT", "workstreams w", "w.id = coalesce(p.workstream_id, c.workstream_id)").
		JoinWithOption("LEFT", "agents a", "a.id = c.agent_id").
		Where(sb.Equal("c.id", conversationID))
	var workstreamID sql.NullString
	var tag, agentName string
	if err := queryRow(ctx, s.DB, sb).Scan(&workstreamID, &tag, &agentName); err != nil {
		return AutomatedNotice{}, notFound(err, "conversation")
	}
	if !workstreamID.Valid {
		return AutomatedNotice{}, nil
	}
	m, err := s.automatedMessage(ctx, s.DB, workstreamID.String, tag, kind)
	if err != nil || !m.Enabled {
		return AutomatedNotice{}, err
	}
	if kind == AutomatedSurvey && m.URLTemplate == "" {
		return AutomatedNotice{}, nil
	}
	if agentName == "" {
		agentName = "An agent"
	}
	text := strings.NewReplacer(
		"{agent_name}", agentName,
		"{survey_url}", strings.ReplaceAll(m.URLTemplate, "{conversation_id}", conversationID),
	).Replace(m.Text)
	return AutomatedNotice{Enabled: true, Text: text}, nil
}
