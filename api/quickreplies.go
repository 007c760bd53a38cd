package api

// Quick replies (issue 13): an account's library, managed by admins, and each
// agent's personal replies. Their text may hold slugs, filled for a
// conversation when the desk picks a reply; an unknown slug is refused when the
// reply is saved, so a typo never reaches a customer as "{custmer.name}".

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"fbchannel/store"
)

// slugs are the placeholders a quick reply may hold, each with what fills it.
var slugs = map[string]func(slugValues) string{
	"customer.first_name": func(v slugValues) string { return firstName(v.customer) },
	"customer.name":       func(v slugValues) string { return v.customer },
	"agent.name":          func(v slugValues) string { return v.agent },
	"agent.first_name":    func(v slugValues) string { return firstName(v.agent) },
	"page.name":           func(v slugValues) string { return v.page },
}

// slugPattern is what reads as a slug: a braced dotted name. Anything else in
// braces ("{ }", JSON) is plain text.
var slugPattern = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}`)

type slugValues struct{ customer, agent, page string }

func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return ""
}

// unknownSlug returns the first slug of text that is not one of slugs, or "".
func unknownSlug(text string) string {
	for _, m := range slugPattern.FindAllStringSubmatch(text, -1) {
		if _, ok := slugs[m[1]]; !ok {
			return m[0]
		}
	}
	return ""
}

// fillSlugs replaces every known slug of text by its value.
func fillSlugs(text string, v slugValues) string {
	return slugPattern.ReplaceAllStringFunc(text, func(s string) string {
		if fill, ok := slugs[s[1:len(s)-1]]; ok {
			return fill(v)
		}
		return s
	})
}

const (
	maxQuickReplyTitle = 200
	maxQuickReplyTags  = 20
	maxTagRunes        = 50
	maxLocaleRunes     = 20
)

var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$`)

// quickReplyBody is the JSON of a quick reply in POST (every field checked)
// and PATCH (only the fields present).
type quickReplyBody struct {
	Title  optString          `json:"title"`
	Text   optString          `json:"text"`
	Tags   optional[[]string] `json:"tags"`
	Locale optString          `json:"locale"`
}

