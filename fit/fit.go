package fit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/rules"
)

// Config is what a fit learns from and how.
type Config struct {
	// Horizon, Every and Warmup set the dates as for a backtest, except
	// that Every defaults to 7 days: a fit wants more observations than
	// a report (they are correlated week to week, so they add less than
	// their number, but they do add).
	Horizon, Every, Warmup time.Duration
	// SplitAt starts the validation period; when zero, the latest
	// Holdout share of the dates (default 0.3) is validated on.
	SplitAt time.Time
	Holdout float64
	// L2 is the penalty pulling each coefficient toward the input's:
	// about how many observations' worth of belief the input weights
	// get. Zero chooses it from L2Grid on the fitting period (see Fit).
	L2 float64
	// Progress, when set, is told of the signals replayed so far, out of
	// the total of both replays (the input's, then the fitted set's).
	Progress func(done, total int)
}

func (c *Config) defaults() {
	if c.Horizon <= 0 {
		c.Horizon = 90 * 24 * time.Hour
	}
	if c.Every <= 0 {
		c.Every = 7 * 24 * time.Hour
	}
	if c.Holdout <= 0 && c.SplitAt.IsZero() {
		c.Holdout = 0.3
	}
}

// Period is a span of dates a fit used.
type Period struct {
	From, To     time.Time
	Dates        int
	Observations int
	Churned      int
}

// Figures are a rule set's validation figures.
type Figures struct {
	// AUC of the raw score, as riskctl backtest measures it (the order
	// of the probability, no ties at the cap); ScoreAUC of the score
	// clamped to 0..100.
	AUC, ScoreAUC float64
	// At at_risk and above.
	Recall, Precision, FalseAlertRate float64
	// Of the probability against the outcomes.
	Brier, CalibrationError float64
}

// Coefficient is one rule's fitted coefficient and points.
type Coefficient struct {
	Rule string
	// Beta is the change in log-odds of churn when the rule is fully
	// active; Weight the points it becomes (0: dropped); Input the input
	// set's weight.
	Beta, Weight, Input float64
}

// Result is a fitted rule set and how it validated against its input.
type Result struct {
	Input, Fitted *rules.Set
	// Customers and Signals of the history, and its span.
	Customers, Signals int
	From, To           time.Time
	Horizon            time.Duration
	SplitAt            time.Time
	Fit, Validation    Period
	Intercept, Scale   float64
	// L2 is the penalty the fit used.
	L2           float64
	Coefficients []Coefficient
	Calibration  rules.Calibration
	Tiers        rules.Thresholds
	// InputFigures and FittedFigures are measured on the validation dates.
	InputFigures, FittedFigures Figures

	body []byte // the fitted file without its header
}

// Worse reports whether the fitted set validates worse than its input:
// a lower AUC (of the raw score, as riskctl backtest measures it) on the
// validation period.
func (r *Result) Worse() bool { return r.FittedFigures.AUC < r.InputFigures.AUC }

