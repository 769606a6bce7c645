package backtest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/sim"
	"github.com/riskwatch/riskwatch/rules"
)

// measureBase backtests the default rules on a simulated base (a year,
// 90-day horizon, a date every 30 days): the rules' report and the
// baseline's.
func measureBase(t *testing.T, base sim.Base, customers int, seed uint64) (def, baseline backtest.ModelReport) {
	t.Helper()
	h, err := sim.NewBase(base, customers, 365, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), seed)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.WriteHistory(&buf))
	hist, err := backtest.Read(&buf, nil)
	require.NoError(t, err)
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	rep, err := backtest.Run(context.Background(), hist, backtest.Config{Models: []backtest.Model{{Name: "default", Rules: set}}})
	require.NoError(t, err)
	require.Len(t, rep.Models, 2)
	require.Equal(t, backtest.BaselineName, rep.Models[1].Name)
	return rep.Models[0], rep.Models[1]
}

func atRisk(m backtest.ModelReport) backtest.TierReport {
	for _, tr := range m.Tiers {
		if tr.Tier == rules.AtRisk {
			return tr
		}
	}
	panic("no at_risk tier in the report")
}

// The default rules must hold up before any fitting (issue 14), on bases
// the test generates with seeds nobody tuned to: on a realistic base with
// quiet churners and benign look-alikes, a recall of 0.60 or more at
// at_risk+, false alerts at 0.10 or less, an AUC of 0.85 (over the seeds;
// a single 600-customer base moves it by about ±0.02).
func TestDefaultRulesOnARealisticBase(t *testing.T) {
	if testing.Short() {
		t.Skip("backtests three simulated years")
	}
	var sum float64
	seeds := []uint64{11, 12, 13}
	for _, seed := range seeds {
		def, baseline := measureBase(t, sim.Realistic, 600, seed)
		tr := atRisk(def)
		t.Logf("realistic seed %d: AUC %.3f (baseline %.3f), at_risk+ recall %.3f, false alerts %.3f",
			seed, def.AUC, baseline.AUC, tr.Recall, tr.FalseAlertRate)
		assert.GreaterOrEqual(t, float64(tr.Recall), 0.60, "seed %d: recall at at_risk+", seed)
		assert.LessOrEqual(t, float64(tr.FalseAlertRate), 0.10, "seed %d: false alerts at at_risk+", seed)
		assert.GreaterOrEqual(t, float64(def.AUC), 0.83, "seed %d: AUC", seed)
		assert.Greater(t, float64(def.AUC), float64(baseline.AUC)+0.2, "seed %d: far above silence alone", seed)
		sum += float64(def.AUC)
	}
	assert.GreaterOrEqual(t, sum/float64(len(seeds)), 0.85, "AUC over the seeds")
}

// On a base with sparse usage, where silence is nearly all there is to
// know, the default score must rank leavers at least as well as the naive
// baseline (time since the last event against the customer's cadence).
func TestDefaultRulesOnASparseBase(t *testing.T) {
	if testing.Short() {
		t.Skip("backtests three simulated years")
	}
	var rulesSum, baseSum float64
	seeds := []uint64{11, 12, 13}
	for _, seed := range seeds {
		def, baseline := measureBase(t, sim.Sparse, 3000, seed)
		t.Logf("sparse seed %d: AUC %.3f, baseline %.3f", seed, def.AUC, baseline.AUC)
		// One base of 3,000 moves either AUC by about ±0.01.
		assert.GreaterOrEqual(t, float64(def.AUC), float64(baseline.AUC)-0.01, "seed %d", seed)
		rulesSum += float64(def.AUC)
		baseSum += float64(baseline.AUC)
	}
	assert.GreaterOrEqual(t, rulesSum, baseSum, "AUC over the seeds: the rules against the baseline")
}
