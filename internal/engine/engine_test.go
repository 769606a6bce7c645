package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

type fixture struct {
	t      *testing.T
	nc     *nats.Conn
	js     jetstream.JetStream
	eng    *engine.Engine
	cancel context.CancelFunc
	done   chan error
	last   uint64
}

func defaultRules(t testing.TB) *rules.Set {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	return set
}

// startEngine runs a real engine against nc until the test ends or stop.
func startEngine(t *testing.T, nc *nats.Conn) *fixture {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	eng, err := engine.New(nc, engine.Config{Rules: defaultRules(t), Policy: alerting.DefaultPolicy(),
		CheckpointInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{t: t, nc: nc, js: js, eng: eng, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- eng.Run(ctx) }()
	t.Cleanup(func() { f.stop() })
	require.Eventually(t, func() bool { return eng.Ready() == nil }, 10*time.Second, 10*time.Millisecond)
	return f
}

func (f *fixture) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	require.NoError(f.t, <-f.done)
	f.cancel = nil
}

func (f *fixture) publish(subject string, body []byte, msgID string) {
	f.t.Helper()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := f.js.Publish(context.Background(), subject, body, opts...)
	require.NoError(f.t, err)
	f.last = max(f.last, ack.Sequence)
}

func (f *fixture) signal(kind signals.Kind, id, customer string, at time.Time, data string) {
	f.t.Helper()
	body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"source":"test","data":%s}`,
		id, kind, customer, at.UTC().Format(time.RFC3339), data)
	f.publish(signals.Subject(kind, customer), []byte(body), id)
}

func (f *fixture) wait() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(f.t, f.eng.WaitApplied(ctx, f.last))
}

// churnScenario sends the at-risk customer, in event-time order: a
// usage drop of 60% against its baseline, a ticket spike, a passive NPS
// answer and a discount request 30 days before renewal.
func churnScenario(f *fixture, customer string, end time.Time) {
	type sig struct {
		kind signals.Kind
		id   string
		at   time.Time
		data string
	}
	var all []sig
	start := end.AddDate(0, 0, -42)
	for d := 0; d < 42; d++ {
		events := 100
		if d >= 35 {
			events = 40
		}
		all = append(all, sig{signals.KindUsage, fmt.Sprintf("%s-u%d", customer, d),
			start.AddDate(0, 0, d).Add(12 * time.Hour), fmt.Sprintf(`{"events":%d}`, events)})
	}
	for i := range 5 {
		all = append(all, sig{signals.KindTicket, fmt.Sprintf("%s-t%d", customer, i),
			end.Add(-time.Duration(5-i) * 24 * time.Hour), fmt.Sprintf(`{"ticket_id":"T%d","status":"opened"}`, i)})
	}
	all = append(all,
		sig{signals.KindNPS, customer + "-nps", end.Add(-48 * time.Hour), `{"score":7}`},
		sig{signals.KindCommercial, customer + "-disc", end.Add(-24 * time.Hour), `{"type":"discount_request"}`},
		sig{signals.KindUsage, customer + "-last", end, `{"events":40}`})
	slices.SortStableFunc(all, func(a, b sig) int { return a.at.Compare(b.at) })
	for _, s := range all {
		f.signal(s.kind, s.id, customer, s.at, s.data)
	}
}

func TestScenarioRaisesAlertOnOwnersSubject(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	alerts := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("risk.alerts.*.alice.>", alerts)
	require.NoError(t, err)
	defer sub.Unsubscribe()

	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	renewal := end.AddDate(0, 0, 31).Format(time.DateOnly)
	f.publish("risk.customers.acme-corp", []byte(`{"id":"acme-corp","name":"Acme","arr":120000,"renewal_date":"`+renewal+`","segment":"enterprise","owner":"alice"}`), "")
	churnScenario(f, "acme-corp", end)
	f.wait()

	view, ok := f.eng.Customer("acme-corp")
	require.True(t, ok)
	assert.GreaterOrEqual(t, view.Tier, rules.AtRisk, "score %v reasons %+v", view.Score, view.Reasons)

	// The alerts up to the customer's final tier (critical with the
	// default rules: at_risk is passed on the way, before the last ticket
	// of the spike came).
	var last alerting.Alert
	var subject string
	timeout := time.After(5 * time.Second)
	for last.Tier < view.Tier {
		select {
		case m := <-alerts:
			require.NoError(t, json.Unmarshal(m.Data, &last))
			subject = m.Subject
			assert.Equal(t, last.ID, m.Header.Get(jetstream.MsgIDHeader))
		case <-timeout:
			t.Fatalf("no %s alert; last %+v", view.Tier, last)
		}
	}
	assert.Equal(t, "risk.alerts."+last.Severity+".alice.acme-corp", subject)
	assert.Equal(t, "acme-corp", last.Customer)
	assert.Equal(t, "Acme", last.Name)
	assert.Equal(t, 120000.0, last.ARR)
	assert.InDelta(t, 120000*last.Score/100, last.RevenueAtRisk, 0.01)
	require.NotNil(t, last.DaysToRenewal)
	rulesFired := map[string]alerting.Reason{}
	for _, r := range last.Reasons {
		rulesFired[r.Rule] = r
	}
	require.Contains(t, rulesFired, "ticket-spike")
	assert.NotEmpty(t, rulesFired["ticket-spike"].Signals)
	assert.NotEmpty(t, last.Playbook)
	// The alert may have reached the final tier before the last ticket of
	// the spike came (the hour of the day decides which day the spike's
	// window closes); the explanation of now cites it.
	for _, r := range view.Reasons {
		if r.Rule == "ticket-spike" {
			assert.Contains(t, r.Signals, "acme-corp-t4")
		}
	}
	assert.True(t, slices.ContainsFunc(view.Reasons, func(r scorer.Contribution) bool { return r.Rule == "ticket-spike" }),
		"the spike explains the score: %+v", view.Reasons)
}

func TestEveryKindIsScored(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	at := time.Now().UTC().Add(-time.Hour)
	data := map[signals.Kind]string{
		signals.KindUsage:      `{"events":3,"user":"u1","active_users":2}`,
		signals.KindTicket:     `{"ticket_id":"1","status":"opened","priority":"high","first_response_minutes":12}`,
		signals.KindNPS:        `{"score":9,"comment":"great"}`,
		signals.KindCommercial: `{"type":"quote_request"}`,
		signals.KindMention:    `{"channel":"twitter","text":"love it","reach":10}`,
		signals.KindBilling:    `{"type":"payment_succeeded"}`,
		signals.KindContact:    `{"type":"qbr","by":"alice"}`,
		signals.KindChampion:   `{"type":"added","contact":"c@x"}`,
		signals.KindRating:     `{"value":"green","by":"alice"}`,
		signals.KindOutcome:    `{"type":"renewed","renewal_date":"2027-12-01"}`,
	}
	for i, k := range signals.Kinds {
		f.signal(k, fmt.Sprintf("k%d", i), "every-kind", at.Add(time.Duration(i)*time.Minute), data[k])
	}
	f.wait()
	view, ok := f.eng.Customer("every-kind")
	require.True(t, ok)
	// The design promises these fields on a customer, even a healthy one.
	var shape map[string]any
	body, err := json.Marshal(view)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &shape))
	for _, k := range []string{"customer", "score", "tier", "reasons", "history"} {
		assert.Contains(t, shape, k)
	}
	listed := f.eng.List(api.Filter{})
	require.Len(t, listed, 1)
	body, err = json.Marshal(listed[0])
	require.NoError(t, err)
	assert.NotContains(t, string(body), `"reasons"`, "a list entry is not explained")
	got := scrape(t, f.eng)
	for _, k := range signals.Kinds {
		assert.Equal(t, 1.0, got[`riskwatch_signals_total{kind="`+string(k)+`",result="scored"}`], k)
	}
}

func TestBadInputGoesToDLQAndGoodSignalsAroundItAreScored(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	now := time.Now().UTC()
	ok := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"kind":"nps","customer":"good","time":%q,"data":{"score":9}}`, id, now.Add(-time.Hour).Format(time.RFC3339))
	}
	cases := []struct {
		name, subject, body, reason string
	}{
		{"malformed", "risk.signals.nps.good", `{"id":"x",`, "malformed_json"},
		{"oversize", "risk.signals.nps.good", `{"id":"big","pad":"` + strings.Repeat("x", 70<<10) + `"}`, "oversize"},
		{"missing field", "risk.signals.nps.good", `{"kind":"nps","customer":"good","time":"2026-01-01T00:00:00Z","data":{"score":1}}`, "missing_field"},
		{"wrong type", "risk.signals.nps.good", `{"id":"w","kind":"nps","customer":"good","time":"2026-01-01T00:00:00Z","data":{"score":"high"}}`, "wrong_type"},
		{"unknown kind", "risk.signals.weather.good", `{"id":"u","kind":"weather","customer":"good","time":"2026-01-01T00:00:00Z","data":{}}`, "unknown_kind"},
		{"kind mismatch", "risk.signals.usage.good", `{"id":"m","kind":"nps","customer":"good","time":"2026-01-01T00:00:00Z","data":{"score":1}}`, "kind_mismatch"},
		{"invalid utf8", "risk.signals.nps.good", "{\"id\":\"\xff\",\"kind\":\"nps\"}", "invalid_utf8"},
		{"far future", "risk.signals.nps.good", `{"id":"f","kind":"nps","customer":"good","time":"2999-01-01T00:00:00Z","data":{"score":1}}`, "far_future"},
		{"bad profile", "risk.customers.neg", `{"id":"neg","arr":-5}`, "out_of_range"},
	}
	f.signal(signals.KindNPS, "before", "good", now.Add(-2*time.Hour), `{"score":9}`)
	for i, c := range cases {
		f.publish(c.subject, []byte(c.body), fmt.Sprintf("bad-%d", i))
	}
	f.publish("risk.signals.nps.good", []byte(ok("after")), "after")
	f.wait()

	cons, err := f.js.OrderedConsumer(context.Background(), api.DLQStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	got := map[string]jetstream.Msg{}
	for len(got) < len(cases) {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err, "DLQ has %d of %d", len(got), len(cases))
		got[m.Headers().Get(api.SubjectHeader)+" "+string(m.Data())] = m
	}
	for i, c := range cases {
		m, found := got[c.subject+" "+c.body]
		if !assert.True(t, found, c.name) {
			continue
		}
		assert.True(t, strings.HasPrefix(m.Headers().Get(api.ErrorHeader), c.reason), "%s: %s", c.name, m.Headers().Get(api.ErrorHeader))
		assert.True(t, strings.HasPrefix(m.Subject(), api.DLQPrefix), c.name)
		_ = i
	}
	stats := scrape(t, f.eng)
	assert.Equal(t, 2.0, stats[`riskwatch_signals_total{kind="nps",result="scored"}`])
	_, known := f.eng.Customer("good")
	assert.True(t, known)
}

