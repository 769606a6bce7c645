package scorer_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

func outcome(d float64, typ string, arr *float64) signals.Signal {
	return signals.Signal{Kind: signals.KindOutcome, Time: on(d), Outcome: signals.Outcome{Type: typ, ARR: arr}}
}

// later keeps usage coming after an outcome, so the days up to it close.
func later(from, to int) []signals.Signal { return daily(from, to, 100) }

func TestFateOfEachOutcome(t *testing.T) {
	m := defaultModel(t)
	p := profile() // ARR 120000
	cases := []struct {
		name    string
		sigs    []signals.Signal
		fates   []scorer.Fate
		current scorer.Fate
		// alerted: the last outcome's episode had a warning, and a lead
		// time.
		alerted bool
		change  float64
	}{
		{"healthy, no outcome", concat(healthyHistory(), later(35, 38)), nil, "", false, 0},
		{"critical, no outcome yet", concat(criticalHistory(), later(35, 38)), nil, scorer.FateOpen, false, 0},
		{"critical, then renewed: saved", concat(criticalHistory(), later(35, 38), []signals.Signal{renewed(36.5, on(400).Format(time.DateOnly))}),
			[]scorer.Fate{scorer.FateSaved}, scorer.FateSaved, true, 0},
		{"critical, then expanded: saved", concat(criticalHistory(), later(35, 38), []signals.Signal{outcome(36.5, "expanded", ptr(150000.0))}),
			[]scorer.Fate{scorer.FateSaved}, scorer.FateSaved, true, 30000},
		{"critical, then churned", concat(criticalHistory(), later(35, 38), []signals.Signal{outcome(36.5, "churned", nil)}),
			[]scorer.Fate{scorer.FateChurnedAfterAlert}, scorer.FateChurnedAfterAlert, true, -120000},
		{"critical, then downgraded", concat(criticalHistory(), later(35, 38), []signals.Signal{outcome(36.5, "downgraded", ptr(80000.0))}),
			[]scorer.Fate{scorer.FateDowngradedAfterAlert}, scorer.FateDowngradedAfterAlert, true, -40000},
		{"healthy, then churned", concat(healthyHistory(), later(35, 38), []signals.Signal{outcome(36.5, "churned", nil)}),
			[]scorer.Fate{scorer.FateChurnedWithoutAlert}, scorer.FateChurnedWithoutAlert, false, -120000},
		{"healthy, then downgraded", concat(healthyHistory(), later(35, 38), []signals.Signal{outcome(36.5, "downgraded", ptr(100000.0))}),
			[]scorer.Fate{scorer.FateDowngradedWithoutAlert}, scorer.FateDowngradedWithoutAlert, false, -20000},
		{"healthy, then renewed", concat(healthyHistory(), later(35, 38), []signals.Signal{outcome(36.5, "renewed", nil)}),
			[]scorer.Fate{scorer.FateRenewedWithoutAlert}, scorer.FateRenewedWithoutAlert, false, 0},
		{"renewed before the trouble, critical since", concat(criticalHistory(), later(35, 38), []signals.Signal{outcome(10, "renewed", nil)}),
			[]scorer.Fate{scorer.FateRenewedWithoutAlert}, scorer.FateOpen, false, 0},
		{"saved, then churned in the next episode, still at risk", concat(criticalHistory(), later(35, 50),
			[]signals.Signal{outcome(36.5, "renewed", nil), outcome(45.5, "churned", nil)}),
			[]scorer.Fate{scorer.FateSaved, scorer.FateChurnedAfterAlert}, scorer.FateChurnedAfterAlert, true, -120000},
		{"churned after a renewal, healthy since", concat(healthyHistory(), later(35, 50),
			[]signals.Signal{outcome(36.5, "renewed", nil), outcome(45.5, "churned", nil)}),
			[]scorer.Fate{scorer.FateRenewedWithoutAlert, scorer.FateChurnedWithoutAlert}, scorer.FateChurnedWithoutAlert, false, -120000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := build(t, m, p, tc.sigs...)
			var fates []scorer.Fate
			for i := range st.Outcomes {
				fates = append(fates, st.Outcomes[i].Fate())
			}
			assert.Equal(t, tc.fates, fates)
			assert.Equal(t, tc.current, st.Fate())
			if len(st.Outcomes) == 0 {
				return
			}
			last := st.Outcomes[len(st.Outcomes)-1]
			lead := last.LeadTime()
			if tc.alerted {
				assert.Positive(t, lead, "a warning came before the outcome")
				assert.Equal(t, last.T-last.AtRiskSince(), int64(lead/time.Second))
				assert.Equal(t, int64(24*3600), last.Alert-last.AtRiskSince(), "from the start of the day that ended at_risk")
				assert.LessOrEqual(t, lead, 10*24*time.Hour, "the warning comes within the episode's last ten days")
				if len(st.Outcomes) > 1 {
					assert.Greater(t, last.Alert, st.Outcomes[len(st.Outcomes)-2].T, "each episode has its own warning")
				}
			} else {
				assert.Zero(t, lead)
			}
			change, ok := last.Change()
			assert.Equal(t, tc.change != 0, ok, "the change is known")
			assert.Equal(t, tc.change, change)
		})
	}
}

