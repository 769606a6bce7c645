package scorer_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/scorer/sentiment"
	"github.com/riskwatch/riskwatch/signals"
)

// t0 is day 0 of every constructed history, a Monday at midnight UTC.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// on is day d after t0; fractions are parts of a day.
func on(d float64) time.Time { return t0.Add(time.Duration(d * float64(24*time.Hour))) }

func ptr[T any](v T) *T { return &v }

func usage(d float64, events int64) signals.Signal {
	return signals.Signal{Kind: signals.KindUsage, Time: on(d), Usage: signals.Usage{Events: events}}
}

func usageUsers(d float64, events, users int64) signals.Signal {
	return signals.Signal{Kind: signals.KindUsage, Time: on(d), Usage: signals.Usage{Events: events, ActiveUsers: users}}
}

// daily is one usage rollup a day, at noon, on days from..to-1.
func daily(from, to int, events int64) []signals.Signal {
	var out []signals.Signal
	for d := from; d < to; d++ {
		out = append(out, usage(float64(d)+0.5, events))
	}
	return out
}

func ticket(d float64, key, status, priority string) signals.Signal {
	return signals.Signal{Kind: signals.KindTicket, Time: on(d),
		Ticket: signals.Ticket{TicketID: key, Status: status, Priority: priority}}
}

func answered(d float64, key string, minutes float64) signals.Signal {
	s := ticket(d, key, signals.TicketOpened, "normal")
	s.Ticket.FirstResponseMinutes = &minutes
	return s
}

// weekly opens (and solves) one ticket a week on days from, from+7, ...
// before to.
func weekly(from, to int) []signals.Signal {
	var out []signals.Signal
	for d := from; d < to; d += 7 {
		key := fmt.Sprintf("w%d", d)
		out = append(out, ticket(float64(d)+0.4, key, signals.TicketOpened, "normal"),
			ticket(float64(d)+0.6, key, signals.TicketSolved, ""))
	}
	return out
}

func nps(d float64, score int64) signals.Signal {
	return signals.Signal{Kind: signals.KindNPS, Time: on(d), NPS: signals.NPS{Score: &score}}
}

func commercial(d float64, typ string, pct *float64) signals.Signal {
	return signals.Signal{Kind: signals.KindCommercial, Time: on(d), Commercial: signals.Commercial{Type: typ, AmountPct: pct}}
}

func mention(d float64, sentiment *float64, text string, reach *float64) signals.Signal {
	return signals.Signal{Kind: signals.KindMention, Time: on(d),
		Mention: signals.Mention{Channel: "twitter", Sentiment: sentiment, Text: text, Reach: reach}}
}

func billing(d float64, typ string) signals.Signal {
	return signals.Signal{Kind: signals.KindBilling, Time: on(d), Billing: signals.Billing{Type: typ}}
}

func contact(d float64) signals.Signal {
	return signals.Signal{Kind: signals.KindContact, Time: on(d), Contact: signals.Contact{Type: "csm_touch", By: "alice"}}
}

func champion(d float64, typ string) signals.Signal {
	return signals.Signal{Kind: signals.KindChampion, Time: on(d), Champion: signals.Champion{Type: typ, Contact: "bob"}}
}

func rating(d float64, value string) signals.Signal {
	return signals.Signal{Kind: signals.KindRating, Time: on(d), Rating: signals.Rating{Value: value, By: "alice"}}
}

func renewed(d float64, next string) signals.Signal {
	return signals.Signal{Kind: signals.KindOutcome, Time: on(d), Outcome: signals.Outcome{Type: "renewed", RenewalDate: next}}
}

// profile is a mid-market customer renewing on day 60.
func profile() *signals.Profile {
	return &signals.Profile{ID: "acme", Name: "Acme", ARR: 120000, Segment: "mid_market", Owner: "alice",
		RenewalDate: on(60).Format(time.DateOnly)}
}

// build applies sigs in time order to a new state, naming signals that
// have no id after their kind and position.
func build(tb testing.TB, m *scorer.Model, p *signals.Profile, sigs ...signals.Signal) *scorer.State {
	tb.Helper()
	sigs = slices.Clone(sigs)
	slices.SortStableFunc(sigs, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
	st := scorer.NewState("acme")
	for i := range sigs {
		if sigs[i].ID == "" {
			sigs[i].ID = fmt.Sprintf("%s-%d", sigs[i].Kind, i)
		}
		sigs[i].Customer = "acme"
		require.NoError(tb, m.Apply(st, &sigs[i], p), "signal %d %s at %s", i, sigs[i].ID, sigs[i].Time)
	}
	return st
}

func concat(parts ...[]signals.Signal) []signals.Signal { return slices.Concat(parts...) }

type featureCase struct {
	name    string
	sigs    []signals.Signal
	at      float64 // day
	profile *signals.Profile
	check   func(t *testing.T, f rules.Features)
	// fires and quiet name default rules that must and must not fire.
	fires, quiet []string
}

func runFeatureCases(t *testing.T, cases []featureCase) {
	t.Helper()
	m := defaultModel(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.profile
			if p == nil {
				p = profile()
			}
			st := build(t, m, p, tc.sigs...)
			f := scorer.Features(st, p, on(tc.at).Unix())
			tc.check(t, f)
			for _, name := range tc.fires {
				assert.True(t, eval(t, m, name, &f), "rule %s must fire", name)
			}
			for _, name := range tc.quiet {
				assert.False(t, eval(t, m, name, &f), "rule %s must not fire", name)
			}
		})
	}
}

