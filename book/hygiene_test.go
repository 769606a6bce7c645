package book_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// ratingRules put a customer in a tier by its CSM's rating: yellow is
// at_risk, red critical, green healthy within the hour.
const ratingRules = `
lateness: 24h
rules:
  - name: rated-yellow
    category: csm
    kind: rating
    when: rating.value == "yellow"
    weight: 65
    half_life: 1m
    detail: "rated yellow"
    playbook: ["Ask the CSM what would make it green"]
  - name: rated-red
    category: csm
    kind: rating
    when: rating.value == "red"
    weight: 90
    half_life: 1m
    detail: "rated red"
    playbook: ["Call the sponsor today"]
`

func hygieneFeeder(t *testing.T, edit func(*alerting.Policy)) *feeder {
	t.Helper()
	set, err := rules.Parse("rating.yaml", []byte(ratingRules))
	require.NoError(t, err)
	p := alerting.DefaultPolicy()
	if edit != nil {
		edit(&p)
	}
	f := newFeeder(t)
	f.b = book.New(book.Config{Rules: set, Policy: p})
	return f
}

// rate sends customer's rating at at and returns the alerts it caused.
func (f *feeder) rate(customer, value string, at time.Time) []alerting.Alert {
	f.t.Helper()
	before := len(f.alerts)
	f.rated++
	id := fmt.Sprintf("%s-rating-%d", customer, f.rated)
	o := f.signal(signals.KindRating, id, customer, at, fmt.Sprintf(`{"value":%q,"by":"csm"}`, value))
	require.Contains(f.t, []book.Result{book.Scored, book.Covered}, o.Result, "%s: %v", id, o.Err)
	return f.alerts[before:]
}

func types(as []alerting.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Customer+":"+string(a.Type)+":"+a.Severity)
	}
	return out
}

func TestInhibitionMutesLesserAlertsOfChildren(t *testing.T) {
	f := hygieneFeeder(t, nil)
	at := f.now.Add(-6 * time.Hour)
	f.profile(`{"id":"group","owner":"alice","arr":900000}`)
	f.profile(`{"id":"emea","owner":"bob","parent":"group","arr":100000}`)
	f.profile(`{"id":"emea-de","owner":"bob","parent":"emea","arr":50000}`)
	f.profile(`{"id":"loner","owner":"bob","arr":10000}`)

	assert.Equal(t, []string{"emea:raised:at_risk"}, types(f.rate("emea", "yellow", at)), "the parent has no open alert")
	assert.Equal(t, []string{"group:raised:critical"}, types(f.rate("group", "red", at.Add(time.Minute))))
	assert.Empty(t, f.rate("emea-de", "yellow", at.Add(2*time.Minute)), "the grandparent's critical alert mutes an at_risk raise")
	v, _ := f.b.View("emea-de", false)
	assert.Equal(t, at.Add(2*time.Minute).Unix(), v.Alerting.Inhibited, "the customer shows it is muted")
	assert.Equal(t, rules.Healthy, v.Alerting.Tier, "nothing announced: the raise comes when the parent's alert goes")
	assert.Equal(t, []string{"emea-de:raised:critical"}, types(f.rate("emea-de", "red", at.Add(3*time.Minute))),
		"an alert as big as the parent's is not a lesser one")
	assert.Equal(t, []string{"loner:raised:at_risk"}, types(f.rate("loner", "yellow", at.Add(4*time.Minute))))

	// The parent recovers: the muted child's raise comes with the next
	// evaluation of it.
	f.profile(`{"id":"emea-it","owner":"bob","parent":"group","arr":50000}`)
	assert.Empty(t, f.rate("emea-it", "yellow", at.Add(5*time.Minute)))
	f.rate("group", "green", at.Add(6*time.Minute))
	require.Equal(t, alerting.Resolved, f.alerts[len(f.alerts)-1].Type, "group resolved")
	got := f.rate("emea-it", "yellow", at.Add(7*time.Minute))
	assert.Equal(t, []string{"emea-it:raised:at_risk"}, types(got))
	v, _ = f.b.View("emea-it", false)
	assert.Zero(t, v.Alerting.Inhibited, "no longer muted")
}

