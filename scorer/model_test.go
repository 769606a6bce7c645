package scorer_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// defaultModel is the model riskd runs with the built-in rule file.
func defaultModel(tb testing.TB) *scorer.Model {
	tb.Helper()
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(tb, err)
	return scorer.NewModel(set)
}

// modelWithLateness is the default rules with another lateness window.
func modelWithLateness(tb testing.TB, lateness time.Duration) *scorer.Model {
	tb.Helper()
	return modelWith(tb, lateness, rules.DefaultBackfillWindow)
}

// modelWith is the default rules with another lateness and backfill
// window.
func modelWith(tb testing.TB, lateness, backfill time.Duration) *scorer.Model {
	tb.Helper()
	src := bytes.Replace(configs.DefaultRules, []byte("\nlateness: 24h\n"),
		[]byte("\nlateness: "+lateness.String()+"\nbackfill_window: "+backfill.String()+"\n"), 1)
	require.NotEqual(tb, configs.DefaultRules, src, "the default rules no longer set lateness: 24h")
	set, err := rules.Parse("rules.yaml", src)
	require.NoError(tb, err)
	return scorer.NewModel(set)
}

// atRiskHistory is the at-risk customer (renewing on day 60): a
// ticket spike against a ticket a week, a passive NPS answer, a discount
// request 30 days before renewal and usage down 60%, seen on day 35. The
// tickets are solved within the day: a backlog on top (open-backlog)
// would make it critical.
func atRiskHistory() []signals.Signal {
	sigs := v1AtRiskHistory()
	for i, d := range []float64{29.2, 30.2, 31.2, 33.2, 34.2} {
		solved := ticket(d+0.2, fmt.Sprintf("zd-%d", 100+i), signals.TicketSolved, "")
		solved.ID = fmt.Sprintf("zd-%d-solved", 100+i)
		sigs = append(sigs, solved)
	}
	return sigs
}

// v1AtRiskHistory is atRiskHistory with its tickets left open, as it was
// when riskd 0.1 wrote testdata/state_v1.bin.
func v1AtRiskHistory() []signals.Signal {
	sigs := concat(daily(0, 28, 100), daily(28, 35, 40), weekly(0, 29))
	for i, d := range []float64{29.2, 30.2, 31.2, 33.2, 34.2} {
		s := ticket(d, fmt.Sprintf("zd-%d", 100+i), signals.TicketOpened, "normal")
		s.ID = fmt.Sprintf("zd-%d-opened", 100+i)
		sigs = append(sigs, s)
	}
	return append(sigs, nps(33, 7), commercial(30, signals.DiscountRequest, nil), contact(20))
}

// healthyHistory is steady usage, a promoter answer and a recent contact.
func healthyHistory() []signals.Signal {
	return concat(daily(0, 35, 100), weekly(0, 35), []signals.Signal{nps(20, 10), contact(25)})
}

// criticalHistory piles up independent signals: usage collapsing, an
// escalated urgent ticket storm, a detractor who was a promoter, a
// cancellation inquiry, a failed payment near renewal, the champion gone
// and a public complaint.
func criticalHistory() []signals.Signal {
	sigs := concat(daily(0, 28, 100), daily(28, 35, 15), weekly(0, 29), []signals.Signal{
		ticket(30.1, "u1", signals.TicketOpened, "urgent"),
		ticket(31.1, "u2", signals.TicketOpened, "urgent"),
		ticket(32.1, "u3", signals.TicketOpened, "normal"),
		ticket(32.5, "u3", signals.TicketEscalated, ""),
		ticket(33.1, "u4", signals.TicketOpened, "high"),
		nps(5, 9), nps(32, 3),
		commercial(31, signals.CancellationInquiry, nil),
		billing(33, "payment_failed"),
		champion(29, "left"),
		mention(34, nil, "Support ignores us and the app is slow. We are switching to a competitor.", ptr(2500.0)),
		contact(10),
	})
	return sigs
}

func contribution(r scorer.Result, rule string) (scorer.Contribution, bool) {
	for _, c := range r.Contributions {
		if c.Rule == rule {
			return c, true
		}
	}
	return scorer.Contribution{}, false
}

func rulesOf(r scorer.Result) []string {
	var names []string
	for _, c := range r.Contributions {
		names = append(names, c.Rule)
	}
	return names
}

