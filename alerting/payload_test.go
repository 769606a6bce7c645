package alerting

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./alerting -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", path)
}

func indent(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

// atRiskAlert is a representative escalation from watch to at_risk with
// three reasons, decided by the policy from a scorer result and a profile.
func atRiskAlert(t testing.TB) *Alert {
	t.Helper()
	at := time.Date(2026, 11, 20, 10, 4, 0, 0, time.UTC)
	st := State{Tier: rules.Watch, Score: 41, Opened: at.Add(-48 * time.Hour).Unix(), LastSent: at.Add(-48 * time.Hour).Unix()}
	a := DefaultPolicy().Decide(&st, atRiskResult(at), atRiskProfile(), false, MessageCause(1042))
	require.NotNil(t, a)
	require.Equal(t, Escalated, a.Type)
	return a
}

func atRiskResult(at time.Time) scorer.Result {
	return scorer.Result{Customer: "acme-corp", Time: at, Score: 78.5, Raw: 78.5, Tier: rules.AtRisk,
		Probability: rules.DefaultCalibration.Probability(78.5), Horizon: rules.DefaultCalibration.Horizon,
		PreviousScore: 70.5, PreviousTier: rules.AtRisk,
		Contributions: []scorer.Contribution{
			{Rule: "ticket-spike", Category: "support", Contribution: 22, Firing: true,
				Detail: "5 tickets opened in 7 days, 4.1x the usual rate", Signals: []string{"zd-88412-opened", "zd-88410-opened", "zd-88391-opened"}},
			{Rule: "discount-before-renewal", Category: "commercial", Contribution: 30.5, Firing: true,
				Detail: "discount requested 56 days before renewal", Signals: []string{"sf-q-1209"}},
			{Rule: "usage-drop", Category: "usage", Contribution: 26, Firing: true,
				Detail: "usage down 62% vs the 28-day baseline", Signals: []string{"usage-acme-2026-11-19"}},
		},
		Playbook: []string{"Call the champion before the renewal review", "Review the open tickets with the support lead"}}
}

func atRiskProfile() *signals.Profile {
	return &signals.Profile{ID: "acme-corp", Name: "Acme Corp", ARR: 120000, Currency: "USD",
		RenewalDate: "2027-01-15", Segment: "enterprise", Owner: "alice", Plan: "scale", Stage: "renewal"}
}

func TestAlertGolden(t *testing.T) {
	a := atRiskAlert(t)
	body, err := json.Marshal(a)
	require.NoError(t, err)
	golden(t, "alert_at_risk.json", indent(t, body))

	var back Alert
	require.NoError(t, json.Unmarshal(body, &back))
	assert.Equal(t, *a, back, "the payload decodes to the same alert")
	assert.Equal(t, "risk.alerts.at_risk.alice.acme-corp", Subject(a))
}

func TestSlackGolden(t *testing.T) {
	body, err := Slack(atRiskAlert(t))
	require.NoError(t, err)
	golden(t, "slack_at_risk.json", indent(t, body))
}

func TestSlackResolvedChurned(t *testing.T) {
	a := &Alert{ID: "abc", Type: Resolved, Severity: SeverityResolved, Customer: "c-1", Score: 12, PreviousScore: 66,
		Tier: rules.Healthy, PreviousTier: rules.AtRisk, Time: t0, Churned: true}
	body, err := Slack(a)
	require.NoError(t, err)
	var m slackMessage
	require.NoError(t, json.Unmarshal(body, &m))
	assert.Equal(t, "⚫ Churned, alert closed: c-1 · score 12.0 (was 66.0)", m.Text)
	require.Len(t, m.Blocks, 3, "header, summary, context: no reasons, no playbook")
	assert.Equal(t, "⚫ Churned, alert closed: c-1", m.Blocks[0].Text.Text)
	assert.Empty(t, m.Blocks[1].Fields, "no ARR, no renewal: no fields")
	assert.Contains(t, m.Blocks[1].Text.Text, "Owner: *unassigned*")
}

// Profile and rule text ends up in Slack's mrkdwn, where "<!channel>"
// pings everyone and "<http://x|y>" disguises a link.
func TestSlackEscapesUserText(t *testing.T) {
	a := atRiskAlert(t)
	a.Name = "<!channel> Evil & Co"
	a.Owner = "<@U123>"
	a.Reasons[0].Detail = "see <http://evil.example|here>"
	a.Playbook = []string{strings.Repeat("é", 4000)}
	body, err := Slack(a)
	require.NoError(t, err)
	s := string(body)
	for _, bad := range []string{"<!channel>", "<@U123>", "<http://"} {
		assert.NotContains(t, s, bad)
	}
	var m slackMessage
	require.NoError(t, json.Unmarshal(body, &m))
	assert.Contains(t, m.Text, "&lt;!channel&gt; Evil &amp; Co")
	assert.Equal(t, "🟠 Escalated to at risk: <!channel> Evil & Co", m.Blocks[0].Text.Text, "plain_text headers are not mrkdwn")
	playbook := m.Blocks[len(m.Blocks)-2].Text.Text
	assert.True(t, strings.HasPrefix(playbook, "*Playbook*\n• éé"), playbook[:30])
	assert.True(t, strings.HasSuffix(playbook, "é…"), "long text is cut on a rune boundary")
	assert.LessOrEqual(t, len(playbook), slackSectionMax)
}
