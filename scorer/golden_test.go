package scorer_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// explanation is what a CSM reads: the score, its tier and every
// contribution with its detail and evidence.
type explanation struct {
	Score         float64               `json:"score"`
	Raw           float64               `json:"raw_score"`
	Tier          rules.Tier            `json:"tier"`
	Contributions []scorer.Contribution `json:"contributions"`
	Playbook      []string              `json:"playbook"`
}

func TestGoldenExplanations(t *testing.T) {
	m := defaultModel(t)
	for _, tc := range []struct {
		name string
		sigs []signals.Signal
	}{
		{"at_risk", atRiskHistory()},
		{"healthy", healthyHistory()},
		{"critical", criticalHistory()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profile()
			st := build(t, m, p, tc.sigs...)
			r := m.Evaluate(st, p, on(35.5))
			require.Empty(t, r.Errors)
			got, err := json.MarshalIndent(explanation{Score: r.Score, Raw: r.Raw, Tier: r.Tier,
				Contributions: r.Contributions, Playbook: r.Playbook}, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')

			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./scorer -run TestGoldenExplanations -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

// The playbook puts the steps of the largest contributions first: the
// first steps are what an alert and Slack show.
func TestPlaybookStartsWithTheLargestContributions(t *testing.T) {
	m := defaultModel(t)
	for _, history := range [][]signals.Signal{atRiskHistory(), criticalHistory()} {
		p := profile()
		st := build(t, m, p, history...)
		r := m.Evaluate(st, p, on(35.5))
		require.NotEmpty(t, r.Playbook)
		// The rule each step comes from first, and its points.
		points := map[string]float64{}
		for _, c := range r.Contributions {
			if c.Firing {
				points[c.Rule] = c.Contribution
			}
		}
		stepPoints := map[string]float64{}
		for _, rule := range m.Rules.Rules {
			if _, firing := points[rule.Name]; !firing {
				continue
			}
			for _, step := range rule.Playbook {
				stepPoints[step] = max(stepPoints[step], points[rule.Name])
			}
		}
		for i := 1; i < len(r.Playbook); i++ {
			assert.GreaterOrEqual(t, stepPoints[r.Playbook[i-1]], stepPoints[r.Playbook[i]],
				"%q (%v) before %q (%v)", r.Playbook[i-1], stepPoints[r.Playbook[i-1]], r.Playbook[i], stepPoints[r.Playbook[i]])
		}
	}
}
