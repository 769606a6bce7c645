package backtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// Observation is one customer at one date, as a backtest scores it: what
// a fit learns from.
type Observation struct {
	// Date indexes the dates Observe returns.
	Date     int
	Customer string
	// Score, Raw, Probability and Tier are the engine's, at the sweep of
	// the date's start.
	Score, Raw, Probability float64
	Tier                    rules.Tier
	// Churned: within the horizon after the date.
	Churned bool
	ARR     float64
	Segment string
	Stage   string
	// Firing are the rules whose condition holds.
	Firing []string
	// Activation is, for each rule that contributes, its points over the
	// rule's weight: 1 while it fires, less as it fades with its
	// half-life, scaled by its segment or stage override over the weight
	// where one applies. The raw score is the sum of weight × activation,
	// so a linear model of the activations is a model of the score (with
	// the overrides scaled as the weights are).
	Activation map[string]float64
}

// Observe scores every customer of h with set at each date of cfg (its
// Models are ignored), as Run does, and returns the observations in date
// order, then customer order.
func Observe(ctx context.Context, h *History, set *rules.Set, cfg Config) ([]Observation, []time.Time, error) {
	cfg.defaults()
	if set == nil {
		return nil, nil, errors.New("backtest: no rule set to observe")
	}
	dates, err := cfg.Dates(h)
	if err != nil {
		return nil, nil, err
	}
	progress := func(done int) {
		if cfg.Progress != nil {
			cfg.Progress(done, len(h.Signals))
		}
	}
	r, err := replay(ctx, h, cfg, set, dates, true, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("backtest: observe: %w", err)
	}
	out := make([]Observation, len(r.obs))
	for i, o := range r.obs {
		out[i] = Observation{Date: o.date, Customer: o.customer, Score: o.clamped, Raw: o.score, Probability: o.prob,
			Tier: o.tier, Churned: o.churned, ARR: o.arr, Segment: o.segment, Stage: o.stage, Firing: o.firing,
			Activation: o.activation}
	}
	return out, dates, nil
}

// activation is each contribution's points over its rule's weight.
func activation(set *rules.Set, cs []scorer.Contribution) map[string]float64 {
	out := make(map[string]float64, len(cs))
	for _, c := range cs {
		if r := set.Rule(c.Rule); r != nil && r.Weight != 0 {
			out[c.Rule] = c.Contribution / r.Weight
		}
	}
	return out
}
