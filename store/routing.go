package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"
)

// RoutingRule sends the conversations it matches to a queue. A workstream's rules
// are ordered; the first whose conditions all hold wins, and a conversation no
// rule matches goes to the workstream's default queue.
type RoutingRule struct {
	Name       string      `json:"name"`
	QueueID    string      `json:"queue_id"`
	Conditions []Condition `json:"conditions"`
}

// Condition is one test of a rule: field, operator and value.
//
//	customer.locale            is        "nl"     BCP 47 language range: nl matches nl, nl-NL and Facebook's nl_NL
//	message.text               contains  "refund" the first customer message with text, case-insensitive
//	message.text               matches   "(?i)^refund\b"  a Go regular expression (RE2)
//	customer.linked_to_contact is        true
//	page                       is        "<page id>"      our page id (or the Facebook page id)
type Condition struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"`
	Value    json.RawMessage `json:"value"`
}

// Rule-set limits.
const (
	maxRules          = 100
	maxConditions     = 20
	maxConditionRunes = 1000
)

// Fields and their operators.
var ruleOperators = map[string][]string{
	"customer.locale":            {"is"},
	"message.text":               {"contains", "matches"},
	"customer.linked_to_contact": {"is"},
	"page":                       {"is"},
}

// compiledCondition is a checked condition, ready to evaluate.
type compiledCondition struct {
	field, operator string
	text            string // locale range, lowercased contains-text or page id
	flag            bool
	re              *regexp.Regexp
}

// compileRules checks a rule set without the database and canonicalises it
// (locale tags); every problem is an *InvalidInput naming the rule and condition.
func compileRules(rules []RoutingRule) ([][]compiledCondition, error) {
	if len(rules) > maxRules {
		return nil, invalidf("At most %d rules per workstream.", maxRules)
	}
	out := make([][]compiledCondition, len(rules))
	for i := range rules {
		r := &rules[i]
		where := fmt.Sprintf("rule %d", i+1)
		if r.Name = strings.TrimSpace(r.Name); r.Name != "" {
			where += fmt.Sprintf(" (%q)", r.Name)
		}
		if utf8.RuneCountInString(r.Name) > MaxNameRunes {
			return nil, invalidf("%s: name must be at most %d characters.", where, MaxNameRunes)
		}
		if !validUUID(r.QueueID) {
			return nil, invalidf("%s: queue_id is required and must be a queue id.", where)
		}
		if len(r.Conditions) > maxConditions {
			return nil, invalidf("%s: at most %d conditions.", where, maxConditions)
		}
		for j := range r.Conditions {
			c := &r.Conditions[j]
			cc, err := compileCondition(c)
			if err != nil {
				return nil, invalidf("%s, condition %d: %v", where, j+1, err)
			}
			out[i] = append(out[i], cc)
		}
	}
	return out, nil
}

