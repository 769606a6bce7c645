package book_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

func TestLifetimes(t *testing.T) {
	f := newFeeder(t)
	t0 := f.now.Add(-72 * time.Hour)
	f.profile(`{"id":"acme","arr":120000,"segment":"enterprise","stage":"renewal"}`)
	f.profile(`{"id":"only-a-profile","arr":5000}`)
	f.signal(signals.KindUsage, "u1", "acme", t0.Add(2*time.Hour), `{"events":3}`)
	f.signal(signals.KindUsage, "u0", "acme", t0, `{"events":3}`) // late, the earliest
	f.signal(signals.KindUsage, "g1", "globex", t0.Add(time.Hour), `{"events":3}`)
	f.signal(signals.KindOutcome, "g2", "globex", t0.Add(48*time.Hour), `{"type":"churned"}`)

	got := f.b.Lifetimes(func(c *book.Customer) (float64, bool) { return 0.25, c.Score.Customer == "acme" })
	slices.SortFunc(got, func(a, b churn.Customer) int { return strings.Compare(a.ID, b.ID) })
	require.Len(t, got, 2, "a profile without a signal is no customer yet")
	assert.Equal(t, churn.Customer{ID: "acme", Segment: "enterprise", Stage: "renewal", ARR: 120000,
		First: t0, Probability: 0.25, HasProbability: true}, got[0])
	assert.Equal(t, churn.Customer{ID: "globex", First: t0.Add(time.Hour), Churned: t0.Add(48 * time.Hour)}, got[1])

	for _, l := range f.b.Lifetimes(nil) {
		assert.False(t, l.HasProbability, "no probability without a source")
	}
}

// The probability is the calibrated one, from the raw score the state
// keeps: customers the 0..100 score ties at the cap (or at 0) still
// differ, in the order of their raw sums.
func TestProbabilityIsCalibrated(t *testing.T) {
	f := newFeeder(t)
	prev := -1.0
	for _, tc := range []struct{ score, raw float64 }{{0, -30}, {0, 0}, {43, 43}, {100, 100}, {100, 168}} {
		c := &book.Customer{}
		c.Score.Score, c.Score.Raw = tc.score, tc.raw
		p, ok := f.b.Probability(c)
		require.True(t, ok)
		assert.InDelta(t, rules.DefaultCalibration.Probability(tc.raw), p, 1e-12, "raw %v", tc.raw)
		assert.Greater(t, p, prev, "raw %v ranks above the one before", tc.raw)
		prev = p
	}
	assert.Equal(t, 90*24*time.Hour, f.b.ProbabilityHorizon())
	assert.Contains(t, f.b.ProbabilitySource(), "default calibration")

	// A customer the book scored has its raw score kept.
	f.signal(signals.KindUsage, "u1", "acme", f.now.Add(-time.Hour), `{"events":3}`)
	c := f.b.Customer("acme")
	require.NotNil(t, c)
	p, _ := f.b.Probability(c)
	assert.InDelta(t, rules.DefaultCalibration.Probability(c.Score.Raw), p, 1e-12)
}
