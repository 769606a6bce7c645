package alerting

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// step is one evaluation of the customer: the score at t0+at, classified
// with hysteresis against the previous step's tier like the scorer does,
// after an optional action.
type step struct {
	at      time.Duration
	score   float64
	churned bool
	act     *Action
	want    Type   // "" for no alert
	sev     string // checked when set
}

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

func ack(at time.Duration) *Action {
	return &Action{Kind: KindAck, By: "alice", Note: "on it", At: t0.Add(at)}
}

func snooze(at, until time.Duration) *Action {
	return &Action{Kind: KindSnooze, By: "alice", Note: "renewal call booked", At: t0.Add(at), Until: t0.Add(until)}
}

// run plays steps against a fresh state and returns the alerts sent.
func run(t testing.TB, p Policy, th rules.Thresholds, steps []step) []*Alert {
	t.Helper()
	var st State
	prevTier, prevScore := rules.Healthy, 0.0
	var sent []*Alert
	for i, s := range steps {
		if s.act != nil {
			var err error
			if s.act.Kind == KindAck {
				err = Ack(&st, *s.act)
			} else {
				err = Snooze(&st, *s.act)
			}
			require.NoError(t, err, "step %d action", i)
		}
		tier := th.Classify(s.score, prevTier)
		r := scorer.Result{Customer: "acme-corp", Time: t0.Add(s.at), Score: s.score, Tier: tier,
			PreviousScore: prevScore, PreviousTier: prevTier,
			Contributions: []scorer.Contribution{{Rule: "ticket-spike", Category: "support", Contribution: s.score}}}
		prevTier, prevScore = tier, s.score
		a := p.Decide(&st, r, nil, s.churned, MessageCause(uint64(i)))
		if s.want == "" {
			assert.Nil(t, a, "step %d (score %v at %s): want no alert", i, s.score, s.at)
			continue
		}
		if !assert.NotNil(t, a, "step %d (score %v at %s): want %s", i, s.score, s.at, s.want) {
			continue
		}
		assert.Equal(t, s.want, a.Type, "step %d type", i)
		if s.sev != "" {
			assert.Equal(t, s.sev, a.Severity, "step %d severity", i)
		}
		if a.Type == Unclaimed {
			assert.Equal(t, a.ID, st.Unclaimed, "step %d: the state remembers the team was told", i)
		} else {
			assert.Equal(t, a.ID, st.LastID, "step %d: the state remembers the alert", i)
		}
		// The engine may evaluate a customer again at the same time (a
		// sweep replayed over a record that holds its effect): that
		// must send nothing and change nothing.
		again := st
		assert.Nil(t, p.Decide(&again, r, nil, s.churned, MessageCause(uint64(i))), "step %d: decided twice at the same time", i)
		assert.Equal(t, st, again, "step %d: the state of a decision taken twice", i)
		sent = append(sent, a)
	}
	return sent
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"raise on healthy to watch", []step{
			{at: 0, score: 30},
			{at: hours(1), score: 45, want: Raised, sev: "watch"},
			{at: hours(2), score: 46},
		}},
		{"escalate watch to critical", []step{
			{at: 0, score: 45, want: Raised, sev: "watch"},
			{at: hours(1), score: 85, want: Escalated, sev: "critical"},
		}},
		{"remind after the repeat interval, not before", []step{
			{at: 0, score: 65, want: Raised, sev: "at_risk"},
			{at: hours(23.9), score: 65},
			{at: hours(24), score: 65, want: Unclaimed, sev: "at_risk"},
			{at: hours(95), score: 65},
			{at: hours(96), score: 66, want: Reminder, sev: "at_risk"},
			{at: hours(100), score: 66},
			{at: hours(168), score: 66, want: Reminder},
		}},
		{"no reminder once acknowledged, until it escalates", []step{
			{at: 0, score: 65, want: Raised},
			{at: hours(72), act: ack(hours(1)), score: 65},
			{at: hours(300), score: 65},
			{at: hours(301), score: 85, want: Escalated, sev: "critical"},
			{at: hours(304), score: 85},
			{at: hours(305), score: 85, want: Unclaimed, sev: "critical"},
			{at: hours(328), score: 85},
			{at: hours(329), score: 85, want: Reminder, sev: "critical"},
		}},
		{"resolve once healthy after hysteresis", []step{
			{at: 0, score: 45, want: Raised},
			{at: hours(1), score: 37},
			{at: hours(2), score: 34, want: Resolved, sev: "resolved"},
			{at: hours(3), score: 20},
		}},
		{"a lower tier is followed down silently, a relapse escalates", []step{
			{at: 0, score: 65, want: Raised, sev: "at_risk"},
			{at: hours(1), score: 50},
			{at: hours(2), score: 62, want: Escalated, sev: "at_risk"},
		}},
		{"cooldown holds a re-raise back for 24h after the resolution", []step{
			{at: 0, score: 45, want: Raised},
			{at: hours(1), score: 20, want: Resolved},
			{at: hours(2), score: 45},
			{at: hours(24.9), score: 65},
			{at: hours(25), score: 65, want: Raised, sev: "at_risk"},
		}},
		{"cooldown does not hold back critical", []step{
			{at: 0, score: 45, want: Raised},
			{at: hours(1), score: 20, want: Resolved},
			{at: hours(2), score: 45},
			{at: hours(3), score: 85, want: Raised, sev: "critical"},
		}},
		{"snooze silences below critical, not critical", []step{
			{at: hours(1), act: snooze(0, hours(48)), score: 45},
			{at: hours(2), score: 65},
			{at: hours(3), score: 85, want: Raised, sev: "critical"},
			{at: hours(30), score: 85},
			{at: hours(49), score: 85, want: Unclaimed, sev: "critical"},
			{at: hours(50), score: 85},
			{at: hours(73), score: 85, want: Reminder, sev: "critical"},
		}},
		{"unclaimed: the team hears once per announced tier", []step{
			{at: 0, score: 65, want: Raised, sev: "at_risk"},
			{at: hours(24), score: 66, want: Unclaimed, sev: "at_risk"},
			{at: hours(30), score: 66},
			{at: hours(31), score: 85, want: Escalated, sev: "critical"},
			{at: hours(34.9), score: 85},
			{at: hours(35), score: 85, want: Unclaimed, sev: "critical"},
			{at: hours(36), score: 85},
		}},
		{"unclaimed: an acknowledgement before the deadline claims it", []step{
			{at: 0, score: 85, want: Raised, sev: "critical"},
			{at: hours(3), act: ack(hours(2)), score: 85},
			{at: hours(20), score: 85},
		}},
		{"unclaimed: a watch alert is never handed to the team", []step{
			{at: 0, score: 45, want: Raised, sev: "watch"},
			{at: hours(100), score: 45},
			{at: hours(168), score: 45, want: Reminder, sev: "watch"},
		}},
		{"unclaimed: easing to at_risk keeps the clock of the critical announcement", []step{
			{at: 0, score: 85, want: Raised, sev: "critical"},
			{at: hours(1), score: 70},
			{at: hours(23), score: 70},
			{at: hours(24), score: 70, want: Unclaimed, sev: "at_risk"},
		}},
		{"an escalation held back by a snooze comes when it ends", []step{
			{at: 0, score: 45, want: Raised, sev: "watch"},
			{at: hours(2), act: snooze(hours(1), hours(10)), score: 65},
			{at: hours(9), score: 65},
			{at: hours(11), score: 65, want: Escalated, sev: "at_risk"},
		}},
		{"unsnooze lifts the snooze", []step{
			{at: hours(1), act: snooze(0, hours(48)), score: 45},
			{at: hours(3), act: &Action{Kind: KindUnsnooze, By: "bob", At: t0.Add(hours(2))}, score: 45, want: Raised},
		}},
		{"a snoozed customer still gets its resolution", []step{
			{at: 0, score: 45, want: Raised},
			{at: hours(2), act: snooze(hours(1), hours(48)), score: 20, want: Resolved},
		}},
		{"wobble on the watch boundary raises once", []step{
			{at: 0, score: 38},
			{at: hours(1), score: 41, want: Raised},
			{at: hours(2), score: 39},
			{at: hours(3), score: 42},
			{at: hours(4), score: 37},
		}},
		{"churned: one resolved, then nothing", []step{
			{at: 0, score: 65, want: Raised},
			{at: hours(1), score: 65, churned: true, want: Resolved, sev: "resolved"},
			{at: hours(2), score: 90, churned: true},
			{at: hours(200), score: 90, churned: true},
		}},
		{"churned with no open alert: nothing", []step{
			{at: 0, score: 20, churned: true},
			{at: hours(1), score: 90, churned: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, DefaultPolicy(), rules.DefaultThresholds, tc.steps)
		})
	}
}

