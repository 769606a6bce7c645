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

func TestProbabilityStandsInFromTheScore(t *testing.T) {
	for score, want := range map[float64]float64{0: 0, 43: 0.43, 100: 1, 130: 1, -5: 0} {
		c := &book.Customer{}
		c.Score.Score = score
		p, ok := book.Probability(c)
		assert.True(t, ok)
		assert.InDelta(t, want, p, 1e-12, "score %v", score)
	}
}