// assertAddsUp checks the score's arithmetic: contributions add up to Raw,
// Score is Raw kept within [0, 100], and the probability is the default
// calibration's of Raw. A contribution is never 0, and negative only from
// a protective rule (a negative weight), whose contributions come last.
func assertAddsUp(t *testing.T, m *scorer.Model, r scorer.Result) {
	t.Helper()
	sum := 0.0
	protective := false
	for _, c := range r.Contributions {
		rule := m.Rules.Rule(c.Rule)
		require.NotNil(t, rule, c.Rule)
		if rule.Weight < 0 {
			assert.Negative(t, c.Contribution, c.Rule)
			protective = true
		} else {
			assert.Positive(t, c.Contribution, c.Rule)
			assert.False(t, protective, "%s: risks come before protections", c.Rule)
		}
		assert.NotEmpty(t, c.Detail, c.Rule)
		sum += c.Contribution
	}
	assert.InDelta(t, sum, r.Raw, 1e-6, "contributions must add up to the raw score")
	assert.Equal(t, math.Min(math.Max(r.Raw, 0), 100), r.Score)
	assert.InDelta(t, rules.DefaultCalibration.Probability(r.Raw), r.Probability, 1e-12)
}

func TestDefaultRulesScenarios(t *testing.T) {
	m := defaultModel(t)
	p := profile()

	t.Run("spike, passive answer, discount before renewal and a usage drop", func(t *testing.T) {
		st := build(t, m, p, atRiskHistory()...)
		r := m.Evaluate(st, p, on(35.5))
		assert.GreaterOrEqual(t, r.Tier, rules.AtRisk, "score %.1f: %v", r.Score, rulesOf(r))
		for _, rule := range []string{"ticket-spike", "nps-passive", "price-pressure-near-renewal", "usage-drop"} {
			c, ok := contribution(r, rule)
			if assert.True(t, ok, "%s must contribute; got %v", rule, rulesOf(r)) {
				assert.True(t, c.Firing, rule)
			}
		}
		assertAddsUp(t, m, r)
		assert.NotEmpty(t, r.Playbook)
		assert.Equal(t, r.Score, st.Score)
		assert.Equal(t, r.Tier, st.Tier)
	})

	t.Run("steady usage and a promoter answer", func(t *testing.T) {
		st := build(t, m, p, healthyHistory()...)
		r := m.Evaluate(st, p, on(35.5))
		assert.Equal(t, rules.Healthy, r.Tier)
		assert.Zero(t, r.Score, "%v", rulesOf(r))
		assert.Empty(t, r.Contributions)
		assert.Empty(t, r.Playbook)
	})

	t.Run("many signals at once are capped at 100", func(t *testing.T) {
		st := build(t, m, p, criticalHistory()...)
		r := m.Evaluate(st, p, on(35.5))
		assert.Greater(t, r.Raw, 100.0, "%v", rulesOf(r))
		assert.Equal(t, 100.0, r.Score)
		assert.Equal(t, rules.Critical, r.Tier)
		assertAddsUp(t, m, r)
	})
}

// A silence fires from the engine clock alone: no signal arrives, the
// sweep evaluates later and the rule fires.
func TestSweepFiresSilences(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	last := usage(29.5, 80)
	last.ID = "usage-last"
	st := build(t, m, p, concat(daily(0, 29, 80), []signals.Signal{last, contact(25)})...)
	r := m.Evaluate(st, p, on(30))
	_, ok := contribution(r, "usage-inactive")
	require.False(t, ok, "a daily user seen yesterday is not inactive: %v", rulesOf(r))

	r = m.Evaluate(st, p, on(40))
	c, ok := contribution(r, "usage-inactive")
	require.True(t, ok, "ten days without usage must fire: %v", rulesOf(r))
	assert.True(t, c.Firing)
	assert.Equal(t, "no usage for 10 days; this customer is usually active every 1.0 days", c.Detail)
	assert.Equal(t, []string{"usage-last"}, c.Signals, "the last usage signal is the evidence")
	assert.Equal(t, on(40).Unix(), st.Evaluated)

	// The silence ends with a new signal: the days of the silence that
	// the lateness window has closed are committed, and the rule fades
	// from the last of them, with a half-life of an hour: a silence that
	// ended is no risk two days later.
	u := usage(45.5, 80)
	u.ID, u.Customer = "usage-back", "acme"
	require.NoError(t, m.Apply(st, &u, p))
	r = m.Evaluate(st, p, on(46))
	_, ok = contribution(r, "usage-inactive")
	require.False(t, ok, "the customer is back: %v", rulesOf(r))
	f := firingOf(st, "usage-inactive")
	assert.Equal(t, on(44).Unix(), f.At, "day 43 is the last day closed 24h before the new signal")
}

