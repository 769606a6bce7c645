package fit_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/fit"
	"github.com/riskwatch/riskwatch/internal/sim"
	"github.com/riskwatch/riskwatch/rules"
)

// history is a simulated base with outcomes, read as a backtest reads it.
func history(t testing.TB, customers, days int, seed uint64) *backtest.History {
	t.Helper()
	var b bytes.Buffer
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, sim.NewHistory(customers, days, end, seed).WriteHistory(&b))
	h, err := backtest.Read(&b, nil)
	require.NoError(t, err)
	return h
}

func defaultRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.Parse("configs/rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	return set
}

// The must-hold: fitted rules beat the default rules on a later,
// held-out period, on bases the test generates (several seeds, none
// tuned to).
func TestFittedRulesBeatTheDefaultsOnAHeldOutPeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("fits two simulated bases")
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			h := history(t, 400, 300, seed)
			r, err := fit.Fit(context.Background(), h, defaultRules(t), configs.DefaultRules, fit.Config{Holdout: 0.3})
			require.NoError(t, err)
			t.Logf("seed %d: input %+v\nfitted %+v", seed, r.InputFigures, r.FittedFigures)
			file := r.File("sim.ndjson")
			set, err := rules.Parse("fitted.yaml", file)
			require.NoError(t, err, "%s", file)
			assert.True(t, set.Calibrated)
			assert.Equal(t, r.Tiers, set.Tiers)
			assert.GreaterOrEqual(t, r.FittedFigures.AUC, r.InputFigures.AUC)
			assert.False(t, r.Worse())
			assert.True(t, r.Fit.To.Add(r.Horizon).Compare(r.Validation.From) <= 0, "a fitting label leaks into validation")
			assert.Positive(t, r.Validation.Churned)
		})
	}
}
