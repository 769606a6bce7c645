package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/chaos"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// ended is what a run of a stream ends with: each customer's view, and
// the ids of the alerts raised for it, in order.
type ended struct {
	views  map[string]api.CustomerView
	alerts map[string][]string
}

// runStream publishes msgs to a fresh riskd, in chunks of chunk messages;
// with settle it waits for each chunk to be applied before it sends the
// next, as a slow producer would let riskd catch up.
func runStream(t *testing.T, msgs []chaos.Message, chunk int, settle bool) ended {
	t.Helper()
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < len(msgs); i += chunk {
		_, err := chaos.Publish(f.js, msgs[i:min(i+chunk, len(msgs))])
		require.NoError(t, err)
		if settle {
			f.waitStreamEnd(ctx)
		}
	}
	f.waitStreamEnd(ctx)
	out := ended{views: map[string]api.CustomerView{}, alerts: map[string][]string{}}
	for _, v := range f.eng.List(api.Filter{Limit: api.MaxLimit}) {
		v.Evaluated = time.Time{} // when, not what: a sweep may have come after the last signal
		out.views[v.Customer] = v
	}
	s, err := f.js.Stream(ctx, api.AlertsStream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(ctx, s, []string{alerting.SubjectPrefix + ">"}, 0, func(m jetstream.Msg) error {
		var a alerting.Alert
		require.NoError(t, json.Unmarshal(m.Data(), &a))
		out.alerts[a.Customer] = append(out.alerts[a.Customer], a.ID)
		return nil
	}))
	f.stop()
	return out
}

// waitStreamEnd waits until riskd applied everything RISK_SIGNALS holds
// (the last publish may be a duplicate, acknowledged with its original's
// sequence).
func (f *fixture) waitStreamEnd(ctx context.Context) {
	f.t.Helper()
	info, err := f.js.Stream(ctx, api.SignalsStream)
	require.NoError(f.t, err)
	require.NoError(f.t, f.eng.WaitApplied(ctx, info.CachedInfo().State.LastSeq))
}

