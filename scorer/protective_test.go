package scorer_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// protectiveRules is a risk rule (a detractor answer) and a protective
// one (an expansion) with the given weights.
func protectiveRules(tb testing.TB, risk, protect float64) *scorer.Model {
	tb.Helper()
	set, err := rules.Parse("protective.yaml", fmt.Appendf(nil, `
lateness: 24h
tiers: {watch: 30, at_risk: 45, critical: 70, hysteresis: 5}
rules:
  - name: detractor
    category: sentiment
    kind: nps
    when: nps.detractor
    weight: %v
    half_life: 14d
    detail: "NPS answer {nps.last}"
  - name: expanding
    category: commercial
    kind: commercial
    when: commercial.expansions_90d >= 1
    weight: %v
    half_life: 14d
    detail: "{commercial.expansions_90d|expansion} in 90 days"
`, risk, protect))
	require.NoError(tb, err)
	return scorer.NewModel(set)
}

// A negative weight lowers the raw sum; the score stays within [0, 100]
// while Raw keeps the signed sum, and the closed days' history is never
// below 0.
func TestProtectiveRules(t *testing.T) {
	expansion := commercial(3, signals.ContractChange, ptr(20.0))
	shrink := commercial(3, signals.ContractChange, ptr(-20.0))
	for _, tc := range []struct {
		name          string
		risk, protect float64
		sigs          []signals.Signal
		raw, score    float64
		tier          rules.Tier
		contributions []float64
	}{
		{"a risk alone", 50, -20, []signals.Signal{nps(2, 3)}, 50, 50, rules.AtRisk, []float64{50}},
		{"a protection lowers a positive sum", 50, -20, []signals.Signal{nps(2, 3), expansion}, 30, 30, rules.Watch, []float64{50, -20}},
		{"a protection larger than the risks", 10, -40, []signals.Signal{nps(2, 3), expansion}, -30, 0, rules.Healthy, []float64{10, -40}},
		{"a protection alone", 50, -20, []signals.Signal{expansion}, -20, 0, rules.Healthy, []float64{-20}},
		{"a shrink is no expansion", 50, -20, []signals.Signal{nps(2, 3), shrink}, 50, 50, rules.AtRisk, []float64{50}},
		{"risks past 100 and a protection", 100, -20, []signals.Signal{nps(2, 3), expansion}, 80, 80, rules.Critical, []float64{100, -20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := protectiveRules(t, tc.risk, tc.protect)
			p := profile()
			st := build(t, m, p, concat(daily(0, 5, 10), tc.sigs)...)
			r := m.Evaluate(st, p, on(4.6))
			assert.Equal(t, tc.raw, r.Raw)
			assert.Equal(t, tc.score, r.Score)
			assert.Equal(t, tc.tier, r.Tier)
			var got []float64
			for _, c := range r.Contributions {
				got = append(got, c.Contribution)
			}
			assert.Equal(t, tc.contributions, got, "risks first, protections last")
			assertAddsUp(t, m, r)
			assert.Equal(t, tc.score, st.Score, "the state keeps the score, not the raw sum")

			// Closed days are scored the same way: never below 0.
			for d := 5; d < 40; d++ {
				u := usage(float64(d)+0.5, 10)
				u.ID, u.Customer = fmt.Sprintf("later-%d", d), "acme"
				require.NoError(t, m.Apply(st, &u, p))
				r := m.Evaluate(st, p, on(float64(d)+0.6))
				assert.GreaterOrEqual(t, r.Score, 0.0, "day %d", d)
				assert.GreaterOrEqual(t, r.Raw, min(tc.raw, 0.0), "day %d", d)
			}
			for _, pt := range st.HistoryPoints() {
				assert.GreaterOrEqual(t, pt.Score, 0.0, pt.Day)
				assert.LessOrEqual(t, pt.Score, 100.0, pt.Day)
			}
		})
	}
}

// The default file's protective rules lower a customer's score.
func TestDefaultProtectiveRules(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	// A detractor answer, then a promoter one: nps-recovered protects.
	st := build(t, m, p, concat(daily(0, 40, 50), []signals.Signal{nps(5, 4), nps(30, 10),
		commercial(31, signals.ContractChange, ptr(15.0)), contact(35)})...)
	r := m.Evaluate(st, p, on(39.6))
	for _, rule := range []string{"nps-recovered", "expansion"} {
		c, ok := contribution(r, rule)
		if assert.True(t, ok, "%s: %v", rule, rulesOf(r)) {
			assert.Equal(t, -10.0, c.Contribution, rule)
			assert.True(t, c.Firing, rule)
		}
	}
	assert.Equal(t, "NPS rose from 4 to 10", mustContribution(t, r, "nps-recovered").Detail)
	assert.Equal(t, "1 contract expansion in 90 days", mustContribution(t, r, "expansion").Detail)
	assert.Negative(t, r.Raw)
	assert.Zero(t, r.Score)
	assert.Equal(t, rules.Healthy, r.Tier)
	assertAddsUp(t, m, r)
}

