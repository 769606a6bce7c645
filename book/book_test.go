package book_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// feeder hands messages to a book as the runtime does: numbered in stream
// order, signals decoded ahead.
type feeder struct {
	t   testing.TB
	b   *book.Book
	seq uint64
	now time.Time
	fx  book.Effects
	// alerts and rejects collect what every step published.
	alerts  []alerting.Alert
	rejects []book.Reject
	digests []alerting.Digest
	quiet   []book.Quiet
	rated   int // ratings sent, for their ids
}

func newFeeder(t testing.TB) *feeder { return newFeederWith(t, book.Config{}) }

// newFeederWith is a feeder of a book of c with the default rules and
// policy.
func newFeederWith(t testing.TB, c book.Config) *feeder {
	t.Helper()
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	c.Rules, c.Policy = set, alerting.DefaultPolicy()
	b := book.New(c)
	return &feeder{t: t, b: b, now: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
}

func (f *feeder) apply(subject string, data []byte) book.Outcome {
	f.seq++
	m := book.Message{Seq: f.seq, Subject: subject, Data: data}
	if len(subject) > len(signals.SignalPrefix) && subject[:len(signals.SignalPrefix)] == signals.SignalPrefix {
		s, err := signals.Decode(subject, data, f.now)
		m.Signal, m.SignalErr = &s, err
	}
	o := f.b.Apply(&m, &f.fx)
	f.collect()
	return o
}

func (f *feeder) collect() {
	for _, a := range f.fx.Alerts {
		f.alerts = append(f.alerts, *a)
	}
	f.rejects = append(f.rejects, f.fx.Rejects...)
	f.digests = append(f.digests, f.fx.Digests...)
	f.quiet = append(f.quiet, f.fx.Quiet...)
	f.fx.Reset()
}

func (f *feeder) signal(kind signals.Kind, id, customer string, at time.Time, data string) book.Outcome {
	body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"source":"test","data":%s}`,
		id, kind, customer, at.UTC().Format(time.RFC3339), data)
	return f.apply(signals.Subject(kind, customer), []byte(body))
}

// tick is riskd's tick of the wall clock at at.
func (f *feeder) tick(at time.Time) book.Outcome {
	body, err := json.Marshal(book.Tick{Time: at})
	require.NoError(f.t, err)
	return f.apply(book.ClockSubject, body)
}

func (f *feeder) profile(body string) book.Outcome {
	var p struct{ ID string }
	require.NoError(f.t, json.Unmarshal([]byte(body), &p))
	return f.apply(signals.CustomerPrefix+signals.SubjectToken(p.ID), []byte(body))
}

func (f *feeder) command(c api.Command) book.Outcome {
	body, err := json.Marshal(c)
	require.NoError(f.t, err)
	return f.apply(c.Subject(), body)
}

// churn sends an at-risk customer's six weeks, in event-time order: usage
// down 60% in the last week, a ticket spike, a passive NPS answer and a
// discount request.
func (f *feeder) churn(customer string, end time.Time) {
	type sig struct {
		kind signals.Kind
		id   string
		at   time.Time
		data string
	}
	var all []sig
	start := end.AddDate(0, 0, -42)
	for d := range 42 {
		events := 100
		if d >= 35 {
			events = 40
		}
		all = append(all, sig{signals.KindUsage, fmt.Sprintf("%s-u%d", customer, d), start.AddDate(0, 0, d).Add(12 * time.Hour),
			fmt.Sprintf(`{"events":%d}`, events)})
	}
	for i := range 5 {
		all = append(all, sig{signals.KindTicket, fmt.Sprintf("%s-t%d", customer, i), end.Add(-time.Duration(5-i) * 24 * time.Hour),
			fmt.Sprintf(`{"ticket_id":"T%d","status":"opened"}`, i)})
	}
	all = append(all,
		sig{signals.KindNPS, customer + "-nps", end.Add(-48 * time.Hour), `{"score":7}`},
		sig{signals.KindCommercial, customer + "-disc", end.Add(-24 * time.Hour), `{"type":"discount_request"}`},
		sig{signals.KindUsage, customer + "-last", end, `{"events":40}`})
	slices.SortStableFunc(all, func(a, b sig) int { return a.at.Compare(b.at) })
	for _, s := range all {
		require.Equal(f.t, book.Scored, f.signal(s.kind, s.id, customer, s.at, s.data).Result, s.id)
	}
}

func TestStepOutcomes(t *testing.T) {
	f := newFeeder(t)
	at := f.now.Add(-time.Hour)
	tests := []struct {
		name   string
		step   func() book.Outcome
		input  book.Input
		result book.Result
		reason signals.RejectReason // of the DLQ entry, if any
	}{
		{"a signal is scored", func() book.Outcome {
			return f.signal(signals.KindUsage, "u1", "acme", at, `{"events":3}`)
		}, book.InputSignal, book.Scored, ""},
		{"its id again is a duplicate, not an error", func() book.Outcome {
			return f.signal(signals.KindUsage, "u1", "acme", at, `{"events":3}`)
		}, book.InputSignal, book.Duplicate, ""},
		{"older than the lateness window", func() book.Outcome {
			return f.signal(signals.KindUsage, "u-old", "acme", at.Add(-72*time.Hour), `{}`)
		}, book.InputSignal, book.Late, signals.ReasonLate},
		{"undecodable", func() book.Outcome {
			return f.apply("risk.signals.usage", []byte(`{"id":"x"`))
		}, book.InputSignal, book.Rejected, signals.ReasonMalformed},
		{"a profile", func() book.Outcome {
			return f.profile(`{"id":"acme","name":"Acme","arr":120000,"owner":"alice","renewal_date":"2027-01-15"}`)
		}, book.InputProfile, book.Accepted, ""},
		{"an invalid profile", func() book.Outcome {
			return f.profile(`{"id":"acme","arr":-5}`)
		}, book.InputProfile, book.Rejected, signals.ReasonOutOfRange},
		{"an ack without an open alert is refused", func() book.Outcome {
			return f.command(api.Command{Type: alerting.KindAck, Customer: "acme", By: "alice", Time: at})
		}, book.InputCommand, book.Refused, ""},
		{"a snooze of an unknown customer is refused", func() book.Outcome {
			return f.command(api.Command{Type: alerting.KindSnooze, Customer: "nobody", By: "alice", Time: at, Until: at.Add(time.Hour)})
		}, book.InputCommand, book.Refused, ""},
		{"a snooze", func() book.Outcome {
			return f.command(api.Command{Type: alerting.KindSnooze, Customer: "acme", By: "alice", Time: at, Until: at.Add(time.Hour)})
		}, book.InputCommand, book.Accepted, ""},
		{"an invalid command", func() book.Outcome {
			return f.apply(api.ActionPrefix+"acme", []byte(`{"type":"ack","customer":"acme"}`))
		}, book.InputCommand, book.Rejected, signals.ReasonOutOfRange},
		{"a command on another customer's subject", func() book.Outcome {
			body, err := json.Marshal(api.Command{Type: alerting.KindSnooze, Customer: "acme", By: "alice", Time: at, Until: at.Add(time.Hour)})
			require.NoError(t, err)
			return f.apply(api.ActionPrefix+"globex", body)
		}, book.InputCommand, book.Rejected, signals.ReasonBadSubject},
		{"a command on a wildcard-looking subject", func() book.Outcome {
			body, err := json.Marshal(api.Command{Type: alerting.KindUnsnooze, Customer: "a.b", By: "alice", Time: at})
			require.NoError(t, err)
			return f.apply(api.ActionPrefix+"a.b", body)
		}, book.InputCommand, book.Rejected, signals.ReasonBadSubject},
		{"a snooze beyond 366 days over NATS", func() book.Outcome {
			return f.command(api.Command{Type: alerting.KindSnooze, Customer: "acme", By: "alice", Time: at, Until: at.Add(367 * 24 * time.Hour)})
		}, book.InputCommand, book.Rejected, signals.ReasonOutOfRange},
		{"a subject nobody handles", func() book.Outcome {
			return f.apply("risk.other.x", []byte(`{}`))
		}, book.InputUnknown, book.Rejected, signals.ReasonBadSubject},
	}
	for _, tc := range tests {
		before := len(f.rejects)
		o := tc.step()
		assert.Equal(t, tc.input, o.Input, tc.name)
		assert.Equal(t, tc.result, o.Result, "%s: %v", tc.name, o.Err)
		if tc.reason == "" {
			assert.Len(t, f.rejects, before, "%s: nothing goes to the DLQ", tc.name)
			continue
		}
		require.Len(t, f.rejects, before+1, tc.name)
		r := f.rejects[before]
		assert.Equal(t, tc.reason, signals.ReasonOf(r.Err), tc.name)
		assert.Equal(t, f.seq, r.Seq, "%s: the DLQ entry names the message", tc.name)
	}
	v, ok := f.b.View("acme", false)
	require.True(t, ok)
	assert.Equal(t, "alice", v.Owner, "a profile applies to a customer scored before it")
	assert.NotNil(t, v.Alerting.Snooze)
}

// TestCustomerCapacity: beyond MaxCustomers a new customer's signal or
// profile goes to the DLQ (capacity); known customers go on.
func TestCustomerCapacity(t *testing.T) {
	f := newFeederWith(t, book.Config{MaxCustomers: 2})
	at := f.now.Add(-time.Hour)
	tests := []struct {
		name   string
		step   func() book.Outcome
		result book.Result
		reason signals.RejectReason
	}{
		{"first customer", func() book.Outcome { return f.signal(signals.KindUsage, "u1", "c1", at, `{}`) }, book.Scored, ""},
		{"second customer", func() book.Outcome { return f.signal(signals.KindUsage, "u2", "c2", at, `{}`) }, book.Scored, ""},
		{"a third is refused", func() book.Outcome { return f.signal(signals.KindUsage, "u3", "c3", at, `{}`) }, book.Rejected, signals.ReasonCapacity},
		{"a known one goes on", func() book.Outcome { return f.signal(signals.KindUsage, "u4", "c1", at, `{}`) }, book.Scored, ""},
		{"a profile of a known one", func() book.Outcome { return f.profile(`{"id":"c1","owner":"alice"}`) }, book.Accepted, ""},
		{"a second profile", func() book.Outcome { return f.profile(`{"id":"c3","owner":"bob"}`) }, book.Accepted, ""},
		{"a third profile is refused", func() book.Outcome { return f.profile(`{"id":"c4","owner":"bob"}`) }, book.Rejected, signals.ReasonCapacity},
		{"an update of a kept profile", func() book.Outcome { return f.profile(`{"id":"c3","owner":"carol"}`) }, book.Accepted, ""},
	}
	for _, tc := range tests {
		before := len(f.rejects)
		o := tc.step()
		assert.Equal(t, tc.result, o.Result, "%s: %v", tc.name, o.Err)
		if tc.reason == "" {
			assert.Len(t, f.rejects, before, tc.name)
			continue
		}
		require.Len(t, f.rejects, before+1, tc.name)
		assert.Equal(t, tc.reason, signals.ReasonOf(f.rejects[before].Err), tc.name)
	}
	customers, profiles := f.b.Len()
	assert.Equal(t, 2, customers)
	assert.Equal(t, 2, profiles)
}

func TestARestoredStateCoversItsMessages(t *testing.T) {
	f := newFeeder(t)
	at := f.now.Add(-time.Hour)
	require.Equal(t, book.Scored, f.signal(signals.KindUsage, "u1", "acme", at, `{}`).Result)
	// The same stream position again, as after a restore whose record of
	// acme was encoded past it.
	f.seq--
	assert.Equal(t, book.Covered, f.signal(signals.KindUsage, "u2", "acme", at, `{}`).Result)
}

func TestAnAtRiskCustomerRaisesOneExplainedAlert(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"acme","name":"Acme","arr":120000,"currency":"USD","renewal_date":"2026-12-20","segment":"enterprise","owner":"alice"}`)
	f.churn("acme", f.now)
	require.NotEmpty(t, f.alerts)
	last := f.alerts[len(f.alerts)-1]
	assert.Greater(t, last.Tier, rules.Watch, "at risk or worse")
	require.NotEmpty(t, last.Reasons)
	for _, r := range last.Reasons {
		assert.NotEmpty(t, r.Detail, "%s: the alert explains every reason", r.Rule)
	}
	id, ok := f.b.CustomerOfAlert(last.ID)
	assert.True(t, ok)
	assert.Equal(t, "acme", id)

	v, ok := f.b.View("acme", true)
	require.True(t, ok)
	assert.Equal(t, last.ID, v.LastAlert.ID)
	body, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	golden(t, "view_at_risk.json", append(body, '\n'))

	// The step's explanation is the one a query gives: same reasons.
	reasons := map[string]float64{}
	for _, r := range v.Reasons {
		reasons[r.Rule] = r.Contribution
	}
	for _, r := range last.Reasons {
		assert.Equal(t, reasons[r.Rule], r.Contribution, r.Rule)
	}
}