// A score wobbling on the at_risk boundary of a customer already on watch:
// hysteresis keeps it in at_risk after the first crossing, so the policy
// escalates exactly once. Without hysteresis the same scores escalate
// twice, which is what the test would catch if either part regressed.
func TestWobbleOnBoundary(t *testing.T) {
	escalations := func(th rules.Thresholds) []*Alert {
		steps := []step{{at: 0, score: 45, want: Raised}}
		for i, score := range []float64{58, 61, 59, 62, 57} {
			steps = append(steps, step{at: hours(float64(i + 1)), score: score})
		}
		var st State
		prev := rules.Healthy
		var sent []*Alert
		for i, s := range steps {
			prev = th.Classify(s.score, prev)
			r := scorer.Result{Customer: "acme-corp", Time: t0.Add(s.at), Score: s.score, Tier: prev}
			if a := DefaultPolicy().Decide(&st, r, nil, false, MessageCause(uint64(i))); a != nil {
				sent = append(sent, a)
			}
		}
		require.NotEmpty(t, sent)
		require.Equal(t, Raised, sent[0].Type, "the setup raises watch")
		return sent[1:]
	}
	with := escalations(rules.DefaultThresholds)
	require.Len(t, with, 1)
	assert.Equal(t, Escalated, with[0].Type)
	assert.Equal(t, rules.AtRisk, with[0].Tier)

	flat := rules.DefaultThresholds
	flat.Hysteresis = 0
	assert.Len(t, escalations(flat), 2, "without hysteresis the wobble escalates twice")
}