func TestDuplicateIDCountedOnce(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	at := time.Now().UTC().Add(-time.Hour)
	body := fmt.Sprintf(`{"id":"dup-1","kind":"ticket","customer":"d","time":%q,"data":{"ticket_id":"1","status":"opened"}}`, at.Format(time.RFC3339))
	// Once with the JetStream dedup header, once without: the second one
	// reaches the engine, which must not count it again.
	f.publish("risk.signals.ticket.d", []byte(body), "dup-1")
	f.publish("risk.signals.ticket.d", []byte(body), "dup-1")
	f.publish("risk.signals.ticket.d", []byte(body), "")
	f.wait()
	stats := scrape(t, f.eng)
	assert.Equal(t, 1.0, stats[`riskwatch_signals_total{kind="ticket",result="scored"}`])
	assert.Equal(t, 1.0, stats[`riskwatch_signals_total{kind="ticket",result="duplicate"}`])
}

func TestRestartKeepsScores(t *testing.T) {
	dir := t.TempDir()
	s, nc := natstest.Server(t, dir)
	f := startEngine(t, nc)
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	churnScenario(f, "keep", end)
	f.wait()
	before, ok := f.eng.Customer("keep")
	require.True(t, ok)
	require.Greater(t, before.Score, 0.0)
	f.stop()

	// A new engine on the same streams restores the checkpoint and skips
	// what it covers.
	f2 := startEngine(t, nc)
	after, ok := f2.eng.Customer("keep")
	require.True(t, ok)
	assert.Equal(t, before.Score, after.Score)
	assert.Equal(t, before.Tier, after.Tier)
	f2.signal(signals.KindUsage, "keep-more", "keep", end.Add(time.Minute), `{"events":40}`)
	f2.wait()
	stats := scrape(t, f2.eng)
	assert.Equal(t, 1.0, stats[`riskwatch_signals_total{kind="usage",result="scored"}`], "only the new signal is scored after restart")
	_ = s
}