func TestTheEventClockSweepsAndSendsDigests(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"acme","owner":"alice","arr":50000}`)
	f.churn("acme", f.now)
	require.NotEmpty(t, f.digests, "each new day of event time sends the digests")
	d := f.digests[len(f.digests)-1]
	assert.Equal(t, "alice", d.Owner)
	// Next day a signal of another customer moves the clock: acme is
	// swept (its usage silence counts) without any signal of its own.
	before := f.b.Customer("acme").Score.Evaluated
	f.signal(signals.KindUsage, "o1", "other", f.now.Add(23*time.Hour), `{}`)
	assert.Greater(t, f.b.Customer("acme").Score.Evaluated, before)
	// The sweep is at the new day's start: what a customer is judged at
	// does not depend on which signal happened to open the day.
	assert.Equal(t, f.now.Add(23*time.Hour).Truncate(24*time.Hour).Unix(), f.b.Clock().LastSweep)
}

func TestAPanicIsRejectedAndWhatCameBeforeStands(t *testing.T) {
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	b := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy(),
		Inspect: func(subject string, _ []byte) {
			if subject == "risk.signals.usage.poison" {
				panic("boom")
			}
		}})
	var fx book.Effects
	data := []byte(`{"id":"p","kind":"usage","customer":"poison","time":"2026-11-20T10:00:00Z"}`)
	s, err := signals.Decode("risk.signals.usage.poison", data, time.Time{})
	require.NoError(t, err)
	o := b.Apply(&book.Message{Seq: 1, Subject: "risk.signals.usage.poison", Data: data, Signal: &s}, &fx)
	assert.Equal(t, book.Rejected, o.Result)
	require.Len(t, fx.Rejects, 1)
	assert.Equal(t, signals.ReasonProcessing, signals.ReasonOf(fx.Rejects[0].Err))
	assert.Contains(t, fx.Rejects[0].Err.Error(), "boom")
}

func TestChangesAreTakenAndGivenBack(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"a","owner":"alice"}`)
	f.signal(signals.KindUsage, "u1", "a", f.now, `{}`)
	f.signal(signals.KindUsage, "u2", "b", f.now, `{}`)
	assert.True(t, f.b.Changed())
	ch := f.b.TakeChanges(false)
	assert.ElementsMatch(t, []string{"a", "b"}, ch.Customers)
	require.Len(t, ch.Profiles, 1)
	assert.Equal(t, "alice", ch.Profiles[0].Owner)
	assert.False(t, f.b.Changed())
	f.b.GiveBack(ch) // the checkpoint failed
	again := f.b.TakeChanges(false)
	assert.ElementsMatch(t, ch.Customers, again.Customers)
	all := f.b.TakeChanges(true)
	assert.ElementsMatch(t, []string{"a", "b"}, all.Customers, "an image takes every customer")
}