func TestAlertIDsAreDeterministic(t *testing.T) {
	r := scorer.Result{Customer: "acme-corp", Time: t0, Score: 65, Tier: rules.AtRisk}
	decide := func(cause Cause, at time.Time) *Alert {
		var st State
		r := r
		r.Time = at
		a := DefaultPolicy().Decide(&st, r, nil, false, cause)
		require.NotNil(t, a)
		return a
	}
	a := decide(MessageCause(42), t0)
	assert.Len(t, a.ID, 32)
	assert.Equal(t, a.ID, decide(MessageCause(42), t0).ID, "same input, same id")
	assert.NotEqual(t, a.ID, decide(MessageCause(43), t0).ID, "another cause")
	assert.NotEqual(t, a.ID, decide(SweepCause(42), t0).ID, "a sweep is another cause")
	assert.NotEqual(t, a.ID, decide(MessageCause(42), t0.Add(time.Second)).ID, "another time")
	assert.Equal(t, "seq:42", MessageCause(42).String())
	assert.Equal(t, "sig:zd-1", SignalCause("zd-1").String())
	assert.NotEqual(t, a.ID, decide(SignalCause("42"), t0).ID, "a signal is another cause")
	assert.Equal(t, "sweep:1790000000", SweepCause(1790000000).String())
	assert.NotEqual(t, alertID("a", Raised, "watch", "b", t0), alertID("a\x01b", Raised, "watch", "", t0),
		"fields cannot bleed into each other")
}

