package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
)

// historyFile writes 40 customers' 150 days of daily usage; every eighth
// customer's usage fades over its last three weeks before a churned
// outcome.
func historyFile(t *testing.T) string {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	for c := range 40 {
		id := fmt.Sprintf("c%02d", c)
		fmt.Fprintf(&b, `{"profile":{"id":%q,"arr":%d,"owner":"csm%d","segment":"smb"}}`+"\n", id, 10000+c*1000, c%3)
		churn := -1
		if c%8 == 0 {
			churn = 60 + c*2
		}
		for d := range 150 {
			at := start.AddDate(0, 0, d).Add(10 * time.Hour).Format(time.RFC3339)
			if d == churn {
				fmt.Fprintf(&b, `{"id":"%s-out","kind":"outcome","customer":%q,"time":%q,"data":{"type":"churned"}}`+"\n", id, id, at)
				break
			}
			events := 60
			if churn > 0 && churn-d <= 21 {
				events = 3 * (churn - d) / 7
			}
			if events > 0 {
				fmt.Fprintf(&b, `{"id":"%s-u%d","kind":"usage","customer":%q,"time":%q,"data":{"events":%d}}`+"\n", id, d, id, at, events)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "history.ndjson")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func TestBacktest(t *testing.T) {
	path := historyFile(t)
	csvPath := filepath.Join(t.TempDir(), "figures.csv")
	res := riskctl(t, "", "backtest", "--horizon", "30d", "--every", "15d", "--json", "--csv", csvPath, path)
	require.Equal(t, exitOK, res.code, res.stderr)
	var rep backtest.Report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	require.Len(t, rep.Models, 2)
	assert.Equal(t, "built-in rules", rep.Models[0].Name)
	assert.Equal(t, backtest.BaselineName, rep.Models[1].Name)
	assert.Equal(t, "30d", rep.Horizon)
	assert.Positive(t, rep.Models[0].Churned)
	assert.Greater(t, float64(rep.Models[0].AUC), 0.5, "fading usage before churn ranks churners above")
	csv, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(csv), "model,group,metric,value\n"))
	assert.Contains(t, string(csv), "baseline,all,auc,")

	text := riskctl(t, "", "backtest", "--horizon", "30d", "--at", "2026-03-01,2026-04-01",
		"--compare", "../../configs/rules.yaml", path)
	require.Equal(t, exitOK, text.code, text.stderr)
	assert.Contains(t, text.stdout, "Scored at 2 dates (2026-03-01 … 2026-04-01), horizon 30d")
	assert.Contains(t, text.stdout, "built-in rules|")
	assert.Contains(t, text.stdout, "rules.yaml|")
	assert.Contains(t, text.stdout, "baseline|")
}

func TestBacktestErrors(t *testing.T) {
	path := historyFile(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"backtest"}, "name one history file"},
		{[]string{"backtest", "--horizon", "soon", path}, `--horizon "soon"`},
		{[]string{"backtest", "--every", "1h", path}, "a day or more"},
		{[]string{"backtest", "--at", "March", path}, "want dates as YYYY-MM-DD"},
		{[]string{"backtest", "--horizon", "365d", path}, "too short for a 365d horizon"},
		{[]string{"backtest", "--rules", "nope.yaml", path}, "nope.yaml"},
	} {
		res := riskctl(t, "", tt.args...)
		assert.NotEqual(t, exitOK, res.code, tt.args)
		assert.Contains(t, res.stderr, tt.want, tt.args)
	}
}

func TestDemoHistoryBacktestsOutOfTheBox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.ndjson")
	res := riskctl(t, "", "demo", "--customers", "150", "--days", "200", "--end", "2026-06-01", "-o", path)
	require.Equal(t, exitOK, res.code, res.stderr)
	again := riskctl(t, "", "demo", "--customers", "150", "--days", "200", "--end", "2026-06-01")
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(written), again.stdout, "-o and stdout write the same history")

	bt := riskctl(t, "", "backtest", "--json", path)
	require.Equal(t, exitOK, bt.code, bt.stderr)
	var rep backtest.Report
	require.NoError(t, json.Unmarshal([]byte(bt.stdout), &rep))
	assert.Positive(t, rep.Churners)
	assert.Positive(t, rep.Models[0].Churned)

	bad := riskctl(t, "", "demo", "--days", "10")
	assert.Equal(t, exitUsage, bad.code)
	assert.Contains(t, bad.stderr, "--days 10")
}