// A rule that fired and stopped fades with its half-life.
func TestDecay(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	// champion-lost (30 points, half-life 60 days) fires from day 5 and
	// stops when a new champion arrives on day 20.
	st := build(t, m, p, champion(5, "left"), champion(20.5, "added"), usage(22.5, 10))
	for _, tc := range []struct {
		at   float64
		want float64
	}{
		{at: 23, want: 30 * math.Exp2(-3.0/60)},
		{at: 80, want: 15},   // one half-life after it last fired
		{at: 140, want: 7.5}, // two
	} {
		r := m.Explain(st, p, on(tc.at), nil)
		c, ok := contribution(r, "champion-lost")
		require.True(t, ok, "day %v: %v", tc.at, rulesOf(r))
		assert.False(t, c.Firing)
		assert.Equal(t, on(20), c.LastFired, "it last fired on day 19, evaluated at the end of the day")
		assert.InDelta(t, tc.want, c.Contribution, 0.2, "day %v", tc.at)
		assert.Contains(t, c.Detail, "fading (half-life 60d)")
	}
	// Far enough, it is gone.
	r := m.Explain(st, p, on(20+11*60), nil)
	_, ok := contribution(r, "champion-lost")
	assert.False(t, ok)
}

const hysteresisRules = `
lateness: 24h
tiers: {watch: 40, at_risk: 60, critical: 80, hysteresis: 5}
segment_tiers:
  smb: {watch: 45, at_risk: 65, critical: 85, hysteresis: 5}
rules:
  - name: fresh-detractor
    category: sentiment
    kind: nps
    when: nps.detractor && nps.days_since < 1
    weight: 64
    half_life: 10d
`

func TestHysteresis(t *testing.T) {
	set, err := rules.Parse("hysteresis.yaml", []byte(hysteresisRules))
	require.NoError(t, err)
	m := scorer.NewModel(set)
	p := profile()
	st := build(t, m, p, nps(10.5, 2))
	r := m.Evaluate(st, p, on(10.6))
	require.Equal(t, 64.0, r.Score)
	require.Equal(t, rules.AtRisk, r.Tier)

	// A later signal closes day 10: from then on the rule fades from the
	// end of day 10 with its 10-day half-life.
	u := usage(12.1, 5)
	u.ID, u.Customer = "closes-day-10", "acme"
	require.NoError(t, m.Apply(st, &u, p))
	for _, s := range []struct {
		at    float64
		score float64
		tier  rules.Tier
	}{
		{at: 12.2, score: 58.9, tier: rules.AtRisk}, // below 60, within the band
		{at: 12.9, score: 56.1, tier: rules.AtRisk},
		{at: 13.3, score: 54.6, tier: rules.Watch}, // out of the band
		{at: 13.4, score: 54.2, tier: rules.Watch},
	} {
		r := m.Evaluate(st, p, on(s.at))
		assert.InDelta(t, s.score, r.Score, 0.05, "day %v", s.at)
		assert.Equal(t, s.tier, r.Tier, "day %v: score %.1f", s.at, r.Score)
	}

	// The band is judged against the tier the last closed day ended in
	// (day 10 ended at 64, at risk), not against the evaluations that
	// happened to be made: the same history never evaluated before 12.2
	// is at risk too.
	fresh := build(t, m, p, nps(10.5, 2), usage(12.1, 5))
	r = m.Evaluate(fresh, p, on(12.2))
	assert.InDelta(t, 58.9, r.Score, 0.05)
	assert.Equal(t, rules.AtRisk, r.Tier)

	// Once a day closes below the band, the tier follows: day 14 ends
	// out of the band, and so the next day is watch.
	u = usage(15.1, 5)
	u.ID, u.Customer = "closes-day-13", "acme"
	require.NoError(t, m.Apply(fresh, &u, p))
	r = m.Evaluate(fresh, p, on(15.2))
	assert.Less(t, r.Score, 55.0)
	assert.Equal(t, rules.Watch, r.Tier)

	// The segment's own bands: 64 is at risk for most, watch for smb.
	smb := profile()
	smb.Segment = "smb"
	r = m.Evaluate(build(t, m, smb, nps(10.5, 2)), smb, on(10.6))
	assert.Equal(t, 64.0, r.Score)
	assert.Equal(t, rules.Watch, r.Tier)
}