func mustContribution(t *testing.T, r scorer.Result, rule string) scorer.Contribution {
	t.Helper()
	c, ok := contribution(r, rule)
	require.True(t, ok, "%s: %v", rule, rulesOf(r))
	return c
}

// The long-window usage features: the slow fade, growth, the lifetime
// cadence and the active days.
func TestLongUsageFeatures(t *testing.T) {
	runFeatureCases(t, []featureCase{{
		name: "a slow fade of 50% over two weeks",
		sigs: concat(daily(0, 120, 100), daily(120, 134, 50)),
		at:   134.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(134), f.Usage.DaysSinceFirst)
			assert.InDelta(t, 50, f.Usage.Recent14Daily, 1e-9)
			assert.Equal(t, int64(70), f.Usage.LongDays)
			assert.InDelta(t, 100, f.Usage.LongDaily, 1e-9)
			assert.InDelta(t, 50, f.Usage.FadePct, 1e-9)
			assert.Zero(t, f.Usage.GrowthPct)
			assert.Equal(t, int64(89), f.Usage.ActiveDays90d, "days 45 to 133")
			assert.Equal(t, int64(34), f.Usage.ActiveDays35d, "days 100 to 133")
			assert.InDelta(t, 1, f.Usage.LifetimeGapDays, 1e-9)
			assert.Zero(t, f.Usage.SegmentFadePct, "no peers")
		},
		fires: []string{"usage-fade-deep"},
		quiet: []string{"usage-fade", "usage-fade-light", "usage-growing"},
	}, {
		name: "a fade of 30% that the last week against the four before misses",
		sigs: concat(daily(0, 120, 100), daily(120, 134, 70)),
		at:   134.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 30, f.Usage.FadePct, 1e-9)
			assert.Less(t, f.Usage.DropPct, 40.0)
		},
		fires: []string{"usage-fade"},
		quiet: []string{"usage-drop", "usage-fade-deep", "usage-fade-light"},
	}, {
		name: "a fade in the first months is a new team settling",
		sigs: concat(daily(0, 86, 100), daily(86, 100, 50)),
		at:   100.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(100), f.Usage.DaysSinceFirst)
			assert.InDelta(t, 50, f.Usage.FadePct, 1e-9)
		},
		quiet: []string{"usage-fade-deep"},
	}, {
		name: "usage growing 60%",
		sigs: concat(daily(0, 120, 50), daily(120, 134, 80)),
		at:   134.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 60, f.Usage.GrowthPct, 1e-9)
			assert.Zero(t, f.Usage.FadePct)
		},
		fires: []string{"usage-growing"},
		quiet: []string{"usage-fade-light"},
	}, {
		name: "a short history has a short long baseline",
		sigs: daily(0, 20, 100),
		at:   20.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(6), f.Usage.LongDays, "days 0 to 5")
			assert.Equal(t, int64(20), f.Usage.ActiveDays35d)
			assert.Equal(t, int64(20), f.Usage.ActiveDays90d)
		},
		quiet: []string{"usage-fade-light", "usage-growing"},
	}, {
		// The lifetime cadence counts every active day, also those the
		// usage ring no longer holds.
		name: "a daily user for 200 days has a lifetime gap of one day",
		sigs: daily(0, 200, 10),
		at:   200.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 1, f.Usage.LifetimeGapDays, 1e-9)
			assert.Equal(t, int64(200), f.Usage.DaysSinceFirst)
		},
	}, {
		// A fade stretches the 90-day cadence, not the lifetime one: the
		// silence ladder keeps judging by the customer's habit.
		name: "a daily user whose visits thinned out",
		sigs: concat(daily(0, 60, 10), []signals.Signal{usage(70.5, 10), usage(80.5, 10), usage(90.5, 10),
			usage(100.5, 10), usage(110.5, 10), usage(120.5, 10), usage(130.5, 10)}),
		at: 141.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 130.0/66, f.Usage.LifetimeGapDays, 1e-9, "67 active days from day 0 to 130")
			assert.InDelta(t, 78.0/14, f.Usage.TypicalGapDays, 1e-9, "days 52 to 59, then every 10 days to 130")
			assert.Equal(t, int64(11), f.Usage.DaysInactive)
		},
		// Three lifetime gaps are 6 days, under the floor of 10; three
		// 90-day gaps would be 17.
		fires: []string{"usage-inactive"},
		quiet: []string{"usage-long-silence"},
	}, {
		name: "active on one day only",
		sigs: []signals.Signal{usage(0.5, 10)},
		at:   10.5,
		check: func(t *testing.T, f rules.Features) {
			assert.InDelta(t, 7, f.Usage.LifetimeGapDays, 1e-9)
			assert.Equal(t, int64(1), f.Usage.ActiveDays35d)
		},
	}, {
		name: "signed up, used it five days, silent since",
		sigs: daily(0, 5, 30),
		at:   30.5,
		check: func(t *testing.T, f rules.Features) {
			assert.Equal(t, int64(30), f.Usage.DaysSinceFirst)
			assert.Equal(t, int64(26), f.Usage.DaysInactive)
		},
		fires: []string{"silent-after-signup"},
	}})
}