func TestInstallLinksProfilesAndOpenAlerts(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"acme","owner":"alice","arr":1000}`)
	f.churn("acme", f.now)
	c := f.b.Customer("acme")
	require.NotEmpty(t, c.Alert.LastID)
	restored := &book.Customer{Score: c.Score, Alert: c.Alert}
	p := *f.b.Profile("acme")

	b2 := newFeeder(t).b
	b2.Install([]*book.Customer{restored}, []*signals.Profile{&p}, f.b.Clock())
	assert.Same(t, b2.Profile("acme"), b2.Customer("acme").Profile, "the customer holds its profile")
	id, ok := b2.CustomerOfAlert(c.Alert.LastID)
	assert.True(t, ok)
	assert.Equal(t, "acme", id)
	assert.Equal(t, f.b.Clock(), b2.Clock())
	n, np := b2.Len()
	assert.Equal(t, [2]int{1, 1}, [2]int{n, np})
	assert.False(t, b2.Changed(), "a restored state is not a change")
}

func TestMatchingSelectsAndOrderSorts(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"big","owner":"alice","arr":900000}`)
	f.profile(`{"id":"small","owner":"bob","arr":1000}`)
	f.profile(`{"id":"lone","owner":"alice"}`)
	for _, id := range []string{"big", "small"} {
		f.signal(signals.KindUsage, id+"-u", id, f.now, `{}`)
	}
	views := f.b.Matching(api.Filter{Owner: "alice"})
	require.Len(t, views, 1, "profile-only customers are not listed")
	assert.Equal(t, "big", views[0].Customer)
	all := api.Filter{Limit: 1}.Order(f.b.Matching(api.Filter{}))
	require.Len(t, all, 1)
	_, ok := f.b.View("lone", true)
	assert.True(t, ok, "a profile alone is a customer")
	_, ok = f.b.View("nobody", false)
	assert.False(t, ok)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./book -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", path)
}