func TestLateSignals(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, daily(0, 10, 10)...) // the watermark is day 9, noon

	t.Run("within the window it lands on its own day", func(t *testing.T) {
		late := usage(8.6, 7) // 22 hours before the watermark
		late.ID, late.Customer = "late-ok", "acme"
		require.NoError(t, m.Apply(st, &late, p))
		f := scorer.Features(st, p, on(10.5).Unix())
		assert.Equal(t, int64(7*10+7), f.Usage.Events7d, "days 3-9, with day 8 counting 17")
		assert.Equal(t, on(9.5).Unix(), st.Watermark, "a late signal does not move the watermark")
	})

	t.Run("beyond the window it is rejected and changes nothing", func(t *testing.T) {
		before, err := json.Marshal(st)
		require.NoError(t, err)
		late := usage(8.4, 7) // 26 hours before the watermark
		late.ID, late.Customer = "late-no", "acme"
		err = m.Apply(st, &late, p)
		require.Error(t, err)
		var se *signals.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, signals.ReasonLate, se.Reason)
		assert.Equal(t, signals.ReasonLate, signals.ReasonOf(err))
		assert.Contains(t, err.Error(), "more than 24h0m0s before the latest usage event")
		after, err := json.Marshal(st)
		require.NoError(t, err)
		assert.JSONEq(t, string(before), string(after))
	})

	t.Run("a longer window accepts it", func(t *testing.T) {
		m := modelWithLateness(t, 72*time.Hour)
		st := build(t, m, p, daily(0, 10, 10)...)
		late := usage(7.6, 7) // 46 hours late
		late.ID, late.Customer = "late-72h", "acme"
		require.NoError(t, m.Apply(st, &late, p))
		f := scorer.Features(st, p, on(10.5).Unix())
		assert.Equal(t, int64(7*10+7), f.Usage.Events7d)
	})
}

func TestDuplicateIsNotCounted(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, daily(0, 10, 10)...)
	s := usage(9.7, 500)
	s.ID, s.Customer = "u-dup", "acme"
	require.NoError(t, m.Apply(st, &s, p))
	before, err := json.Marshal(st)
	require.NoError(t, err)

	again := s
	again.Usage.Events = 1000
	err = m.Apply(st, &again, p)
	require.ErrorIs(t, err, scorer.ErrDuplicate)
	after, err := json.Marshal(st)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after))
	f := scorer.Features(st, p, on(10.5).Unix())
	assert.Equal(t, int64(6*10+10+500), f.Usage.Events7d)
}

// A ticket event is kept with its id, so its duplicate is caught long
// after the last-ids ring has forgotten it.
func TestOldDuplicateTicketIsNotCounted(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	tk := ticket(1.5, "zd-1", signals.TicketOpened, "normal")
	tk.ID = "zd-1-opened"
	st := build(t, m, p, append(daily(0, 30, 10), tk)...)
	again := tk
	again.Customer = "acme"
	assert.ErrorIs(t, m.Apply(st, &again, p), scorer.ErrDuplicate, "a month later it is still known by its id")

	st = build(t, m, p, concat(daily(0, 3, 10), []signals.Signal{tk}, func() []signals.Signal {
		var out []signals.Signal
		for i := range 40 {
			out = append(out, usage(1.6+float64(i)/100, 1)) // 40 ids after it, within the lateness
		}
		return out
	}())...)
	require.ErrorIs(t, m.Apply(st, &again, p), scorer.ErrDuplicate)
	f := scorer.Features(st, p, on(2.5).Unix())
	assert.Equal(t, int64(1), f.Tickets.Opened7d)
}

func TestEvidenceCitesSignalIDs(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, atRiskHistory()...)
	r := m.Explain(st, p, on(35.5), nil)

	c, ok := contribution(r, "ticket-spike")
	require.True(t, ok)
	assert.Equal(t, []string{"zd-104-opened", "zd-103-opened", "zd-102-opened", "zd-101-opened", "zd-100-opened"},
		c.Signals, "the tickets opened in the last 7 days, newest first, at most five; not the solved ones")
	assert.Equal(t, "5 tickets opened in 7 days, 5.0x the usual rate", c.Detail)

	c, ok = contribution(r, "nps-passive")
	require.True(t, ok)
	require.Len(t, c.Signals, 1)
	assert.Contains(t, c.Signals[0], "nps-")

	c, ok = contribution(r, "price-pressure-near-renewal")
	require.True(t, ok)
	require.Len(t, c.Signals, 1)
	assert.Contains(t, c.Signals[0], "commercial-")
	assert.Contains(t, c.Detail, "the latest 30 days before renewal")
}