// Fit learns weights, tiers and a calibration for input (parsed from
// src) from h, and validates the fitted set and the input on a later
// period than it learned from.
func Fit(ctx context.Context, h *backtest.History, input *rules.Set, src []byte, cfg Config) (*Result, error) {
	cfg.defaults()
	if input == nil || len(input.Rules) == 0 {
		return nil, errors.New("fit: no input rules")
	}
	bcfg := backtest.Config{Horizon: cfg.Horizon, Every: cfg.Every, Warmup: cfg.Warmup}
	bcfg.Progress = func(done, total int) {
		if cfg.Progress != nil {
			cfg.Progress(done, 2*total)
		}
	}
	obs, dates, err := backtest.Observe(ctx, h, input, bcfg)
	if err != nil {
		return nil, fmt.Errorf("fit: scoring with the input rules: %w", err)
	}
	fitIdx, valIdx, splitAt, err := Split(dates, cfg.Horizon, cfg.SplitAt, cfg.Holdout)
	if err != nil {
		return nil, err
	}
	r := &Result{Input: input, Signals: len(h.Signals), From: h.First, To: h.Last, Horizon: cfg.Horizon, SplitAt: splitAt}
	customers := map[string]struct{}{}
	for _, o := range obs {
		customers[o.Customer] = struct{}{}
	}
	r.Customers = len(customers)
	fitting, validating := byDates(obs, fitIdx), byDates(obs, valIdx)
	r.Fit, r.Validation = period(fitting, dates, fitIdx), period(validating, dates, valIdx)

	x, y := matrix(fitting, input)
	// The input weights are the prior: a team's rules say what it knows,
	// and a few dozen churners should adjust them, not replace them with
	// the noise of one season (shrinking toward 0 made rules that fired
	// on a handful of benign look-alikes protective, and lost to the
	// input on the later period). Their scale in log-odds is the input's
	// own Platt slope on the fitting period.
	prior := make([]float64, len(input.Rules))
	inRaw := make([]float64, len(x))
	for i, row := range x {
		for j, r := range input.Rules {
			inRaw[i] += r.Weight * row[j]
		}
	}
	if c, err := Platt(inRaw, y, cfg.Horizon); err == nil {
		for j, r := range input.Rules {
			prior[j] = c.Slope * r.Weight
		}
	}
	if r.L2 = cfg.L2; r.L2 <= 0 {
		r.L2 = chooseL2(fitting, x, y, prior)
	}
	b0, beta, err := LogisticPrior(x, y, r.L2, prior)
	if err != nil {
		return nil, fmt.Errorf("fit: the regression on %d observations: %w", len(x), err)
	}
	linear := make([]float64, len(x))
	for i, row := range x {
		linear[i] = dot(beta, row)
	}
	k, weights := Points(beta, linear)
	if k == 0 || allZero(weights) {
		return nil, errors.New("fit: no rule's activation predicts churn on the fitting period: nothing to weigh")
	}
	r.Intercept, r.Scale = b0, k
	for j, rule := range input.Rules {
		r.Coefficients = append(r.Coefficients, Coefficient{Rule: rule.Name, Beta: beta[j], Weight: weights[j], Input: rule.Weight})
	}
	raw := make([]float64, len(x))
	for i, row := range x {
		raw[i] = dot(weights, row)
	}
	if r.Calibration, err = Platt(raw, y, cfg.Horizon); err != nil {
		return nil, fmt.Errorf("fit: calibrating the fitted score: %w", err)
	}
	r.Tiers = Tiers(r.Calibration, float64(r.Fit.Churned)/float64(r.Fit.Observations), raw, input.Tiers.Hysteresis)

	if r.body, err = rewrite(src, r); err != nil {
		return nil, err
	}
	if r.Fitted, err = rules.Parse(input.Source+" (fitted)", r.body); err != nil {
		return nil, fmt.Errorf("fit: the fitted rules do not parse: %w", err)
	}
	valDates := make([]time.Time, len(valIdx))
	for i, d := range valIdx {
		valDates[i] = dates[d]
	}
	bcfg.At = valDates
	bcfg.Progress = func(done, total int) {
		if cfg.Progress != nil {
			cfg.Progress(total+done, 2*total)
		}
	}
	fitted, _, err := backtest.Observe(ctx, h, r.Fitted, bcfg)
	if err != nil {
		return nil, fmt.Errorf("fit: validating the fitted rules: %w", err)
	}
	r.InputFigures, r.FittedFigures = figures(validating), figures(fitted)
	return r, nil
}

// byDates are the observations at the dates idx (sorted).
func byDates(obs []backtest.Observation, idx []int) []backtest.Observation {
	in := map[int]bool{}
	for _, i := range idx {
		in[i] = true
	}
	var out []backtest.Observation
	for _, o := range obs {
		if in[o.Date] {
			out = append(out, o)
		}
	}
	return out
}

func period(obs []backtest.Observation, dates []time.Time, idx []int) Period {
	p := Period{From: dates[idx[0]], To: dates[idx[len(idx)-1]], Dates: len(idx), Observations: len(obs)}
	for _, o := range obs {
		if o.Churned {
			p.Churned++
		}
	}
	return p
}

