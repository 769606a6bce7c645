package sim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/signals"
)

func TestHistoryRecordsOutcomesAndEndsTheChurned(t *testing.T) {
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	require.NoError(t, NewHistory(300, 240, end, 4).WriteHistory(&buf))
	churned := map[string]time.Time{}
	renewed := 0
	last := map[string]time.Time{}
	profiles := 0
	rd := signals.NewLineReader(&buf, end)
	for {
		l, err := rd.Next()
		if err != nil {
			break
		}
		require.NoError(t, l.Err, "line %d: %s", l.No, l.Raw)
		if l.Profile != nil {
			profiles++
			continue
		}
		s := l.Signal
		if at, gone := churned[s.Customer]; gone {
			assert.False(t, s.Time.After(at.Add(24*time.Hour)), "%s sends nothing the day after it churned", s.Customer)
		}
		if s.Kind == signals.KindOutcome {
			switch s.Outcome.Type {
			case "churned":
				churned[s.Customer] = s.Time
			case "renewed":
				renewed++
			}
		}
		last[s.Customer] = s.Time
	}
	assert.Equal(t, 300, profiles)
	// About 28% drift and 60% of those churn, plus a few quiet fades.
	assert.InDelta(t, 0.2, float64(len(churned))/300, 0.1, "churned")
	assert.Positive(t, renewed)

	var again bytes.Buffer
	require.NoError(t, NewHistory(300, 240, end, 4).WriteHistory(&again))
	buf.Reset()
	require.NoError(t, NewHistory(300, 240, end, 4).WriteHistory(&buf))
	assert.Equal(t, buf.String(), again.String(), "the same seed, the same history")
}

func TestTheDemoHasNoOutcomes(t *testing.T) {
	s := New(200, 42, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 1)
	for d := range 42 {
		for _, e := range s.Day(d) {
			assert.NotEqual(t, string(signals.KindOutcome), e.Kind)
		}
	}
	body, err := json.Marshal(s.Profiles()[0])
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(body), `{"id":"cust-0001"`))
}