func TestHistoryIsBoundedToNinetyDays(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, usage(0.5, 10))
	for d := range 120 {
		s := usage(float64(d)+0.6, 10)
		s.ID, s.Customer = fmt.Sprintf("h-%d", d), "acme"
		require.NoError(t, m.Apply(st, &s, p))
		m.Evaluate(st, p, on(float64(d)+0.7))
	}
	pts := st.HistoryPoints()
	require.Len(t, pts, 90)
	assert.Equal(t, on(30).Format(time.DateOnly), pts[0].Day)
	assert.Equal(t, on(119).Format(time.DateOnly), pts[89].Day)
	for i := 1; i < len(pts); i++ {
		assert.Less(t, pts[i-1].Day, pts[i].Day)
	}
	v, ok := st.ScoreOn(on(119.9).Unix())
	assert.True(t, ok)
	assert.Equal(t, pts[89].Score, v)
	_, ok = st.ScoreOn(on(20).Unix())
	assert.False(t, ok, "older than 90 days")
	_, ok = st.ScoreOn(on(125).Unix())
	assert.False(t, ok, "not scored yet")
}

func TestHistoryKeepsDaysWithoutScore(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, usage(0.5, 10))
	m.Evaluate(st, p, on(1))
	m.Evaluate(st, p, on(5))
	pts := st.HistoryPoints()
	require.Len(t, pts, 2, "days without an evaluation have no point")
	assert.Equal(t, on(1).Format(time.DateOnly), pts[0].Day)
	assert.Equal(t, on(5).Format(time.DateOnly), pts[1].Day)
}

func TestSegmentAndStageWeights(t *testing.T) {
	m := defaultModel(t)
	for _, tc := range []struct {
		segment, stage string
		want           float64
	}{
		{segment: "mid_market", want: 5},
		{segment: "enterprise", want: 8},
		{segment: "mid_market", stage: "onboarding", want: 10},
		{segment: "enterprise", stage: "onboarding", want: 10}, // the larger override
	} {
		p := profile()
		p.Segment, p.Stage = tc.segment, tc.stage
		st := build(t, m, p, atRiskHistory()...)
		r := m.Explain(st, p, on(35.5), nil)
		c, ok := contribution(r, "ticket-spike")
		require.True(t, ok)
		assert.Equal(t, tc.want, c.Contribution, "segment %q stage %q", tc.segment, tc.stage)
	}
}

// A protective rule's negative weight lowers the score, never below 0,
// while Raw keeps the signed sum and the probability follows Raw.
func TestProtectiveRuleAndProbability(t *testing.T) {
	src := string(configs.DefaultRules) + `
  - name: promoter
    category: sentiment
    kind: nps
    when: nps.last >= 9
    weight: -30
    half_life: 30d
`
	set, err := rules.Parse("rules.yaml", []byte(src))
	require.NoError(t, err)
	m := scorer.NewModel(set)
	p := profile()

	// The at-risk customer, with a promoter answer after the passive one.
	st := build(t, m, p, append(atRiskHistory(), nps(34, 10))...)
	r := m.Evaluate(st, p, on(35.5))
	c, ok := contribution(r, "promoter")
	require.True(t, ok, "%v", rulesOf(r))
	assert.Equal(t, -30.0, c.Contribution)
	assertAddsUp(t, m, r)
	assert.Equal(t, r.Contributions[len(r.Contributions)-1].Rule, "promoter", "negative contributions last")

	// The healthy customer with a promoter answer: raw -30, score 0.
	st = build(t, m, p, healthyHistory()...)
	r = m.Evaluate(st, p, on(35.5))
	assert.Equal(t, -30.0, r.Raw, "%v", rulesOf(r))
	assert.Zero(t, r.Score)
	assert.Equal(t, rules.Healthy, r.Tier)
	assert.Less(t, r.Probability, rules.DefaultCalibration.Probability(0))
}

