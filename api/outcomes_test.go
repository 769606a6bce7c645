package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

func TestOutcomesSummary(t *testing.T) {
	const day = 86400
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	alice := &signals.Profile{ID: "a", Owner: "alice"}
	bob := &signals.Profile{ID: "b", Owner: "bob"}
	b := api.NewOutcomesBuilder(api.OutcomesRequest{})
	// Lead times 2, 5, 9 and 20 days (from the start of the day before
	// Alert): a median of 7.
	for i, lead := range []int64{2, 5, 9, 20} {
		b.Add(&scorer.Outcome{T: t0, ID: "c", Type: scorer.OutcomeChurned, Prior: 1000, Alert: t0 - (lead-1)*day}, []*signals.Profile{alice, bob}[i%2])
	}
	b.Add(&scorer.Outcome{T: t0, ID: "q", Type: scorer.OutcomeChurned, Prior: 500}, alice)
	b.Add(&scorer.Outcome{T: t0, ID: "s", Type: scorer.OutcomeRenewed, ARR: -1, Prior: 3000, Alert: t0 - day}, alice)
	b.Add(&scorer.Outcome{T: t0, ID: "e", Type: scorer.OutcomeExpanded, ARR: 4500, Prior: 3000, Alert: t0 - day}, nil)
	b.Add(&scorer.Outcome{T: t0, ID: "d", Type: scorer.OutcomeDowngraded, ARR: 700, Prior: 1000, Alert: t0 - day}, bob)
	b.Add(&scorer.Outcome{T: t0, ID: "r", Type: scorer.OutcomeRenewed, ARR: 900, Prior: 1000}, bob)
	b.AddOpen(alice)
	s := b.Summary()

	assert.Equal(t, 9, s.Outcomes)
	assert.Equal(t, map[scorer.Fate]int{scorer.FateSaved: 2, scorer.FateChurnedAfterAlert: 4, scorer.FateChurnedWithoutAlert: 1,
		scorer.FateDowngradedAfterAlert: 1, scorer.FateDowngradedWithoutAlert: 0, scorer.FateRenewedWithoutAlert: 1, scorer.FateOpen: 1}, s.Fates)
	assert.Equal(t, map[string]int{"renewed": 2, "churned": 5, "downgraded": 1, "expanded": 1}, s.ByType)
	assert.Equal(t, 7500.0, s.ARRSaved, "the prior ARR of a renewal without one, the new ARR of an expansion")
	assert.Equal(t, 4300.0, s.ARRLostAfterAlert, "four churns and a downgrade")
	assert.Equal(t, 600.0, s.ARRLostWithoutAlert, "a churn and a renewal for less")
	require.NotNil(t, s.SaveRate)
	assert.Equal(t, 0.286, *s.SaveRate, "2 saved of 7 alerted")
	require.NotNil(t, s.ChurnWarned)
	assert.Equal(t, 0.8, *s.ChurnWarned)
	assert.Equal(t, api.LeadTimes{Count: 4, Median: 7, Min: 2, Max: 20}, s.LeadTime)
	require.Len(t, s.Owners, 3)
	assert.Equal(t, []string{"", "alice", "bob"}, []string{s.Owners[0].Owner, s.Owners[1].Owner, s.Owners[2].Owner})
	assert.Equal(t, 1, s.Owners[1].Fates[scorer.FateOpen])
	assert.Equal(t, 4, s.Owners[2].Outcomes)

	empty := api.NewOutcomesBuilder(api.OutcomesRequest{}).Summary()
	assert.Nil(t, empty.SaveRate, "nothing to divide")
	assert.Nil(t, empty.ChurnWarned)
	assert.NotNil(t, empty.Owners)
	assert.Zero(t, empty.Fates[scorer.FateSaved])
	assert.Len(t, empty.Fates, len(scorer.Fates), "every fate, zeros included")
}

func TestOutcomesRequest(t *testing.T) {
	r := api.OutcomesRequest{Owner: "alice", Since: "2026-06-01", Until: "2026-06-30"}
	require.NoError(t, r.Check())
	from, to, err := r.Window()
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix(), from)
	assert.Equal(t, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).Unix(), to, "until includes its day")
	p := &signals.Profile{Owner: "alice"}
	assert.True(t, r.Match(from, from, to, p))
	assert.False(t, r.Match(to, from, to, p))
	assert.False(t, r.Match(from-1, from, to, p))
	assert.False(t, r.Match(from, from, to, nil), "an owner asked for, no profile")
	assert.True(t, api.OutcomesRequest{}.Match(0, 0, 0, nil))

	for _, bad := range []api.OutcomesRequest{{Since: "June"}, {Until: "2026-02-30"}, {Since: "2026-07-01", Until: "2026-06-30"}} {
		err := bad.Check()
		require.Error(t, err, "%+v", bad)
		assert.Equal(t, http.StatusBadRequest, api.StatusOf(err))
	}
}