// threeSystems is the backfill of the issue: one customer's 35 days of
// usage (down 70% in the last week) from the warehouse, six tickets of the
// last six days from the help desk, a passive NPS answer from the survey
// tool, a discount request a month before renewal from the CRM and a
// widely read negative mention; beside it, customers with steady usage and
// a ticket now and then. The history ends at end, in event-time order.
func threeSystems(end time.Time) []chaos.Message {
	var msgs []chaos.Message
	add := func(kind signals.Kind, id, customer string, at time.Time, data string) {
		body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"source":"backfill","data":%s}`,
			id, kind, customer, at.UTC().Format(time.RFC3339), data)
		msgs = append(msgs, chaos.Message{Subject: signals.Subject(kind, customer), Data: []byte(body), MsgID: id})
	}
	start := end.AddDate(0, 0, -35)
	for d := range 35 {
		events := 100
		if d >= 28 {
			events = 30
		}
		add(signals.KindUsage, fmt.Sprintf("acme-u%d", d), "acme", start.AddDate(0, 0, d).Add(9*time.Hour),
			fmt.Sprintf(`{"events":%d}`, events))
		for c := range 20 {
			id := fmt.Sprintf("steady-%02d", c)
			add(signals.KindUsage, fmt.Sprintf("%s-u%d", id, d), id, start.AddDate(0, 0, d).Add(time.Duration(8+c%10)*time.Hour),
				fmt.Sprintf(`{"events":%d}`, 80+c))
			if (d+c)%9 == 0 {
				add(signals.KindTicket, fmt.Sprintf("%s-t%d", id, d), id, start.AddDate(0, 0, d).Add(15*time.Hour),
					fmt.Sprintf(`{"ticket_id":"%s-%d","status":"opened"}`, id, d))
			}
		}
	}
	for i := range 6 {
		add(signals.KindTicket, fmt.Sprintf("acme-t%d", i), "acme", end.AddDate(0, 0, -6+i).Add(11*time.Hour),
			fmt.Sprintf(`{"ticket_id":"A%d","status":"opened"}`, i))
	}
	add(signals.KindNPS, "acme-nps", "acme", end.AddDate(0, 0, -4).Add(10*time.Hour), `{"score":7}`)
	add(signals.KindCommercial, "acme-disc", "acme", end.AddDate(0, 0, -3).Add(14*time.Hour), `{"type":"discount_request"}`)
	add(signals.KindMention, "acme-m1", "acme", end.AddDate(0, 0, -2).Add(16*time.Hour),
		`{"channel":"twitter","sentiment":-0.8,"text":"Acme's tool keeps failing us","reach":25000}`)
	slices.SortStableFunc(msgs, func(a, b chaos.Message) int { return eventTime(a).Compare(eventTime(b)) })
	profiles := []chaos.Message{{Subject: signals.CustomerPrefix + "acme", Data: []byte(fmt.Sprintf(
		`{"id":"acme","name":"Acme","arr":120000,"segment":"enterprise","owner":"alice","renewal_date":%q}`,
		end.AddDate(0, 1, 0).Format(time.DateOnly)))}}
	return append(profiles, msgs...)
}

func eventTime(m chaos.Message) time.Time {
	var env struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(m.Data, &env); err != nil {
		panic(err)
	}
	return env.Time
}

// byProducer reorders a stream as a team backfills: every signal of one
// kind (one system's export, in its own time order), then the next kind's.
// Profiles stay first.
func byProducer(msgs []chaos.Message, order ...signals.Kind) []chaos.Message {
	rank := func(m chaos.Message) int {
		for i, k := range order {
			if strings.HasPrefix(m.Subject, signals.SignalPrefix+string(k)+".") {
				return i + 1
			}
		}
		return 0
	}
	out := slices.Clone(msgs)
	slices.SortStableFunc(out, func(a, b chaos.Message) int { return rank(a) - rank(b) })
	return out
}

func TestABackfillFromThreeSystemsEndsAsInEventOrder(t *testing.T) {
	// History that ended a while ago: no producer is live, so riskd adds no
	// ticks and each stream is only the messages below.
	msgs := threeSystems(time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC))
	inOrder := runStream(t, msgs, len(msgs), false)
	acme := inOrder.views["acme"]
	assert.Equal(t, rules.Critical, acme.Tier, "the customer of the issue is critical: score %.1f", acme.Score)

	backfill := byProducer(msgs, signals.KindUsage, signals.KindTicket, signals.KindNPS, signals.KindCommercial, signals.KindMention)
	require.NotEqual(t, msgs, backfill)
	for name, chunk := range map[string]int{"in one burst": len(backfill), "a chunk at a time": 97} {
		t.Run(name, func(t *testing.T) {
			got := runStream(t, backfill, chunk, chunk < len(backfill))
			// Which alerts were sent on the way, and their ids, follow the
			// order the signals came in; where each customer ends does not.
			assert.Equal(t, standings(inOrder), standings(got))
		})
	}
}

// standing is where a customer ends: score, tier and the tier of its
// open alert (healthy: none). The score the last alert carried is not:
// an escalation at 80 that was already critical sends nothing more at 92.
type standing struct {
	Score float64
	Tier  rules.Tier
	Open  rules.Tier
}

func standings(e ended) map[string]standing {
	out := map[string]standing{}
	for id, v := range e.views {
		out[id] = standing{v.Score, v.Tier, v.Alerting.Tier}
	}
	return out
}

func TestOneStreamAtTwoSpeedsEndsTheSame(t *testing.T) {
	w := chaos.Generate(chaos.Config{Seed: 11, Customers: 120, Signals: 3000, Days: 20,
		Start: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)})
	fast := runStream(t, w.Messages, len(w.Messages), false)
	slow := runStream(t, w.Messages, 53, true)
	require.NotEmpty(t, fast.alerts)
	assert.Equal(t, fast.views, slow.views)
	assert.Equal(t, fast.alerts, slow.alerts, "the same alert ids, in the same order per customer")
}