// A renewed outcome moves the renewal date before the CRM catches up:
// for the rules, and as the API, the alerts and the digest show it.
func TestARenewalMovesTheRenewalDateEverywhere(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"acme","owner":"alice","arr":120000,"segment":"enterprise","renewal_date":"2026-11-25"}`)
	at := f.now.Add(-2 * time.Hour)
	f.signal(signals.KindOutcome, "o1", "acme", at, `{"type":"renewed","renewal_date":"2027-11-25"}`)
	v, ok := f.b.View("acme", false)
	require.True(t, ok)
	require.NotNil(t, v.DaysToRenewal)
	assert.Equal(t, int64(370), *v.DaysToRenewal, "a year on, not the profile's five days")

	f.signal(signals.KindChampion, "c1", "acme", at.Add(time.Minute), `{"type":"left"}`)
	f.signal(signals.KindNPS, "n1", "acme", at.Add(2*time.Minute), `{"score":2}`)
	require.NotEmpty(t, f.alerts)
	a := f.alerts[len(f.alerts)-1]
	assert.Equal(t, "2027-11-25", a.RenewalDate)
	require.NotNil(t, a.DaysToRenewal)
	assert.Equal(t, int64(370), *a.DaysToRenewal)

	f.signal(signals.KindUsage, "u1", "other", f.now.Add(20*time.Hour), `{}`) // a new day: digests
	require.NotEmpty(t, f.digests)
	d := f.digests[len(f.digests)-1]
	require.NotEmpty(t, d.Entries)
	assert.Equal(t, int64(369), d.Entries[0].DaysToRenewal)
}

// Outcomes are recorded with the fate of the customer's warnings: in the
// step's outcome (for metrics), the view, the summary and the next
// digest.
func TestOutcomesAndFates(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"acme","owner":"alice","arr":50000}`)
	f.profile(`{"id":"calm","owner":"alice","arr":20000}`)
	f.profile(`{"id":"kept","owner":"bob","arr":10000}`)
	end := f.now
	// acme: a cancellation inquiry, its champion gone and a detractor
	// three days before end, at_risk or worse since; usage every day.
	for d := 10; d >= 0; d-- {
		f.signal(signals.KindUsage, fmt.Sprintf("acme-u%d", d), "acme", end.AddDate(0, 0, -d).Add(-time.Hour), `{"events":10}`)
		if d == 3 {
			at := end.AddDate(0, 0, -3)
			f.signal(signals.KindCommercial, "acme-crm-1", "acme", at, `{"type":"cancellation_inquiry"}`)
			f.signal(signals.KindChampion, "acme-crm-2", "acme", at.Add(time.Minute), `{"type":"left","contact":"Jo"}`)
			f.signal(signals.KindNPS, "acme-nps-1", "acme", at.Add(2*time.Minute), `{"score":2}`)
		}
	}
	f.now = end.AddDate(0, 0, 10) // the decoder's clock: no signal is in the far future
	for d := 1; d <= 3; d++ {
		f.signal(signals.KindUsage, fmt.Sprintf("acme-after-%d", d), "acme", end.AddDate(0, 0, d), `{"events":40}`)
		f.signal(signals.KindUsage, fmt.Sprintf("calm-%d", d), "calm", end.AddDate(0, 0, d), `{"events":50}`)
	}
	v, ok := f.b.View("acme", true)
	require.True(t, ok)
	require.Equal(t, scorer.FateOpen, v.Fate, "at risk, no outcome yet")
	require.NotNil(t, v.AtRiskSince)
	warned := *v.AtRiskSince

	churnAt := end.AddDate(0, 0, 3).Add(2 * time.Hour)
	o := f.signal(signals.KindOutcome, "crm-acme-churn", "acme", churnAt, `{"type":"churned"}`)
	require.Equal(t, book.Scored, o.Result)
	assert.Equal(t, scorer.OutcomeChurned, o.Recorded.Type)
	assert.Equal(t, scorer.FateChurnedAfterAlert, o.Recorded.Fate())
	o = f.signal(signals.KindOutcome, "crm-calm-churn", "calm", churnAt.Add(time.Hour), `{"type":"churned"}`)
	assert.Equal(t, scorer.FateChurnedWithoutAlert, o.Recorded.Fate())
	f.signal(signals.KindUsage, "kept-1", "kept", churnAt, `{}`)
	o = f.signal(signals.KindOutcome, "crm-kept-renew", "kept", churnAt.Add(2*time.Hour), `{"type":"renewed","arr":12000}`)
	assert.Equal(t, scorer.FateRenewedWithoutAlert, o.Recorded.Fate())
	u := f.signal(signals.KindUsage, "u-next", "acme", churnAt.Add(time.Hour), `{}`)
	assert.Zero(t, u.Recorded.Type, "only outcome signals record an outcome")

	v, ok = f.b.View("acme", true)
	require.True(t, ok)
	assert.Equal(t, scorer.FateChurnedAfterAlert, v.Fate)
	assert.Nil(t, v.AtRiskSince, "the episode is closed")
	require.Len(t, v.Outcomes, 1)
	ov := v.Outcomes[0]
	assert.Equal(t, "churned", ov.Type)
	require.NotNil(t, ov.AtRiskSince)
	assert.Equal(t, warned, *ov.AtRiskSince)
	require.NotNil(t, ov.LeadTimeDays)
	assert.Equal(t, api.Days(churnAt.Sub(warned)), *ov.LeadTimeDays)
	require.NotNil(t, ov.ARRChange)
	assert.Equal(t, -50000.0, *ov.ARRChange)
	list, _ := f.b.View("acme", false)
	assert.Equal(t, scorer.FateChurnedAfterAlert, list.Fate, "lists show the fate")
	assert.Empty(t, list.Outcomes, "and leave the outcomes to the explanation")

	s := f.b.Outcomes(api.OutcomesRequest{})
	assert.Equal(t, 3, s.Outcomes)
	assert.Equal(t, 1, s.Fates[scorer.FateChurnedAfterAlert])
	assert.Equal(t, 1, s.Fates[scorer.FateChurnedWithoutAlert])
	assert.Equal(t, 1, s.Fates[scorer.FateRenewedWithoutAlert])
	assert.Equal(t, 0, s.Fates[scorer.FateSaved])
	assert.Equal(t, 50000.0, s.ARRLostAfterAlert)
	assert.Equal(t, 20000.0, s.ARRLostWithoutAlert)
	assert.Equal(t, 2, s.ByType["churned"])
	require.NotNil(t, s.ChurnWarned)
	assert.Equal(t, 0.5, *s.ChurnWarned)
	assert.Equal(t, 1, s.LeadTime.Count)
	assert.Equal(t, *ov.LeadTimeDays, s.LeadTime.Median)
	require.Len(t, s.Owners, 2)
	assert.Equal(t, "alice", s.Owners[0].Owner)
	assert.Equal(t, 2, s.Owners[0].Outcomes)
	assert.Equal(t, 1, s.Owners[1].Fates[scorer.FateRenewedWithoutAlert])

	assert.Equal(t, 1, f.b.Outcomes(api.OutcomesRequest{Owner: "bob"}).Outcomes)
	assert.Zero(t, f.b.Outcomes(api.OutcomesRequest{Since: churnAt.AddDate(0, 0, 1).Format(time.DateOnly)}).Outcomes)
	assert.Equal(t, 3, f.b.Outcomes(api.OutcomesRequest{Until: churnAt.Format(time.DateOnly)}).Outcomes)

	// The next day's digests tell each owner what became of the warnings.
	f.digests = nil
	f.signal(signals.KindUsage, "next-day", "other", churnAt.Add(24*time.Hour), `{}`)
	require.NotEmpty(t, f.digests)
	var alice alerting.Digest
	for _, d := range f.digests {
		if d.Owner == "alice" {
			alice = d
		}
	}
	require.Len(t, alice.Outcomes, 2, "calm churned healthy, and is in the digest all the same")
	assert.Equal(t, "acme", alice.Outcomes[0].Customer)
	assert.Equal(t, scorer.FateChurnedAfterAlert, alice.Outcomes[0].Fate)
	assert.Equal(t, ov.LeadTimeDays, alice.Outcomes[0].LeadTimeDays)
	assert.Equal(t, map[scorer.Fate]int{scorer.FateChurnedAfterAlert: 1, scorer.FateChurnedWithoutAlert: 1}, alice.Fates)
}

