package alerting

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

// unclaimedAlert is the team escalation of a critical alert raised four
// hours before and never acknowledged.
func unclaimedAlert(t testing.TB) (*Alert, *State) {
	t.Helper()
	at := time.Date(2026, 11, 20, 14, 4, 0, 0, time.UTC)
	raised := at.Add(-4 * time.Hour).Unix()
	st := State{Tier: rules.AtRisk, Score: 78.5, Opened: raised, LastSent: raised, Announced: raised, LastID: "4f245f67e1d5c78661676d69a1af55ac"}
	prof := atRiskProfile()
	prof.Team, prof.Parent = "emea-cs", "acme-group"
	p := DefaultPolicy()
	p.Unclaimed[rules.AtRisk] = 4 * time.Hour
	a := p.Decide(&st, atRiskResult(at), prof, false, SweepCause(at.Unix()))
	require.NotNil(t, a)
	require.Equal(t, Unclaimed, a.Type)
	return a, &st
}

func TestUnclaimedGolden(t *testing.T) {
	a, st := unclaimedAlert(t)
	body, err := json.Marshal(a)
	require.NoError(t, err)
	golden(t, "alert_unclaimed.json", indent(t, body))
	assert.Equal(t, "risk.alerts.unclaimed.emea-cs.acme-corp", Subject(a), "the team's subject")
	assert.Equal(t, "at_risk", a.Severity, "the severity stays the tier: webhook matches on severity still apply")
	assert.Equal(t, "4f245f67e1d5c78661676d69a1af55ac", st.LastID, "the episode's alert is still the one to acknowledge")
	assert.Equal(t, a.ID, st.Unclaimed)

	slack, err := Slack(a)
	require.NoError(t, err)
	golden(t, "slack_unclaimed.json", indent(t, slack))

	var back Alert
	require.NoError(t, json.Unmarshal(body, &back))
	assert.Equal(t, *a, back)

	noTeam := *a
	noTeam.Team = ""
	assert.Equal(t, "risk.alerts.unclaimed.unassigned.acme-corp", Subject(&noTeam))
}

func TestAckOfTheUnclaimedAlertClaimsIt(t *testing.T) {
	a, st := unclaimedAlert(t)
	act := Action{Kind: KindAck, By: "lead", At: a.Time.Add(time.Minute), AlertID: a.ID}
	require.NoError(t, Ack(st, act), "the team acknowledges the alert it was sent")
	assert.Equal(t, a.ID, st.Ack.AlertID)
	later := atRiskResult(a.Time.Add(80 * time.Hour))
	assert.Nil(t, DefaultPolicy().Decide(st, later, atRiskProfile(), false, SweepCause(later.Time.Unix())),
		"claimed: no reminder, no second escalation")
}

func TestSlackShowsThreePlaybookSteps(t *testing.T) {
	a := atRiskAlert(t)
	a.Playbook = []string{"one", "two", "three", "four", "five"}
	body, err := Slack(a)
	require.NoError(t, err)
	var m slackMessage
	require.NoError(t, json.Unmarshal(body, &m))
	assert.Equal(t, "*Playbook*\n• one\n• two\n• three\n_and 2 more in the customer's view_", m.Blocks[len(m.Blocks)-2].Text.Text)
}

