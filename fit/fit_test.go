package fit_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/fit"
	"github.com/riskwatch/riskwatch/rules"
)

// rows repeats (x, y) n times.
func rows(x []float64, y bool, n int) ([][]float64, []bool) {
	var xs [][]float64
	var ys []bool
	for range n {
		xs, ys = append(xs, x), append(ys, y)
	}
	return xs, ys
}

func concat(parts ...any) ([][]float64, []bool) {
	var xs [][]float64
	var ys []bool
	for i := 0; i < len(parts); i += 2 {
		xs, ys = append(xs, parts[i].([][]float64)...), append(ys, parts[i+1].([]bool)...)
	}
	return xs, ys
}

func TestLogistic(t *testing.T) {
	// One binary feature: the unpenalised fit is the log-odds of each
	// group. x=0: 2 of 10 churn (odds 1/4); x=1: 6 of 10 (odds 3/2).
	a0, a1 := rows([]float64{0}, true, 2)
	b0, b1 := rows([]float64{0}, false, 8)
	c0, c1 := rows([]float64{1}, true, 6)
	d0, d1 := rows([]float64{1}, false, 4)
	x, y := concat(a0, a1, b0, b1, c0, c1, d0, d1)

	tests := []struct {
		name      string
		l2        float64
		intercept float64
		beta      float64
		delta     float64
	}{
		{"unpenalised: the groups' log-odds", 1e-9, math.Log(0.25), math.Log(6), 1e-6},
		{"a penalty shrinks beta", 5, math.NaN(), math.NaN(), 0},
	}
	var prev float64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, b, err := fit.Logistic(x, y, tt.l2)
			require.NoError(t, err)
			require.Len(t, b, 1)
			if !math.IsNaN(tt.beta) {
				assert.InDelta(t, tt.intercept, i, tt.delta)
				assert.InDelta(t, tt.beta, b[0], tt.delta)
				prev = b[0]
				return
			}
			assert.Less(t, b[0], prev)
			assert.Positive(t, b[0])
		})
	}
}

func TestLogisticRecoversKnownCoefficients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := []float64{2, -1, 0}
	var x [][]float64
	var y []bool
	for range 20000 {
		row := []float64{0, 0, 0}
		for j := range row {
			if rng.Float64() < 0.3 {
				row[j] = 1
			}
		}
		z := -1.5 + want[0]*row[0] + want[1]*row[1] + want[2]*row[2]
		x, y = append(x, row), append(y, rng.Float64() < 1/(1+math.Exp(-z)))
	}
	b0, b, err := fit.Logistic(x, y, 1e-6)
	require.NoError(t, err)
	assert.InDelta(t, -1.5, b0, 0.1)
	for j := range want {
		assert.InDelta(t, want[j], b[j], 0.12, "beta %d", j)
	}
}

func TestLogisticSeparableStaysFinite(t *testing.T) {
	a0, a1 := rows([]float64{1}, true, 20)
	b0, b1 := rows([]float64{0}, false, 20)
	x, y := concat(a0, a1, b0, b1)
	var last float64
	for _, l2 := range []float64{0.1, 1, 10} {
		_, b, err := fit.Logistic(x, y, l2)
		require.NoError(t, err)
		assert.False(t, math.IsInf(b[0], 0) || math.IsNaN(b[0]))
		assert.Positive(t, b[0])
		if last != 0 {
			assert.Less(t, b[0], last, "a larger penalty shrinks more")
		}
		last = b[0]
	}
}

func TestLogisticPriorPullsTowardIt(t *testing.T) {
	a0, a1 := rows([]float64{0}, true, 2)
	b0, b1 := rows([]float64{0}, false, 8)
	c0, c1 := rows([]float64{1}, true, 6)
	d0, d1 := rows([]float64{1}, false, 4)
	x, y := concat(a0, a1, b0, b1, c0, c1, d0, d1)
	_, b, err := fit.LogisticPrior(x, y, 1e6, []float64{-3})
	require.NoError(t, err)
	assert.InDelta(t, -3, b[0], 0.01, "a huge penalty keeps the prior")
	_, b, err = fit.LogisticPrior(x, y, 1e-9, []float64{-3})
	require.NoError(t, err)
	assert.InDelta(t, math.Log(6), b[0], 1e-5, "no penalty, no prior")
}

func TestLogisticErrors(t *testing.T) {
	_, _, err := fit.Logistic([][]float64{{1}, {0}}, []bool{true, true}, 1)
	assert.ErrorContains(t, err, "all one class")
	_, _, err = fit.Logistic([][]float64{{1}, {0, 1}}, []bool{true, false}, 1)
	assert.ErrorContains(t, err, "row 1 has 2 columns")
	_, _, err = fit.Logistic(nil, nil, 1)
	assert.Error(t, err)
}