// The probability comes from the uncapped raw score, so customers above
// the cap still rank, and from the file's calibration when it has one.
func TestProbabilityRanksAboveTheCap(t *testing.T) {
	src := "calibration: {method: platt, intercept: -5, slope: 0.04, horizon: 90d}\n" + string(configs.DefaultRules)
	set, err := rules.Parse("rules.yaml", []byte(src))
	require.NoError(t, err)
	m := scorer.NewModel(set)
	p := profile()
	st := build(t, m, p, criticalHistory()...)
	r := m.Evaluate(st, p, on(35.5))
	require.Greater(t, r.Raw, 100.0)
	assert.Equal(t, 100.0, r.Score)
	assert.InDelta(t, 1/(1+math.Exp(-(-5+0.04*r.Raw))), r.Probability, 1e-12)
	assert.Greater(t, r.Probability, set.Calibration.Probability(100))
}

func TestExplainChangesNothing(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, atRiskHistory()...)
	before, err := json.Marshal(st)
	require.NoError(t, err)
	r := m.Explain(st, p, on(50), nil)
	require.NotEmpty(t, r.Contributions)
	after, err := json.Marshal(st)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after))
}

func TestEvaluateNeverGoesBackInTime(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, daily(0, 30, 80)...)
	r := m.Evaluate(st, p, on(40))
	older := m.Evaluate(st, p, on(31))
	assert.Equal(t, r.Time, older.Time, "an older clock does not undo the sweep")
	assert.Equal(t, r.Score, older.Score)
}

// A checkpoint restores the exact state: the same signals then give the
// same result as on the state that never left memory.
func TestCheckpointRoundTrip(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := criticalHistory()
	st := build(t, m, p, sigs...)
	data, err := json.Marshal(st)
	require.NoError(t, err)
	var back scorer.State
	require.NoError(t, json.Unmarshal(data, &back))
	back.Restore()
	again, err := json.Marshal(&back)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again))

	next := ticket(35.6, "after", signals.TicketOpened, "urgent")
	next.ID, next.Customer = "after", "acme"
	require.NoError(t, m.Apply(st, &next, p))
	require.NoError(t, m.Apply(&back, &next, p))
	assert.Equal(t, m.Explain(st, p, on(36), nil), m.Explain(&back, p, on(36), nil))
}

func TestCheckpointRejectsUnknownEventCode(t *testing.T) {
	var st scorer.State
	err := json.Unmarshal([]byte(`{"customer":"x","ev":[{"t":1,"id":"a","c":"ticket.vanished"}]}`), &st)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown event code")
}

// Lateness is judged against the latest event of the signal's own kind
// (its producer), not of every producer: a help desk may send last week's
// tickets after the warehouse sent today's usage, but not a ticket a
// week older than the tickets it already sent.
func TestLatenessIsPerProducer(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, daily(0, 30, 50)...)
	tk := ticket(22.5, "T1", signals.TicketOpened, "urgent")
	tk.ID, tk.Customer = "T1-opened", "acme"
	rev, err := m.ApplyRevised(st, &tk, p)
	require.NoError(t, err, "a week behind the usage, the first ticket is on time")
	assert.Equal(t, scorer.Revised, rev, "it lands in closed days: they are judged again")
	assert.Equal(t, on(22.5).Unix(), st.Kinds[signals.KindTicket.Index()])
	assert.Equal(t, on(29.5).Unix(), st.Watermark, "the customer's latest event is still the usage")

	older := ticket(20, "T2", signals.TicketOpened, "normal")
	older.ID, older.Customer = "T2-opened", "acme"
	err = m.Apply(st, &older, p)
	require.Error(t, err)
	assert.Equal(t, signals.ReasonLate, signals.ReasonOf(err), "2.5 days behind the tickets already sent")
	assert.Contains(t, err.Error(), "latest ticket event")

	old := ticket(1, "T3", signals.TicketOpened, "normal")
	old.ID, old.Customer = "T3-opened", "acme"
	st2 := build(t, m, p, daily(0, 30, 50)...)
	rev, err = m.ApplyRevised(st2, &old, p)
	require.NoError(t, err, "older than the backfill window, still scored")
	assert.Equal(t, scorer.Truncated, rev, "but only the window's days are judged again")
}

// A renewal or any signal after the closed days does not revise them.
func TestSignalsAfterTheClosedDaysReviseNothing(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, daily(0, 10, 50)...)
	u := usage(10.5, 40)
	u.ID, u.Customer = "u-10", "acme"
	rev, err := m.ApplyRevised(st, &u, p)
	require.NoError(t, err)
	assert.Equal(t, scorer.NotRevised, rev)
}