func TestAlertPayloadFromProfile(t *testing.T) {
	p := DefaultPolicy()
	p.MaxReasons = 2
	var cs []scorer.Contribution
	for i, v := range []float64{5, 30, 12, 20} {
		cs = append(cs, scorer.Contribution{Rule: fmt.Sprintf("r%d", i), Category: "usage", Contribution: v})
	}
	r := scorer.Result{Customer: "acme-corp", Time: t0, Score: 67, Tier: rules.AtRisk, PreviousScore: 39,
		Contributions: cs, Playbook: []string{"Call"}}
	prof := &signals.Profile{ID: "acme-corp", Name: "Acme", Owner: "alice", Segment: "smb", ARR: 33333,
		Currency: "EUR", RenewalDate: "2026-11-21"}
	var st State
	a := p.Decide(&st, r, prof, false, MessageCause(1))
	require.NotNil(t, a)
	require.Len(t, a.Reasons, 2)
	assert.Equal(t, []string{"r1", "r3"}, []string{a.Reasons[0].Rule, a.Reasons[1].Rule}, "largest first")
	assert.Equal(t, 22333.11, a.RevenueAtRisk)
	require.NotNil(t, a.DaysToRenewal)
	assert.Equal(t, int64(1), *a.DaysToRenewal)
	assert.Equal(t, "EUR", a.Currency)
	assert.Equal(t, rules.Healthy, a.PreviousTier)
	assert.Equal(t, 39.0, a.PreviousScore)

	r2 := r
	r2.Time, r2.Score, r2.Tier = t0.Add(time.Hour), 10, rules.Healthy
	res := p.Decide(&st, r2, &signals.Profile{ID: "acme-corp"}, false, MessageCause(2))
	require.NotNil(t, res)
	assert.Equal(t, rules.Healthy, res.Tier)
	assert.Equal(t, "resolved", res.Severity)
	assert.Equal(t, rules.AtRisk, res.PreviousTier)
	assert.Equal(t, 67.0, res.PreviousScore, "previous_score is the last alert's")
	assert.Nil(t, res.DaysToRenewal, "unknown renewal")
	assert.Empty(t, res.Playbook, "nothing to do for a resolved customer")
}

