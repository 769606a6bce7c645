package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

func TestEvalHealthyCustomerFiresNothing(t *testing.T) {
	s := defaultSet(t)
	f := healthy()
	assert.Empty(t, firing(t, s, &f))

	// A promoter with steady usage and no profile at all: still nothing.
	var bare rules.Features
	bare.Usage = f.Usage
	bare.NPS = rules.NPSFeatures{Answered: true, Last: 10, Previous: -1, DaysSince: 3}
	bare.Commercial = rules.CommercialFeatures{DaysSinceRequest: -1, RequestDaysToRenewal: -1, OldestUnansweredQuote: -1, DaysToRenewal: -1}
	bare.Contact.DaysSinceCSM = -1
	bare.Champion.DaysSinceLost = -1
	bare.Rating.DaysSince = -1
	bare.Profile.DaysToRenewal = -1
	bare.Customer.AgeDays = 90
	assert.Empty(t, firing(t, s, &bare))
}

func TestEvalDefaultRules(t *testing.T) {
	s := defaultSet(t)
	tests := []struct {
		name   string
		rule   string
		change func(*rules.Features)
		want   bool
	}{
		{"ticket spike", "ticket-spike", func(f *rules.Features) { f.Tickets.Opened7d, f.Tickets.SpikeRatio = 5, 4.1 }, true},
		{"many tickets at the usual rate", "ticket-spike", func(f *rules.Features) {
			f.Tickets.Opened7d, f.Tickets.BaselineWeekly, f.Tickets.SpikeRatio = 6, 5, 1.2
		}, false},
		{"a spike of two tickets", "ticket-spike", func(f *rules.Features) { f.Tickets.Opened7d, f.Tickets.SpikeRatio = 2, 4 }, false},
		{"one escalation", "urgent-tickets", func(f *rules.Features) { f.Tickets.Escalated7d = 1 }, true},
		{"one urgent ticket", "urgent-tickets", func(f *rules.Features) { f.Tickets.Urgent7d = 1 }, false},
		{"backlog against a quiet baseline", "open-backlog", func(f *rules.Features) { f.Tickets.OpenBacklog = 6 }, true},
		{"backlog normal for a busy account", "open-backlog", func(f *rules.Features) {
			f.Tickets.OpenBacklog, f.Tickets.BaselineWeekly = 6, 4
		}, false},
		{"detractor", "nps-detractor", func(f *rules.Features) { f.NPS.Last, f.NPS.Detractor = 4, true }, true},
		{"old detractor", "nps-detractor", func(f *rules.Features) { f.NPS.Last, f.NPS.Detractor, f.NPS.DaysSince = 4, true, 200 }, false},
		{"passive", "nps-passive", func(f *rules.Features) { f.NPS.Last, f.NPS.Passive = 7, true }, true},
		{"promoter", "nps-passive", func(f *rules.Features) { f.NPS.Last = 9 }, false},
		{"NPS fell 3 points", "nps-drop", func(f *rules.Features) { f.NPS.Previous, f.NPS.Last, f.NPS.Drop = 10, 7, 3 }, true},
		{"NPS fell 2 points", "nps-drop", func(f *rules.Features) { f.NPS.Previous, f.NPS.Last, f.NPS.Drop = 10, 8, 2 }, false},
		{"negative mention, small reach", "negative-mention", func(f *rules.Features) {
			f.Mentions.Negative30d, f.Mentions.NegativeReach30d = 1, 40
		}, true},
		{"negative mention, wide reach, not the small rule", "negative-mention", func(f *rules.Features) {
			f.Mentions.Negative30d, f.Mentions.NegativeReach30d = 1, 25000
		}, false},
		{"negative mention, wide reach", "negative-mention-wide-reach", func(f *rules.Features) {
			f.Mentions.Negative30d, f.Mentions.NegativeReach30d = 1, 25000
		}, true},
		{"usage down 60%", "usage-drop", func(f *rules.Features) { f.Usage.RecentDaily, f.Usage.DropPct = 8, 60 }, true},
		{"usage down 60% on a new customer", "usage-drop", func(f *rules.Features) {
			f.Usage.RecentDaily, f.Usage.DropPct, f.Usage.BaselineDays = 8, 60, 13
		}, false},
		{"usage down 35%", "usage-drop", func(f *rules.Features) { f.Usage.DropPct = 35 }, false},
		{"usage down 90% is a collapse", "usage-collapse", func(f *rules.Features) { f.Usage.DropPct = 90 }, true},
		{"usage down 90% is not a mere drop", "usage-drop", func(f *rules.Features) { f.Usage.DropPct = 90 }, false},
		// The silence ladder: a daily user is overdue after three days,
		// quiet after a week, inactive after ten.
		{"daily user quiet for three days", "usage-overdue", func(f *rules.Features) { f.Usage.DaysInactive = 3 }, true},
		{"daily user quiet for two days", "usage-overdue", func(f *rules.Features) { f.Usage.DaysInactive = 2 }, false},
		{"daily user quiet for a week", "usage-quiet", func(f *rules.Features) { f.Usage.DaysInactive = 7 }, true},
		{"daily user quiet for six days", "usage-quiet", func(f *rules.Features) { f.Usage.DaysInactive = 6 }, false},
		{"daily user quiet for ten days", "usage-inactive", func(f *rules.Features) { f.Usage.DaysInactive = 10 }, true},
		{"daily user quiet for a week, not yet inactive", "usage-inactive", func(f *rules.Features) { f.Usage.DaysInactive = 7 }, false},
		{"daily user quiet for two weeks", "usage-long-silence", func(f *rules.Features) { f.Usage.DaysInactive = 14 }, true},
		{"daily user quiet for three weeks", "usage-gone", func(f *rules.Features) { f.Usage.DaysInactive = 21 }, true},
		{"daily user quiet for 44 days", "usage-abandoned", func(f *rules.Features) { f.Usage.DaysInactive = 44 }, false},
		{"daily user quiet for 45 days", "usage-abandoned", func(f *rules.Features) { f.Usage.DaysInactive = 45 }, true},
		{"new customer quiet for a week", "usage-quiet", func(f *rules.Features) {
			f.Usage.DaysInactive, f.Usage.DaysSinceFirst = 7, 10
		}, false},
		// The ladder reads the lifetime cadence, not the 90 days' that a
		// fade stretches.
		{"twice-a-month user quiet for ten days", "usage-inactive", func(f *rules.Features) {
			f.Usage.DaysInactive, f.Usage.TypicalGapDays, f.Usage.LifetimeGapDays = 10, 14, 14
		}, false},
		{"twice-a-month user quiet for six weeks", "usage-inactive", func(f *rules.Features) {
			f.Usage.DaysInactive, f.Usage.TypicalGapDays, f.Usage.LifetimeGapDays = 42, 14, 14
		}, true},
		{"daily user whose gaps grew in a fade, quiet for ten days", "usage-inactive", func(f *rules.Features) {
			f.Usage.DaysInactive, f.Usage.TypicalGapDays = 10, 14
		}, true},
		{"signed up, came the first week, silent since", "silent-after-signup", func(f *rules.Features) {
			f.Usage.DaysSinceFirst, f.Usage.DaysInactive, f.Customer.AgeDays = 30, 25, 30
		}, true},
		{"signed up, came the first two weeks, silent since", "silent-after-signup", func(f *rules.Features) {
			f.Usage.DaysSinceFirst, f.Usage.DaysInactive, f.Customer.AgeDays = 30, 16, 30
		}, false},
		// The slow fade, beyond what the segment did.
		{"usage faded 20%", "usage-fade-light", func(f *rules.Features) { f.Usage.FadePct, f.Usage.Recent14Daily = 20, 16 }, true},
		{"usage faded 20% on a weekly user", "usage-fade-light", func(f *rules.Features) {
			f.Usage.FadePct, f.Usage.TypicalGapDays = 20, 7
		}, false},
		{"usage faded 35%", "usage-fade", func(f *rules.Features) { f.Usage.FadePct = 35 }, true},
		{"usage faded 35% with the segment", "usage-fade", func(f *rules.Features) {
			f.Usage.FadePct, f.Usage.SegmentFadePct = 35, 30
		}, false},
		{"usage faded 35% in the first months", "usage-fade", func(f *rules.Features) {
			f.Usage.FadePct, f.Usage.DaysSinceFirst = 35, 100
		}, false},
		{"usage faded 60%", "usage-fade-deep", func(f *rules.Features) { f.Usage.FadePct = 60 }, true},
		{"usage faded 60% is not a mere fade", "usage-fade", func(f *rules.Features) { f.Usage.FadePct = 60 }, false},
		{"usage down 60% with the whole segment", "usage-drop", func(f *rules.Features) {
			f.Usage.DropPct, f.Usage.SegmentDropPct = 60, 55
		}, false},
		{"half the users gone while usage fades", "active-users-drop", func(f *rules.Features) {
			f.Usage.ActiveUsers, f.Usage.ActiveUsersDrop, f.Usage.FadePct = 6, 50, 20
		}, true},
		{"half the users gone, usage steady", "active-users-drop", func(f *rules.Features) {
			f.Usage.ActiveUsers, f.Usage.ActiveUsersDrop = 6, 50
		}, false},
		{"a third of the users gone, usage fading", "active-users-drop", func(f *rules.Features) {
			f.Usage.ActiveUsers, f.Usage.ActiveUsersDrop, f.Usage.FadePct = 8, 33, 20
		}, false},
		// Protective rules.
		{"usage grew 30%", "usage-growing", func(f *rules.Features) { f.Usage.GrowthPct, f.Usage.Recent14Daily = 30, 26 }, true},
		{"usage grew 10%", "usage-growing", func(f *rules.Features) { f.Usage.GrowthPct = 10 }, false},
		{"detractor whose usage grows", "nps-detractor", func(f *rules.Features) {
			f.NPS.Last, f.NPS.Detractor, f.Usage.GrowthPct = 4, true, 30
		}, false},
		{"promoter after a detractor", "nps-recovered", func(f *rules.Features) { f.NPS.Previous, f.NPS.Last = 5, 9 }, true},
		{"promoter after a passive", "nps-recovered", func(f *rules.Features) { f.NPS.Previous, f.NPS.Last = 8, 9 }, false},
		{"an expansion", "expansion", func(f *rules.Features) { f.Commercial.Expansions90d = 1 }, true},
		{"two failed payments, none recovered", "payment-failing-repeatedly", func(f *rules.Features) {
			f.Billing.Failed30d, f.Billing.UnresolvedFailure = 2, true
		}, true},
		{"one failed payment", "payment-failing-repeatedly", func(f *rules.Features) {
			f.Billing.Failed30d, f.Billing.UnresolvedFailure = 1, true
		}, false},
		{"onboarding, barely used", "onboarding-low-usage", func(f *rules.Features) {
			f.Profile.Stage, f.Customer.AgeDays, f.Usage.RecentDaily = "onboarding", 20, 0.5
		}, true},
		{"onboarding, never used", "onboarding-low-usage", func(f *rules.Features) {
			f.Profile.Stage, f.Customer.AgeDays, f.Usage = "onboarding", 10, rules.UsageFeatures{DaysInactive: -1}
		}, true},
		{"onboarding, first days", "onboarding-low-usage", func(f *rules.Features) {
			f.Profile.Stage, f.Customer.AgeDays, f.Usage.RecentDaily = "onboarding", 3, 0.5
		}, false},
		{"mature account, barely used", "onboarding-low-usage", func(f *rules.Features) { f.Usage.RecentDaily = 0.5 }, false},
		{"discount 30 days before renewal", "price-pressure-near-renewal", func(f *rules.Features) {
			f.Commercial.DiscountRequests90d, f.Commercial.DaysSinceRequest, f.Commercial.RequestDaysToRenewal = 1, 2, 30
		}, true},
		{"discount 120 days before renewal", "price-pressure-near-renewal", func(f *rules.Features) {
			f.Commercial.DiscountRequests90d, f.Commercial.DaysSinceRequest, f.Commercial.RequestDaysToRenewal = 1, 2, 120
		}, false},
		{"discount 120 days before renewal, mid-term", "price-pressure", func(f *rules.Features) {
			f.Commercial.DiscountRequests90d, f.Commercial.DaysSinceRequest, f.Commercial.RequestDaysToRenewal = 1, 2, 120
		}, true},
		{"shrinking contract, renewal unknown", "price-pressure", func(f *rules.Features) {
			f.Commercial.ContractShrinks90d, f.Commercial.LargestShrinkPct, f.Commercial.RequestDaysToRenewal = 1, 30, -1
		}, true},
		{"cancellation inquiry", "cancellation-inquiry", func(f *rules.Features) { f.Commercial.CancellationInquiries = 1 }, true},
		{"quote unanswered 8 days", "unanswered-quote", func(f *rules.Features) {
			f.Commercial.UnansweredQuotes, f.Commercial.OldestUnansweredQuote = 1, 8
		}, true},
		{"quote unanswered 3 days", "unanswered-quote", func(f *rules.Features) {
			f.Commercial.UnansweredQuotes, f.Commercial.OldestUnansweredQuote = 1, 3
		}, false},
		{"failed payment 20 days before renewal", "failed-payment-near-renewal", func(f *rules.Features) {
			f.Billing.Failed30d, f.Billing.UnresolvedFailure, f.Profile.DaysToRenewal = 1, true, 20
		}, true},
		{"failed payment mid-term", "failed-payment-near-renewal", func(f *rules.Features) {
			f.Billing.Failed30d, f.Billing.UnresolvedFailure = 1, true
		}, false},
		{"failed payment mid-term, plain rule", "failed-payment", func(f *rules.Features) {
			f.Billing.Failed30d, f.Billing.UnresolvedFailure = 1, true
		}, true},
		{"recovered payment", "failed-payment", func(f *rules.Features) { f.Billing.Failed30d = 1 }, false},
		{"card expiring", "card-expiring", func(f *rules.Features) { f.Billing.CardExpiring = true }, true},
		{"invoice overdue", "invoice-overdue", func(f *rules.Features) { f.Billing.InvoiceOverdue = true }, true},
		{"champion left", "champion-lost", func(f *rules.Features) { f.Champion.Lost, f.Champion.DaysSinceLost = true, 12 }, true},
		{"champion replaced", "champion-lost", func(f *rules.Features) { f.Champion.DaysSinceLost = 12 }, false},
		{"no CSM contact for 50 days", "csm-silence", func(f *rules.Features) { f.Contact.DaysSinceCSM = 50 }, true},
		{"no CSM contact for 50 days, no profile", "csm-silence", func(f *rules.Features) {
			f.Contact.DaysSinceCSM, f.Profile.Known = 50, false
		}, false},
		{"never contacted", "csm-never-contacted", func(f *rules.Features) {
			f.Contact = rules.ContactFeatures{DaysSinceCSM: -1}
		}, true},
		{"rated red", "csm-rating-red", func(f *rules.Features) { f.Rating.Value = "red" }, true},
		{"rated red long ago", "csm-rating-red", func(f *rules.Features) { f.Rating.Value, f.Rating.DaysSince = "red", 120 }, false},
		{"rated yellow", "csm-rating-yellow", func(f *rules.Features) { f.Rating.Value = "yellow" }, true},
		{"rated yellow is not red", "csm-rating-red", func(f *rules.Features) { f.Rating.Value = "yellow" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Rule(tt.rule)
			require.NotNil(t, r, tt.rule)
			f := healthy()
			tt.change(&f)
			got, err := r.Eval(&f)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// The design's yardstick for the default weights: four independent signals
// of trouble put a customer at risk in every segment and stage.
func TestEvalDefaultWeightsReachAtRisk(t *testing.T) {
	s := defaultSet(t)
	for _, segment := range []string{"enterprise", "mid_market", "smb", ""} {
		for _, stage := range []string{"adoption", "onboarding", "renewal", ""} {
			f := healthy()
			f.Profile.Segment, f.Profile.Stage = segment, stage
			f.Tickets.Opened7d, f.Tickets.SpikeRatio = 4, 3.5
			f.NPS.Last, f.NPS.Passive = 7, true
			f.Commercial.DiscountRequests90d, f.Commercial.DaysSinceRequest, f.Commercial.RequestDaysToRenewal = 1, 1, 30
			f.Profile.DaysToRenewal, f.Commercial.DaysToRenewal = 29, 29
			f.Usage.RecentDaily, f.Usage.DropPct = 8, 60

			var score float64
			for _, name := range firing(t, s, &f) {
				score += s.Rule(name).WeightFor(segment, stage)
			}
			tier := s.ThresholdsFor(segment).Classify(score, rules.Healthy)
			assert.GreaterOrEqual(t, score, s.ThresholdsFor(segment).AtRisk, "segment %q stage %q", segment, stage)
			assert.GreaterOrEqual(t, tier, rules.AtRisk, "segment %q stage %q: score %v", segment, stage, score)
		}
	}
}

func TestEvalRuntimeCostLimit(t *testing.T) {
	// The static estimate assumes strings of wire-contract size; a longer
	// one at run time must still be stopped by the runtime limit.
	s, err := rules.Parse("cost.yaml", []byte(`cost_limit: 100
rules:
  - name: plan-scan
    category: usage
    when: profile.plan.contains("enterprise")
    weight: 1
    half_life: 1d
`))
	require.NoError(t, err)
	r := s.Rules[0]

	var f rules.Features
	f.Profile.Plan = "enterprise-plus"
	ok, err := r.Eval(&f)
	require.NoError(t, err)
	assert.True(t, ok)

	f.Profile.Plan = string(make([]byte, 100_000))
	ok, err = r.Eval(&f)
	require.ErrorContains(t, err, `rule "plan-scan"`)
	assert.ErrorContains(t, err, "cost limit exceeded")
	assert.False(t, ok)
}

func TestEvalRuntimeError(t *testing.T) {
	s, err := rules.Parse("div.yaml", []byte(`rules:
  - name: per-user
    category: usage
    when: usage.events_7d / usage.active_users > 10
    weight: 1
    half_life: 1d
`))
	require.NoError(t, err)
	var f rules.Features
	_, err = s.Rules[0].Eval(&f)
	require.ErrorContains(t, err, "division by zero")
}

func TestEvalStringsAndLists(t *testing.T) {
	s, err := rules.Parse("str.yaml", []byte(`rules:
  - name: big-accounts
    category: commercial
    when: profile.segment in ["enterprise", "mid_market"] && profile.plan.lowerAscii().startsWith("pro")
    weight: 1
    half_life: 1d
`))
	require.NoError(t, err)
	tests := []struct {
		segment, plan string
		want          bool
	}{
		{"enterprise", "Pro", true},
		{"mid_market", "professional", true},
		{"smb", "pro", false},
		{"enterprise", "basic", false},
	}
	for _, tt := range tests {
		var f rules.Features
		f.Profile.Segment, f.Profile.Plan = tt.segment, tt.plan
		got, err := s.Rules[0].Eval(&f)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%s/%s", tt.segment, tt.plan)
	}
}

func TestWeightFor(t *testing.T) {
	r := &rules.Rule{
		Weight:   20,
		Segments: map[string]float64{"enterprise": 28, "smb": 15, "free": 0},
		Stages:   map[string]float64{"onboarding": 30, "renewal": 18},
	}
	tests := []struct {
		segment, stage string
		want           float64
	}{
		{"", "", 20},
		{"mid_market", "adoption", 20},
		{"enterprise", "", 28},
		{"smb", "", 15},
		{"", "onboarding", 30},
		{"enterprise", "onboarding", 30}, // both match: the larger
		{"enterprise", "renewal", 28},    // both match: the larger
		{"smb", "renewal", 18},
		{"free", "", 0}, // an override of 0 switches the rule off
		{"free", "renewal", 18},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.WeightFor(tt.segment, tt.stage), "%q/%q", tt.segment, tt.stage)
	}

	// And the default file's overrides are what its comments promise.
	s := defaultSet(t)
	assert.Equal(t, 8.0, s.Rule("ticket-spike").WeightFor("enterprise", "adoption"))
	assert.Equal(t, 10.0, s.Rule("ticket-spike").WeightFor("enterprise", "onboarding"))
	assert.Equal(t, 5.0, s.Rule("ticket-spike").WeightFor("smb", "")) // no override: the weight
	assert.Equal(t, 4.0, s.Rule("csm-silence").WeightFor("smb", ""))
}

func TestEvalConcurrent(t *testing.T) {
	s := defaultSet(t)
	r := s.Rule("usage-inactive")
	done := make(chan bool)
	for i := range 8 {
		go func() {
			f := healthy()
			f.Usage.DaysInactive = int64(i % 2 * 10)
			ok := true
			for range 200 {
				got, err := r.Eval(&f)
				ok = ok && err == nil && got == (i%2 == 1)
			}
			done <- ok
		}()
	}
	for range 8 {
		assert.True(t, <-done)
	}
}

func TestEvalUncompiledRule(t *testing.T) {
	r := &rules.Rule{Name: "hand-made", Weight: 1}
	_, err := r.Eval(&rules.Features{})
	require.ErrorContains(t, err, `rule "hand-made" has no compiled condition`)
}