func eval(tb testing.TB, m *scorer.Model, name string, f *rules.Features) bool {
	tb.Helper()
	r := m.Rules.Rule(name)
	require.NotNil(tb, r, "no rule %s in the default file", name)
	ok, err := r.Eval(f)
	require.NoError(tb, err)
	return ok
}

func TestUsageFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "a 60% drop against the baseline",
		sigs: concat(daily(0, 28, 100), daily(28, 35, 40)),
		at:   35.5,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Usage.Seen)
			assert.Equal(t, int64(28), f.Usage.BaselineDays)
			assert.InDelta(t, 100, f.Usage.BaselineDaily, 1e-9)
			assert.InDelta(t, 40, f.Usage.RecentDaily, 1e-9)
			assert.Equal(t, int64(280), f.Usage.Events7d)
			assert.InDelta(t, 60, f.Usage.DropPct, 0.05)
		},
		fires: []string{"usage-drop"},
		quiet: []string{"usage-collapse", "usage-inactive"},
	}, {
		name: "steady usage",
		sigs: daily(0, 35, 100),
		at:   35.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Usage.DropPct)
			assert.Equal(t, int64(1), f.Usage.DaysInactive, "the last rollup was a day ago")
			assert.InDelta(t, 1, f.Usage.TypicalGapDays, 1e-9)
		},
		quiet: []string{"usage-drop", "usage-collapse", "usage-inactive", "active-users-drop"},
	}, {
		name: "usage rose: no drop",
		sigs: concat(daily(0, 28, 40), daily(28, 35, 100)),
		at:   35.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Usage.DropPct)
		},
		quiet: []string{"usage-drop"},
	}, {
		name: "a 39% drop is a near miss",
		sigs: concat(daily(0, 28, 100), daily(28, 35, 61)),
		at:   35.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 39, f.Usage.DropPct, 0.05)
		},
		quiet: []string{"usage-drop", "usage-collapse"},
	}, {
		name: "a new customer has a short baseline and no drop alarm",
		sigs: concat(daily(0, 3, 100), daily(3, 10, 10)),
		at:   10.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(3), f.Usage.BaselineDays)
			assert.InDelta(t, 90, f.Usage.DropPct, 0.05)
		},
		quiet: []string{"usage-drop", "usage-collapse", "usage-inactive"},
	}, {
		name: "usage collapse",
		sigs: concat(daily(0, 28, 100), daily(28, 35, 10)),
		at:   35.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 90, f.Usage.DropPct, 0.05)
		},
		fires: []string{"usage-collapse"},
		quiet: []string{"usage-drop"},
	}, {
		name: "days inactive for a daily user",
		sigs: daily(0, 21, 50), // the last at day 20, noon
		at:   31.0,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(10), f.Usage.DaysInactive)
			assert.InDelta(t, 1, f.Usage.TypicalGapDays, 1e-9)
		},
		fires: []string{"usage-inactive"},
	}, {
		name: "never used",
		sigs: []signals.Signal{nps(1, 9)},
		at:   20,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.Usage.Seen)
			assert.Equal(t, int64(-1), f.Usage.DaysInactive)
		},
		quiet: []string{"usage-inactive"},
	}, {
		// Silence is judged against the customer's cadence: a customer
		// who comes every four days is not inactive until three of its
		// gaps (12 days) have passed, above the 10 days of a daily user.
		name: "an every-4-days user quiet for 11 days is on cadence",
		sigs: every4(),
		at:   39.6, // the last at day 28, noon
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 4, f.Usage.TypicalGapDays, 1e-9)
			assert.InDelta(t, 4, f.Usage.LifetimeGapDays, 1e-9)
			assert.Equal(t, int64(11), f.Usage.DaysInactive)
		},
		fires: []string{"usage-overdue", "usage-quiet"}, // 1.5 and 2 gaps
		quiet: []string{"usage-inactive"},               // 3 typical gaps are 12 days
	}, {
		name: "an every-4-days user quiet for 12 days is not",
		sigs: every4(),
		at:   40.6,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(12), f.Usage.DaysInactive)
		},
		fires: []string{"usage-inactive"},
		quiet: []string{"usage-long-silence"}, // 4 gaps are 16 days
	}, {
		name: "an every-4-days user quiet for 7 days is not quiet, a daily one is",
		sigs: every4(),
		at:   35.6,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(7), f.Usage.DaysInactive)
		},
		fires: []string{"usage-overdue"},
		quiet: []string{"usage-quiet"}, // 2 gaps are 8 days
	}, {
		name: "a daily user quiet for 7 days is quiet",
		sigs: daily(0, 29, 50), // the last at day 28, noon
		at:   35.6,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(7), f.Usage.DaysInactive)
			assert.InDelta(t, 1, f.Usage.LifetimeGapDays, 1e-9)
		},
		fires: []string{"usage-overdue", "usage-quiet"},
		quiet: []string{"usage-inactive"},
	}, {
		// Fewer users alone is not enough (a weekend snapshot, a
		// seasonal team): the usage must fade too.
		name: "active users drop while usage fades",
		sigs: func() []signals.Signal {
			var out []signals.Signal
			for d := range 74 {
				events, users := int64(100), int64(20)
				if d >= 60 {
					events, users = 70, 10
				}
				out = append(out, usageUsers(float64(d)+0.5, events, users))
			}
			return out
		}(),
		at: 74.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(10), f.Usage.ActiveUsers)
			assert.InDelta(t, 50, f.Usage.ActiveUsersDrop, 0.05)
			assert.InDelta(t, 30, f.Usage.FadePct, 0.05)
		},
		fires: []string{"active-users-drop"},
	}, {
		name: "active users drop, usage steady",
		sigs: func() []signals.Signal {
			var out []signals.Signal
			for d := range 30 {
				users := int64(20)
				if d >= 25 {
					users = 10
				}
				out = append(out, usageUsers(float64(d)+0.5, 100, users))
			}
			return out
		}(),
		at: 30.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(10), f.Usage.ActiveUsers)
			assert.InDelta(t, 50, f.Usage.ActiveUsersDrop, 0.05)
			assert.Zero(t, f.Usage.FadePct)
		},
		quiet: []string{"active-users-drop"},
	}, {
		name: "active users a little down is a near miss",
		sigs: func() []signals.Signal {
			var out []signals.Signal
			for d := range 30 {
				out = append(out, usageUsers(float64(d)+0.5, 100, int64(20-d/10)))
			}
			return out
		}(),
		at: 30.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(18), f.Usage.ActiveUsers)
			assert.InDelta(t, 10, f.Usage.ActiveUsersDrop, 0.05)
		},
		quiet: []string{"active-users-drop"},
	}})
}

