package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// top prints each customer's calibrated probability, with its horizon in
// the header; explain says it under the score, with the raw score the
// cap hides.
func TestTopAndExplainShowTheProbability(t *testing.T) {
	cal := rules.DefaultCalibration
	view := func(id string, score, raw float64) api.CustomerView {
		return api.CustomerView{Customer: id, Owner: "alice", Tier: rules.Critical, Score: score, RawScore: raw,
			Probability: cal.Probability(raw), HorizonDays: 90}
	}
	var out bytes.Buffer
	require.NoError(t, writeTop(&out, []api.CustomerView{view("worst", 100, 125), view("bad", 100, 105)}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Regexp(t, `^CUSTOMER\s+OWNER\s+SEGMENT\s+TIER\s+SCORE\s+CHANGE 1D\s+P\(CHURN 90D\)\s+ARR\s+AT RISK\s+RENEWS IN$`, lines[0])
	assert.Regexp(t, `^worst\s+alice\s+-\s+critical\s+100\.0\s+-\s+90%\s+\$0\s+\$0\s+-$`, lines[1])
	assert.Regexp(t, `^bad\s+alice\s+-\s+critical\s+100\.0\s+-\s+78%\s+`, lines[2], "the same score, another probability")

	out.Reset()
	old := view("old", 40, 40)
	old.HorizonDays, old.Probability = 0, 0 // from a riskd before the probability
	require.NoError(t, writeTop(&out, []api.CustomerView{old}))
	assert.Regexp(t, `P\(CHURN\)\s+ARR`, out.String())
	assert.Regexp(t, `40\.0\s+-\s+-\s+\$0`, out.String(), "no probability, a dash")

	out.Reset()
	v := view("worst", 100, 125)
	v.Evaluated, v.History = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), []scorer.Point{}
	writeExplanation(&out, &v, nil, nil, v.Evaluated)
	assert.Contains(t, out.String(), "score 100.0  tier critical  as of 2026-11-20T10:00:00Z\n"+
		"90% chance of churn within 90 days (calibrated from the raw score 125.0, which the score caps at 100)\n")

	out.Reset()
	v = view("some", 62, 62)
	writeExplanation(&out, &v, nil, nil, v.Evaluated)
	assert.Contains(t, out.String(), "\n29% chance of churn within 90 days (calibrated from the raw score 62.0)\n")
}
