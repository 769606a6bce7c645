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

// Points maps coefficients to rule weights: weight_j = k·β_j to a tenth of a point. The
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
		weights[j] = max(-100, min(100, tenths(k*b)))
	}
	return k, weights
}

// tenths rounds points to a tenth, as scores are: whole points would
// distort the small weights (3 × 1.5 is 4.5, not 5) and reorder the
// customers they tell apart.
func tenths(v float64) float64 { return math.Round(v*10) / 10 }

// Volumes are the shares of the fitting observations each tier flags at
// most (watch and above, at_risk and above, critical), and Lifts the
// churn rate, as multiples of the fitting period's base rate, below
// which a tier flags no one. Volume keeps the CSMs' workload what a team
// can work; the lift keeps a tier from flagging customers no likelier to
// churn than most, when most score nothing and a volume cut would fall
// on 0. at_risk, the tier CSMs act on, starts where a customer is three
// times as likely to churn as the average one. A weak model reaches high
// lifts only near the cap; the header gives the probability at each cut.
var (
	Volumes = [3]float64{0.15, 0.07, 0.02}
	Lifts   = [3]float64{1.5, 3, 6}
)

// Tiers are, for each tier, the higher of the raw score flagging its
// volume of raw (the fitting observations' fitted raw scores) and the one
// where c reaches its lift over base; each at least a point above the
// one below and within (hysteresis, 100].
func Tiers(c rules.Calibration, base float64, raw []float64, hysteresis float64) rules.Thresholds {
	th := rules.Thresholds{Hysteresis: hysteresis}
	lo := hysteresis + 1
	cuts := [3]*float64{&th.Watch, &th.AtRisk, &th.Critical}
	for i := range cuts {
		cut := math.Floor(quantile(raw, 1-Volumes[i])) + 1 // above the volume's last score
		p := min(Lifts[i]*base, 0.95)
		lift := math.Inf(1)
		if c.Slope > 0 {
			lift = math.Ceil((math.Log(p/(1-p)) - c.Intercept) / c.Slope)
		}
		*cuts[i] = max(lo, min(max(cut, lift), 98+float64(i)))
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
