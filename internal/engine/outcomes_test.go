package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Outcomes and the fate of the warnings before them are state like the
// scores: a restarted engine restores them from its checkpoint, and the
// metrics count each outcome once, when it is recorded.
func TestFatesSurviveARestart(t *testing.T) {
	_, nc := natstest.Server(t, t.TempDir())
	f := startEngine(t, nc)
	end := time.Now().UTC().Add(-6 * 24 * time.Hour).Truncate(time.Second)
	f.publish(signals.CustomerPrefix+"acme", []byte(`{"id":"acme","arr":90000,"owner":"alice"}`), "")
	// A cancellation inquiry, the champion gone and a detractor: at_risk
	// or worse from then on; usage every day.
	for d := 10; d >= 0; d-- {
		f.signal(signals.KindUsage, fmt.Sprintf("acme-u%d", d), "acme", end.AddDate(0, 0, -d).Add(-time.Hour), `{"events":10}`)
		if d == 3 {
			at := end.AddDate(0, 0, -3)
			f.signal(signals.KindCommercial, "acme-crm-1", "acme", at, `{"type":"cancellation_inquiry"}`)
			f.signal(signals.KindChampion, "acme-crm-2", "acme", at.Add(time.Minute), `{"type":"left","contact":"Jo"}`)
			f.signal(signals.KindNPS, "acme-nps-1", "acme", at.Add(2*time.Minute), `{"score":2}`)
		}
	}
	for d := 1; d <= 4; d++ {
		f.signal(signals.KindUsage, fmt.Sprintf("acme-after-%d", d), "acme", end.AddDate(0, 0, d), `{"events":40}`)
	}
	// The CRM sends the churn after the usage of the days that follow it:
	// its own producer, behind the others.
	f.signal(signals.KindOutcome, "crm-acme-churn", "acme", end.AddDate(0, 0, 3), `{"type":"churned"}`)
	f.signal(signals.KindUsage, "calm-1", "calm", end, `{"events":10}`)
	f.signal(signals.KindOutcome, "crm-calm-renew", "calm", end.Add(time.Hour), `{"type":"renewed","arr":12000}`)
	f.wait()

	before, ok := f.eng.Customer("acme")
	require.True(t, ok)
	require.Equal(t, scorer.FateChurnedAfterAlert, before.Fate)
	require.Len(t, before.Outcomes, 1)
	require.NotNil(t, before.Outcomes[0].LeadTimeDays)
	assert.Greater(t, *before.Outcomes[0].LeadTimeDays, 3.0)
	sum := f.eng.Outcomes(api.OutcomesRequest{})
	assert.Equal(t, 1, sum.Fates[scorer.FateChurnedAfterAlert])
	assert.Equal(t, 1, sum.Fates[scorer.FateRenewedWithoutAlert])
	assert.Equal(t, 90000.0, sum.ARRLostAfterAlert)

	stats := scrape(t, f.eng)
	assert.Equal(t, 1.0, stats[`riskwatch_outcomes_total{type="churned"}`])
	assert.Equal(t, 1.0, stats[`riskwatch_outcomes_total{type="renewed"}`])
	assert.Equal(t, 1.0, stats[`riskwatch_alert_fates_total{fate="churned_after_alert"}`])
	assert.Equal(t, 1.0, stats[`riskwatch_alert_fates_total{fate="renewed_without_alert"}`])
	saved, ok := stats[`riskwatch_alert_fates_total{fate="saved"}`]
	assert.True(t, ok, "every fate is exported, zeros too")
	assert.Zero(t, saved)
	assert.Equal(t, 1.0, stats[`riskwatch_churn_lead_time_days_count`])
	f.stop()

	f2 := startEngine(t, nc)
	after, ok := f2.eng.Customer("acme")
	require.True(t, ok)
	assert.Equal(t, before.Fate, after.Fate)
	assert.Equal(t, before.Outcomes, after.Outcomes)
	assert.Equal(t, sum, f2.eng.Outcomes(api.OutcomesRequest{}), "the same summary after the restart")
	assert.Zero(t, scrape(t, f2.eng)[`riskwatch_outcomes_total{type="churned"}`], "restored, not recorded again")
}
