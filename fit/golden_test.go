package fit_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/fit"
	"github.com/riskwatch/riskwatch/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The written file: header, comments kept, weights, overrides scaled,
// tiers and calibration; it parses, and what it says is what was fitted.
func TestFileGolden(t *testing.T) {
	set, src := threeRules(t)
	h := smallHistory(t, 3, 200)
	r, err := fit.Fit(context.Background(), h, set, src, fit.Config{Horizon: 30 * 24 * time.Hour, Holdout: 0.3})
	require.NoError(t, err)
	got := r.File("small.ndjson")

	path := filepath.Join("testdata", "fitted.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./fit -run TestFileGolden -update to create it")
	assert.Equal(t, string(want), string(got))

	fitted, err := rules.Parse("fitted.yaml", got)
	require.NoError(t, err)
	assert.Equal(t, r.Calibration.Method, fitted.Calibration.Method)
	assert.InDelta(t, r.Calibration.Slope, fitted.Calibration.Slope, 1e-6)
	assert.Equal(t, r.Tiers, fitted.Tiers)
	assert.Contains(t, string(got), "# A burst of tickets: the hand weight is a guess.", "comments survive")
	assert.Contains(t, string(got), "- Call the customer", "playbooks survive")
	for _, c := range r.Coefficients {
		rule := fitted.Rule(c.Rule)
		if c.Weight == 0 {
			assert.Nil(t, rule, c.Rule)
			continue
		}
		require.NotNil(t, rule, c.Rule)
		assert.Equal(t, c.Weight, rule.Weight, c.Rule)
		assert.Equal(t, set.Rule(c.Rule).When, rule.When)
	}
	if spike := fitted.Rule("ticket-spike"); spike != nil {
		assert.InDelta(t, spike.Weight*50/45, spike.Segments["enterprise"], 0.5, "overrides scale with the weight")
	}
	// The faders are what the base's churners share: usage-drop must
	// weigh more than the ticket bursts that benign customers have too.
	assert.Greater(t, fitted.Rule("usage-drop").Weight, set.Rule("usage-drop").Weight)
	assert.Greater(t, r.FittedFigures.AUC, 0.5)
}
