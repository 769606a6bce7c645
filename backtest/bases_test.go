package backtest_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/sim"
)

// measureBase backtests the default rules on a simulated base.
func measureBase(t *testing.T, base sim.Base, customers int, seed uint64) (rules, baseline backtest.ModelReport) {
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
	return rep.Models[0], rep.Models[1]
}

func TestPrintBases(t *testing.T) {
	for _, base := range sim.Bases {
		for seed := uint64(1); seed <= 4; seed++ {
			n := 1000
			if base == sim.Sparse {
				n = 3000
			}
			m, b := measureBase(t, base, n, seed)
			var atRisk backtest.TierReport
			for _, tr := range m.Tiers {
				if tr.Tier.String() == "at_risk" {
					atRisk = tr
				}
			}
			fmt.Printf("%s seed %d: auc %.3f recall %.3f far %.3f baseline auc %.3f (%s)\n", base, seed, m.AUC, atRisk.Recall, atRisk.FalseAlertRate, b.AUC, b.Name)
		}
	}
}
