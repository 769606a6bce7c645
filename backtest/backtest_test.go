package backtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// base writes a history of n customers over days ending at end: steady
// daily usage; about a fifth churn, their usage fading over their last
// six weeks, a ticket every other day in the last month and, for half of
// them, a detractor answer, before a churned outcome; some of those who stay have a benign bad week (an urgent ticket
// solved) and a renewal.
func base(seed uint64, n, days int, end time.Time) []byte {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	var b bytes.Buffer
	line := func(id, kind, customer string, at time.Time, data string) {
		fmt.Fprintf(&b, `{"id":%q,"kind":%q,"customer":%q,"time":%q,"data":%s}`+"\n",
			id, kind, customer, at.UTC().Format(time.RFC3339), data)
	}
	start := end.AddDate(0, 0, -days)
	segments := []string{"smb", "mid-market", "enterprise"}
	for c := range n {
		id := fmt.Sprintf("c%04d", c)
		fmt.Fprintf(&b, `{"profile":{"id":%q,"arr":%d,"segment":%q,"owner":"csm%d","renewal_date":%q}}`+"\n",
			id, 5000+rng.IntN(100)*1000, segments[rng.IntN(3)], c%4, end.AddDate(0, 2, 0).Format(time.DateOnly))
		churnDay := -1
		if rng.IntN(5) == 0 {
			churnDay = 60 + rng.IntN(days-60)
		}
		level := 40 + rng.IntN(80)
		for d := range days {
			at := start.AddDate(0, 0, d).Add(time.Duration(8+rng.IntN(10)) * time.Hour)
			if churnDay >= 0 && d >= churnDay {
				line(id+"-out", "outcome", id, start.AddDate(0, 0, churnDay).Add(12*time.Hour), `{"type":"churned"}`)
				break
			}
			events := level
			if left := churnDay - d; churnDay >= 0 && left <= 45 {
				events = level * left / 60 // fading
				if left <= 30 && left%2 == 0 {
					line(fmt.Sprintf("%s-t%d", id, d), "ticket", id, at, fmt.Sprintf(`{"ticket_id":"%s%d","status":"opened"}`, id, d))
				}
				if left == 25 && rng.IntN(2) == 0 {
					line(id+"-nps", "nps", id, at, `{"score":3}`)
				}
			} else if churnDay < 0 && d == days/2 && rng.IntN(4) == 0 {
				line(id+"-urgent", "ticket", id, at, fmt.Sprintf(`{"ticket_id":"%sU","status":"opened","priority":"urgent"}`, id))
				line(id+"-solved", "ticket", id, at.Add(3*time.Hour), fmt.Sprintf(`{"ticket_id":"%sU","status":"solved"}`, id))
			}
			if events > 0 {
				line(fmt.Sprintf("%s-u%d", id, d), "usage", id, at, fmt.Sprintf(`{"events":%d}`, events))
			}
		}
	}
	return b.Bytes()
}

func defaultModel(t testing.TB) backtest.Model {
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	return backtest.Model{Name: "rules.yaml", Rules: set}
}

func TestBacktestRanksFadingCustomersAbove(t *testing.T) {
	end := time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			h, err := backtest.Read(bytes.NewReader(base(seed, 120, 240, end)), nil)
			require.NoError(t, err)
			require.NotEmpty(t, h.Churned)
			var calls int
			rep, err := backtest.Run(context.Background(), h, backtest.Config{Models: []backtest.Model{defaultModel(t)},
				Horizon: 45 * 24 * time.Hour, Every: 10 * 24 * time.Hour,
				Progress: func(done, total int) { calls++; assert.LessOrEqual(t, done, total) }})
			require.NoError(t, err)
			assert.Positive(t, calls)
			require.Len(t, rep.Models, 2)
			rules, baseline := rep.Models[0], rep.Models[1]
			assert.Equal(t, backtest.BaselineName, baseline.Name)
			assert.Equal(t, rules.Observations, baseline.Observations, "the same customers at the same dates")
			assert.Positive(t, rules.Churned)
			// Churners fade for six weeks before they leave, with tickets
			// piling up: the rules see it.
			assert.Greater(t, float64(rules.AUC), 0.7)
			assert.Greater(t, float64(rules.Tiers[1].Recall), 0.0)
			assert.Equal(t, rules.Tiers[1].Flagged, baseline.Tiers[1].Flagged, "the baseline flags as many")
			assert.Positive(t, rules.AlertedChurners)
			assert.NotEmpty(t, rules.Rules)
		})
	}
}

