package replay

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

func TestReader(t *testing.T) {
	long := `{"id":"x","kind":"usage","customer":"c","time":"2026-06-01T00:00:00Z","data":{"user":"` +
		strings.Repeat("u", signals.MaxEnvelope) + `"}}`
	in := strings.Join([]string{
		`{"profile":{"id":"acme","owner":"alice"}}`,
		``,
		`   `,
		`{"id":"s1","kind":"usage","customer":"acme","time":"2026-06-01T00:00:00Z"}` + "\r",
		long,
		`{"profile":{"id":"acme","stage":"teen"}}`,
		`not json`,
		`{"id":"s2","kind":"nps","customer":"acme","time":"2026-06-01T00:00:00Z","data":{"score":5}}`,
	}, "\n") // no final newline: the last line still counts
	r := NewReader(strings.NewReader(in), time.Time{})
	var got []Line
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		l.Raw = nil
		got = append(got, l)
	}
	require.Len(t, got, 6)
	assert.Equal(t, 1, got[0].No)
	require.NotNil(t, got[0].Profile)
	assert.Equal(t, "alice", got[0].Profile.Owner)
	assert.Equal(t, 4, got[1].No, "blank lines are counted and skipped")
	require.NotNil(t, got[1].Signal, "a CRLF line is a signal: %v", got[1].Err)
	assert.Equal(t, "s1", got[1].Signal.ID)
	assert.Equal(t, 5, got[2].No)
	assert.Equal(t, signals.ReasonOversize, signals.ReasonOf(got[2].Err))
	assert.Equal(t, signals.ReasonOutOfRange, signals.ReasonOf(got[3].Err), "a profile line is validated as a profile")
	assert.Equal(t, signals.ReasonMalformed, signals.ReasonOf(got[4].Err))
	assert.Equal(t, 8, got[5].No)
	require.NotNil(t, got[5].Signal)
	assert.Equal(t, int64(len(in)), r.Offset())
}

func TestReaderChecksTheFutureAgainstNow(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	r := NewReader(strings.NewReader(`{"id":"s","kind":"usage","customer":"c","time":"2026-06-03T00:00:00Z"}`), now)
	l, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, signals.ReasonFarFuture, signals.ReasonOf(l.Err))
}

func TestRun(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	f, err := os.Open("testdata/small.ndjson")
	require.NoError(t, err)
	defer f.Close()
	var phases []string
	res, err := Run(context.Background(), f, Options{Rules: set, TempDir: t.TempDir(),
		Progress: func(p Progress) { phases = append(phases, p.Phase) }})
	require.NoError(t, err)
	assert.Contains(t, phases, "publishing")

	s := res.Summary
	assert.Equal(t, 8, s.Lines)
	assert.Equal(t, 6, s.Signals, "valid signal lines, the duplicate and the late one included")
	assert.Equal(t, 1, s.Profiles)
	assert.Equal(t, 1, s.Duplicates)
	assert.Equal(t, 2, s.Rejected)
	assert.Equal(t, map[string]int{"out_of_range": 1, "late": 1}, s.RejectedByReason)
	assert.Equal(t, []Reject{
		{Line: 7, Reason: "out_of_range", Error: res.Rejected[0].Error},
		{Line: 8, Reason: "late", Error: res.Rejected[1].Error},
	}, res.Rejected)
	assert.Contains(t, res.Rejected[1].Error, "before the latest event")
	assert.Equal(t, 2, s.Customers)
	assert.Equal(t, map[string]int{"healthy": 1, "at_risk": 1}, s.Tiers)
	assert.Equal(t, "2026-05-01T00:00:00Z", s.From.Format(time.RFC3339))
	assert.Equal(t, "2026-06-03T10:00:00Z", s.To.Format(time.RFC3339))

	require.Len(t, res.Customers, 2)
	acme := res.Customers[0]
	assert.Equal(t, "acme-corp", acme.Customer, "sorted by revenue at risk")
	assert.Equal(t, rules.AtRisk, acme.Tier)
	assert.Equal(t, 68.0, acme.Score, "cancellation 25 + enterprise champion 25 + detractor 18")
	assert.Equal(t, "alice", acme.Owner)
	assert.Equal(t, "a.b.>", res.Customers[1].Customer, "an id with subject wildcards is one customer")

	var types []alerting.Type
	for _, a := range res.Alerts {
		assert.Equal(t, "acme-corp", a.Customer)
		types = append(types, a.Type)
	}
	assert.Equal(t, []alerting.Type{alerting.Raised, alerting.Escalated}, types)
	assert.Equal(t, map[string]int{"raised": 1, "escalated": 1}, s.AlertsByType)
}

func TestRunNeedsRules(t *testing.T) {
	_, err := Run(context.Background(), strings.NewReader(""), Options{})
	assert.ErrorContains(t, err, "no rule set")
}

func TestRunEmptyInput(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	res, err := Run(context.Background(), strings.NewReader("\n"), Options{Rules: set, TempDir: t.TempDir()})
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Lines)
	assert.Empty(t, res.Customers)
	assert.Empty(t, res.Alerts)
}
