package api

import "fbchannel/store"

// maxStateSeconds bounds the wrap-up and hold-return times: a day.
const maxStateSeconds = 86400

// stateRulesInput is the workstream's conversation-state settings in POST and
// PATCH /api/v1/workstreams (store.StateRules): wrap_up null means no wrap-up.
type stateRulesInput struct {
	WrapUp            optional[store.WrapUpRule] `json:"wrap_up"`
	HoldReturnSeconds optional[int]              `json:"hold_return_s"`
}

func (in stateRulesInput) apply(r *store.StateRules) error {
	if err := notNull("hold_return_s", in.HoldReturnSeconds); err != nil {
		return err
	}
	if in.HoldReturnSeconds.Set {
		if v := in.HoldReturnSeconds.Value; v < 1 || v > maxStateSeconds {
			return invalidf("hold_return_s must be between 1 and %d.", maxStateSeconds)
		}
		r.HoldReturnSeconds = in.HoldReturnSeconds.Value
	}
	if !in.WrapUp.Set {
		return nil
	}
	r.WrapUp = nil
	if in.WrapUp.Null {
		return nil
	}
	rule := in.WrapUp.Value
	switch rule.Block {
	case store.WrapUpBlockAlways, store.WrapUpBlockNever:
		if rule.Seconds != nil {
			return invalidf("wrap_up.seconds goes with block \"seconds\" only.")
		}
	case store.WrapUpBlockSeconds:
		if rule.Seconds == nil || *rule.Seconds < 1 || *rule.Seconds > maxStateSeconds {
			return invalidf("wrap_up.seconds must be between 1 and %d when block is \"seconds\".", maxStateSeconds)
		}
	default:
		return invalidf("wrap_up.block must be always, never or seconds (or wrap_up null for no wrap-up).")
	}
	r.WrapUp = &rule
	return nil
}