// matrix is the fitting data: a row per observation, a column per rule
// of set holding its activation, and the labels.
func matrix(obs []backtest.Observation, set *rules.Set) ([][]float64, []bool) {
	x := make([][]float64, len(obs))
	y := make([]bool, len(obs))
	for i, o := range obs {
		row := make([]float64, len(set.Rules))
		for j, r := range set.Rules {
			row[j] = o.Activation[r.Name]
		}
		x[i], y[i] = row, o.Churned
	}
	return x, y
}

func figures(obs []backtest.Observation) Figures {
	scores, raw, prob := make([]float64, len(obs)), make([]float64, len(obs)), make([]float64, len(obs))
	labels := make([]bool, len(obs))
	var c backtest.Confusion
	for i, o := range obs {
		scores[i], raw[i], prob[i], labels[i] = o.Score, o.Raw, o.Probability, o.Churned
		c.Add(o.Tier >= rules.AtRisk, o.Churned, o.ARR)
	}
	return Figures{AUC: backtest.AUC(raw, labels), ScoreAUC: backtest.AUC(scores, labels),
		Recall: c.Recall(), Precision: c.Precision(), FalseAlertRate: c.FalseAlertRate(),
		Brier: Brier(prob, labels), CalibrationError: CalibrationError(prob, labels)}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func allZero(xs []float64) bool {
	for _, x := range xs {
		if x != 0 && !math.IsNaN(x) {
			return false
		}
	}
	return true
}

// L2Grid are the penalties a fit chooses from.
var L2Grid = []float64{1, 3, 10, 30, 100, 300, 1000}

// chooseL2 picks the penalty for a fit: each of L2Grid is fitted on the
// earlier two thirds of the fitting dates and ranks the later third (AUC
// of the log-odds); of those within one standard error of the best AUC,
// the largest penalty wins (the one-standard-error rule). On the few
// churners of one season the AUCs differ by noise more than by skill, and
// then the input's weights, which the penalty pulls toward, are the safer
// bet. Only the fitting period is read: the validation period stays
// unseen. The inner labels overlap the inner fit's horizon, a leak within
// the fitting period that only sways the choice of penalty.
func chooseL2(obs []backtest.Observation, x [][]float64, y []bool, prior []float64) float64 {
	first, last := obs[0].Date, obs[len(obs)-1].Date
	cut := first + (last-first+1)*2/3
	var fx, vx [][]float64
	var fy, vy []bool
	for i, o := range obs {
		if o.Date < cut {
			fx, fy = append(fx, x[i]), append(fy, y[i])
		} else {
			vx, vy = append(vx, x[i]), append(vy, y[i])
		}
	}
	aucs := make([]float64, len(L2Grid))
	best := -1
	for i, l2 := range L2Grid {
		aucs[i] = math.NaN()
		_, beta, err := LogisticPrior(fx, fy, l2, prior)
		if err != nil {
			continue
		}
		lin := make([]float64, len(vx))
		for k, row := range vx {
			lin[k] = dot(beta, row)
		}
		aucs[i] = backtest.AUC(lin, vy)
		if !math.IsNaN(aucs[i]) && (best < 0 || aucs[i] > aucs[best]) {
			best = i
		}
	}
	if best < 0 {
		return L2Grid[len(L2Grid)-1] // nothing to choose on: trust the input
	}
	se := aucSE(aucs[best], vy)
	choice := best
	for i := range L2Grid {
		if aucs[i] >= aucs[best]-se {
			choice = i // the grid ascends: the last within reach is the largest
		}
	}
	return L2Grid[choice]
}

// aucSE is the standard error of an AUC over labels y (Hanley and
// McNeil, 1982).
func aucSE(a float64, y []bool) float64 {
	var np, nn float64
	for _, v := range y {
		if v {
			np++
		} else {
			nn++
		}
	}
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	return math.Sqrt((a*(1-a) + (np-1)*(q1-a*a) + (nn-1)*(q2-a*a)) / (np * nn))
}
