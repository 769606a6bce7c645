package scorer_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// explained counts what the explanations of a run held, so that a test
// comparing them shows it compared something.
type explained struct {
	firing, fading, withSignals, withPlaybook int
}

func (e *explained) add(r scorer.Result) {
	for _, c := range r.Contributions {
		if c.Firing {
			e.firing++
		} else {
			e.fading++
		}
		if len(c.Signals) > 0 {
			e.withSignals++
		}
	}
	if len(r.Playbook) > 0 {
		e.withPlaybook++
	}
}

// history is a customer's signals in time order, with its profile.
type history struct {
	name string
	sigs []signals.Signal
	p    *signals.Profile
}

// histories are the scenarios of the model tests and random histories of
// every kind of customer.
func histories() []history {
	acme := func(sigs []signals.Signal) []signals.Signal {
		sigs = named(sigs)
		for i := range sigs {
			sigs[i].Customer = "acme"
		}
		return sigs
	}
	out := []history{
		{"at risk", acme(atRiskHistory()), profile()},
		{"healthy", acme(healthyHistory()), profile()},
		{"critical", acme(criticalHistory()), profile()},
		{"critical without a profile", acme(criticalHistory()), nil},
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for seed := uint64(1); seed <= 24; seed++ {
		r := rand.New(rand.NewPCG(seed, 0xde5c))
		sigs := randomHistory(r, fmt.Sprintf("cust%d", seed), start, seed%4 == 0)
		p := &signals.Profile{ID: sigs[0].Customer, ARR: 50000, Segment: []string{"enterprise", "smb", ""}[r.IntN(3)],
			Stage:       []string{"", "adoption", "onboarding", "renewal"}[r.IntN(4)],
			RenewalDate: start.AddDate(0, 0, 40+r.IntN(60)).Format(time.DateOnly), Owner: "alice"}
		out = append(out, history{fmt.Sprintf("random seed=%d", seed), sigs, p})
	}
	return out
}

// silences are how long after a history's last signal sweeps evaluate.
var silences = []time.Duration{9 * time.Hour, 3 * 24 * time.Hour, 20 * 24 * time.Hour, 200 * 24 * time.Hour}

// Score (into a reused result) then Describe is Evaluate: the same
// result, and the same state left behind, after every signal of realistic
// histories and after the silences a sweep sees.
func TestScoreThenDescribeIsEvaluate(t *testing.T) {
	m := defaultModel(t)
	var total explained
	// One result for every score of every history, as the daemon reuses
	// one: nothing of an earlier score may leak into a later one.
	var got scorer.Result
	for _, tc := range histories() {
		t.Run(tc.name, func(t *testing.T) {
			evaluated, scored := scorer.NewState(tc.sigs[0].Customer), scorer.NewState(tc.sigs[0].Customer)
			check := func(at time.Time, what string) {
				want := m.Evaluate(evaluated, tc.p, at)
				m.ScoreInto(&got, scored, tc.p, at)
				m.Describe(scored, tc.p, &got)
				require.Equal(t, want, got, what)
				total.add(got)
			}
			for i := range tc.sigs {
				require.NoError(t, m.Apply(evaluated, &tc.sigs[i], tc.p))
				require.NoError(t, m.Apply(scored, &tc.sigs[i], tc.p))
				check(tc.sigs[i].Time, fmt.Sprintf("signal %d (%s)", i, tc.sigs[i].ID))
			}
			last := tc.sigs[len(tc.sigs)-1].Time
			for _, silence := range silences {
				check(last.Add(silence), "sweep "+silence.String()+" after the last signal")
			}
			assert.Equal(t, evaluated, scored, "Score must leave the state Evaluate leaves")
		})
	}
	assert.Positive(t, total.firing, "firing contributions")
	assert.Positive(t, total.fading, "fading contributions")
	assert.Positive(t, total.withSignals, "contributions with evidence")
	assert.Positive(t, total.withPlaybook, "results with a playbook")
}

// The explanations Evaluate gives for the scenarios and the first random
// histories, one result a line: at the last signal and at two sweeps
// after it. The file was written by Evaluate before it was split into
// Score and Describe.
func TestGoldenHistoryExplanations(t *testing.T) {
	m := defaultModel(t)
	var b bytes.Buffer
	for _, tc := range histories()[:12] {
		st := scorer.NewState(tc.sigs[0].Customer)
		for i := range tc.sigs {
			require.NoError(t, m.Apply(st, &tc.sigs[i], tc.p))
			m.Evaluate(st, tc.p, tc.sigs[i].Time)
		}
		last := tc.sigs[len(tc.sigs)-1].Time
		for _, silence := range []time.Duration{0, 3 * 24 * time.Hour, 20 * 24 * time.Hour} {
			r := m.Evaluate(st, tc.p, last.Add(silence))
			require.Empty(t, r.Errors)
			data, err := json.Marshal(r)
			require.NoError(t, err)
			fmt.Fprintf(&b, "%s, %s after the last signal: %s\n", tc.name, silence, data)
		}
	}
	path := filepath.Join("testdata", "histories.golden")
	if *update {
		require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./scorer -run TestGoldenHistoryExplanations -update to create it")
	assert.Equal(t, string(want), b.String())
}

// Score leaves the explanation out and nothing else: stripped of details,
// evidence and playbook, Explain's result at the same moment is Score's.
func TestScoreLeavesTheExplanationOut(t *testing.T) {
	m := defaultModel(t)
	for _, tc := range []struct {
		name string
		sigs []signals.Signal
		at   float64
	}{
		{"firing", criticalHistory(), 35.5},
		{"firing and fading", criticalHistory(), 50},
		{"nothing", healthyHistory(), 35.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profile()
			st := build(t, m, p, tc.sigs...)
			want := m.Explain(st, p, on(tc.at), nil)
			got := m.Score(st, p, on(tc.at))

			assert.Empty(t, got.Playbook)
			for _, c := range got.Contributions {
				assert.Empty(t, c.Detail, c.Rule)
				assert.Empty(t, c.Signals, c.Rule)
			}
			assert.NotNil(t, got.Contributions, "no contributions are an empty list, as Evaluate gives")
			for i := range want.Contributions {
				want.Contributions[i].Detail, want.Contributions[i].Signals = "", nil
			}
			want.Playbook = nil
			assert.Equal(t, want, got)
			assert.Equal(t, got.Score, st.Score)
			assert.Equal(t, got.Tier, st.Tier)
			assert.Equal(t, got.Time.Unix(), st.Evaluated)
		})
	}
}

// Describe explains with the model's rules and leaves alone what they do
// not name, such as a result scored under a rule set since reloaded.
func TestDescribeLeavesUnknownRulesAlone(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, criticalHistory()...)
	r := m.Score(st, p, on(35.5))
	require.NotEmpty(t, r.Contributions)
	r.Contributions = append(r.Contributions, scorer.Contribution{Rule: "retired-rule", Category: "usage",
		Contribution: 1, Detail: "as it was", Firing: true})

	m.Describe(st, p, &r)
	for _, c := range r.Contributions[:len(r.Contributions)-1] {
		assert.NotEmpty(t, c.Detail, c.Rule)
	}
	assert.Equal(t, scorer.Contribution{Rule: "retired-rule", Category: "usage", Contribution: 1,
		Detail: "as it was", Firing: true}, r.Contributions[len(r.Contributions)-1])
	assert.NotEmpty(t, r.Playbook)
}
