package api

import "fbchannel/store"

// maxStateSeconds bounds the wrap-up and hold-return times: a day.
const maxStateSeconds = 86400

// stateRulesInput is the workstream's conversation-state settings in POST and
// PATCH /api/v1/workstreams (store.StateRules): wrap_up null means no wrap-up.
type stateRulesInput struct {
	WrapUp            optional[store.WrapUpRule] `json:"wrap_up"`
	HoldReturnSeconds optional[int]              `json:"hold_return_s"`
	// Offer's absent fields stay as they are.
	Offer optional[offerInput] `json:"offer"`
}

type offerInput struct {
	AutoAccept       *bool `json:"auto_accept"`
	CountdownSeconds *int  `json:"countdown_s"`
	MissedToAway     *int  `json:"missed_to_away"`
}

// Limits of the offer settings.
const (
	minOfferCountdown, maxOfferCountdown = 1, 3600
	maxMissedToAway                      = 100
)

func (in offerInput) apply(r *store.OfferRule) error {
	if in.AutoAccept != nil {
		r.AutoAccept = *in.AutoAccept
	}
	if v := in.CountdownSeconds; v != nil {
		if *v < minOfferCountdown || *v > maxOfferCountdown {
			return invalidf("offer.countdown_s must be between %d and %d.", minOfferCountdown, maxOfferCountdown)
		}
		r.CountdownSeconds = *v
	}
	if v := in.MissedToAway; v != nil {
		if *v < 1 || *v > maxMissedToAway {
			return invalidf("offer.missed_to_away must be between 1 and %d.", maxMissedToAway)
		}
		r.MissedToAway = *v
	}
	return nil
}

func (in stateRulesInput) apply(r *store.StateRules) error {
	if err := firstError(notNull("hold_return_s", in.HoldReturnSeconds), notNull("offer", in.Offer)); err != nil {
		return err
	}
	if in.Offer.Set {
		if err := in.Offer.Value.apply(&r.Offer); err != nil {
			return err
		}
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