func TestProfileWithoutSignalsIsAHealthyCustomer(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.eng.PutProfile(ctx, signals.Profile{ID: "new.co", Name: "New Co", ARR: 1000, Owner: "erin"}))
	v, ok := f.eng.Customer("new.co")
	require.True(t, ok)
	assert.Equal(t, rules.Healthy, v.Tier)
	require.NotNil(t, v.Profile)
	assert.Equal(t, "New Co", v.Profile.Name)
	assert.NotNil(t, v.Reasons)
	_, ok = f.eng.Customer("nobody")
	assert.False(t, ok)
}

// A CSM subscribed to their own owner token gets their customers' alerts
// and nobody else's; each owner gets a daily digest of their accounts.
func TestOwnersGetExactlyTheirAlertsAndADigest(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	aliceSub, err := nc.SubscribeSync("risk.alerts.*.alice.>")
	require.NoError(t, err)
	digestSub, err := nc.SubscribeSync("risk.digest.alice")
	require.NoError(t, err)

	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	f.publish("risk.customers.a1", []byte(`{"id":"a1","arr":1000,"owner":"alice"}`), "")
	f.publish("risk.customers.b1", []byte(`{"id":"b1","arr":2000,"owner":"bob"}`), "")
	churnScenario(f, "a1", end.Add(-48*time.Hour))
	churnScenario(f, "b1", end.Add(-48*time.Hour))
	// One more day of event time: the sweep at the day boundary sends the
	// digests.
	f.signal(signals.KindUsage, "a1-next", "a1", end, `{"events":40}`)
	f.wait()

	n := 0
	for {
		m, err := aliceSub.NextMsg(time.Second)
		if err != nil {
			break
		}
		var a alerting.Alert
		require.NoError(t, json.Unmarshal(m.Data, &a))
		assert.Equal(t, "a1", a.Customer, "alice must only get her customers' alerts")
		n++
	}
	assert.Positive(t, n, "alice got no alert")

	m, err := digestSub.NextMsg(5 * time.Second)
	require.NoError(t, err, "no digest for alice")
	var d alerting.Digest
	require.NoError(t, json.Unmarshal(m.Data, &d))
	assert.Equal(t, "alice", d.Owner)
	require.NotEmpty(t, d.Entries)
	for _, e := range d.Entries {
		assert.Equal(t, "a1", e.Customer)
	}
}
