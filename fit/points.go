package fit

import (
	"math"
	"slices"

	"github.com/riskwatch/riskwatch/rules"
)

// scoreQuantile is the share of the fitting observations whose positive
// part of the linear predictor is mapped at or below 100 points: the
// scale leaves the top 1% above the cap, where the raw score and the
// probability still rank them.
const scoreQuantile = 0.99

// Points maps coefficients to rule weights: weight_j = round(k·β_j). The
// score is then k times the log-odds above the intercept, so points add
// as evidence does. k puts the 99th percentile of the fitting
// observations' positive log-odds (linear, Σβ_j·a_j) at 100 points, and
// is lowered if one rule alone would need more than 100. A weight that
// rounds to 0 means the rule adds nothing: it is dropped (its weight is
// 0 here, and a file cannot hold 0).
func Points(beta, linear []float64) (k float64, weights []float64) {
	var pos []float64
	for _, l := range linear {
		if l > 0 {
			pos = append(pos, l)
		}
	}
	top := 0.0
	for _, b := range beta {
		top = max(top, math.Abs(b))
	}
	if top == 0 {
		return 0, make([]float64, len(beta))
	}
	k = 100 / top
	if len(pos) > 0 {
		k = min(k, 100/quantile(pos, scoreQuantile))
	}
	weights = make([]float64, len(beta))
	for j, b := range beta {
		weights[j] = max(-100, min(100, math.Round(k*b)))
	}
	return k, weights
}

// Lifts are the churn rates, as multiples of the fitting period's base
// rate, at which the tiers start: watch where a customer is twice as
// likely to churn as the average one, at_risk four times, critical eight
// times (each capped at 95%). Cut points on the probability mean the same
// in every base, whatever its churn rate; the alert volume they give is
// measured on the validation period.
var Lifts = [3]float64{2, 4, 8}

// Tiers are the raw scores at which c gives the Lifts over base, each at
// least a point above the one below and within (hysteresis, 100].
func Tiers(c rules.Calibration, base, hysteresis float64) rules.Thresholds {
	th := rules.Thresholds{Hysteresis: hysteresis}
	lo := hysteresis + 1
	cuts := [3]*float64{&th.Watch, &th.AtRisk, &th.Critical}
	for i, lift := range Lifts {
		p := min(lift*base, 0.95)
		raw := math.Inf(1)
		if c.Slope > 0 {
			raw = (math.Log(p/(1-p)) - c.Intercept) / c.Slope
		}
		*cuts[i] = max(lo, min(math.Ceil(raw), 98+float64(i)))
		lo = *cuts[i] + 1
	}
	return th
}

// quantile is the q-quantile of xs (nearest rank); xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