// TestMatchingKeepsTheTopOfTheOrder: the bounded heap returns what sorting
// every customer and cutting would, and pages with After walk the whole
// list once.
func TestMatchingKeepsTheTopOfTheOrder(t *testing.T) {
	f := newFeeder(t)
	for i := range 60 {
		id := fmt.Sprintf("c%02d", i)
		f.profile(fmt.Sprintf(`{"id":%q,"owner":%q,"arr":%d}`, id, []string{"alice", "bob"}[i%2], (i*7919)%50000))
		f.signal(signals.KindTicket, id+"-t", id, f.now.Add(-time.Duration(i)*time.Minute), `{"ticket_id":"1","status":"opened"}`)
	}
	everything := func(fl api.Filter) []api.CustomerView {
		fl.Limit = api.MaxLimit
		return fl.Order(f.b.Matching(fl))
	}
	for _, fl := range []api.Filter{{Limit: 1}, {Limit: 7}, {Limit: 60}, {Limit: 100}, {Owner: "bob", Limit: 5},
		{Sort: "score", Limit: 9}, {Sort: "probability", Limit: 13}} {
		all := everything(api.Filter{Owner: fl.Owner, Sort: fl.Sort})
		got := fl.Order(f.b.Matching(fl))
		want := all[:min(len(all), fl.Size())]
		require.Equal(t, len(want), len(got), "%+v", fl)
		for i := range want {
			assert.Equal(t, want[i].Customer, got[i].Customer, "%+v #%d", fl, i)
		}
	}
	var walked []string
	page := api.Filter{Limit: 7}
	for range 20 {
		got := page.Order(f.b.Matching(page))
		for _, v := range got {
			walked = append(walked, v.Customer)
		}
		if len(got) < page.Size() {
			break
		}
		page.After = got[len(got)-1].Customer
	}
	var want []string
	for _, v := range everything(api.Filter{}) {
		want = append(want, v.Customer)
	}
	assert.Equal(t, want, walked)
	assert.Empty(t, f.b.Matching(api.Filter{After: "nobody"}))

	// A book that does not hold the customer of the cursor (another
	// partition's) pages from its view: here one ranked before everyone.
	first := api.Filter{Limit: 3}
	got := first.Order(f.b.MatchingAfter(first, &api.CustomerView{Customer: "elsewhere", RevenueAtRisk: 1e12}))
	require.Len(t, got, 3)
	assert.Equal(t, want[:3], []string{got[0].Customer, got[1].Customer, got[2].Customer})
}