// The fate depends on the history, not on the order it came in: an
// outcome that its producer sends days late, within the backfill window,
// splits the episode where it belongs.
func TestFateIsAFunctionOfTheHistory(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	base := named(concat(criticalHistory(), later(35, 44), []signals.Signal{
		outcome(36.5, "renewed", nil), outcome(42.5, "churned", nil)}))
	want := build(t, m, p, base...)
	require.Len(t, want.Outcomes, 2)
	require.Equal(t, scorer.FateSaved, want.Outcomes[0].Fate())

	// The outcomes come last, a week late: the days they split are
	// evaluated again.
	late := slices.Clone(base)
	slices.SortStableFunc(late, func(a, b signals.Signal) int {
		return cmp.Compare(kindLag(a, signals.KindOutcome, 7), kindLag(b, signals.KindOutcome, 7))
	})
	require.NotEqual(t, base, late)
	got := applyInOrder(t, m, p, late)
	assert.Equal(t, want.Outcomes, got.Outcomes)
	assert.Equal(t, want.AtRisk, got.AtRisk)

	// Usage comes last instead: the warnings are committed after the
	// outcomes are in.
	usageLate := slices.Clone(base)
	slices.SortStableFunc(usageLate, func(a, b signals.Signal) int {
		return cmp.Compare(kindLag(a, signals.KindUsage, 6), kindLag(b, signals.KindUsage, 6))
	})
	got = applyInOrder(t, m, p, usageLate)
	assert.Equal(t, want.Outcomes, got.Outcomes)
	assert.Equal(t, want.AtRisk, got.AtRisk)
}

// kindLag is when a signal of kind arrives when that producer trails by
// days.
func kindLag(s signals.Signal, kind signals.Kind, days int) int64 {
	if s.Kind == kind {
		return s.Time.Add(time.Duration(days) * 24 * time.Hour).UnixNano()
	}
	return s.Time.UnixNano()
}

// Random histories with outcomes, delivered by producers that trail one
// another within the backfill window, end with the same outcomes and
// fates as in event-time order.
func TestFatesDoNotDependOnArrivalOrder(t *testing.T) {
	m := defaultModel(t)
	window := rulesWindow(t, m)
	alerted := 0
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			r := rand.New(rand.NewPCG(seed, 0xfa7e))
			sigs := randomHistory(r, fmt.Sprintf("cust%d", seed), start, seed%4 == 0)
			days := int(sigs[len(sigs)-1].Time.Sub(start) / (24 * time.Hour))
			types := []string{"renewed", "churned", "downgraded", "expanded"}
			for i := range 1 + r.IntN(3) {
				s := signals.Signal{ID: fmt.Sprintf("out-%d", i), Customer: sigs[0].Customer, Kind: signals.KindOutcome,
					Time:    start.Add(time.Duration(10+r.IntN(days-10))*24*time.Hour + time.Duration(r.IntN(86400))*time.Second),
					Outcome: signals.Outcome{Type: types[r.IntN(len(types))]}}
				sigs = append(sigs, s)
			}
			slices.SortStableFunc(sigs, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
			p := &signals.Profile{ID: sigs[0].Customer, ARR: 50000, RenewalDate: start.AddDate(0, 0, 50).Format(time.DateOnly)}
			var lags [signals.NumKinds]time.Duration
			for k := range lags {
				lags[k] = time.Duration(r.Int64N(int64(window - 24*time.Hour)))
			}
			trailing := slices.Clone(sigs)
			slices.SortStableFunc(trailing, func(a, b signals.Signal) int {
				return a.Time.Add(lags[a.Kind.Index()]).Compare(b.Time.Add(lags[b.Kind.Index()]))
			})
			apply := func(order []signals.Signal) *scorer.State {
				st := scorer.NewState(p.ID)
				for i := range order {
					require.NoError(t, m.Apply(st, &order[i], p), "signal %s", order[i].ID)
				}
				return st
			}
			want, got := apply(sigs), apply(trailing)
			require.NotEmpty(t, want.Outcomes)
			assert.Equal(t, want.Outcomes, got.Outcomes, "producers trailing by %v", lags)
			assert.Equal(t, want.AtRisk, got.AtRisk)
			for _, o := range want.Outcomes {
				if o.Alert != 0 {
					alerted++
				}
			}
		})
	}
	require.Positive(t, alerted, "some episodes must be alerted, or the test proves little")
}