// every4 is a customer active every four days, days 0 to 28.
func every4() []signals.Signal {
	var out []signals.Signal
	for d := 0; d <= 28; d += 4 {
		out = append(out, usage(float64(d)+0.5, 30))
	}
	return out
}

func TestTicketFeatures(t *testing.T) {
	spike := concat(weekly(0, 49), []signals.Signal{
		ticket(50.1, "s1", signals.TicketOpened, "normal"),
		ticket(51.1, "s2", signals.TicketOpened, "high"),
		ticket(52.1, "s3", signals.TicketOpened, "normal"),
		ticket(54.1, "s4", signals.TicketOpened, "normal"),
		ticket(55.1, "s5", signals.TicketOpened, "normal"),
	})
	runFeatureCases(t, []featureCase{{
		name: "5 opened in 7 days against about 1 a week",
		sigs: spike,
		at:   55.8,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(5), f.Tickets.Opened7d)
			assert.InDelta(t, 1, f.Tickets.BaselineWeekly, 1e-9)
			assert.GreaterOrEqual(t, f.Tickets.SpikeRatio, 2.0)
			assert.InDelta(t, 5, f.Tickets.SpikeRatio, 1e-9)
			assert.Equal(t, int64(5), f.Tickets.OpenBacklog, "the weekly ones were solved")
		},
		fires: []string{"ticket-spike"},
		quiet: []string{"urgent-tickets"},
	}, {
		name: "one ticket is not a spike",
		sigs: []signals.Signal{usage(0.5, 10), ticket(20.2, "a", signals.TicketOpened, "normal")},
		at:   20.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Tickets.Opened7d)
			assert.Zero(t, f.Tickets.BaselineWeekly)
			assert.InDelta(t, 2, f.Tickets.SpikeRatio, 1e-9, "1 against the 0.5 floor")
		},
		quiet: []string{"ticket-spike"},
	}, {
		name: "three tickets for a customer who files two a week",
		sigs: func() []signals.Signal {
			var out []signals.Signal
			for d := 0; d < 49; d += 7 {
				out = append(out, ticket(float64(d)+0.2, fmt.Sprintf("a%d", d), signals.TicketOpened, "normal"),
					ticket(float64(d)+3.2, fmt.Sprintf("b%d", d), signals.TicketOpened, "normal"))
			}
			return append(out, ticket(50.2, "x", signals.TicketOpened, "normal"),
				ticket(51.2, "y", signals.TicketOpened, "normal"), ticket(52.2, "z", signals.TicketOpened, "normal"))
		}(),
		at: 55.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(3), f.Tickets.Opened7d)
			assert.InDelta(t, 2, f.Tickets.BaselineWeekly, 1e-9)
			assert.InDelta(t, 1.5, f.Tickets.SpikeRatio, 1e-9)
		},
		quiet: []string{"ticket-spike"},
	}, {
		name: "backlog counts opened, reopened and escalated tickets not solved",
		sigs: []signals.Signal{
			ticket(1, "a", signals.TicketOpened, "normal"),
			ticket(2, "b", signals.TicketOpened, "normal"),
			ticket(3, "b", signals.TicketSolved, ""),
			ticket(4, "c", signals.TicketOpened, "normal"),
			ticket(5, "c", signals.TicketClosed, ""),
			ticket(6, "c", signals.TicketReopened, "normal"),
			ticket(7, "d", signals.TicketOpened, "normal"),
			ticket(8, "d", signals.TicketEscalated, ""),
			ticket(9, "e", signals.TicketOpened, "normal"),
			ticket(10, "e", signals.TicketClosed, ""),
		},
		at: 10.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(3), f.Tickets.OpenBacklog, "a, c (reopened), d (escalated)")
			assert.Equal(t, int64(1), f.Tickets.Escalated7d)
		},
	}, {
		name: "urgent and escalated in the last 7 days",
		sigs: []signals.Signal{
			ticket(1, "old", signals.TicketOpened, "urgent"), // 9 days before at
			ticket(6, "u1", signals.TicketOpened, "urgent"),
			ticket(8, "u2", signals.TicketOpened, "urgent"),
			ticket(9, "n", signals.TicketOpened, "normal"),
			ticket(9.5, "n", signals.TicketEscalated, ""),
		},
		at: 10,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(2), f.Tickets.Urgent7d)
			assert.Equal(t, int64(1), f.Tickets.Escalated7d)
		},
		fires: []string{"urgent-tickets"},
	}, {
		// An urgent ticket solved within the day is support working.
		name: "one urgent ticket solved and no escalation is a near miss",
		sigs: []signals.Signal{
			ticket(1, "old", signals.TicketOpened, "urgent"),
			ticket(8, "u1", signals.TicketOpened, "urgent"),
			ticket(8.5, "u1", signals.TicketSolved, ""),
		},
		at: 10,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Tickets.Urgent7d)
			assert.Zero(t, f.Tickets.Escalated7d)
			assert.Equal(t, int64(1), f.Tickets.OpenBacklog)
		},
		quiet: []string{"urgent-tickets"},
	}, {
		name: "one urgent ticket left open with another",
		sigs: []signals.Signal{
			ticket(1, "old", signals.TicketOpened, "urgent"),
			ticket(8, "u1", signals.TicketOpened, "urgent"),
		},
		at: 10,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Tickets.Urgent7d)
			assert.Zero(t, f.Tickets.Escalated7d)
			assert.Equal(t, int64(2), f.Tickets.OpenBacklog)
		},
		fires: []string{"urgent-tickets"},
	}, {
		name: "slow first responses against the customer's usual",
		sigs: []signals.Signal{
			answered(1, "a", 20), answered(2, "b", 20), answered(3, "c", 20), answered(4, "d", 20),
			answered(5, "e", 20), answered(6, "f", 20), answered(10, "g", 200), answered(11, "h", 180),
		},
		at: 12,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(2), f.Tickets.SlowResponses30d)
			assert.InDelta(t, 180, f.Tickets.LastFirstResponse, 1e-9)
		},
		fires: []string{"slow-first-response"},
	}, {
		name: "a customer whose responses are always slow has no slow ones",
		sigs: []signals.Signal{answered(1, "a", 150), answered(2, "b", 160), answered(3, "c", 200), answered(4, "d", 140)},
		at:   5,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Tickets.SlowResponses30d)
		},
		quiet: []string{"slow-first-response"},
	}})
}

func TestNPSFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "detractor",
		sigs: []signals.Signal{nps(10, 5)},
		at:   12,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.NPS.Answered)
			assert.True(t, f.NPS.Detractor)
			assert.False(t, f.NPS.Passive)
			assert.Equal(t, int64(5), f.NPS.Last)
			assert.Equal(t, int64(-1), f.NPS.Previous)
			assert.Equal(t, int64(2), f.NPS.DaysSince)
		},
		fires: []string{"nps-detractor"},
		quiet: []string{"nps-passive", "nps-drop"},
	}, {
		name: "passive",
		sigs: []signals.Signal{nps(10, 7)},
		at:   12,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.NPS.Passive)
			assert.False(t, f.NPS.Detractor)
		},
		fires: []string{"nps-passive"},
		quiet: []string{"nps-detractor"},
	}, {
		name: "promoter",
		sigs: []signals.Signal{nps(10, 9)},
		at:   12,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.NPS.Passive)
			assert.False(t, f.NPS.Detractor)
			assert.Equal(t, int64(9), f.NPS.Last)
		},
		quiet: []string{"nps-detractor", "nps-passive", "nps-drop"},
	}, {
		name: "drop from the previous answer",
		sigs: []signals.Signal{nps(5, 10), nps(30, 9), nps(50, 6)},
		at:   51,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(6), f.NPS.Last)
			assert.Equal(t, int64(9), f.NPS.Previous, "the answer before the latest, not the first")
			assert.Equal(t, int64(3), f.NPS.Drop)
		},
		fires: []string{"nps-drop", "nps-detractor"},
	}, {
		name: "a one-point fall is a near miss",
		sigs: []signals.Signal{nps(5, 9), nps(50, 8)},
		at:   51,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.NPS.Drop)
		},
		fires: []string{"nps-passive"},
		quiet: []string{"nps-drop"},
	}, {
		name: "a rise is no drop",
		sigs: []signals.Signal{nps(5, 3), nps(50, 9)},
		at:   51,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.NPS.Drop)
			assert.Equal(t, int64(3), f.NPS.Previous)
		},
		quiet: []string{"nps-drop", "nps-detractor"},
	}, {
		name: "an answer after at is not seen yet",
		sigs: []signals.Signal{nps(5, 9), nps(50, 2)},
		at:   20,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(9), f.NPS.Last)
			assert.Equal(t, int64(-1), f.NPS.Previous)
		},
		quiet: []string{"nps-detractor"},
	}})
}

func TestCommercialFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "a discount request 30 days before renewal",
		sigs: []signals.Signal{commercial(30, signals.DiscountRequest, nil)},
		at:   31,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Commercial.DiscountRequests90d)
			assert.Equal(t, int64(30), f.Commercial.RequestDaysToRenewal)
			assert.Equal(t, int64(29), f.Commercial.DaysToRenewal)
			assert.Equal(t, int64(1), f.Commercial.DaysSinceRequest)
		},
		fires: []string{"price-pressure-near-renewal"},
		quiet: []string{"price-pressure"},
	}, {
		name: "the same request mid-term",
		sigs: []signals.Signal{commercial(30, signals.DiscountRequest, nil)},
		at:   31,
		profile: func() *signals.Profile {
			p := profile()
			p.RenewalDate = on(200).Format(time.DateOnly)
			return p
		}(),
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(170), f.Commercial.RequestDaysToRenewal)
		},
		fires: []string{"price-pressure"},
		quiet: []string{"price-pressure-near-renewal"},
	}, {
		name: "no renewal date known",
		sigs: []signals.Signal{commercial(30, signals.DowngradeRequest, nil)},
		at:   31,
		profile: func() *signals.Profile {
			p := profile()
			p.RenewalDate = ""
			return p
		}(),
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Commercial.DowngradeRequests90d)
			assert.Equal(t, int64(-1), f.Commercial.RequestDaysToRenewal)
			assert.Equal(t, int64(-1), f.Commercial.DaysToRenewal)
		},
		fires: []string{"price-pressure"},
	}, {
		name: "a quote unanswered for 8 days",
		sigs: []signals.Signal{commercial(10, signals.QuoteRequest, nil)},
		at:   18.2,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Commercial.UnansweredQuotes)
			assert.Equal(t, int64(8), f.Commercial.OldestUnansweredQuote)
		},
		fires: []string{"unanswered-quote"},
	}, {
		name: "a quote answered",
		sigs: []signals.Signal{commercial(10, signals.QuoteRequest, nil), commercial(12, signals.QuoteAnswered, nil)},
		at:   18.2,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Commercial.UnansweredQuotes)
			assert.Equal(t, int64(-1), f.Commercial.OldestUnansweredQuote)
		},
		quiet: []string{"unanswered-quote"},
	}, {
		name: "a quote unanswered for 6 days is a near miss",
		sigs: []signals.Signal{commercial(12, signals.QuoteRequest, nil)},
		at:   18.2,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(6), f.Commercial.OldestUnansweredQuote)
		},
		quiet: []string{"unanswered-quote"},
	}, {
		name: "an expansion is not a shrink",
		sigs: []signals.Signal{commercial(30, signals.ContractChange, ptr(25.0))},
		at:   31,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Commercial.ContractShrinks90d)
			assert.Zero(t, f.Commercial.LargestShrinkPct)
			assert.Equal(t, int64(-1), f.Commercial.DaysSinceRequest)
		},
		quiet: []string{"price-pressure", "price-pressure-near-renewal"},
	}, {
		name: "a reduction is",
		sigs: []signals.Signal{commercial(30, signals.ContractChange, ptr(-10.0)), commercial(31, signals.ContractChange, ptr(-30.0))},
		at:   32,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(2), f.Commercial.ContractShrinks90d)
			assert.InDelta(t, 30, f.Commercial.LargestShrinkPct, 1e-9)
		},
		fires: []string{"price-pressure-near-renewal"},
	}, {
		name: "a cancellation inquiry",
		sigs: []signals.Signal{commercial(30, signals.CancellationInquiry, nil)},
		at:   31,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Commercial.CancellationInquiries)
		},
		fires: []string{"cancellation-inquiry"},
	}, {
		name: "a renewal outcome moves the renewal date",
		sigs: []signals.Signal{renewed(20, on(385).Format(time.DateOnly)), commercial(30, signals.DiscountRequest, nil)},
		at:   31,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(354), f.Profile.DaysToRenewal)
			assert.Equal(t, int64(355), f.Commercial.RequestDaysToRenewal)
		},
		fires: []string{"price-pressure"},
		quiet: []string{"price-pressure-near-renewal"},
	}})
}

