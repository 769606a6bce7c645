package replay

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

func TestRun(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	f, err := os.Open("testdata/small.ndjson")
	require.NoError(t, err)
	defer f.Close()
	var last Progress
	res, err := Run(context.Background(), f, Options{Rules: set, Progress: func(p Progress) { last = p }})
	require.NoError(t, err)
	assert.Equal(t, 8, last.Lines, "the last report covers the whole file")

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
	assert.Contains(t, res.Rejected[1].Error, "before the latest commercial event", "late against its own producer")
	assert.Equal(t, 2, s.Customers)
	assert.Equal(t, map[string]int{"healthy": 1, "critical": 1}, s.Tiers)
	assert.Equal(t, "2026-05-01T00:00:00Z", s.From.Format(time.RFC3339))
	assert.Equal(t, "2026-06-03T10:00:00Z", s.To.Format(time.RFC3339))

	require.Len(t, res.Customers, 2)
	acme := res.Customers[0]
	assert.Equal(t, "acme-corp", acme.Customer, "sorted by revenue at risk")
	assert.Equal(t, rules.Critical, acme.Tier)
	assert.Equal(t, 90.0, acme.Score, "cancellation 45 + enterprise champion 35 + detractor 10")
	assert.Equal(t, "alice", acme.Owner)
	assert.Equal(t, "a.b.>", res.Customers[1].Customer, "an id with subject wildcards is one customer")

	var types []alerting.Type
	for _, a := range res.Alerts {
		assert.Equal(t, "acme-corp", a.Customer)
		types = append(types, a.Type)
	}
	// Raised at_risk by the inquiry, escalated to critical by the
	// champion's leaving, handed to the owner's team when nobody claimed
	// it within 4 hours; the daily reminder of critical counts from that
	// last alert and is not due by the end of the file.
	assert.Equal(t, []alerting.Type{alerting.Raised, alerting.Escalated, alerting.Unclaimed}, types)
	assert.Equal(t, map[string]int{"raised": 1, "escalated": 1, "unclaimed": 1}, s.AlertsByType)
}

func TestRunNeedsRules(t *testing.T) {
	_, err := Run(context.Background(), strings.NewReader(""), Options{})
	assert.ErrorContains(t, err, "no rule set")
}

func TestRunEmptyInput(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	res, err := Run(context.Background(), strings.NewReader("\n"), Options{Rules: set})
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Lines)
	assert.Empty(t, res.Customers)
	assert.Empty(t, res.Alerts)
}