// ActiveDays counts each day with usage once, however many signals it
// has, and also the days the ring has let go.
func TestStateActiveDays(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, usage(0.2, 1), usage(0.7, 1), usage(1.5, 1), usage(3.5, 1), usage(3.6, 1))
	assert.Equal(t, uint32(3), st.ActiveDays)

	st = build(t, m, p, daily(0, 200, 10)...)
	assert.Equal(t, uint32(200), st.ActiveDays)
	inRing := 0
	st.UsageDays(func(int32, uint64) { inRing++ })
	assert.Less(t, inRing, 200, "the ring holds %d of them", inRing)
}

// fixedPeers is a segment whose other customers use recent events a day
// over the last two weeks and base before, each day since day 0, plus the
// customer's own usage (own).
type fixedPeers struct {
	today        int32
	recent, base float64
	own          *scorer.State
}

func (p fixedPeers) Usage(segment string, from, to int32) (float64, int32) {
	if segment != "mid_market" {
		return 0, 0
	}
	from = max(from, p.today-35)
	sum := 0.0
	for d := from; d <= to; d++ {
		if d >= p.today-14 {
			sum += p.recent
		} else {
			sum += p.base
		}
	}
	if p.own != nil {
		p.own.UsageDays(func(day int32, events uint64) {
			if day >= from && day <= to {
				sum += float64(events)
			}
		})
	}
	return sum, to - from + 1
}

// The model reads the segment's figures from its Peers, without the
// customer's own usage: a drop the segment's other customers share is not
// the customer's own, and a customer alone in its segment is judged on
// its own.
func TestModelPeers(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := concat(daily(0, 28, 100), daily(28, 35, 40))
	today := int32(on(35).Unix() / 86400)

	st := build(t, m, p, sigs...)
	r := m.Evaluate(st, p, on(35.5))
	mustContribution(t, r, "usage-drop")

	// The others fell 55% too.
	st = build(t, m, p, sigs...)
	m.Peers = fixedPeers{today: today, recent: 45, base: 100, own: st}
	r = m.Evaluate(st, p, on(35.5))
	_, ok := contribution(r, "usage-drop")
	assert.False(t, ok, "the segment fell 55%%: %v", rulesOf(r))
	f := scorer.Features(st, p, on(35.5).Unix())
	assert.Zero(t, f.Usage.SegmentDropPct, "Features alone reads no peers")

	// The others held steady: the customer's own drop is its own.
	st = build(t, m, p, sigs...)
	m.Peers = fixedPeers{today: today, recent: 100, base: 100, own: st}
	r = m.Evaluate(st, p, on(35.5))
	c := mustContribution(t, r, "usage-drop")
	assert.Contains(t, c.Detail, "the segment: 0%")

	// Alone in its segment: the segment's usage is its own, and the rest
	// of it has none to compare with.
	st = build(t, m, p, sigs...)
	m.Peers = fixedPeers{today: today, own: st}
	r = m.Evaluate(st, p, on(35.5))
	c = mustContribution(t, r, "usage-drop")
	assert.Contains(t, c.Detail, "the segment: 0%")

	// Another segment has no figures: judged on its own.
	other := profile()
	other.Segment = "enterprise"
	st = build(t, m, other, sigs...)
	r = m.Evaluate(st, other, on(35.5))
	c = mustContribution(t, r, "usage-drop")
	assert.Contains(t, c.Detail, "the segment: 0%")
}