func TestMarksReadTheStateAsItStoodBefore(t *testing.T) {
	var st State
	st.Mark(10, rules.Healthy, 20000, true) // raised at 10, a slot of day 20000
	st.Tier = rules.Watch
	st.Mark(20, rules.Watch, 20000, false)
	st.Tier = rules.Critical
	for _, tc := range []struct {
		pos  uint64
		tier rules.Tier
	}{{5, rules.Healthy}, {10, rules.Healthy}, {11, rules.Watch}, {20, rules.Watch}, {21, rules.Critical}} {
		assert.Equal(t, tc.tier, st.TierBefore(tc.pos), "before %d", tc.pos)
	}
	assert.False(t, st.ChargedBefore(20000, 10), "not before its own place")
	assert.True(t, st.ChargedBefore(20000, 11))
	assert.False(t, st.ChargedBefore(20001, 30), "another day")
	assert.Equal(t, Charge{Day: 20000, Pos: 10}, st.Charge)

	st.Mark(40, rules.Critical, 20000, true)
	assert.Equal(t, Charge{Day: 20000, Pos: 10}, st.Charge, "one slot a day: the first")
	st.Mark(50, rules.Healthy, 20001, true)
	assert.Equal(t, Charge{Day: 20001, Pos: 50}, st.Charge)
	assert.True(t, st.ChargedBefore(20000, 41), "the marks keep the earlier day's slot")
	for i := range 2 * MaxMarks {
		st.Mark(uint64(100+i), rules.Watch, 0, false)
	}
	assert.Len(t, st.Marks, MaxMarks, "bounded")
	assert.Equal(t, uint64(100+MaxMarks), st.Marks[0].Pos, "the oldest go first")
}

func TestPolicyValidatesHygiene(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Policy)
		want string
	}{
		{"negative budget", func(p *Policy) { p.Budget = -1 }, "budget -1 is negative"},
		{"watch deadline", func(p *Policy) { p.Unclaimed[rules.Watch] = time.Hour }, "unclaimed.watch: want at_risk or critical"},
		{"deadline under a minute", func(p *Policy) { p.Unclaimed[rules.Critical] = time.Second }, "unclaimed.critical 1s: want at least 1m"},
		{"negative deadline", func(p *Policy) { p.Unclaimed[rules.AtRisk] = -time.Hour }, "unclaimed.at_risk -1h0m0s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.edit(&p)
			assert.ErrorContains(t, p.Validate(), tc.want)
		})
	}
	p := DefaultPolicy()
	p.Budget, p.Unclaimed = 0, map[rules.Tier]time.Duration{rules.Critical: 0}
	assert.NoError(t, p.Validate(), "0 turns each off")
}

// hygieneDigest is a digest of an owner with a spent budget: one raise
// waits for room, one alert is muted by a parent account.
func hygieneDigest() Digest {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	entries := []DigestEntry{
		{Customer: "acme-emea", Name: "Acme EMEA", Score: 66, ScoreYesterday: 30, Tier: rules.AtRisk, TierYesterday: rules.Healthy,
			ARR: 50000, RevenueAtRisk: 33000, DaysToRenewal: 40, Probability: 0.31, HorizonDays: 90, Inhibited: true},
		{Customer: "globex", Name: "<!channel> Globex", Score: 62, ScoreYesterday: 20, Tier: rules.AtRisk, TierYesterday: rules.Healthy,
			ARR: 10000, RevenueAtRisk: 6200, DaysToRenewal: -1, Probability: 0.27, HorizonDays: 90, Deferred: true},
		{Customer: "initech", Score: 85, ScoreYesterday: 70, Tier: rules.Critical, TierYesterday: rules.AtRisk,
			ARR: 90000, RevenueAtRisk: 76500, DaysToRenewal: 12, Probability: 0.7, HorizonDays: 90},
	}
	d := BuildDigest("alice", day, entries)
	d.Budget = &Budget{Date: "2026-11-20", Limit: 5, Used: 5}
	return d
}

func TestDigestListsDeferredAndInhibited(t *testing.T) {
	d := hygieneDigest()
	assert.Equal(t, []string{"globex"}, d.Deferred)
	assert.Equal(t, []string{"acme-emea"}, d.Inhibited)
	body, err := json.Marshal(d)
	require.NoError(t, err)
	golden(t, "digest_hygiene.json", indent(t, body))

	slack, err := SlackDigest(&d)
	require.NoError(t, err)
	golden(t, "slack_digest.json", indent(t, slack))
	assert.NotContains(t, string(slack), "<!channel>", "profile text is escaped")
	var m slackMessage
	require.NoError(t, json.Unmarshal(slack, &m))
	assert.Contains(t, m.Blocks[1].Text.Text, "Budget: 5 of 5 new alerts used today")
	assert.Contains(t, m.Blocks[1].Text.Text, "Waiting for the budget (no alert yet): globex")
}