func compileCondition(c *Condition) (compiledCondition, error) {
	cc := compiledCondition{field: c.Field, operator: c.Operator}
	ops, ok := ruleOperators[c.Field]
	if !ok {
		return cc, fmt.Errorf("unknown field %q; use customer.locale, message.text, customer.linked_to_contact or page", c.Field)
	}
	if !containsString(ops, c.Operator) {
		return cc, fmt.Errorf("%s takes the operator %s, not %q", c.Field, strings.Join(ops, " or "), c.Operator)
	}
	if len(c.Value) == 0 {
		return cc, fmt.Errorf("value is required")
	}
	if c.Field == "customer.linked_to_contact" {
		if err := json.Unmarshal(c.Value, &cc.flag); err != nil {
			return cc, fmt.Errorf("customer.linked_to_contact takes true or false")
		}
		return cc, nil
	}
	var text string
	if err := json.Unmarshal(c.Value, &text); err != nil {
		return cc, fmt.Errorf("%s takes a string value", c.Field)
	}
	if strings.TrimSpace(text) == "" || utf8.RuneCountInString(text) > maxConditionRunes {
		return cc, fmt.Errorf("value must be a non-empty string of at most %d characters", maxConditionRunes)
	}
	switch {
	case c.Field == "customer.locale":
		tag, err := ParseLanguage(strings.TrimSpace(text))
		if err != nil {
			return cc, err
		}
		cc.text = strings.ToLower(tag)
		c.Value, _ = json.Marshal(tag) // stored canonical
	case c.Operator == "contains":
		cc.text = strings.ToLower(text)
	case c.Operator == "matches":
		re, err := regexp.Compile(text)
		if err != nil {
			return cc, fmt.Errorf("invalid regular expression: %v", err)
		}
		cc.re = re
	case c.Field == "page":
		cc.text = strings.TrimSpace(text)
	}
	return cc, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// routingFacts is what rules look at.
type routingFacts struct {
	locale    string
	firstText string
	linked    bool
	pageUUID  string
	pageID    string
}

func (cc compiledCondition) holds(f routingFacts) bool {
	switch cc.field {
	case "customer.locale":
		return localeMatches(f.locale, cc.text)
	case "message.text":
		if cc.re != nil {
			return cc.re.MatchString(f.firstText)
		}
		return strings.Contains(strings.ToLower(f.firstText), cc.text)
	case "customer.linked_to_contact":
		return f.linked == cc.flag
	case "page":
		return cc.text == f.pageUUID || cc.text == f.pageID
	}
	return false
}

// localeMatches says whether a customer's locale (Facebook writes nl_NL) falls in a
// BCP 47 language range (nl, nl-NL): equal, or the range followed by more subtags.
func localeMatches(locale, lowerRange string) bool {
	locale = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
	if locale == "" {
		return false
	}
	if tag, err := ParseLanguage(locale); err == nil {
		locale = strings.ToLower(tag)
	}
	return locale == lowerRange || strings.HasPrefix(locale, lowerRange+"-")
}

// SaveRoutingRules replaces a workstream's rule set. The whole set is checked
// first (conditions, regular expressions, queues of the account, pages of the
// account); an invalid set is refused with an *InvalidInput and nothing changes.
func (s *Store) SaveRoutingRules(ctx context.Context, workstreamID string, rules []RoutingRule) ([]RoutingRule, error) {
	if !validUUID(workstreamID) {
		return nil, fmt.Errorf("workstream: %w", ErrNotFound)
	}
	if rules == nil {
		rules = []RoutingRule{}
	}
	if _, err := compileRules(rules); err != nil {
		return nil, err
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		w, err := s.workstream(ctx, tx, workstreamID, true)
		if err != nil {
			return err
		}
		for i, r := range rules {
			if err := queueOfAccount(ctx, tx, r.QueueID, w.AccountID); err != nil {
				return fmt.Errorf("rule %d: queue_id: %w", i+1, err)
			}
			for j, c := range r.Conditions {
				if c.Field != "page" {
					continue
				}
				var page string
				_ = json.Unmarshal(c.Value, &page)
				page = strings.TrimSpace(page)
				sb := pg.NewSelectBuilder()
				sb.Select("count(*)").From("pages").Where(sb.Equal("account_id", w.AccountID), sb.NotEqual("provisioning_status", "deleted"))
				if validUUID(page) {
					sb.Where(sb.Or(sb.Equal("id", page), sb.Equal("page_id", page)))
				} else {
					sb.Where(sb.Equal("page_id", page))
				}
				var n int
				if err := queryRow(ctx, tx, sb).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return invalidf("rule %d, condition %d: the account has no page %s.", i+1, j+1, page)
				}
			}
		}
		db := pg.NewDeleteBuilder()
		db.DeleteFrom("routing_rules").Where(db.Equal("workstream_id", workstreamID))
		if _, err := exec(ctx, tx, db); err != nil {
			return err
		}
		for i, r := range rules {
			conditions := r.Conditions
			if conditions == nil {
				conditions = []Condition{}
			}
			body, err := json.Marshal(conditions)
			if err != nil {
				return err
			}
			ib := pg.NewInsertBuilder()
			ib.InsertInto("routing_rules").Cols("workstream_id", "position", "name", "queue_id", "conditions").
				Values(workstreamID, i, r.Name, r.QueueID, string(body))
			if _, err := exec(ctx, tx, ib); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.RoutingRules(ctx, workstreamID)
}

// RoutingRules reads a workstream's rules in order.
func (s *Store) RoutingRules(ctx context.Context, workstreamID string) ([]RoutingRule, error) {
	if !validUUID(workstreamID) {
		return nil, fmt.Errorf("workstream: %w", ErrNotFound)
	}
	if _, err := s.workstream(ctx, s.DB, workstreamID, false); err != nil {
		return nil, err
	}
	return routingRules(ctx, s.DB, workstreamID)
}

func routingRules(ctx context.Context, q querier, workstreamID string) ([]RoutingRule, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("name", "queue_id", "conditions").From("routing_rules").Where(sb.Equal("workstream_id", workstreamID)).OrderBy("position")
	return queryAll(ctx, q, sb, func(row rowScanner) (RoutingRule, error) {
		var r RoutingRule
		var conditions []byte
		if err := row.Scan(&r.Name, &r.QueueID, &conditions); err != nil {
			return r, err
		}
		return r, json.Unmarshal(conditions, &r.Conditions)
	})
}

// RouteConversation puts a waiting conversation in its queue: the queue of the
// first of its workstream's rules that matches it, else the workstream's default
// queue. Rules look at the customer's locale (the profile is fetched before
// routing), the first customer message with text, whether the customer is linked
// to a contact, and the page. Idempotent: a conversation already in a queue keeps it.
//
// When the queue has operating hours or the workstream an overflow before
// queueing (store/hours.go), the conversation is not queued: the rules are
// answered for the conversation workflow to decide (EnqueueConversation).
func (s *Store) RouteConversation(ctx context.Context, conversationID string) (queueID string, held *QueueingRules, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		queueID, held, err = routeConversation(ctx, tx, conversationID)
		return err
	})
	return queueID, held, err
}

