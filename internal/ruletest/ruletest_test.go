package ruletest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/scorer"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDefaultRuleTests runs the shipped tests of the default rules, and
// checks that every default rule is made to fire by at least one of them,
// so a rule added to configs/rules.yaml without a test fails here.
func TestDefaultRuleTests(t *testing.T) {
	suite, err := Load("../../configs/rules_test.yaml")
	require.NoError(t, err)
	var out bytes.Buffer
	failed := Report(&out, suite, suite.Run(), false)
	require.Zero(t, failed, out.String())

	tested := map[string]bool{}
	for _, tc := range suite.Tests {
		for _, e := range tc.Expect {
			for _, r := range e.Firing {
				tested[r] = true
			}
		}
	}
	for _, r := range suite.Rules.Rules {
		assert.True(t, tested[r.Name], "no test in configs/rules_test.yaml makes rule %q fire", r.Name)
	}
}

func parse(t *testing.T, src string) *Suite {
	t.Helper()
	s, err := Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	return s
}

func TestParseExpandsRepeats(t *testing.T) {
	s := parse(t, `
tests:
  - name: repeats
    profile: {id: acme, renewal_date: 2027-01-15, arr: 1000}
    signals:
      - {kind: ticket, id: "zd-{n}", time: 2026-11-01T09:00:00Z, repeat: {every: 12h, times: 3}, data: {ticket_id: "T{n}", status: opened}}
      - {kind: outcome, time: 2026-11-03, data: {type: renewed, renewal_date: 2027-11-30}}
    expect:
      - {at: 2026-11-04, score: {min: 0}}
`)
	require.Len(t, s.Tests, 1)
	tc := s.Tests[0]
	assert.Equal(t, "acme", tc.Customer)
	assert.Equal(t, "2027-01-15", tc.Profile.RenewalDate)
	require.Len(t, tc.Signals, 4)
	for i, want := range []struct{ id, ticket, at string }{
		{"zd-1", "T1", "2026-11-01T09:00:00Z"},
		{"zd-2", "T2", "2026-11-01T21:00:00Z"},
		{"zd-3", "T3", "2026-11-02T09:00:00Z"},
	} {
		sig := tc.Signals[i].Signal
		assert.Equal(t, want.id, sig.ID)
		assert.Equal(t, want.ticket, sig.Ticket.TicketID)
		assert.Equal(t, want.at, sig.Time.Format(time.RFC3339))
		assert.Equal(t, "acme", sig.Customer)
	}
	out := tc.Signals[3].Signal
	assert.Equal(t, "outcome-2-1", out.ID, "ids are deterministic when absent")
	assert.Equal(t, "2027-11-30", out.Outcome.RenewalDate, "a YAML date in data stays a date string")
	assert.Equal(t, "2026-11-03T00:00:00Z", out.Time.Format(time.RFC3339), "a date is midnight UTC")
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"empty", ``, "t.yaml: the file is empty"},
		{"unknown top key", "test: []", `t.yaml:1: unknown key "test"`},
		{"no tests", "tests: []", "t.yaml:1: tests: want a list of at least one test"},
		{"two rule files", "rule_files: [a.yaml, b.yaml]\ntests: []", "t.yaml:1: rule_files: want a list of one rule file"},
		{"missing rule file", "rule_files: [nope.yaml]\ntests: []", "nope.yaml: no such file"},
		{"no name", "tests:\n  - expect: [{at: 2026-01-01}]", "t.yaml:2: test: name is required"},
		{"unknown test key", "tests:\n  - name: x\n    expects: []", `t.yaml:3: unknown key "expects"`},
		{"no expect", "tests:\n  - name: x", `t.yaml:2: test "x": expect: want a list`},
		{"unknown rule", "tests:\n  - name: x\n    expect: [{at: 2026-01-01, firing: [nope]}]", `t.yaml:3: firing: no rule "nope"`},
		{"unknown contribution", "tests:\n  - name: x\n    expect: [{at: 2026-01-01, contributions: {nope: 1}}]", `t.yaml:3: contributions: no rule "nope"`},
		{"bad tier", "tests:\n  - name: x\n    expect: [{at: 2026-01-01, tier: red}]", `t.yaml:3: tier: unknown tier "red"`},
		{"bad range", "tests:\n  - name: x\n    expect: [{at: 2026-01-01, score: {min: 50, max: 10}}]", "t.yaml:3: score: min 50 is above max 10"},
		{"bad time", "tests:\n  - name: x\n    expect: [{at: yesterday}]", `t.yaml:3: at: "yesterday" is not an RFC 3339 time`},
		{"out of order", "tests:\n  - name: x\n    expect:\n      - {at: 2026-02-01}\n      - {at: 2026-01-01}", "t.yaml:5: at: 2026-01-01T00:00:00Z is before the previous"},
		{"bad alert type", "tests:\n  - name: x\n    expect: [{at: 2026-01-01, alerts: [{type: fired}]}]", `t.yaml:3: alerts: type "fired"`},
		{"bad signal", "tests:\n  - name: x\n    signals: [{kind: nps, time: 2026-01-01, data: {score: 11}}]\n    expect: [{at: 2026-01-02}]", "t.yaml:3: signal nps-1-1: out_of_range: data.score"},
		{"unknown kind", "tests:\n  - name: x\n    signals: [{kind: tweet, time: 2026-01-01}]\n    expect: [{at: 2026-01-02}]", "unknown_kind"},
		{"repeat without every", "tests:\n  - name: x\n    signals: [{kind: usage, time: 2026-01-01, repeat: {times: 3}}]\n    expect: [{at: 2026-01-02}]", "t.yaml:3: repeat: every is required"},
		{"repeated id", "tests:\n  - name: x\n    signals: [{kind: usage, id: u, time: 2026-01-01, repeat: {every: 1d, times: 3}}]\n    expect: [{at: 2026-01-02}]", `id: "u" would repeat 3 times`},
		{"bad profile", "tests:\n  - name: x\n    profile: {id: a, stage: teen}\n    expect: [{at: 2026-01-02}]", "t.yaml:3: profile: out_of_range: stage"},
		{"duplicate name", "tests:\n  - name: x\n    expect: [{at: 2026-01-02}]\n  - name: x\n    expect: [{at: 2026-01-02}]", `t.yaml:4: test "x": the name is already used at line 2`},
		{"short sweep", "tests:\n  - name: x\n    sweep: 10s\n    expect: [{at: 2026-01-02}]", "t.yaml:3: sweep: 10s is shorter than a minute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseErrorsAreTyped(t *testing.T) {
	_, err := Parse("t.yaml", []byte("tests:\n  - name: x\n    expect: [{at: 2026-01-01, firing: [nope]}]"))
	var te *Error
	require.True(t, errors.As(err, &te))
	assert.Equal(t, 3, te.Line)
	assert.Equal(t, "t.yaml", te.File)
}

func TestRuleFileRelativeToTheTestFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(`
rules:
  - name: any-ticket
    category: support
    when: tickets.opened_7d >= 1
    weight: 50
    half_life: 1d
`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine_test.yaml"), []byte(`
rule_files: [mine.yaml]
tests:
  - name: one ticket is watch with this file
    signals: [{kind: ticket, time: 2026-01-01T10:00:00Z, data: {ticket_id: "1", status: opened}}]
    expect: [{at: 2026-01-02, tier: watch, score: 50, firing: [any-ticket]}]
`), 0o600))
	s, err := Load(filepath.Join(dir, "mine_test.yaml"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "mine.yaml"), s.RuleFile)
	res := s.Run()
	require.Len(t, res, 1)
	assert.True(t, res[0].Passed(), "%+v", res[0].Failures)
}

func TestRunReportsEveryKindOfMismatch(t *testing.T) {
	s := parse(t, `
tests:
  - name: wrong on purpose
    profile: {id: acme, segment: enterprise}
    signals:
      - {kind: commercial, id: crm-1, time: 2026-06-01T10:00:00Z, data: {type: discount_request}}
      - {kind: champion, id: crm-2, time: 2026-06-02T10:00:00Z, data: {type: left}}
    expect:
      - at: 2026-06-01T12:00:00Z
        tier: healthy
        alerts: []
      - at: 2026-06-03T00:00:00Z
        tier: watch
        min_tier: critical
        max_tier: healthy
        score: {max: 35}
        firing: [nps-passive, champion-lost]
        not_firing: [price-pressure]
        contributions: {champion-lost: 20, nps-passive: 0}
        alerts: [{type: raised, severity: watch}]
`)
	res := s.Run()
	require.Len(t, res, 1)
	require.False(t, res[0].Passed())
	require.Len(t, res[0].Failures, 1, "the first expectation holds")
	f := res[0].Failures[0]
	assert.Equal(t, []string{
		"tier: got at_risk, want watch",
		"tier: got at_risk, want critical or worse",
		"tier: got at_risk, want healthy or better",
		"score: got 40.0, want <= 35",
		"firing: [nps-passive] not firing; firing: [champion-lost, price-pressure]",
		"not_firing: [price-pressure] firing, want it not to",
		"contributions.champion-lost: got 35.0, want 20",
		"alerts: got [raised/at_risk], want [raised/watch]",
	}, f.Problems)
	assert.Equal(t, 40.0, f.Got.Score)
	require.Len(t, f.Alerts, 1)
	assert.Equal(t, alerting.Raised, f.Alerts[0].Type)
}

// TestReport pins the promtool-like failure report.
func TestReport(t *testing.T) {
	s, err := Parse("testdata/failing_test.yaml", mustRead(t, "testdata/failing_test.yaml"))
	require.NoError(t, err)
	var out bytes.Buffer
	failed := Report(&out, s, s.Run(), true)
	assert.Equal(t, 1, failed)
	golden(t, "testdata/report.golden", out.Bytes())
}

func TestSweepSendsRemindersBetweenSignals(t *testing.T) {
	src := `
tests:
  - name: at_risk for a week
    %s
    profile: {id: acme, segment: enterprise, owner: alice}
    signals:
      - {kind: champion, time: 2026-06-01T11:00:00Z, data: {type: left}}
      - {kind: rating, time: 2026-06-01T12:00:00Z, data: {value: red, by: alice}}
    expect:
      - {at: 2026-06-02T00:00:00Z, tier: at_risk}
      - {at: 2026-06-08T00:00:00Z, tier: at_risk}
`
	for _, tc := range []struct {
		sweep string
		want  []string
	}{
		// Only the expectation's evaluation: one reminder is due by then.
		{"", []string{"reminder/at_risk"}},
		// Daily sweeps: a reminder every three days.
		{"sweep: 1d", []string{"reminder/at_risk", "reminder/at_risk"}},
	} {
		t.Run(tc.sweep, func(t *testing.T) {
			s := parse(t, strings.Replace(src, "%s", tc.sweep, 1))
			tcase := &s.Tests[0]
			tcase.Expect[1].Alerts = []AlertSpec{} // expect none: the failure shows what came
			// About reminders: the team's escalation of an unclaimed
			// alert is left out.
			p := alerting.DefaultPolicy()
			p.Unclaimed = nil
			res := RunTest(scorer.NewModel(s.Rules), p, tcase)
			require.NoError(t, res.Err)
			require.Len(t, res.Failures, 1)
			assert.Equal(t, tc.want, alertNames(res.Failures[0].Alerts))
		})
	}
}

func TestDuplicateSignalsCountOnce(t *testing.T) {
	s := parse(t, `
tests:
  - name: a retried ticket
    signals:
      - {kind: ticket, id: zd-1, time: 2026-06-01T10:00:00Z, data: {ticket_id: "1", status: opened}}
      - {kind: ticket, id: zd-1, time: 2026-06-01T10:00:00Z, data: {ticket_id: "1", status: opened}}
      - {kind: ticket, id: zd-2, time: 2026-06-01T11:00:00Z, data: {ticket_id: "2", status: opened}}
    expect:
      - {at: 2026-06-02T00:00:00Z, not_firing: [ticket-spike]}
`)
	res := s.Run()
	assert.True(t, res[0].Passed(), "%+v", res[0].Failures)
}

func TestRange(t *testing.T) {
	r := Range{Min: 10, Max: 20}
	assert.True(t, r.Contains(10))
	assert.True(t, r.Contains(20.04))
	assert.False(t, r.Contains(20.1))
	assert.Equal(t, "10 to 20", r.String())
	assert.Equal(t, "42.5", Range{42.5, 42.5}.String())
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	assert.Equal(t, string(mustRead(t, path)), string(got))
}
