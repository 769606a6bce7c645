package chaos

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var smallConfig = Config{Seed: 1, Customers: 300, Signals: 3000, Days: 10, Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(smallConfig), Generate(smallConfig)
	require.Equal(t, a, b)
	other := smallConfig
	other.Seed++
	assert.NotEqual(t, a.Messages, Generate(other).Messages)
}

// TestGenerateShape checks the CI workload against what the crash tests
// promise to feed riskd.
func TestGenerateShape(t *testing.T) {
	c := workloadConfig()
	w := sharedWorkload()
	signalsSent := 0
	for _, m := range w.Messages {
		if strings.HasPrefix(m.Subject, signals.SignalPrefix) {
			signalsSent++
		}
		tokens := strings.Split(m.Subject, ".")
		for _, tok := range tokens {
			require.NotContains(t, []string{"*", ">", ""}, tok, "subject %q", m.Subject)
		}
		if strings.HasPrefix(m.Subject, signals.SignalPrefix) {
			require.Len(t, tokens, 4, "subject %q", m.Subject)
		} else {
			require.Len(t, tokens, 3, "subject %q", m.Subject)
		}
	}
	require.GreaterOrEqual(t, signalsSent, c.Signals)
	require.Equal(t, c.Customers, w.Expect.Customers)
	for _, k := range signals.Kinds {
		assert.Positive(t, w.Expect.Scored[k], "kind %s", k)
	}
	assert.InDelta(t, 0.02, float64(w.Expect.Duplicates)/float64(c.Signals), 0.005, "duplicates")
	assert.InDelta(t, 0.01, float64(w.Expect.Late)/float64(c.Signals), 0.005, "late events")
	assert.Positive(t, w.Expect.Malformed)
	assert.Positive(t, w.Expect.Profiles)
	assert.ElementsMatch(t, OddIDs, w.Odd)
}

// TestExpectMatchesTheScorer runs the real scorer over a workload, without
// NATS, and requires the generator's expectation: its mirror of the
// lateness and duplicate rules is what the crash tests compare counts with.
func TestExpectMatchesTheScorer(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	require.Equal(t, Lateness, scorer.NewModel(set).Lateness(), "the generator mirrors the default rules' lateness")
	for _, c := range []Config{smallConfig, {Seed: 99, Customers: 50, Signals: 4000, Days: 30, Start: smallConfig.Start}} {
		t.Run(fmt.Sprintf("seed %d", c.Seed), func(t *testing.T) {
			w := Generate(c)
			model := scorer.NewModel(set)
			states := map[string]*scorer.State{}
			profiles := map[string]*signals.Profile{}
			got := Expect{Scored: map[signals.Kind]int{}}
			for _, m := range w.Messages {
				if strings.HasPrefix(m.Subject, signals.CustomerPrefix) {
					p, err := signals.DecodeProfile(m.Subject, m.Data)
					require.NoError(t, err)
					profiles[p.ID] = &p
					got.Profiles++
					continue
				}
				s, err := signals.Decode(m.Subject, m.Data, time.Now())
				if err != nil {
					require.Equal(t, signals.ReasonMalformed, signals.ReasonOf(err), "%s: %v", m.Subject, err)
					got.Malformed++
					continue
				}
				st, ok := states[s.Customer]
				if !ok {
					st = scorer.NewState(s.Customer)
					states[s.Customer] = st
				}
				switch err := model.Apply(st, &s, profiles[s.Customer]); {
				case errors.Is(err, scorer.ErrDuplicate):
					got.Duplicates++
				case err != nil:
					require.Equal(t, signals.ReasonLate, signals.ReasonOf(err), "%v", err)
					got.Late++
				default:
					got.Scored[s.Kind]++
				}
			}
			got.Customers = len(states)
			require.Equal(t, w.Expect, got)
		})
	}
}

// TestSmallWorkloadGolden pins the generator: the crash tests of two
// versions are only comparable on the same workload.
func TestSmallWorkloadGolden(t *testing.T) {
	w := Generate(smallConfig)
	var b strings.Builder
	e := w.Expect
	fmt.Fprintf(&b, "messages %d, customers %d, profiles %d, duplicates %d, late %d, malformed %d\n",
		len(w.Messages), e.Customers, e.Profiles, e.Duplicates, e.Late, e.Malformed)
	for _, k := range signals.Kinds {
		fmt.Fprintf(&b, "scored %-10s %d\n", k, e.Scored[k])
	}
	for _, m := range w.Messages[:12] {
		fmt.Fprintf(&b, "%s %q %s\n", m.Subject, m.MsgID, m.Data)
	}
	path := filepath.Join("testdata", "small_workload.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), b.String())
}
