package book_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Customers the cap ties at a score of 100 have distinct probabilities,
// from their raw sums, and every place a CSM looks ranks them by those:
// the list, the view, the alerts and the digest.
func TestProbabilityRanksCustomersAtTheCap(t *testing.T) {
	f := newFeeder(t)
	news := []struct {
		kind signals.Kind
		data string
	}{
		{signals.KindCommercial, `{"type":"cancellation_inquiry"}`},
		{signals.KindChampion, `{"type":"left","contact":"Jo"}`},
		{signals.KindNPS, `{"score":2,"comment":"leaving"}`},
		{signals.KindCommercial, `{"type":"downgrade_request","change_pct":-40}`},
		{signals.KindBilling, `{"type":"payment_failed"}`},
		{signals.KindRating, `{"value":"red","by":"alice"}`},
	}
	// "bad" comes first by id; "worst" has one more piece of bad news.
	for _, tc := range []struct {
		id string
		n  int
	}{{"some", 3}, {"bad", 5}, {"worst", 6}} {
		f.profile(fmt.Sprintf(`{"id":%q,"owner":"alice"}`, tc.id))
		for i, s := range news[:tc.n] {
			f.signal(s.kind, fmt.Sprintf("%s-%d", tc.id, i), tc.id, f.now.Add(-3*time.Hour+time.Duration(i)*time.Minute), s.data)
		}
	}

	views := map[string]api.CustomerView{}
	for _, id := range []string{"some", "bad", "worst"} {
		v, ok := f.b.View(id, false)
		require.True(t, ok)
		c := f.b.Customer(id)
		p, _ := f.b.Probability(c)
		assert.Equal(t, p, v.Probability, "%s: the view's probability is the book's", id)
		assert.Equal(t, c.Score.Raw, v.RawScore)
		assert.InDelta(t, rules.DefaultCalibration.Probability(v.RawScore), v.Probability, 1e-12)
		assert.Equal(t, 90.0, v.HorizonDays)
		views[id] = v
	}
	require.Equal(t, 100.0, views["bad"].Score, "the test needs two customers at the cap")
	require.Equal(t, 100.0, views["worst"].Score)
	require.Greater(t, views["worst"].RawScore, views["bad"].RawScore)
	assert.Greater(t, views["worst"].Probability, views["bad"].Probability)
	assert.Greater(t, views["bad"].Probability, views["some"].Probability)

	for _, sort := range []string{"", "score", "probability"} {
		fl := api.Filter{Sort: sort}
		var ids []string
		for _, v := range fl.Order(f.b.Matching(fl)) {
			ids = append(ids, v.Customer)
		}
		assert.Equal(t, []string{"worst", "bad", "some"}, ids, "sort %q", sort)
	}

	require.NotEmpty(t, f.alerts)
	for _, a := range f.alerts {
		assert.Equal(t, 90.0, a.HorizonDays, a.Customer)
		assert.True(t, a.Probability > 0 && a.Probability < 1, "%s: p = %v", a.Customer, a.Probability)
	}

	f.signal(signals.KindUsage, "u1", "other", f.now.Add(20*time.Hour), `{}`) // a new day: digests
	require.NotEmpty(t, f.digests)
	d := f.digests[len(f.digests)-1]
	require.Equal(t, "alice", d.Owner)
	assert.Equal(t, 90.0, d.HorizonDays)
	var ids []string
	for _, e := range d.Entries {
		ids = append(ids, e.Customer)
		assert.Equal(t, views[e.Customer].Probability, e.Probability, "%s in the digest", e.Customer)
	}
	assert.Equal(t, []string{"worst", "bad", "some"}, ids, "the digest ranks by probability")
}