func TestAckAndSnooze(t *testing.T) {
	var st State
	err := Ack(&st, *ack(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no open alert")

	a := DefaultPolicy().Decide(&st, scorer.Result{Customer: "c", Time: t0, Score: 45, Tier: rules.Watch}, nil, false, MessageCause(1))
	require.NotNil(t, a)
	wrong := *ack(time.Minute)
	wrong.AlertID = "0123"
	require.ErrorContains(t, Ack(&st, wrong), "not the customer's latest alert")
	require.ErrorContains(t, Ack(&st, Action{At: t0}), "by")
	require.NoError(t, Ack(&st, *ack(time.Minute)))
	require.NotNil(t, st.Ack)
	assert.Equal(t, a.ID, st.Ack.AlertID, "the ack names the alert it acknowledged")

	require.ErrorContains(t, Snooze(&st, Action{By: "bob", At: t0, Until: t0}), "not after")
	require.ErrorContains(t, Snooze(&st, Action{Kind: KindUnsnooze, By: "bob", At: t0}), "not snoozed")
	require.ErrorContains(t, Snooze(&st, Action{Kind: KindAck, By: "bob", At: t0}), "kind")
	require.NoError(t, Snooze(&st, *snooze(time.Hour, 2*time.Hour)))
	assert.True(t, st.Snoozed(t0.Add(90*time.Minute)))
	assert.False(t, st.Snoozed(t0.Add(2*time.Hour)), "until is exclusive")

	kinds := []string{}
	for _, l := range st.Log {
		kinds = append(kinds, l.Kind+":"+l.By)
	}
	assert.Equal(t, []string{"ack:alice", "snooze:alice"}, kinds, "every action is recorded")
}

func TestLogIsBounded(t *testing.T) {
	var st State
	for i := range MaxLog + 5 {
		require.NoError(t, Snooze(&st, Action{By: fmt.Sprint(i), At: t0, Until: t0.Add(time.Hour)}))
	}
	require.Len(t, st.Log, MaxLog)
	assert.Equal(t, "5", st.Log[0].By, "the oldest entries go first")
	assert.Equal(t, fmt.Sprint(MaxLog+4), st.Log[MaxLog-1].By)
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, DefaultPolicy().Validate())
	tests := []struct {
		name string
		edit func(*Policy)
		want string
	}{
		{"repeat too short", func(p *Policy) { p.Repeat[rules.Watch] = time.Second }, "repeat.watch"},
		{"repeat missing", func(p *Policy) { delete(p.Repeat, rules.Critical) }, "repeat.critical"},
		{"repeat for healthy", func(p *Policy) { p.Repeat[rules.Healthy] = time.Hour }, "repeat.healthy"},
		{"negative cooldown", func(p *Policy) { p.Cooldown = -time.Hour }, "cooldown"},
		{"too many reasons", func(p *Policy) { p.MaxReasons = 500 }, "max_reasons"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.edit(&p)
			err := p.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRevenueAtRisk(t *testing.T) {
	tests := []struct{ arr, score, want float64 }{
		{120000, 78.5, 94200},
		{33333, 33.3, 11099.89},
		{1000, 150, 1000},
		{1000, -5, 0},
		{0, 90, 0},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, RevenueAtRisk(tc.arr, tc.score), "arr %v score %v", tc.arr, tc.score)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name     string
		a        Alert
		want     string
		customer string // the customer token, when the want is not literal
	}{
		{"plain", Alert{Severity: "at_risk", Owner: "alice", Customer: "acme-corp"}, "risk.alerts.at_risk.alice.acme-corp", ""},
		{"unassigned", Alert{Severity: "critical", Customer: "acme"}, "risk.alerts.critical.unassigned.acme", ""},
		{"resolved", Alert{Type: Resolved, Tier: rules.Healthy, Owner: "bob", Customer: "acme"}, "risk.alerts.resolved.bob.acme", ""},
		{"severity from tier", Alert{Type: Raised, Tier: rules.Watch, Owner: "bob", Customer: "acme"}, "risk.alerts.watch.bob.acme", ""},
		{"wildcards stay literal", Alert{Severity: "watch", Owner: "a.b.>", Customer: "x *"}, "", "x *"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Subject(&tc.a)
			if tc.want != "" {
				assert.Equal(t, tc.want, got)
			}
			tokens := strings.Split(got, ".")
			require.Len(t, tokens, 5, got)
			for _, tok := range tokens {
				assert.NotContains(t, []string{"*", ">", ""}, tok)
				assert.NotContains(t, tok, " ")
			}
			id, err := signals.ParseSubjectToken(tokens[4])
			require.NoError(t, err)
			assert.Equal(t, tc.a.Customer, id)
			if tc.a.Owner != "" {
				owner, err := signals.ParseSubjectToken(tokens[3])
				require.NoError(t, err)
				assert.Equal(t, tc.a.Owner, owner)
			}
		})
	}
}

func ExampleSubject() {
	fmt.Println(Subject(&Alert{Severity: "at_risk", Owner: "alice", Customer: "acme-corp"}))
	fmt.Println(Subject(&Alert{Severity: "critical", Customer: "a.b.>"}))
	// Output:
	// risk.alerts.at_risk.alice.acme-corp
	// risk.alerts.critical.unassigned.=YS5iLj4
}

// undescribed is r as scorer.Model.Score returns it: no details, evidence
// or playbook.
func undescribed(r scorer.Result) scorer.Result {
	r.Contributions = slices.Clone(r.Contributions)
	for i := range r.Contributions {
		r.Contributions[i].Detail, r.Contributions[i].Signals = "", nil
	}
	r.Playbook = nil
	return r
}

// An alert decided on an undescribed result and completed by Describe is
// the alert decided on the described result, and leaves the same state:
// the decision and the id never read the explanation.
func TestDescribeCompletesAnAlert(t *testing.T) {
	described := scorer.Result{Customer: "acme-corp", Time: t0, Score: 78.5, Raw: 84.5, Tier: rules.AtRisk,
		PreviousScore: 50, PreviousTier: rules.Watch,
		Contributions: []scorer.Contribution{
			{Rule: "ticket-spike", Category: "support", Contribution: 30.5, Firing: true,
				Detail: "5 tickets opened in 7 days", Signals: []string{"zd-2", "zd-1"}},
			{Rule: "usage-drop", Category: "usage", Contribution: 26, Firing: true,
				Detail: "usage down 62%", Signals: []string{"usage-19"}},
			{Rule: "champion-lost", Category: "relationship", Contribution: 20, LastFired: t0.Add(-72 * time.Hour),
				Detail: "fired until 2026-11-17, fading (half-life 60d)", Signals: []string{"champ-1"}},
			{Rule: "nps-passive", Category: "sentiment", Contribution: 8, Firing: true, Detail: "NPS answer 7"},
		},
		Playbook: []string{"Review the open tickets", "Call the champion"}}
	healthy := described
	healthy.Score, healthy.Raw, healthy.Tier = 12, 12, rules.Healthy
	open := State{Tier: rules.Watch, Score: 45, Opened: t0.Add(-72 * time.Hour).Unix(), LastSent: t0.Add(-72 * time.Hour).Unix(), LastID: "x"}
	prof := &signals.Profile{ID: "acme-corp", Name: "Acme", ARR: 120000, Owner: "alice", RenewalDate: "2027-01-15"}
	for _, tc := range []struct {
		name    string
		policy  Policy
		st      State
		r       scorer.Result
		churned bool
		want    Type
	}{
		{"raised", DefaultPolicy(), State{}, described, false, Raised},
		{"escalated", DefaultPolicy(), open, described, false, Escalated},
		{"reminder", DefaultPolicy(), State{Tier: rules.AtRisk, Score: 70, LastSent: t0.Add(-96 * time.Hour).Unix(), Unclaimed: "told"}, described, false, Reminder},
		{"unclaimed", DefaultPolicy(), State{Tier: rules.AtRisk, Score: 70, Opened: t0.Add(-96 * time.Hour).Unix(), LastSent: t0.Add(-96 * time.Hour).Unix()}, described, false, Unclaimed},
		{"resolved", DefaultPolicy(), open, healthy, false, Resolved},
		{"churned", DefaultPolicy(), open, described, true, Resolved},
		{"fewer reasons", Policy{MaxReasons: 2}, State{}, described, false, Raised},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stWant, stGot := tc.st, tc.st
			want := tc.policy.Decide(&stWant, tc.r, prof, tc.churned, MessageCause(7))
			got := tc.policy.Decide(&stGot, undescribed(tc.r), prof, tc.churned, MessageCause(7))
			require.NotNil(t, want)
			require.NotNil(t, got)
			require.Equal(t, tc.want, want.Type)
			require.NotEqual(t, want.Reasons, got.Reasons, "the undescribed alert lacks the details")

			tc.policy.Describe(got, tc.r)
			assert.Equal(t, want, got)
			assert.Equal(t, stWant, stGot)
			require.NotEmpty(t, got.Reasons)
			assert.Equal(t, tc.r.Contributions[0].Detail, got.Reasons[0].Detail)
			if tc.want == Resolved {
				assert.Empty(t, got.Playbook, "a resolution suggests nothing")
			} else {
				assert.Equal(t, tc.r.Playbook, got.Playbook)
			}
		})
	}
}

// The payload of an alert completed by Describe is the golden one.
func TestDescribedAlertGolden(t *testing.T) {
	want := atRiskAlert(t)
	at := time.Date(2026, 11, 20, 10, 4, 0, 0, time.UTC)
	st := State{Tier: rules.Watch, Score: 41, Opened: at.Add(-48 * time.Hour).Unix(), LastSent: at.Add(-48 * time.Hour).Unix()}
	r := atRiskResult(at)
	a := DefaultPolicy().Decide(&st, undescribed(r), atRiskProfile(), false, MessageCause(1042))
	require.NotNil(t, a)
	DefaultPolicy().Describe(a, r)
	assert.Equal(t, want, a)
	body, err := json.Marshal(a)
	require.NoError(t, err)
	golden(t, "alert_at_risk.json", indent(t, body))
}