func TestPlatt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var raw []float64
	var y []bool
	for range 30000 {
		r := rng.Float64() * 150
		raw, y = append(raw, r), append(y, rng.Float64() < 1/(1+math.Exp(-(-4+0.05*r))))
	}
	c, err := fit.Platt(raw, y, 90*24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, rules.MethodPlatt, c.Method)
	assert.Equal(t, 90*24*time.Hour, c.Horizon)
	assert.InDelta(t, -4, c.Intercept, 0.15)
	assert.InDelta(t, 0.05, c.Slope, 0.003)

	// Churn falling as the score rises: no calibration of a score that
	// means nothing.
	for i := range y {
		y[i] = !y[i]
	}
	_, err = fit.Platt(raw, y, 90*24*time.Hour)
	assert.ErrorContains(t, err, "does not predict churn")
}

func TestBrierAndCalibrationError(t *testing.T) {
	p := []float64{0.1, 0.9, 0.5, 0.5}
	y := []bool{false, true, true, false}
	// (0.01 + 0.01 + 0.25 + 0.25) / 4
	assert.InDelta(t, 0.13, fit.Brier(p, y), 1e-12)
	// Four bins of one: |0.1-0| + |0.5-0| + |0.5-1| + |0.9-1|, over 4.
	assert.InDelta(t, (0.1+0.5+0.5+0.1)/4, fit.CalibrationError(p, y), 1e-12)
	assert.True(t, math.IsNaN(fit.Brier(nil, nil)))

	// Perfectly calibrated bins: 20% predicted, one in five churns.
	p = []float64{0.2, 0.2, 0.2, 0.2, 0.2}
	y = []bool{true, false, false, false, false}
	assert.InDelta(t, 0.16, fit.Brier(p, y), 1e-12)
}

func TestSplitLeaksNoLabel(t *testing.T) {
	day := 24 * time.Hour
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var dates []time.Time
	for i := range 30 { // weekly, 2026-01-01 … 2026-07-23
		dates = append(dates, start.Add(time.Duration(i)*7*day))
	}
	tests := []struct {
		name     string
		splitAt  time.Time
		holdout  float64
		fit, val int
		wantErr  string
	}{
		{"split at a date", start.Add(140 * day), 0, 8, 10, ""}, // fit dates ≤ day 50, val from day 140
		{"holdout 0.3", time.Time{}, 0.3, 9, 9, ""},             // val: the last 9 dates, from day 147; fit ≤ day 57
		{"split too early", start.Add(60 * day), 0, 0, 0, "no date whose 90d horizon ends by"},
		{"split after the last date", start.Add(400 * day), 0, 0, 0, "no date from"},
		{"bad holdout", time.Time{}, 1.5, 0, 0, "holdout 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fitIdx, valIdx, at, err := fit.Split(dates, 90*day, tt.splitAt, tt.holdout)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, fitIdx, tt.fit)
			assert.Len(t, valIdx, tt.val)
			for _, i := range fitIdx {
				assert.False(t, dates[i].Add(90*day).After(at), "fitting date %s's label reaches past %s", dates[i], at)
			}
			for _, i := range valIdx {
				assert.False(t, dates[i].Before(at))
			}
		})
	}
}

func TestPoints(t *testing.T) {
	tests := []struct {
		name   string
		beta   []float64
		linear []float64
		k      float64
		want   []float64
	}{
		// The 99th percentile of the positive log-odds (2) maps to 100.
		{"by the scores", []float64{1, 0.5, -0.25, 0.0005}, []float64{-1, 0, 0.5, 1, 2}, 50, []float64{50, 25, -12.5, 0}},
		// One rule alone would need 150 points: the scale yields to it.
		{"by the largest rule", []float64{3, 1}, []float64{0.5, 1}, 100.0 / 3, []float64{100, 33.3}},
		{"nothing to weigh", []float64{0, 0}, []float64{0}, 0, []float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, w := fit.Points(tt.beta, tt.linear)
			assert.InDelta(t, tt.k, k, 1e-9)
			assert.Equal(t, tt.want, w)
		})
	}
}

func TestTiers(t *testing.T) {
	c := rules.Calibration{Method: rules.MethodPlatt, Intercept: -4, Slope: 0.05}
	// p = 3% base: the lifts 1.5, 3 and 6 are reached at raw 19, 34 and 50.
	liftCut := func(i int) float64 {
		p := fit.Lifts[i] * 0.03
		return math.Ceil((math.Log(p/(1-p)) + 4) / 0.05)
	}
	spread := make([]float64, 100) // 0 … 99
	for i := range spread {
		spread[i] = float64(i)
	}
	zeros := make([]float64, 100) // most score nothing
	zeros[99] = 70
	tests := []struct {
		name string
		raw  []float64
		want [3]float64
	}{
		// The volumes' cuts (85, 93, 98) are above the lifts'.
		{"by volume", spread, [3]float64{85, 93, 98}},
		// 0 would flag everyone: the lifts hold the cuts.
		{"by lift", zeros, [3]float64{liftCut(0), liftCut(1), liftCut(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := fit.Tiers(c, 0.03, tt.raw, 5)
			require.NoError(t, th.Validate())
			assert.Equal(t, tt.want, [3]float64{th.Watch, th.AtRisk, th.Critical})
		})
	}
	// A flat calibration cannot separate anyone: the tiers stay valid,
	// at the top of the scale.
	th := fit.Tiers(rules.Calibration{Intercept: -4}, 0.03, zeros, 5)
	require.NoError(t, th.Validate())
	assert.Equal(t, 100.0, th.Critical)
}
