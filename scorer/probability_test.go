package scorer_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// Keep records the raw score with the score, and the probability the
// model gives from the state is the one the evaluation gave.
func TestKeepRecordsTheRawScore(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, criticalHistory()...)
	r := m.Evaluate(st, p, on(35.5))
	require.Equal(t, 100.0, r.Score, "the history scores at the cap")
	require.Greater(t, r.Raw, 100.0, "and past it")
	assert.Equal(t, r.Raw, st.Raw)
	assert.Equal(t, r.Probability, m.Probability(st))
	assert.Equal(t, m.Calibration().Probability(r.Raw), r.Probability)

	data, err := st.MarshalBinary()
	require.NoError(t, err)
	var back scorer.State
	require.NoError(t, back.UnmarshalBinary(data))
	assert.Equal(t, r.Raw, back.Raw, "the raw score survives a binary checkpoint")
	assert.Equal(t, r.Probability, m.Probability(&back))
	assert.Equal(t, r.Raw, jsonRoundTrip(t, st).Raw, "and a JSON one")

	fresh := scorer.NewState("new")
	assert.Equal(t, rules.DefaultCalibration.Probability(0), m.Probability(fresh), "a customer never scored is at raw 0")
}

// Customers at the capped score of 100 keep the order of their raw
// sums in their probabilities: no plateau of ties at the top.
func TestProbabilityRanksPastTheCap(t *testing.T) {
	m := defaultModel(t)
	states := []*scorer.State{
		{Customer: "a", Score: 100, Raw: 100},
		{Customer: "b", Score: 100, Raw: 168},
		{Customer: "c", Score: 100, Raw: 121.5},
		{Customer: "d", Score: 0, Raw: -30},
		{Customer: "e", Score: 0, Raw: 0},
	}
	byP := slices.Clone(states)
	slices.SortStableFunc(byP, func(x, y *scorer.State) int {
		px, py := m.Probability(x), m.Probability(y)
		switch {
		case px > py:
			return -1
		case px < py:
			return 1
		}
		return 0
	})
	var order []string
	seen := map[float64]string{}
	for _, st := range byP {
		p := m.Probability(st)
		assert.True(t, p > 0 && p < 1, "%s: p = %v", st.Customer, p)
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s share the probability %v", st.Customer, other, p)
		}
		seen[p] = st.Customer
		order = append(order, st.Customer)
	}
	assert.Equal(t, []string{"b", "c", "a", "e", "d"}, order)
}

// A rule set built in code, with no calibration, gets the default one.
func TestModelCalibrationDefault(t *testing.T) {
	set := defaultModel(t).Rules // a fresh parse of its own
	set.Calibration = rules.Calibration{}
	m := scorer.NewModel(set)
	assert.Equal(t, rules.DefaultCalibration, m.Calibration())
	assert.Equal(t, 90*24*time.Hour, m.Horizon())

	fitted := rules.Calibration{Method: rules.MethodPlatt, Intercept: -3, Slope: 0.02, Horizon: 30 * 24 * time.Hour}
	set.Calibration = fitted
	m = scorer.NewModel(set)
	assert.Equal(t, 30*24*time.Hour, m.Horizon())
	assert.InDelta(t, 1/(1+1/0.36787944117144233), m.Probability(&scorer.State{Raw: 100}), 1e-12, "p at raw 100 is 1/(1+e^1)")
}

// A JSON checkpoint written before the raw score was kept restores with
// the score standing in for it.
func TestRestoreWithoutRawScore(t *testing.T) {
	var st scorer.State
	require.NoError(t, json.Unmarshal([]byte(`{"customer":"old","score":73.5,"tier":"at_risk"}`), &st))
	st.Restore()
	assert.Equal(t, 73.5, st.Raw)

	var healthy scorer.State
	require.NoError(t, json.Unmarshal([]byte(`{"customer":"old","score":0,"raw":-20,"tier":"healthy"}`), &healthy))
	healthy.Restore()
	assert.Equal(t, -20.0, healthy.Raw, "a kept raw score is left alone")
}

// Version 4 states (testdata/state_v4.bin, the "outcomes and fates"
// state as riskd wrote it before it kept the raw score: score 100, raw
// sum past it) restore with Raw = Score, the cap, and the next
// evaluation records the real sum; they are written back in version 5.
func TestStateBinaryReadsVersion4(t *testing.T) {
	data, err := os.ReadFile("testdata/state_v4.bin")
	require.NoError(t, err)
	require.Equal(t, byte(4), data[0])
	var st scorer.State
	require.NoError(t, st.UnmarshalBinary(data))
	assert.Equal(t, "acme", st.Customer)
	assert.Len(t, st.Outcomes, 3, "version 4 kept outcomes")
	assert.Equal(t, 100.0, st.Score)
	assert.Equal(t, st.Score, st.Raw, "no raw score before version 5: the score stands in")

	again, err := st.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, byte(5), again[0], "written back in the current version")
	assert.Len(t, again, len(data)+8, "version 5 adds the raw score's 8 bytes")
	var back scorer.State
	require.NoError(t, back.UnmarshalBinary(again))
	assert.Equal(t, &st, &back)

	m := defaultModel(t)
	p := profile()
	r := m.Evaluate(&back, p, time.Unix(back.Evaluated, 0))
	assert.Equal(t, r.Raw, back.Raw, "the next evaluation records the real sum")
}
