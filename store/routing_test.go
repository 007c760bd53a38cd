package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLocaleMatchesBCP47Ranges(t *testing.T) {
	for _, c := range []struct {
		locale, rng string
		want        bool
	}{
		{"nl_NL", "nl", true},
		{"nl-NL", "nl", true},
		{"nl_BE", "nl", true},
		{"NL_nl", "nl-nl", true},
		{"nl_NL", "nl-NL", true},
		{"nl_BE", "nl-NL", false},
		{"nl", "nl-NL", false},
		{"nn_NO", "nl", false}, // a prefix of the string, not of the subtags
		{"en_US", "nl", false},
		{"", "nl", false},
		{"zh_TW", "zh", true},
	} {
		rng, err := ParseLanguage(c.rng)
		if err != nil {
			t.Fatal(err)
		}
		if got := localeMatches(c.locale, strings.ToLower(rng)); got != c.want {
			t.Errorf("localeMatches(%q, %q) = %v, want %v", c.locale, c.rng, got, c.want)
		}
	}
}

func TestCompileRulesRefusesInvalidSetsAndEvaluatesInOrder(t *testing.T) {
	q := "6f1c1d2e-0000-4000-8000-000000000001"
	cond := func(field, op string, v any) Condition {
		b, _ := json.Marshal(v)
		return Condition{Field: field, Operator: op, Value: b}
	}
	for _, c := range []struct {
		rules []RoutingRule
		says  string
	}{
		{[]RoutingRule{{QueueID: q, Conditions: []Condition{cond("message.text", "matches", "a(b")}}}, "rule 1, condition 1: invalid regular expression"},
		{[]RoutingRule{{QueueID: q}, {Name: "x", QueueID: q, Conditions: []Condition{cond("customer.locale", "is", "klingonese")}}}, `rule 2 ("x"), condition 1`},
		{[]RoutingRule{{QueueID: q, Conditions: []Condition{cond("customer.linked_to_contact", "is", "yes")}}}, "true or false"},
		{[]RoutingRule{{QueueID: q, Conditions: []Condition{cond("message.text", "is", "x")}}}, "operator contains or matches"},
		{[]RoutingRule{{QueueID: q, Conditions: []Condition{{Field: "page", Operator: "is"}}}}, "value is required"},
		{[]RoutingRule{{QueueID: "nope"}}, "queue_id"},
	} {
		_, err := compileRules(c.rules)
		if _, ok := err.(*InvalidInput); !ok || !strings.Contains(err.Error(), c.says) {
			t.Errorf("compileRules(%+v) = %v, want an InvalidInput saying %q", c.rules, err, c.says)
		}
	}

	rules := []RoutingRule{
		{Name: "dutch", QueueID: "6f1c1d2e-0000-4000-8000-000000000011", Conditions: []Condition{cond("customer.locale", "is", "nl")}},
		{Name: "refund", QueueID: "6f1c1d2e-0000-4000-8000-000000000012", Conditions: []Condition{cond("message.text", "contains", "Refund")}},
		{Name: "vip", QueueID: "6f1c1d2e-0000-4000-8000-000000000013", Conditions: []Condition{cond("customer.linked_to_contact", "is", true), cond("page", "is", "123")}},
		{Name: "order", QueueID: "6f1c1d2e-0000-4000-8000-000000000014", Conditions: []Condition{cond("message.text", "matches", `#\d{4}`)}},
	}
	for _, c := range []struct {
		facts routingFacts
		want  string
	}{
		{routingFacts{locale: "nl_NL", firstText: "refund"}, "6f1c1d2e-0000-4000-8000-000000000011"},
		{routingFacts{locale: "en_GB", firstText: "I want a REFUND"}, "6f1c1d2e-0000-4000-8000-000000000012"},
		{routingFacts{linked: true, pageID: "123", firstText: "order #1234"}, "6f1c1d2e-0000-4000-8000-000000000013"},
		{routingFacts{linked: true, pageID: "456", firstText: "order #1234"}, "6f1c1d2e-0000-4000-8000-000000000014"},
		{routingFacts{firstText: "hello"}, ""},
	} {
		if got := firstMatch(rules, c.facts); got != c.want {
			t.Errorf("firstMatch(%+v) = %q, want %q", c.facts, got, c.want)
		}
	}
}
