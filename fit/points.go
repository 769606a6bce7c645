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

// Volumes are the shares of the fitting observations that the tiers
// flag: watch and above, at_risk and above, critical. Cut points by
// alert volume keep the CSMs' workload what the team chose, whatever the
// base rate; the header gives the probability at each cut.
var Volumes = [3]float64{0.20, 0.10, 0.03}

// Tiers are the thresholds flagging the Volumes of raw (the fitted raw
// scores of the fitting observations), each at least a point above the
// one below and within (hysteresis, 100].
func Tiers(raw []float64, hysteresis float64) rules.Thresholds {
	th := rules.Thresholds{Hysteresis: hysteresis}
	lo := hysteresis + 1
	cuts := [3]*float64{&th.Watch, &th.AtRisk, &th.Critical}
	for i, v := range Volumes {
		c := math.Ceil(quantile(raw, 1-v))
		*cuts[i] = max(lo, min(c, 98+float64(i)))
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