// change checks the body; create requires title and text.
func (b quickReplyBody) change(create bool) (store.QuickReplyChange, error) {
	var ch store.QuickReplyChange
	if create {
		if err := firstError(requiredField("title", b.Title.Set && !b.Title.Null), requiredField("text", b.Text.Set && !b.Text.Null)); err != nil {
			return ch, err
		}
	}
	if err := firstError(notNull("title", b.Title), notNull("text", b.Text), notNull("locale", b.Locale)); err != nil {
		return ch, err
	}
	if b.Title.Set {
		t := strings.TrimSpace(b.Title.Value)
		if t == "" || utf8.RuneCountInString(t) > maxQuickReplyTitle {
			return ch, invalidf("title is required (at most %d characters).", maxQuickReplyTitle)
		}
		ch.Title = &t
	}
	if b.Text.Set {
		t := strings.TrimSpace(b.Text.Value)
		if t == "" || !utf8.ValidString(t) || utf8.RuneCountInString(t) > maxTextRunes {
			return ch, invalidf("text is required and must be under 2000 characters.")
		}
		if slug := unknownSlug(t); slug != "" {
			return ch, invalidf("text holds the unknown slug %s; the slugs are {customer.first_name}, {customer.name}, {agent.name}, {agent.first_name} and {page.name}.", slug)
		}
		ch.Text = &t
	}
	if b.Tags.Set {
		tags := []string{}
		seen := map[string]bool{}
		if len(b.Tags.Value) > maxQuickReplyTags {
			return ch, invalidf("tags: at most %d.", maxQuickReplyTags)
		}
		for _, tag := range b.Tags.Value {
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag == "" || utf8.RuneCountInString(tag) > maxTagRunes || strings.ContainsAny(tag, " \t\n") {
				return ch, invalidf("tags must be single words of at most %d characters.", maxTagRunes)
			}
			if !seen[tag] {
				seen[tag] = true
				tags = append(tags, tag)
			}
		}
		ch.Tags = &tags
	}
	if b.Locale.Set {
		l := strings.TrimSpace(b.Locale.Value)
		if l != "" && (len(l) > maxLocaleRunes || !localePattern.MatchString(l)) {
			return ch, invalidf("locale must be a locale such as en, en_US or fr-FR (or empty for every locale).")
		}
		ch.Locale = &l
	}
	return ch, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// quickReplyChange reads the body of a create (title and text required) or an
// update; false when it has answered a bad body.
func (s *Server) quickReplyChange(w http.ResponseWriter, r *http.Request, create bool) (store.QuickReplyChange, bool) {
	var in quickReplyBody
	if !decode(w, r, &in) {
		return store.QuickReplyChange{}, false
	}
	ch, err := in.change(create)
	return ch, !s.answerStoreError(w, r, err, "")
}

func (s *Server) createQuickReply(w http.ResponseWriter, r *http.Request, accountID, agentID *string) {
	ch, ok := s.quickReplyChange(w, r, true)
	if !ok {
		return
	}
	tags := []string{}
	if ch.Tags != nil {
		tags = *ch.Tags
	}
	qr, err := s.Store.CreateQuickReply(r.Context(), accountID, agentID, *ch.Title, *ch.Text, tags, deref(ch.Locale))
	if s.answerStoreError(w, r, err, "No account has this id.") {
		return
	}
	writeJSON(w, http.StatusCreated, qr)
}

func (s *Server) updateQuickReply(w http.ResponseWriter, r *http.Request, accountID, agentID *string) {
	ch, ok := s.quickReplyChange(w, r, false)
	if !ok {
		return
	}
	qr, err := s.Store.UpdateQuickReply(r.Context(), accountID, agentID, r.PathValue("qr"), ch)
	if s.answerStoreError(w, r, err, "No quick reply of this owner has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, qr)
}

func (s *Server) deleteQuickReply(w http.ResponseWriter, r *http.Request, accountID, agentID *string) {
	err := s.Store.DeleteQuickReply(r.Context(), accountID, agentID, r.PathValue("qr"))
	if s.answerStoreError(w, r, err, "No quick reply of this owner has this id.") {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Admin: the account's library.

func (s *Server) createAccountQuickReply(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.createQuickReply(w, r, &id, nil)
}

func (s *Server) updateAccountQuickReply(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.updateQuickReply(w, r, &id, nil)
}

func (s *Server) deleteAccountQuickReply(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.deleteQuickReply(w, r, &id, nil)
}

// Agent: personal replies, and the search over personal and account ones.

func (s *Server) createMyQuickReply(w http.ResponseWriter, r *http.Request, me store.Agent) {
	s.createQuickReply(w, r, nil, &me.ID)
}

func (s *Server) updateMyQuickReply(w http.ResponseWriter, r *http.Request, me store.Agent) {
	s.updateQuickReply(w, r, nil, &me.ID)
}

func (s *Server) deleteMyQuickReply(w http.ResponseWriter, r *http.Request, me store.Agent) {
	s.deleteQuickReply(w, r, nil, &me.ID)
}

// searchQuickReplies answers GET /api/v1/quick-replies?q=&locale=&conversation_id=.
// With conversation_id (one of the agent's), the customer's locale is the
// default locale and each reply carries filled_text: its text with the slugs
// filled for that conversation, which is what the desk puts in the reply box.
func (s *Server) searchQuickReplies(w http.ResponseWriter, r *http.Request, me store.Agent) {
	query := r.URL.Query()
	q := strings.TrimSpace(query.Get("q"))
	locale := strings.TrimSpace(query.Get("locale"))
	if utf8.RuneCountInString(q) > maxQuickReplyTitle || utf8.RuneCountInString(locale) > maxLocaleRunes {
		writeError(w, http.StatusBadRequest, "invalid_request", "q and locale are too long.")
		return
	}
	var values *slugValues
	var pageUUID string
	if id := query.Get("conversation_id"); id != "" {
		c, err := s.Store.GetConversation(r.Context(), id)
		if err == nil && (c.AgentID == nil || *c.AgentID != me.ID) {
			err = store.ErrNotFound
		}
		if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
			return
		}
		if locale == "" {
			locale = c.Customer.Locale
		}
		v, err := s.slugValuesFor(r.Context(), c, me)
		if s.answerStoreError(w, r, err, "No conversation of yours has this id.") {
			return
		}
		values = &v
		pageUUID = c.PageUUID
	}
	list, err := s.Store.AgentQuickReplies(r.Context(), me.ID, pageUUID, q, locale)
	if s.answerStoreError(w, r, err, "") {
		return
	}
	if list == nil {
		list = []store.QuickReply{}
	}
	if values != nil {
		for i := range list {
			filled := fillSlugs(list[i].Text, *values)
			list[i].Filled = &filled
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) slugValuesFor(ctx context.Context, c store.Conversation, me store.Agent) (slugValues, error) {
	page, err := s.Store.GetPage(ctx, c.PageUUID, s.PublicBaseURL)
	if err != nil {
		return slugValues{}, err
	}
	return slugValues{customer: c.Customer.Name, agent: me.Name, page: page.Name}, nil
}
