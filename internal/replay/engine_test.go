package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/chaos"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/replay"
	"github.com/riskwatch/riskwatch/signals"
)

// The replay runs the pipeline's pure step in process; riskd runs the same
// step behind NATS. Fed the same file, the two must agree exactly: every
// customer's score and tier, and every alert with its id, in order.
func TestReplayIsWhatRiskdDoes(t *testing.T) {
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	w := chaos.Generate(chaos.Config{Seed: 7, Customers: 150, Signals: 4000, Days: 30, Start: now.AddDate(0, 0, -31)})
	var file bytes.Buffer
	var msgs []chaos.Message // what a producer publishing the file would send
	for _, m := range w.Messages {
		line := m.Data
		if m.Subject[:len(signals.CustomerPrefix)] == signals.CustomerPrefix {
			line = []byte(fmt.Sprintf(`{"profile":%s}`, m.Data))
		}
		file.Write(line)
		file.WriteByte('\n')
		l := signals.ParseLine(0, line, now)
		switch {
		case l.Profile != nil:
			msgs = append(msgs, chaos.Message{Subject: m.Subject, Data: m.Data})
		case l.Signal != nil:
			msgs = append(msgs, chaos.Message{Subject: m.Subject, Data: m.Data, MsgID: l.Signal.ID})
		}
	}
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	// The clock stands after the producers went quiet: riskd publishes no
	// ticks, so its stream holds what the file holds.
	fixed := func() time.Time { return now.AddDate(0, 0, 30) }
	res, err := replay.Run(context.Background(), bytes.NewReader(file.Bytes()), replay.Options{Rules: set, Now: fixed})
	require.NoError(t, err)
	require.NotEmpty(t, res.Alerts, "the workload must raise alerts to compare")

	_, nc := natstest.Server(t, "")
	eng, err := engine.New(nc, engine.Config{Rules: set, Policy: alerting.DefaultPolicy(), Now: fixed})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	require.Eventually(t, func() bool { return eng.Ready() == nil }, 10*time.Second, 5*time.Millisecond)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = chaos.Publish(js, msgs)
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	// The last publish may be a duplicate, acknowledged with its original's
	// sequence: wait for the stream's end.
	info, err := js.Stream(wctx, api.SignalsStream)
	require.NoError(t, err)
	require.NoError(t, eng.WaitApplied(wctx, info.CachedInfo().State.LastSeq))
	live := eng.List(api.Filter{Limit: api.MaxLimit})
	cancel()
	require.NoError(t, <-done)

	require.Len(t, live, len(res.Customers))
	replayed := map[string]api.CustomerView{}
	for _, v := range res.Customers {
		replayed[v.Customer] = v
	}
	for _, v := range live {
		assert.Equal(t, v.Score, replayed[v.Customer].Score, v.Customer)
		assert.Equal(t, v.Tier, replayed[v.Customer].Tier, v.Customer)
	}
	var alerts []alerting.Alert
	s, err := js.Stream(wctx, api.AlertsStream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(wctx, s, []string{alerting.SubjectPrefix + ">"}, 0,
		func(m jetstream.Msg) error {
			var a alerting.Alert
			require.NoError(t, json.Unmarshal(m.Data(), &a))
			alerts = append(alerts, a)
			return nil
		}))
	// A sweep evaluates customers in no set order: alerts are compared
	// per customer, in order.
	perCustomer := func(as []alerting.Alert) map[string][]string {
		out := map[string][]string{}
		for _, a := range as {
			out[a.Customer] = append(out[a.Customer], a.ID)
		}
		return out
	}
	assert.Equal(t, perCustomer(alerts), perCustomer(res.Alerts))
}