func TestOutcomesAreBoundedAndDeduplicated(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := healthyHistory()
	for i := range scorer.MaxOutcomes + 3 {
		s := outcome(float64(i)+0.5, "renewed", nil)
		s.ID = fmt.Sprintf("renewal-%d", i)
		sigs = append(sigs, s)
	}
	st := build(t, m, p, sigs...)
	require.Len(t, st.Outcomes, scorer.MaxOutcomes)
	assert.Equal(t, "renewal-3", st.Outcomes[0].ID, "the newest are kept")
	assert.Equal(t, on(2.5).Unix(), st.OutcomesFloor)

	again := st.Outcomes[len(st.Outcomes)-1]
	dup := outcome(float64(scorer.MaxOutcomes+2)+0.5, "renewed", nil)
	dup.ID, dup.Customer = again.ID, "acme"
	err := m.Apply(st, &dup, p)
	require.ErrorIs(t, err, scorer.ErrDuplicate)
	assert.Len(t, st.Outcomes, scorer.MaxOutcomes)
}

// Version 2 and 3 states (testdata/state_v2.bin, the "every event
// field" state as riskd wrote it before it kept ActiveDays and outcomes,
// and state_v3.bin, the same read and written back by the riskd that kept
// ActiveDays) still restore, with no outcome known, and are written back
// in the current version.
func TestStateBinaryReadsVersions2And3(t *testing.T) {
	var states [2]scorer.State
	for i, v := range []byte{2, 3} {
		data, err := os.ReadFile(fmt.Sprintf("testdata/state_v%d.bin", v))
		require.NoError(t, err)
		require.Equal(t, v, data[0])
		st := &states[i]
		require.NoError(t, st.UnmarshalBinary(data), "version %d", v)
		assert.Equal(t, "acme", st.Customer)
		assert.NotZero(t, st.Churned, "the churn of the state")
		assert.NotEmpty(t, st.Events)
		assert.Positive(t, st.ActiveDays)
		assert.Empty(t, st.Outcomes, "outcomes before the upgrade are not known")
		assert.Zero(t, st.AtRisk)
		assert.Equal(t, st.Score, st.Raw, "no raw score before version 5: the score stands in")
		again, err := st.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, byte(5), again[0], "written back in the current version")
		var back scorer.State
		require.NoError(t, back.UnmarshalBinary(again))
		assert.Equal(t, st, &back)
	}
	assert.Equal(t, states[0], states[1], "version 3 holds what version 2 gave, ActiveDays as derived")
}

// A state with outcomes survives a checkpoint midway through its history:
// binary and JSON give it back whole, and the restored state ends like
// the one that never stopped.
func TestOutcomesSurviveACheckpoint(t *testing.T) {
	m := defaultModel(t)
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			r := rand.New(rand.NewPCG(seed, 0xc0de))
			sigs := randomHistory(r, fmt.Sprintf("cust%d", seed), start, false)
			for i := range 3 {
				sigs = append(sigs, signals.Signal{ID: fmt.Sprintf("out-%d", i), Customer: sigs[0].Customer, Kind: signals.KindOutcome,
					Time:    start.Add(time.Duration(15+15*i)*24*time.Hour + time.Duration(r.IntN(86400))*time.Second),
					Outcome: signals.Outcome{Type: []string{"renewed", "downgraded", "churned"}[i], ARR: ptr(float64(1000 * (3 - i)))}})
			}
			slices.SortStableFunc(sigs, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
			p := &signals.Profile{ID: sigs[0].Customer, ARR: 5000}
			st := scorer.NewState(p.ID)
			half := len(sigs) * 2 / 3
			for i := range sigs[:half] {
				require.NoError(t, m.Apply(st, &sigs[i], p))
			}
			require.NotEmpty(t, st.Outcomes)
			data, err := st.MarshalBinary()
			require.NoError(t, err)
			var back scorer.State
			require.NoError(t, back.UnmarshalBinary(data))
			require.Equal(t, st.Outcomes, back.Outcomes)
			require.Equal(t, jsonRoundTrip(t, st), &back, "binary and JSON agree")
			for i := range sigs[half:] {
				s := sigs[half+i]
				require.NoError(t, m.Apply(st, &s, p))
				require.NoError(t, m.Apply(&back, &s, p))
			}
			assert.Equal(t, st.Outcomes, back.Outcomes)
			assert.Equal(t, st.AtRisk, back.AtRisk)
			assert.Equal(t, m.Explain(st, p, sigs[len(sigs)-1].Time, nil), m.Explain(&back, p, sigs[len(sigs)-1].Time, nil))
		})
	}
}