func TestAScoreAtADateSeesNothingAfterIt(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	for d := range 60 {
		fmt.Fprintf(&b, `{"id":"u%d","kind":"usage","customer":"acme","time":%q,"data":{"events":50}}`+"\n",
			d, at.AddDate(0, 0, d-45).Add(10*time.Hour).Format(time.RFC3339))
	}
	// After the date: a cancellation inquiry, and the churn.
	fmt.Fprintf(&b, `{"id":"x","kind":"commercial","customer":"acme","time":%q,"data":{"type":"cancellation_inquiry"}}`+"\n",
		at.Add(time.Hour).Format(time.RFC3339))
	fmt.Fprintf(&b, `{"id":"o","kind":"outcome","customer":"acme","time":%q,"data":{"type":"churned"}}`+"\n",
		at.AddDate(0, 0, 20).Format(time.RFC3339))
	h, err := backtest.Read(strings.NewReader(b.String()), nil)
	require.NoError(t, err)
	rep, err := backtest.Run(context.Background(), h, backtest.Config{Models: []backtest.Model{defaultModel(t)},
		At: []time.Time{at.Add(6 * time.Hour)}})
	require.NoError(t, err)
	assert.Equal(t, []string{"2026-03-01"}, rep.Dates, "a date is the start of its day")
	m := rep.Models[0]
	require.Equal(t, 1, m.Observations)
	assert.Equal(t, 1, m.Churned, "churned 20 days after, within the 90-day horizon")
	assert.Equal(t, 0, m.Tiers[0].Flagged, "the inquiry came after the date: healthy then")
	assert.Empty(t, m.Rules, "no rule fired on what was known then")
}

func TestShortHistoryIsAClearError(t *testing.T) {
	h, err := backtest.Read(strings.NewReader(`{"id":"u","kind":"usage","customer":"a","time":"2026-01-01T00:00:00Z","data":{}}`+"\n"), nil)
	require.NoError(t, err)
	_, err = backtest.Run(context.Background(), h, backtest.Config{Models: []backtest.Model{defaultModel(t)}})
	assert.ErrorContains(t, err, "too short for a 90d horizon")
}

func TestReportGolden(t *testing.T) {
	end := time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	h, err := backtest.Read(bytes.NewReader(base(7, 60, 200, end)), nil)
	require.NoError(t, err)
	src, err := os.ReadFile("testdata/two-rules.yaml")
	require.NoError(t, err)
	two, err := rules.Parse("two-rules.yaml", src)
	require.NoError(t, err)
	rep, err := backtest.Run(context.Background(), h, backtest.Config{
		Models:  []backtest.Model{defaultModel(t), {Name: "two-rules.yaml", Rules: two}},
		Horizon: 45 * 24 * time.Hour, Every: 20 * 24 * time.Hour})
	require.NoError(t, err)
	var text, csv bytes.Buffer
	require.NoError(t, backtest.WriteText(&text, rep))
	require.NoError(t, backtest.WriteCSV(&csv, rep))
	js, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	for name, got := range map[string][]byte{"report.txt": text.Bytes(), "report.csv": csv.Bytes(), "report.json": append(js, '\n')} {
		path := filepath.Join("testdata", name)
		if *update {
			require.NoError(t, os.WriteFile(path, got, 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run with -update to create it")
		assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", name)
	}
}

// Observe sees what Run measures: the same observations, each with the
// rules' activations, 1 for a firing rule (its override over its weight
// where one applies) and less for a fading one, with
// weight × activation summing to the raw score.
func TestObserveGivesActivations(t *testing.T) {
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	h, err := backtest.Read(bytes.NewReader(base(7, 60, 200, end)), nil)
	require.NoError(t, err)
	m := defaultModel(t)
	obs, dates, err := backtest.Observe(context.Background(), h, m.Rules, backtest.Config{})
	require.NoError(t, err)
	rep, err := backtest.Run(context.Background(), h, backtest.Config{Models: []backtest.Model{m}})
	require.NoError(t, err)
	require.Len(t, obs, rep.Models[0].Observations)
	assert.Len(t, dates, len(rep.Dates))
	active := 0
	for _, o := range obs {
		active += len(o.Activation)
		sum := 0.0
		for r, a := range o.Activation {
			assert.Positive(t, a, r)
			sum += a * m.Rules.Rule(r).Weight
		}
		for _, r := range o.Firing {
			rule := m.Rules.Rule(r)
			assert.InDelta(t, rule.WeightFor(o.Segment, o.Stage)/rule.Weight, o.Activation[r], 1e-9, r)
		}
		assert.InDelta(t, o.Raw, sum, 0.05*float64(len(o.Activation))+1e-9)
		assert.InDelta(t, rules.DefaultCalibration.Probability(o.Raw), o.Probability, 1e-12)
	}
	assert.Positive(t, active, "no rule contributed")
}
