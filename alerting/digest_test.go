package alerting

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

func TestBuildDigest(t *testing.T) {
	day := time.Date(2026, 11, 20, 23, 30, 0, 0, time.FixedZone("CET", 3600))
	entries := []DigestEntry{
		{Customer: "small", Score: 70, ScoreYesterday: 70, Tier: rules.AtRisk, TierYesterday: rules.AtRisk, ARR: 10000, RevenueAtRisk: 7000, DaysToRenewal: -1, Probability: 0.3},
		{Customer: "big", Score: 45, ScoreYesterday: 30, Tier: rules.Watch, TierYesterday: rules.Healthy, ARR: 200000, RevenueAtRisk: 90000, DaysToRenewal: 40, Probability: 0.15},
		{Customer: "worse", Score: 85, ScoreYesterday: 65, Tier: rules.Critical, TierYesterday: rules.AtRisk, ARR: 20000, RevenueAtRisk: 17000, DaysToRenewal: 10, Probability: 0.62},
		{Customer: "tie-late", Score: 70, Tier: rules.AtRisk, TierYesterday: rules.AtRisk, RevenueAtRisk: 7000, DaysToRenewal: 90, Probability: 0.3},
		{Customer: "tie-soon", Score: 70, Tier: rules.AtRisk, TierYesterday: rules.AtRisk, RevenueAtRisk: 7000, DaysToRenewal: 5, Probability: 0.3},
		{Customer: "recovered", Score: 20, ScoreYesterday: 45, Tier: rules.Healthy, TierYesterday: rules.Watch, ARR: 50000, RevenueAtRisk: 10000, DaysToRenewal: 100, Probability: 0.05},
		{Customer: "eased", Score: 50, ScoreYesterday: 70, Tier: rules.Watch, TierYesterday: rules.AtRisk, RevenueAtRisk: 1, DaysToRenewal: -1, Probability: 0.2},
		// Both at the capped score of 100; the raw scores behind it,
		// and so the probabilities, differ.
		{Customer: "capped-low", Score: 100, ScoreYesterday: 100, Tier: rules.Critical, TierYesterday: rules.Critical, DaysToRenewal: -1, Probability: 0.77},
		{Customer: "capped-high", Score: 100, ScoreYesterday: 100, Tier: rules.Critical, TierYesterday: rules.Critical, DaysToRenewal: -1, Probability: 0.905},
	}
	for i := range entries {
		entries[i].HorizonDays = 90
	}
	d := BuildDigest("alice", day, entries)

	assert.Equal(t, "2026-11-20", d.Date, "the UTC day")
	var order []string
	for _, e := range d.Entries {
		order = append(order, e.Customer)
	}
	assert.Equal(t, []string{"capped-high", "capped-low", "worse", "small", "tie-late", "tie-soon", "eased", "big"}, order,
		"by probability, then id; healthy customers are not listed")
	assert.Equal(t, 90.0, d.HorizonDays)
	assert.Equal(t, []string{"big"}, d.New)
	assert.Equal(t, []string{"worse"}, d.Worse)
	assert.Equal(t, []string{"eased", "recovered"}, d.Better)
	assert.Equal(t, 128001.0, d.RevenueAtRisk)

	body, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"tier":"critical","tier_yesterday":"at_risk"`)
	assert.Contains(t, string(body), `"probability":0.905`)
	assert.Contains(t, string(body), `"horizon_days":90`)

	empty := BuildDigest("", day, nil)
	body, err = json.Marshal(empty)
	require.NoError(t, err)
	assert.JSONEq(t, `{"owner":"","date":"2026-11-20","entries":[],"revenue_at_risk":0,"new":[],"worse":[],"better":[],"total":0,"outcomes":[]}`, string(body),
		"empty lists, not null, for subscribers that iterate")
}

func TestDigestSubjectAndID(t *testing.T) {
	assert.Equal(t, "risk.digest.alice", DigestSubject("alice"))
	assert.Equal(t, "risk.digest.unassigned", DigestSubject(""))
	assert.Equal(t, "risk.digest.=YS5iLj4", DigestSubject("a.b.>"))

	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	a := DigestID(BuildDigest("alice", day, nil))
	assert.Len(t, a, 32)
	assert.Equal(t, a, DigestID(BuildDigest("alice", day.Add(5*time.Hour), nil)), "one digest per owner and day")
	assert.NotEqual(t, a, DigestID(BuildDigest("alice", day.AddDate(0, 0, 1), nil)))
	assert.NotEqual(t, a, DigestID(BuildDigest("bob", day, nil)))
}

func TestDigestIsBounded(t *testing.T) {
	var entries []DigestEntry
	for i := range 3 * MaxDigestEntries {
		entries = append(entries, DigestEntry{Customer: fmt.Sprintf("c%04d", i), Score: 50, Tier: rules.Watch,
			ARR: float64(i), RevenueAtRisk: float64(i) / 2, DaysToRenewal: -1, Probability: float64(i) / 1000})
	}
	d := BuildDigest("", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), entries)
	require.Len(t, d.Entries, MaxDigestEntries)
	assert.Len(t, d.New, MaxDigestEntries)
	assert.Equal(t, 3*MaxDigestEntries, d.Total)
	assert.Equal(t, "c0599", d.Entries[0].Customer, "the largest probability comes first")
	body, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Less(t, len(body), 256<<10)
}

// The period's outcomes come in the digest of the customers' owner, with
// what became of the warnings, whatever tier their customers are in now.
func TestDigestOutcomes(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(h int) int64 { return day.Add(time.Duration(h-24) * time.Hour).Unix() }
	churned := scorer.Outcome{T: at(10), ID: "crm-churn", Type: scorer.OutcomeChurned, ARR: 0, Prior: 48000, Alert: at(10) - 12*86400}
	quiet := scorer.Outcome{T: at(9), ID: "crm-churn-2", Type: scorer.OutcomeChurned, ARR: 0, Prior: 9000}
	saved := scorer.Outcome{T: at(14), ID: "crm-renew", Type: scorer.OutcomeRenewed, ARR: 130000, Prior: 120000, Alert: at(14) - 30*86400}
	entries := []DigestEntry{
		// Churned: healthy both days (a churned customer scores on), but
		// its outcome is news.
		{Customer: "gone", Name: "Gone Ltd", Tier: rules.Healthy, TierYesterday: rules.Healthy, DaysToRenewal: -1,
			Outcomes: []DigestOutcome{NewDigestOutcome("gone", "Gone Ltd", &churned)}},
		{Customer: "quiet", Tier: rules.Healthy, TierYesterday: rules.Healthy, DaysToRenewal: -1,
			Outcomes: []DigestOutcome{NewDigestOutcome("quiet", "", &quiet)}},
		{Customer: "kept", Name: "Kept Inc", Score: 62, ScoreYesterday: 64, Tier: rules.AtRisk, TierYesterday: rules.AtRisk,
			ARR: 130000, RevenueAtRisk: 80600, DaysToRenewal: 365, Probability: 0.2689, HorizonDays: 90,
			Outcomes: []DigestOutcome{NewDigestOutcome("kept", "Kept Inc", &saved)}},
		{Customer: "nothing", Tier: rules.Healthy, TierYesterday: rules.Healthy, DaysToRenewal: -1},
	}
	ds := Digests(day, func(yield func(string, DigestEntry) bool) {
		for _, e := range entries {
			if !yield("alice", e) {
				return
			}
		}
	})
	require.Len(t, ds, 1)
	d := ds[0]
	require.Len(t, d.Outcomes, 3, "every outcome, the healthy customers' too")
	assert.Equal(t, []string{"quiet", "gone", "kept"}, []string{d.Outcomes[0].Customer, d.Outcomes[1].Customer, d.Outcomes[2].Customer}, "oldest first")
	assert.Equal(t, map[scorer.Fate]int{scorer.FateSaved: 1, scorer.FateChurnedAfterAlert: 1, scorer.FateChurnedWithoutAlert: 1}, d.Fates)
	assert.Equal(t, 13.0, *d.Outcomes[1].LeadTimeDays, "from the start of the day that ended at_risk")
	assert.Nil(t, d.Outcomes[0].LeadTimeDays, "no warning, no lead time")
	assert.Equal(t, -48000.0, *d.Outcomes[1].ARRChange)
	assert.Equal(t, 10000.0, *d.Outcomes[2].ARRChange)
	assert.Len(t, d.Entries, 1, "the entries are still the customers above healthy")
	body, err := json.Marshal(d)
	require.NoError(t, err)
	golden(t, "digest_outcomes.json", indent(t, body))
}