func routeConversation(ctx context.Context, tx *sql.Tx, conversationID string) (queueID string, held *QueueingRules, err error) {
	if _, _, err := lockConversation(ctx, tx, conversationID); err != nil {
		return "", nil, err
	}
	sb := pg.NewSelectBuilder()
	sb.Select("coalesce(c.queue_id::text, '')", "w.id", "w.default_queue_id", "c.page_uuid", "c.page_id", "cu.locale",
		"cu.contact_id IS NOT NULL", "coalesce(("+firstTextSQL+"), '')").
		From("conversations c").Join("customers cu", "cu.id = c.customer_id").Join("pages p", "p.id = c.page_uuid").
		Join("workstreams w", "w.id = coalesce(c.workstream_id, p.workstream_id)").
		Where(sb.Equal("c.id", conversationID))
	var current, workstreamID, defaultQueue string
	var f routingFacts
	if err := queryRow(ctx, tx, sb).Scan(&current, &workstreamID, &defaultQueue, &f.pageUUID, &f.pageID, &f.locale,
		&f.linked, &f.firstText); err != nil {
		return "", nil, notFound(err, "conversation")
	}
	if current != "" {
		return current, nil, nil
	}
	rules, err := routingRules(ctx, tx, workstreamID)
	if err != nil {
		return "", nil, err
	}
	queueID = defaultQueue
	if chosen := firstMatch(rules, f); chosen != "" {
		queueID = chosen
	}
	ub := pg.NewUpdateBuilder()
	set := []string{ub.Assign("workstream_id", workstreamID)}
	if held, err = queueingRules(ctx, tx, workstreamID, queueID); err != nil {
		return queueID, held, err
	}
	if held == nil {
		set = append(set, ub.Assign("queue_id", queueID), "enqueued_at = now()")
	}
	ub.Update("conversations").Set(set...).Where(ub.Equal("id", conversationID), ub.Equal("status", "waiting"))
	if _, err = exec(ctx, tx, ub); err != nil {
		return queueID, held, err
	}
	return queueID, held, decideAffinity(ctx, tx, conversationID, workstreamID)
}

// firstMatch evaluates rules in order. Rules were checked when saved; one that
// no longer compiles (it cannot happen with the same Go version) matches nothing.
func firstMatch(rules []RoutingRule, f routingFacts) string {
	for i, r := range rules {
		compiled, err := compileRules([]RoutingRule{r})
		if err != nil {
			slog.Warn("routing rule does not compile; skipped", "position", i, "err", err)
			continue
		}
		all := true
		for _, cc := range compiled[0] {
			if !cc.holds(f) {
				all = false
				break
			}
		}
		if all {
			return r.QueueID
		}
	}
	return ""
}
