package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

// troubled is a customer on whom most default rules fire, with values that
// exercise the formats: fractions, zeros, large counts.
func troubled() rules.Features {
	f := healthy()
	f.Tickets = rules.TicketFeatures{Opened7d: 5, BaselineWeekly: 1.2, SpikeRatio: 4.1666, Urgent7d: 2,
		Escalated7d: 1, OpenBacklog: 7, SlowResponses30d: 3, LastFirstResponse: 184.6}
	f.NPS = rules.NPSFeatures{Answered: true, Last: 7, Previous: 10, Drop: 3, DaysSince: 12, Passive: true}
	f.Usage.RecentDaily, f.Usage.DropPct, f.Usage.DaysInactive, f.Usage.TypicalGapDays = 6.4285, 67.857, 9, 1.25
	f.Usage.ActiveUsers, f.Usage.ActiveUsersDrop = 8, 33.333
	f.Usage.LifetimeGapDays, f.Usage.DaysSinceFirst = 1.2456, 61
	f.Usage.Recent14Daily, f.Usage.LongDaily, f.Usage.LongDays, f.Usage.FadePct = 7.1428, 19.6734, 46, 63.7
	f.Usage.SegmentDropPct, f.Usage.SegmentFadePct = 3.14, 4.25
	f.Commercial = rules.CommercialFeatures{DiscountRequests90d: 1, ContractShrinks90d: 1, CancellationInquiries: 1,
		DaysSinceRequest: 3, RequestDaysToRenewal: 30, UnansweredQuotes: 2, OldestUnansweredQuote: 11,
		DaysToRenewal: 27, LargestShrinkPct: 30, Expansions90d: 1}
	f.Mentions = rules.MentionFeatures{Negative30d: 2, NegativeReach30d: 15320.4, Sentiment30d: -0.6}
	f.Billing = rules.BillingFeatures{Failed30d: 2, UnresolvedFailure: true, CardExpiring: true, InvoiceOverdue: true}
	f.Contact.DaysSinceCSM = 52
	f.Champion = rules.ChampionFeatures{Lost: true, DaysSinceLost: 16}
	f.Rating = rules.RatingFeatures{Value: "red", DaysSince: 4}
	f.Profile.DaysToRenewal, f.Profile.Stage = 27, "onboarding"
	f.Customer.AgeDays = 61
	return f
}

// TestRenderDefaultRules pins the detail text of every default rule, the
// words a CSM reads in an alert, in testdata/render.golden.
func TestRenderDefaultRules(t *testing.T) {
	s := defaultSet(t)
	f := troubled()
	var b strings.Builder
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "%s: %s\n", r.Name, r.Render(&f))
	}
	golden := filepath.Join("testdata", "render.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), b.String())
}

func TestRenderTemplates(t *testing.T) {
	f := troubled()
	tests := []struct {
		detail string
		want   string
	}{
		{"{tickets.opened_7d} tickets", "5 tickets"},
		{"{tickets.opened_7d|ticket}", "5 tickets"},
		{"{tickets.escalated_7d|escalation}", "1 escalation"},
		{"{commercial.cancellation_inquiries_90d|inquiry|inquiries}", "1 inquiry"},
		{"{commercial.unanswered_quotes|query|queries}", "2 queries"},
		{"{tickets.spike_ratio:.1f}x", "4.2x"},
		{"{tickets.spike_ratio}", "4.17"},
		{"{usage.drop_pct:.0f}%", "68%"},
		{"{commercial.largest_shrink_pct}", "30"},
		{"{tickets.opened_7d:.2f}", "5.00"},
		{"{profile.segment}/{nps.passive}", "enterprise/true"},
		{"{ tickets.opened_7d }", "5"},
		{"{{literal}} and }}", "{literal} and }"},
		{"no placeholders", "no placeholders"},
		{"", "r1"}, // no detail: the rule's name
	}
	for _, tt := range tests {
		t.Run(tt.detail, func(t *testing.T) {
			file := rule(append(validRule, fmt.Sprintf("    detail: %q", tt.detail))...)
			s, err := rules.Parse("detail.yaml", []byte(file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Rules[0].Render(&f))
		})
	}

	for _, bad := range []string{"{tickets.spike_ratio|x}", "{tickets.opened_7d:.1f|x}", "{tickets.opened_7d|}", "{tickets.opened_7d|a|b|c}"} {
		_, err := rules.Parse("detail.yaml", []byte(rule(append(validRule, fmt.Sprintf("    detail: %q", bad))...)))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "detail.yaml:", bad)
	}

	var zero rules.Features
	zero.Usage.DropPct = -0.001
	s, err := rules.Parse("detail.yaml", []byte(rule(append(validRule, `    detail: "{usage.drop_pct}"`)...)))
	require.NoError(t, err)
	assert.Equal(t, "0", s.Rules[0].Render(&zero), "no negative zero in alerts")
}