func TestTheBudgetDefersRaisesBeyondItAndRanksTheRestTheNextDay(t *testing.T) {
	f := hygieneFeeder(t, func(p *alerting.Policy) { p.Budget = 2 })
	day := f.now.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	at := day.Add(9 * time.Hour)
	for id, arr := range map[string]int{"a1": 10000, "a2": 20000, "a3": 10000, "a4": 500000, "a5": 100000, "a6": 1000} {
		f.profile(fmt.Sprintf(`{"id":%q,"owner":"alice","arr":%d}`, id, arr))
	}
	f.profile(`{"id":"b1","owner":"bob","arr":1000}`)
	f.profile(`{"id":"nobody","arr":1000}`)

	first := f.rate("a1", "yellow", at)
	require.Len(t, first, 1)
	assert.Equal(t, &alerting.Budget{Date: day.Format(time.DateOnly), Limit: 2, Used: 1}, first[0].Budget, "the raise shows the budget")
	assert.Len(t, f.rate("a2", "yellow", at.Add(time.Minute)), 1)
	assert.Empty(t, f.rate("a3", "yellow", at.Add(2*time.Minute)), "the budget is spent: first come, first served within the day")
	assert.Empty(t, f.rate("a4", "yellow", at.Add(3*time.Minute)))
	assert.Empty(t, f.rate("a5", "yellow", at.Add(4*time.Minute)))
	crit := f.rate("a6", "red", at.Add(5*time.Minute))
	require.Len(t, crit, 1, "a critical raise always goes out")
	assert.Equal(t, 3, crit[0].Budget.Used, "and takes a slot")
	assert.Len(t, f.rate("b1", "yellow", at.Add(6*time.Minute)), 1, "another owner has a budget of its own")
	assert.Len(t, f.rate("nobody", "yellow", at.Add(7*time.Minute)), 1, "customers without an owner have no budget")
	v, _ := f.b.View("a3", false)
	assert.Equal(t, at.Add(2*time.Minute).Unix(), v.Alerting.Deferred)
	assert.Equal(t, rules.Healthy, v.Alerting.Tier)

	// a1 and a2 move to carol, and their slots with them: alice has room
	// for one raise, and a4 (the largest revenue at risk) takes it at the
	// next day's sweep ... unless a raise comes first: a3's, now.
	f.profile(`{"id":"a1","owner":"carol","arr":10000}`)
	f.profile(`{"id":"a2","owner":"carol","arr":20000}`)
	got := f.rate("a3", "yellow", at.Add(8*time.Minute))
	require.Len(t, got, 1, "a slot came free")
	assert.Equal(t, 2, got[0].Budget.Used, "a6's and a3's")
	f.profile(`{"id":"c1","owner":"carol","arr":1}`)
	assert.Empty(t, f.rate("c1", "yellow", at.Add(9*time.Minute)), "carol's two slots are a1's and a2's")
	f.profile(`{"id":"a3b","owner":"alice","arr":1}`)
	assert.Empty(t, f.rate("a3b", "yellow", at.Add(10*time.Minute)), "alice is full again")

	// A new day: its sweep shares the budget out among the waiting
	// raises by revenue at risk (a4 and a5; c1's raise is carol's).
	before := len(f.alerts)
	f.signal(signals.KindUsage, "tomorrow", "b1", day.Add(24*time.Hour+time.Hour), `{"events":1}`)
	var raised []alerting.Alert
	for _, a := range f.alerts[before:] {
		if a.Type == alerting.Raised {
			raised = append(raised, a)
		}
	}
	assert.Equal(t, []string{"a4:raised:at_risk", "a5:raised:at_risk", "c1:raised:at_risk"}, sortedTypes(raised))
	var alice *alerting.Digest
	for i := range f.digests {
		if f.digests[i].Owner == "alice" && f.digests[i].Date == day.Add(24*time.Hour).Format(time.DateOnly) {
			alice = &f.digests[i]
		}
	}
	require.NotNil(t, alice, "the new day's digest")
	assert.Equal(t, []string{"a3b"}, alice.Deferred, "the digest tells the deferred raise")
	assert.Equal(t, &alerting.Budget{Date: day.Add(24 * time.Hour).Format(time.DateOnly), Limit: 2, Used: 2}, alice.Budget)
}

func sortedTypes(as []alerting.Alert) []string {
	out := types(as)
	slices.Sort(out)
	return out
}

