package api

// Workstream rules of issue 15, parts 3 and 4: a workstream's "affinity" and
// "timeouts", and a contact's "preferred_agents". Absent fields stay as they are;
// a request with any invalid value changes nothing (400).

import (
	"bytes"
	"encoding/json"
	"slices"

	"fbchannel/store"
)

// Limits of the rules, so a typo (seconds for milliseconds) does not park a
// conversation for years.
const (
	maxAffinityDays = 365
	maxRuleSeconds  = 7 * 24 * 3600 // a week: Messenger's HUMAN_AGENT window
)

// workstreamRulesInput is embedded in workstreamInput: its fields are the
// workstream's own.
type workstreamRulesInput struct {
	Affinity optional[affinityInput] `json:"affinity"`
	Timeouts optional[timeoutsInput] `json:"timeouts"`
}

type affinityInput struct {
	Days        optional[int]    `json:"days"`
	WaitSeconds optional[int]    `json:"wait_s"`
	Fallback    optional[string] `json:"fallback"`
}

type timeoutsInput struct {
	CustomerSeconds     optional[int] `json:"customer_s"`
	AgentRemindSeconds  optional[int] `json:"agent_remind_s"`
	AgentReofferSeconds optional[int] `json:"agent_reoffer_s"`
}

// strictObject decodes an object refusing unknown fields, as decode does for the
// request's top level (a nested json.Unmarshal would ignore them).
func strictObject(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (in *affinityInput) UnmarshalJSON(b []byte) error {
	type plain affinityInput
	return strictObject(b, (*plain)(in))
}

func (in *timeoutsInput) UnmarshalJSON(b []byte) error {
	type plain timeoutsInput
	return strictObject(b, (*plain)(in))
}

// apply merges the rules into w and checks them.
func (in workstreamRulesInput) apply(w *store.Workstream) error {
	if err := firstError(notNull("affinity", in.Affinity), notNull("timeouts", in.Timeouts)); err != nil {
		return err
	}
	if in.Affinity.Set {
		a := in.Affinity.Value
		if err := firstError(
			seconds("affinity.days", a.Days, maxAffinityDays, &w.Affinity.Days),
			seconds("affinity.wait_s", a.WaitSeconds, maxRuleSeconds, &w.Affinity.WaitSeconds),
			notNull("affinity.fallback", a.Fallback),
		); err != nil {
			return err
		}
		if a.Fallback.Set {
			if a.Fallback.Value != store.AffinityRoute && a.Fallback.Value != store.AffinityWait {
				return invalidf("affinity.fallback must be route (route normally at once) or wait (wait up to wait_s for the preferred agent).")
			}
			w.Affinity.Fallback = a.Fallback.Value
		}
	}
	if in.Timeouts.Set {
		t := in.Timeouts.Value
		if err := firstError(
			seconds("timeouts.customer_s", t.CustomerSeconds, maxRuleSeconds, &w.Timeouts.CustomerSeconds),
			seconds("timeouts.agent_remind_s", t.AgentRemindSeconds, maxRuleSeconds, &w.Timeouts.AgentRemindSeconds),
			seconds("timeouts.agent_reoffer_s", t.AgentReofferSeconds, maxRuleSeconds, &w.Timeouts.AgentReofferSeconds),
		); err != nil {
			return err
		}
	}
	if t := w.Timeouts; t.AgentRemindSeconds > 0 && t.AgentReofferSeconds > 0 && t.AgentReofferSeconds <= t.AgentRemindSeconds {
		return invalidf("timeouts.agent_reoffer_s must be longer than timeouts.agent_remind_s: the agent is reminded before the conversation goes to someone else.")
	}
	return nil
}

// seconds checks one whole number of a rule (0 switches it off) and sets it.
func seconds(field string, v optional[int], max int, into *int) error {
	if !v.Set {
		return nil
	}
	if v.Null || v.Value < 0 || v.Value > max {
		return invalidf("%s must be a whole number from 0 (off) to %d.", field, max)
	}
	*into = v.Value
	return nil
}

// preferredAgents checks a contact's ranked preferred agents: at most three ids,
// no repeats (the store checks that each agent exists).
func preferredAgents(in optional[[]string], c *store.Contact) error {
	if !in.Set {
		return nil
	}
	list := []string{}
	if !in.Null {
		list = in.Value
	}
	if len(list) > store.MaxPreferredAgents {
		return invalidf("preferred_agents holds at most %d agents, ranked; %d were given.", store.MaxPreferredAgents, len(list))
	}
	for i, id := range list {
		if !validID(id) {
			return invalidf("preferred_agents: %q is not an agent id.", id)
		}
		if slices.Contains(list[:i], id) {
			return invalidf("preferred_agents: agent %s is listed twice.", id)
		}
	}
	c.PreferredAgents = slices.Clone(list)
	return nil
}
