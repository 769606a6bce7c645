package rules_test

import (
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

var update = flag.Bool("update", false, "rewrite golden files and the feature table in docs/rules.md")

// defaultSet parses the built-in rule file the way riskd does.
func defaultSet(tb testing.TB) *rules.Set {
	tb.Helper()
	s, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(tb, err)
	return s
}

// problems unpacks the errors.Join that Parse returns.
func problems(tb testing.TB, err error) []*rules.Error {
	tb.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*rules.Error, 0, len(errs))
	for _, e := range errs {
		var re *rules.Error
		require.True(tb, errors.As(e, &re), "want *rules.Error, got %T: %v", e, e)
		out = append(out, re)
	}
	return out
}

// healthy is a mature, steady enterprise customer on whom no default rule
// fires: the baseline that each Eval case changes one thing of.
func healthy() rules.Features {
	var f rules.Features
	f.Usage = rules.UsageFeatures{Seen: true, Events7d: 140, RecentDaily: 20, BaselineDaily: 20,
		BaselineDays: 28, DaysInactive: 0, TypicalGapDays: 1, ActiveUsers: 12,
		LifetimeGapDays: 1, DaysSinceFirst: 400, ActiveDays35d: 35, ActiveDays90d: 90,
		Recent14Daily: 20, LongDaily: 20, LongDays: 70}
	f.Tickets = rules.TicketFeatures{Opened7d: 1, BaselineWeekly: 1, SpikeRatio: 1, OpenBacklog: 1,
		LastFirstResponse: 25}
	f.NPS = rules.NPSFeatures{Answered: true, Last: 9, Previous: 9, DaysSince: 20}
	f.Commercial = rules.CommercialFeatures{DaysSinceRequest: -1, RequestDaysToRenewal: -1,
		OldestUnansweredQuote: -1, DaysToRenewal: 200}
	f.Contact = rules.ContactFeatures{Ever: true, DaysSinceCSM: 10}
	f.Champion = rules.ChampionFeatures{DaysSinceLost: -1}
	f.Rating = rules.RatingFeatures{Value: "green", DaysSince: 10}
	f.Profile = rules.ProfileFeatures{Known: true, ARR: 120000, Segment: "enterprise", Plan: "pro",
		Stage: "adoption", Owner: "alice", DaysToRenewal: 200}
	f.Customer = rules.CustomerFeatures{AgeDays: 400}
	return f
}

// firing evaluates every rule of s and returns the names that fire.
func firing(tb testing.TB, s *rules.Set, f *rules.Features) []string {
	tb.Helper()
	var out []string
	for _, r := range s.Rules {
		ok, err := r.Eval(f)
		require.NoError(tb, err, r.Name)
		if ok {
			out = append(out, r.Name)
		}
	}
	return out
}