func TestAnUnclaimedAlertGoesToTheTeam(t *testing.T) {
	f := hygieneFeeder(t, nil)
	at := f.now.Add(-10 * time.Hour)
	f.profile(`{"id":"acme","owner":"alice","team":"emea-cs","arr":100000}`)
	require.Len(t, f.rate("acme", "red", at), 1)
	f.tick(at.Add(3 * time.Hour))
	f.tick(at.Add(3*time.Hour + 59*time.Minute))
	before := len(f.alerts)
	f.tick(at.Add(4 * time.Hour))
	require.Len(t, f.alerts[before:], 1, "four hours unclaimed")
	a := f.alerts[before]
	assert.Equal(t, alerting.Unclaimed, a.Type)
	assert.Equal(t, "risk.alerts.unclaimed.emea-cs.acme", alerting.Subject(&a))
	id, ok := f.b.CustomerOfAlert(a.ID)
	assert.True(t, ok, "the team can acknowledge the alert it got")
	assert.Equal(t, "acme", id)
	f.tick(at.Add(5 * time.Hour))
	assert.Len(t, f.alerts, before+1, "once")
}

// TestHygieneDecidesAsBeforeAfterARestartAhead restarts from a checkpoint
// whose records of some customers were encoded after it, as riskd's
// checkpoints running beside the intake leave them: the replay must take
// the same budget and inhibition decisions as the run without a restart.
func TestHygieneDecidesAsBeforeAfterARestartAhead(t *testing.T) {
	budget := func(p *alerting.Policy) { p.Budget = 1 }
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	profiles := []string{`{"id":"parent","owner":"carol","arr":500000}`, `{"id":"kid1","owner":"dan","parent":"parent"}`,
		`{"id":"kid2","owner":"erin","parent":"parent"}`, `{"id":"a","owner":"alice"}`, `{"id":"b","owner":"alice"}`, `{"id":"c","owner":"alice"}`}
	steps := []struct{ customer, value string }{
		{"kid1", "yellow"},  // raised: the parent has no alert yet
		{"b", "yellow"},     // takes alice's slot
		{"parent", "red"},   // critical
		{"a", "red"},        // critical: always out, takes a slot too
		{"c", "yellow"},     // deferred: no slot left
		{"kid2", "yellow"},  // muted by the parent
		{"kid1", "red"},     // as big as the parent's: escalated
		{"parent", "green"}, // resolved
		{"kid2", "yellow"},  // raised now
	}
	play := func(f *feeder, from int) {
		for i, s := range steps[from:] {
			f.rate(s.customer, s.value, at.Add(time.Duration(from+i)*time.Minute))
		}
	}
	run := hygieneFeeder(t, budget)
	for _, p := range profiles {
		run.profile(p)
	}
	// The checkpoint after the first step.
	run.rate(steps[0].customer, steps[0].value, at)
	seq, clock := run.seq, run.b.Clock()
	checkpoint := snapshot(t, run.b, "parent", "kid1", "kid2", "a", "b", "c")
	alertsAt := len(run.alerts)
	play(run, 1)
	// The records of parent and a were encoded after their steps.
	ahead := snapshot(t, run.b, "parent", "a")
	want := snapshot(t, run.b, "parent", "kid1", "kid2", "a", "b", "c")

	restart := hygieneFeeder(t, budget)
	require.Len(t, checkpoint, 1, "only kid1 has sent a signal at the checkpoint")
	customers := []*book.Customer{checkpoint["kid1"], ahead["parent"], ahead["a"]}
	var profs []*signals.Profile
	for _, id := range []string{"parent", "kid1", "kid2", "a", "b", "c"} {
		p := *run.b.Profile(id)
		profs = append(profs, &p)
	}
	restart.b.Install(customers, profs, clock)
	restart.seq = seq
	restart.rated = 1
	play(restart, 1)

	// What the replay sends, the run sent; what the run sent for
	// customers not ahead, the replay sends again.
	sent := map[string]bool{}
	for _, a := range run.alerts[alertsAt:] {
		sent[a.ID] = true
	}
	for _, a := range restart.alerts {
		assert.True(t, sent[a.ID], "replayed %s %s %s: the run did not send it", a.Customer, a.Type, a.Severity)
	}
	replayed := map[string]bool{}
	for _, a := range restart.alerts {
		replayed[a.ID] = true
	}
	for _, a := range run.alerts[alertsAt:] {
		if a.Customer != "parent" && a.Customer != "a" {
			assert.True(t, replayed[a.ID], "%s %s %s: not sent by the replay", a.Customer, a.Type, a.Severity)
		}
	}
	got := snapshot(t, restart.b, "parent", "kid1", "kid2", "a", "b", "c")
	require.Len(t, want, 6)
	for id, c := range want {
		require.NotNil(t, got[id], id)
		assert.Equal(t, c.Alert, got[id].Alert, "%s's alert state", id)
	}
	assert.Equal(t, []string{"kid1:raised:at_risk"}, types(run.alerts[:alertsAt][len(run.alerts[:alertsAt])-1:]))
	assert.Contains(t, types(run.alerts), "kid2:raised:at_risk", "the scenario ends with the muted raise")
	assert.NotContains(t, types(run.alerts), "c:raised:at_risk", "c's raise was deferred")
	assert.NotZero(t, want["c"].Alert.Deferred)
}

