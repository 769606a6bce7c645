package rules

import (
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Calibration maps a customer's raw score (the signed sum of the rules'
// contributions, before the 0..100 clamp) to the probability that the
// customer churns within Horizon. Only Platt scaling is implemented:
// p = 1/(1+exp(-(Intercept + Slope*raw))), a logistic curve that keeps
// the order of the raw scores, so customers above the 100 cap still rank.
type Calibration struct {
	Method    string
	Intercept float64
	Slope     float64
	Horizon   time.Duration
}

// MethodPlatt is the calibration method a file may name.
const MethodPlatt = "platt"

// DefaultCalibration is used when a file has no calibration block, so
// that every customer has a probability. It is not fitted to anyone's
// churn: it is a monotone guess for a base that loses about 2% of its
// customers within 90 days, p = 1.8% at a raw score of 0, 12% at 40
// (watch), 27% at 60 (at_risk), 50% at 80 (critical) and 73% at 100.
// riskctl fit replaces it with one measured on the team's own history.
var DefaultCalibration = Calibration{Method: MethodPlatt, Intercept: -4, Slope: 0.05, Horizon: 90 * 24 * time.Hour}

// Probability is p(churn within c.Horizon) for a raw score. It allocates
// nothing: the scorer calls it on every evaluation.
func (c Calibration) Probability(raw float64) float64 {
	return 1 / (1 + math.Exp(-(c.Intercept + c.Slope*raw)))
}

// Bounds of a calibration block: a slope beyond them would make the
// probability a step function of a tenth of a point, a sign of a broken
// fit, not of a model.
const (
	maxCalibrationCoef = 50
	maxCalibrationSpan = 365 * 24 * time.Hour
)

var calibrationKeys = []string{"method", "intercept", "slope", "horizon"}

// calibration reads the calibration block; ok is false when it has
// problems, which are reported.
func (p *parser) calibration(n *yaml.Node) (Calibration, bool) {
	a := at{prefix: "calibration: "}
	m, ok := p.mapping(n, a, "a mapping with keys "+strings.Join(calibrationKeys, ", "))
	if !ok {
		return Calibration{}, false
	}
	before := len(p.errs)
	f := p.fields(m, a, calibrationKeys)
	for _, k := range calibrationKeys {
		if f[k] == nil {
			p.errorf(m, a, "%s: required", k)
		}
	}
	c := Calibration{}
	if v := f["method"]; v != nil {
		if s, ok := p.str(v, a.sub("method")); ok {
			if s != MethodPlatt {
				p.errorf(v, a.sub("method"), "unknown method %q (want %s)", s, MethodPlatt)
			}
			c.Method = s
		}
	}
	for _, k := range []string{"intercept", "slope"} {
		v := f[k]
		if v == nil {
			continue
		}
		x, ok := p.number(v, a.sub(k))
		if !ok {
			continue
		}
		if math.Abs(x) > maxCalibrationCoef {
			p.errorf(v, a.sub(k), "%v must be in [-%d, %d]", x, maxCalibrationCoef, maxCalibrationCoef)
		}
		if k == "intercept" {
			c.Intercept = x
		} else {
			c.Slope = x
		}
	}
	if v := f["slope"]; v != nil && c.Slope < 0 {
		// A higher score must never mean a lower risk: the tiers and the
		// ranking both read the score that way.
		p.errorf(v, a.sub("slope"), "%v must not be negative: a higher score cannot mean less risk", c.Slope)
	}
	if v := f["horizon"]; v != nil {
		if d, ok := p.duration(v, a.sub("horizon")); ok {
			if d < 24*time.Hour || d > maxCalibrationSpan {
				p.errorf(v, a.sub("horizon"), "%s must be between 1d and %s", formatDuration(d), formatDuration(maxCalibrationSpan))
			}
			c.Horizon = d
		}
	}
	return c, len(p.errs) == before
}