func TestMentionFeatures(t *testing.T) {
	complaint := "Support ignores us and the app is slow. We are switching to a competitor."
	lexicon, ok := sentiment.Score(complaint)
	require.True(t, ok)
	require.Less(t, lexicon, -0.25, "the lexicon must find the complaint negative")
	runFeatureCases(t, []featureCase{{
		name: "a negative mention with a wide reach",
		sigs: []signals.Signal{mention(10, ptr(-0.6), "", ptr(1500.0))},
		at:   11,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Mentions.Negative30d)
			assert.InDelta(t, 1500, f.Mentions.NegativeReach30d, 1e-9)
			assert.InDelta(t, -0.6, f.Mentions.Sentiment30d, 1e-9)
		},
		fires: []string{"negative-mention-wide-reach"},
		quiet: []string{"negative-mention"},
	}, {
		name: "text only: the lexicon decides",
		sigs: []signals.Signal{mention(10, nil, complaint, nil)},
		at:   11,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(1), f.Mentions.Negative30d)
			assert.InDelta(t, 1, f.Mentions.NegativeReach30d, 1e-9, "reach defaults to 1")
			assert.InDelta(t, math.Round(lexicon*100)/100, f.Mentions.Sentiment30d, 1e-9)
		},
		fires: []string{"negative-mention"},
		quiet: []string{"negative-mention-wide-reach"},
	}, {
		name: "praise is not negative",
		sigs: []signals.Signal{mention(10, nil, "Great tool, the team is very helpful!", ptr(5000.0))},
		at:   11,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Mentions.Negative30d)
			assert.Positive(t, f.Mentions.Sentiment30d)
		},
		quiet: []string{"negative-mention", "negative-mention-wide-reach"},
	}, {
		name: "a given sentiment wins over the text",
		sigs: []signals.Signal{mention(10, ptr(0.5), complaint, nil)},
		at:   11,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Mentions.Negative30d)
		},
	}, {
		name: "mildly negative is a near miss",
		sigs: []signals.Signal{mention(10, ptr(-0.2), "", nil)},
		at:   11,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Mentions.Negative30d)
		},
		quiet: []string{"negative-mention"},
	}, {
		name: "older than 30 days",
		sigs: []signals.Signal{mention(10, ptr(-0.9), "", nil)},
		at:   41,
		check: func(t *testing.T, f rules.Features) {
			assert.Zero(t, f.Mentions.Negative30d)
		},
		quiet: []string{"negative-mention"},
	}})
}

func TestBillingFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "a failed payment near renewal",
		sigs: []signals.Signal{billing(40, "payment_failed")},
		at:   41,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Billing.UnresolvedFailure)
			assert.Equal(t, int64(1), f.Billing.Failed30d)
		},
		fires: []string{"failed-payment-near-renewal"},
		quiet: []string{"failed-payment"},
	}, {
		name: "failed then succeeded is resolved",
		sigs: []signals.Signal{billing(40, "payment_failed"), billing(40.5, "payment_succeeded")},
		at:   41,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.Billing.UnresolvedFailure)
			assert.Equal(t, int64(1), f.Billing.Failed30d, "the failure is still counted")
		},
		quiet: []string{"failed-payment-near-renewal", "failed-payment"},
	}, {
		name: "a failure far from renewal",
		sigs: []signals.Signal{billing(10, "payment_failed")},
		at:   11, // 49 days to renewal
		profile: func() *signals.Profile {
			p := profile()
			p.RenewalDate = on(200).Format(time.DateOnly)
			return p
		}(),
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Billing.UnresolvedFailure)
		},
		fires: []string{"failed-payment"},
		quiet: []string{"failed-payment-near-renewal"},
	}, {
		name: "an expiring card and an overdue invoice",
		sigs: []signals.Signal{billing(10, "card_expiring"), billing(12, "invoice_overdue")},
		at:   13,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Billing.CardExpiring)
			assert.True(t, f.Billing.InvoiceOverdue)
		},
		fires: []string{"card-expiring", "invoice-overdue"},
	}, {
		name: "both settled by a payment",
		sigs: []signals.Signal{billing(10, "card_expiring"), billing(12, "invoice_overdue"), billing(13, "payment_succeeded")},
		at:   14,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.Billing.CardExpiring)
			assert.False(t, f.Billing.InvoiceOverdue)
		},
		quiet: []string{"card-expiring", "invoice-overdue"},
	}})
}

func TestRelationshipFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "the champion left",
		sigs: []signals.Signal{champion(10, "left")},
		at:   15,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Champion.Lost)
			assert.Equal(t, int64(5), f.Champion.DaysSinceLost)
		},
		fires: []string{"champion-lost"},
	}, {
		name: "left, then a new champion",
		sigs: []signals.Signal{champion(10, "left"), champion(12, "added")},
		at:   15,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.Champion.Lost)
			assert.Equal(t, int64(-1), f.Champion.DaysSinceLost)
		},
		quiet: []string{"champion-lost"},
	}, {
		name: "added, then left",
		sigs: []signals.Signal{champion(10, "added"), champion(12, "left")},
		at:   15,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Champion.Lost)
		},
		fires: []string{"champion-lost"},
	}, {
		name: "no CSM contact for 50 days",
		sigs: []signals.Signal{contact(10), usage(59.5, 10)},
		at:   60,
		check: func(t *testing.T, f rules.Features) {
			assert.True(t, f.Contact.Ever)
			assert.Equal(t, int64(50), f.Contact.DaysSinceCSM)
		},
		fires: []string{"csm-silence"},
		quiet: []string{"csm-never-contacted"},
	}, {
		name: "contacted 20 days ago",
		sigs: []signals.Signal{contact(10), contact(40)},
		at:   60,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(20), f.Contact.DaysSinceCSM)
		},
		quiet: []string{"csm-silence"},
	}, {
		name: "never contacted",
		sigs: []signals.Signal{usage(0.5, 10), usage(49.5, 10)},
		at:   50,
		check: func(t *testing.T, f rules.Features) {
			assert.False(t, f.Contact.Ever)
			assert.Equal(t, int64(-1), f.Contact.DaysSinceCSM)
			assert.Equal(t, int64(49), f.Customer.AgeDays)
		},
		fires: []string{"csm-never-contacted"},
		quiet: []string{"csm-silence"},
	}, {
		name: "the CSM's latest rating",
		sigs: []signals.Signal{rating(10, "green"), rating(20, "red")},
		at:   25,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, "red", f.Rating.Value)
			assert.Equal(t, int64(5), f.Rating.DaysSince)
		},
		fires: []string{"csm-rating-red"},
		quiet: []string{"csm-rating-yellow"},
	}})
}

// The latest-of-a-kind features outlive the bounded event list: a contact
// pushed out by a flood of newer tickets is still the last contact.
func TestLatestValuesOutliveTheEventList(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := []signals.Signal{contact(1), champion(2, "left"), nps(3, 4), nps(3.5, 9), rating(4, "yellow"),
		renewed(5, on(400).Format(time.DateOnly))}
	for i := range 120 {
		sigs = append(sigs, ticket(10+float64(i)/4, fmt.Sprintf("k%d", i), signals.TicketOpened, "low"))
	}
	st := build(t, m, p, sigs...)
	require.Less(t, len(st.Events), 120, "the event list is bounded")
	require.NotNil(t, st.Before)

	f := scorer.Features(st, p, on(45).Unix())
	assert.Equal(t, int64(44), f.Contact.DaysSinceCSM)
	assert.True(t, f.Champion.Lost)
	assert.Equal(t, int64(9), f.NPS.Last)
	assert.Equal(t, int64(4), f.NPS.Previous)
	assert.Equal(t, "yellow", f.Rating.Value)
	assert.Equal(t, int64(355), f.Profile.DaysToRenewal)
}