// snapshot copies customers' states through their checkpoint encodings.
func snapshot(t *testing.T, b *book.Book, ids ...string) map[string]*book.Customer {
	t.Helper()
	out := map[string]*book.Customer{}
	for _, id := range ids {
		c := b.Customer(id)
		if c == nil {
			continue
		}
		var cp book.Customer
		data, err := c.Score.MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, cp.Score.UnmarshalBinary(data))
		data, err = c.Alert.MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, cp.Alert.UnmarshalBinary(data))
		out[id] = &cp
	}
	return out
}

// TestASweepReplayedOverItsOwnRecordsSharesTheBudgetAlike restarts from a
// checkpoint taken before a day's first sweep, with some records encoded
// after it: a sweep does not move a customer's sequence, so the replayed
// sweep evaluates those customers again, at the same time, and must leave
// their raises and deferrals as they were.
func TestASweepReplayedOverItsOwnRecordsSharesTheBudgetAlike(t *testing.T) {
	budget := func(p *alerting.Policy) { p.Budget = 2 }
	day := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	ids := []string{"a1", "a2", "a3", "a4", "a5", "b1"}
	setup := func(f *feeder) {
		for id, arr := range map[string]int{"a1": 10000, "a2": 20000, "a3": 10000, "a4": 500000, "a5": 100000} {
			f.profile(fmt.Sprintf(`{"id":%q,"owner":"alice","arr":%d}`, id, arr))
		}
		f.profile(`{"id":"b1","owner":"bob","arr":1000}`)
		for i, id := range ids {
			f.rate(id, "yellow", day.Add(9*time.Hour+time.Duration(i)*time.Minute))
		}
	}
	run := hygieneFeeder(t, budget)
	setup(run)
	seq, clock := run.seq, run.b.Clock()
	checkpoint := snapshot(t, run.b, ids...)
	before := len(run.alerts)
	require.Equal(t, book.Scored, run.signal(signals.KindUsage, "next-day", "b1", day.Add(25*time.Hour), `{"events":1}`).Result)
	after := snapshot(t, run.b, ids...)
	var raised []alerting.Alert
	for _, a := range run.alerts[before:] {
		if a.Type == alerting.Raised {
			raised = append(raised, a)
		}
	}
	require.Equal(t, []string{"a4:raised:at_risk", "a5:raised:at_risk"}, sortedTypes(raised), "the sweep's share-out")

	restart := hygieneFeeder(t, budget)
	var profs []*signals.Profile
	for _, id := range ids {
		p := *run.b.Profile(id)
		profs = append(profs, &p)
	}
	// a4 (admitted) and a3 (deferred again) were encoded after the sweep.
	restart.b.Install([]*book.Customer{checkpoint["a1"], checkpoint["a2"], after["a3"], after["a4"], checkpoint["a5"], checkpoint["b1"]},
		profs, clock)
	restart.seq = seq
	require.Equal(t, book.Scored, restart.signal(signals.KindUsage, "next-day", "b1", day.Add(25*time.Hour), `{"events":1}`).Result)

	sent := map[string]bool{}
	for _, a := range run.alerts[before:] {
		sent[a.ID] = true
	}
	for _, a := range restart.alerts {
		assert.True(t, sent[a.ID], "replayed %s %s: the run did not send it", a.Customer, a.Type)
	}
	assert.Contains(t, types(restart.alerts), "a5:raised:at_risk", "a5's record is the checkpoint's: its raise comes again")
	got := snapshot(t, restart.b, ids...)
	for _, id := range ids {
		assert.Equal(t, after[id].Alert, got[id].Alert, "%s's alert state", id)
	}
}
