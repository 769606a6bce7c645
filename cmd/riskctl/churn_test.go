package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/internal/sim"
)

// TestChurnOnASimulatedHistory checks the report against the outcomes in
// the file: every churned outcome is one customer lost, in the month it
// happened, and the periods follow on from each other.
func TestChurnOnASimulatedHistory(t *testing.T) {
	for _, seed := range []uint64{1, 7} {
		path := filepath.Join(t.TempDir(), "history.ndjson")
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, sim.NewHistory(120, 240, time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), seed).WriteHistory(f))
		require.NoError(t, f.Close())

		// The outcomes, read from the file itself.
		churnedIn := map[string]int{} // month -> customers lost
		first := map[string]bool{}
		churned := map[string]bool{}
		in, err := os.Open(path)
		require.NoError(t, err)
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l struct {
				Customer string    `json:"customer"`
				Kind     string    `json:"kind"`
				Time     time.Time `json:"time"`
				Data     struct {
					Type string `json:"type"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
			if l.Customer == "" {
				continue // a profile
			}
			first[l.Customer] = true
			if l.Kind == "outcome" && l.Data.Type == "churned" && !churned[l.Customer] {
				churned[l.Customer] = true
				churnedIn[l.Time.UTC().Format("2006-01")]++
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, in.Close())
		require.NotEmpty(t, churned, "seed %d: the simulation has churners", seed)

		res := riskctl(t, "", "churn", "--json", path)
		require.Equal(t, exitOK, res.code, res.stderr)
		var rep churn.Report
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
		assert.Equal(t, len(first), rep.Customers, "seed %d: every customer with a signal", seed)
		lost, seen := 0, 0
		for i, p := range rep.Periods {
			all := p.Rows[0]
			require.Equal(t, churn.GroupAll, all.Group)
			assert.Equal(t, churnedIn[p.Label], all.Lost, "seed %d %s: lost = churned outcomes of the month", seed, p.Label)
			lost += all.Lost
			seen += all.New
			if i > 0 {
				assert.Equal(t, rep.Periods[i-1].Rows[0].End, all.Start, "seed %d %s: starts where the last ended", seed, p.Label)
			}
			segLost, stageLost := 0, 0
			for _, r := range p.Rows[1:] {
				if r.Group == churn.GroupSegment {
					segLost += r.Lost
				} else {
					stageLost += r.Lost
				}
			}
			assert.Equal(t, all.Lost, segLost, "seed %d %s: the segments add up", seed, p.Label)
			assert.Equal(t, all.Lost, stageLost, "seed %d %s: the stages add up", seed, p.Label)
		}
		assert.Equal(t, len(churned), lost, "seed %d: every churner lost once", seed)
		assert.Equal(t, len(first), seen+rep.Periods[0].Rows[0].Start, "seed %d: every customer counted in once", seed)
		assert.True(t, rep.Periods[len(rep.Periods)-1].Open)
	}
}

func TestChurnGolden(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "churn.csv")
	res := riskctl(t, "", "churn", "--from", "2026-01-01", "--csv", csvPath, "testdata/churn_history.ndjson")
	require.Equal(t, exitOK, res.code, res.stderr)
	golden(t, "testdata/churn.golden", res.stdout)
	csv, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	golden(t, "testdata/churn.golden.csv", string(csv))

	res = riskctl(t, "", "churn", "--by", "quarter", "--json", "testdata/churn_history.ndjson")
	require.Equal(t, exitOK, res.code, res.stderr)
	golden(t, "testdata/churn.golden.json", res.stdout)
	var rep churn.Report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	q1 := rep.Periods[len(rep.Periods)-1]
	require.Equal(t, "2026-Q1", q1.Label)
	// f: 1000 at the start, 400 downgraded, 100 expanded, lost at 700.
	assert.Equal(t, []float64{1600, 1200, 400, 100},
		[]float64{q1.Rows[0].ARRStart, q1.Rows[0].ARRChurned, q1.Rows[0].ARRDowngraded, q1.Rows[0].ARRExpanded})
}

func TestChurnPredictsAHistory(t *testing.T) {
	res := riskctl(t, "", "churn", "--predict", "--json", "testdata/churn_history.ndjson")
	require.Equal(t, exitOK, res.code, res.stderr)
	var rep churn.Report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	assert.Equal(t, 90.0, rep.HorizonDays)
	assert.Contains(t, rep.Source, "default calibration", "the default rules have no calibration block")
	for _, p := range rep.Periods {
		pr := p.Rows[0].Predictive
		if !p.Open {
			assert.Nil(t, pr, "%s is closed", p.Label)
			continue
		}
		require.NotNil(t, pr)
		assert.Equal(t, 2, pr.Customers, "a and e, still there at the end; f has left")
		assert.True(t, pr.Rate.Valid())
	}

	plain := riskctl(t, "", "churn", "--json", "testdata/churn_history.ndjson")
	require.Equal(t, exitOK, plain.code, plain.stderr)
	assert.NotContains(t, plain.stdout, "predictive", "without --predict a history has no probabilities")
}

func TestChurnUsage(t *testing.T) {
	for _, args := range [][]string{
		{"churn", "--by", "week", "testdata/churn_history.ndjson"},
		{"churn", "--from", "January", "testdata/churn_history.ndjson"},
		{"churn", "a.ndjson", "b.ndjson"},
		{"churn", "--predict"},
		{"churn", "--rules", "configs/rules.yaml", "testdata/churn_history.ndjson"},
	} {
		res := riskctl(t, "", args...)
		assert.Equal(t, exitUsage, res.code, "%v: %s", args, res.stderr)
	}
	res := riskctl(t, "", "churn", "testdata/no-such-file.ndjson")
	assert.Equal(t, exitFail, res.code)
	assert.Contains(t, res.stderr, "no-such-file")
}

// TestChurnFromRiskd asks a running riskd, as riskctl does without a file.
func TestChurnFromRiskd(t *testing.T) {
	r := startRiskd(t)
	at := base()
	for _, args := range [][]string{
		{"--kind", "usage", "--customer", "acme-corp", "--id", "u-1", "--data", `{"events":5}`},
		{"--kind", "usage", "--customer", "globex", "--id", "u-2", "--data", `{"events":5}`},
		{"--kind", "outcome", "--customer", "globex", "--id", "o-1", "--data", `{"type":"churned"}`},
	} {
		res := r.ctl(t, "", append(append([]string{"send"}, args...), "--time", at.Format(time.RFC3339))...)
		require.Equal(t, exitOK, res.code, res.stderr)
	}
	var rep churn.Report
	require.Eventually(t, func() bool {
		res := r.ctl(t, "", "churn", "--json")
		if res.code != exitOK || json.Unmarshal([]byte(res.stdout), &rep) != nil || len(rep.Periods) == 0 {
			return false
		}
		lost := 0
		for _, p := range rep.Periods {
			lost += p.Rows[0].Lost
		}
		return lost == 1
	}, 20*time.Second, 20*time.Millisecond, "globex's churn reaches the report")
	assert.Equal(t, 2, rep.Customers)
	last := rep.Periods[len(rep.Periods)-1]
	require.True(t, last.Open, "the last period holds riskd's time")
	open := last.Rows[0]
	require.NotNil(t, open.Predictive, "riskd's report predicts the open period")
	assert.Equal(t, 1, open.Predictive.Customers, "acme-corp; globex is gone")

	res := r.ctl(t, "", "churn")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Churn by month")
	assert.Contains(t, res.stdout, "Predicted for "+last.Label)
}