// applyInOrder applies sigs as given, naming each after its position in
// time order so that two deliveries of the same signals share ids.
func applyInOrder(tb testing.TB, m *scorer.Model, p *signals.Profile, sigs []signals.Signal) *scorer.State {
	tb.Helper()
	st := scorer.NewState("acme")
	for i := range sigs {
		s := sigs[i]
		s.Customer = "acme"
		require.NoError(tb, m.Apply(st, &s, p), "signal %s at %s", s.ID, s.Time)
	}
	return st
}

func named(sigs []signals.Signal) []signals.Signal {
	sigs = slices.Clone(sigs)
	slices.SortStableFunc(sigs, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
	for i := range sigs {
		sigs[i].ID = fmt.Sprintf("%s-%d", sigs[i].Kind, i)
	}
	return sigs
}

// The event list is bounded and drops its oldest events when newer ones
// arrive; the features must not depend on when that happened. Here the
// last ticket arrives after a later usage signal has moved the lateness
// horizon, so the two states dropped different old tickets.
func TestFeaturesIgnoreWhenEventsWereDropped(t *testing.T) {
	// No backfill window: the horizon moves with the latest event.
	m := modelWith(t, 24*time.Hour, 0)
	p := profile()
	var tickets []signals.Signal
	for i := range 80 {
		tickets = append(tickets, ticket(float64(i)/2+0.1, fmt.Sprintf("k%d", i), signals.TicketOpened, "normal"))
	}
	sigs := named(append(tickets, usage(40.0, 5))) // the last ticket is at day 39.6
	inOrder := applyInOrder(t, m, p, sigs)
	n := len(sigs)
	late := append(slices.Clone(sigs[:n-2]), sigs[n-1], sigs[n-2])
	lateTicket := applyInOrder(t, m, p, late)
	require.NotEqual(t, len(inOrder.Events), len(lateTicket.Events), "the test needs different evictions")

	for _, at := range []float64{40.0, 40.5, 45, 60} {
		a := scorer.Features(inOrder, p, on(at).Unix())
		b := scorer.Features(lateTicket, p, on(at).Unix())
		assert.Equal(t, a, b, "day %v", at)
		assert.Equal(t, int64(48), a.Tickets.OpenBacklog, "day %v: the newest 48 events are seen", at)
	}
}

// A customer silent for longer than the usage ring comes back; whether
// its first usage or a later signal arrives first, the closed days of the
// silence see the same days of inactivity.
func TestLongSilenceOutOfOrder(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := named(concat(daily(0, 21, 50), []signals.Signal{contact(10), usage(70.5, 50), contact(71.25)}))
	n := len(sigs)
	inOrder := applyInOrder(t, m, p, sigs)
	swapped := applyInOrder(t, m, p, append(slices.Clone(sigs[:n-2]), sigs[n-1], sigs[n-2]))

	a, b := m.Explain(inOrder, p, on(72), nil), m.Explain(swapped, p, on(72), nil)
	assert.Equal(t, a, b)
	// The silence rules stop counting within hours of the usage (a
	// half-life of an hour): their firings are read from the history.
	_, ok := contribution(a, "usage-inactive")
	require.False(t, ok, "the silence ended two days ago: %v", rulesOf(a))
	f, g := firingOf(inOrder, "usage-inactive"), firingOf(swapped, "usage-inactive")
	assert.Equal(t, f, g)
	assert.Equal(t, on(70).Unix(), f.At, "inactive through day 69, the last closed day before the usage")
}

// firingOf is the committed firing history of rule in st, zero when it
// never fired.
func firingOf(st *scorer.State, rule string) scorer.Firing {
	for _, f := range st.Fired {
		if f.Rule == rule {
			return f
		}
	}
	return scorer.Firing{}
}

// After a silence longer than any window, the closed days in between are
// still evaluated: a detractor answer stops counting after 180 days and
// fades from there, not from when the next signal came.
func TestCatchUpAfterLongSilence(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	p.RenewalDate = ""
	st := build(t, m, p, nps(1, 3), usage(400.5, 5))
	r := m.Explain(st, p, on(401), nil)
	c, ok := contribution(r, "nps-detractor")
	require.True(t, ok, "%v", rulesOf(r))
	assert.False(t, c.Firing)
	assert.Equal(t, on(182), c.LastFired, "the answer was 180 days old at the end of day 181")
	assert.InDelta(t, 10*math.Exp2(-219.0/60), c.Contribution, 0.05, "the weight of 10 decayed over 219 days, a half-life of 60")
}
