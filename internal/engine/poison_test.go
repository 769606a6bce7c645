package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
)

// startWith runs an engine with cfg (rules and policy default) until the
// test ends; stop stops it and returns Run's error.
func startWith(t *testing.T, nc *nats.Conn, cfg engine.Config) (*engine.Engine, func() error) {
	t.Helper()
	if cfg.Rules == nil {
		cfg.Rules = defaultRules(t)
	}
	if cfg.Policy.Cooldown == 0 {
		cfg.Policy = alerting.DefaultPolicy()
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = 50 * time.Millisecond
	}
	eng, err := engine.New(nc, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	require.Eventually(t, func() bool { return eng.Ready() == nil }, 10*time.Second, 5*time.Millisecond)
	return eng, stop
}

func signalBody(id, customer string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"id":%q,"kind":"ticket","customer":%q,"time":%q,"data":{"ticket_id":%q,"status":"opened"}}`,
		id, customer, at.UTC().Format(time.RFC3339), id)
}

// waitAckFloor waits until the durable consumer acknowledged seq: the
// checkpoint covering it is durable and nothing before it is held back.
func waitAckFloor(t *testing.T, js jetstream.JetStream, seq uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), api.SignalsStream, "riskd")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= seq
	}, 20*time.Second, 10*time.Millisecond)
}

// TestPoisonMessageGoesToDLQOnce makes the engine panic on one message in
// the middle of a customer's signals. The message goes to the DLQ with
// reason "processing", the original subject and bytes, after exactly one
// attempt; the signals after it are scored; the stream is acknowledged past
// it; and a restart does not try it again.
func TestPoisonMessageGoesToDLQOnce(t *testing.T) {
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var attempts atomic.Int32
	inspect := func(_ string, data []byte) {
		if strings.Contains(string(data), `"poison"`) {
			attempts.Add(1)
			panic("scorer exploded")
		}
	}
	eng, stop := startWith(t, nc, engine.Config{Inspect: inspect})
	at := time.Now().UTC().Add(-time.Hour)
	var poisonSeq, last uint64
	for i, id := range []string{"before", "poison", "after-1", "after-2"} {
		ack, err := js.Publish(context.Background(), "risk.signals.ticket.victim", signalBody(id, "victim", at.Add(time.Duration(i)*time.Minute)))
		require.NoError(t, err)
		if id == "poison" {
			poisonSeq = ack.Sequence
		}
		last = ack.Sequence
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitApplied(ctx, last))
	waitAckFloor(t, js, last)

	dlq, err := js.OrderedConsumer(ctx, api.DLQStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	m, err := dlq.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(m.Headers().Get(api.ErrorHeader), "processing:"), m.Headers().Get(api.ErrorHeader))
	assert.Contains(t, m.Headers().Get(api.ErrorHeader), "scorer exploded")
	assert.Equal(t, "risk.signals.ticket.victim", m.Headers().Get(api.SubjectHeader))
	assert.Equal(t, fmt.Sprintf("dlq-%d", poisonSeq), m.Headers().Get(jetstream.MsgIDHeader))
	assert.Equal(t, "risk.dlq.ticket", m.Subject())
	assert.Contains(t, string(m.Data()), `"poison"`)

	got := scrape(t, eng)
	assert.Equal(t, 3.0, got[`riskwatch_signals_total{kind="ticket",result="scored"}`], "the signals around the poison are scored")
	assert.Equal(t, 1.0, got[`riskwatch_dlq_total{reason="processing"}`])
	assert.Equal(t, int32(1), attempts.Load())

	require.NoError(t, stop())
	eng2, _ := startWith(t, nc, engine.Config{Inspect: inspect})
	view, ok := eng2.Customer("victim")
	require.True(t, ok)
	assert.Equal(t, int32(1), attempts.Load(), "the checkpoint covers the poison message: it is not tried again")
	assert.Positive(t, view.Score)
}

// TestRuleErrorIsCountedNotPoison: a rule that fails at run time (here an
// integer division by zero) counts as not firing and is counted per rule;
// the signal is scored, not sent to the DLQ.
func TestRuleErrorIsCountedNotPoison(t *testing.T) {
	set, err := rules.Parse("broken.yaml", []byte(`
rules:
  - name: divides-by-zero
    category: support
    kind: ticket
    when: 10 / (tickets.opened_7d - tickets.opened_7d) > 1
    weight: 10
    half_life: 7d
  - name: any-ticket
    category: support
    kind: ticket
    when: tickets.opened_7d >= 1
    weight: 5
    half_life: 7d
`))
	require.NoError(t, err)
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	eng, _ := startWith(t, nc, engine.Config{Rules: set})
	ack, err := js.Publish(context.Background(), "risk.signals.ticket.c1", signalBody("t1", "c1", time.Now().Add(-time.Hour)))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitApplied(ctx, ack.Sequence))

	got := scrape(t, eng)
	assert.Equal(t, 1.0, got[`riskwatch_signals_total{kind="ticket",result="scored"}`])
	assert.Positive(t, got[`riskwatch_rule_errors_total{rule="divides-by-zero"}`])
	assert.Zero(t, got[`riskwatch_dlq_total{reason="processing"}`])
	view, ok := eng.Customer("c1")
	require.True(t, ok)
	assert.Equal(t, 5.0, view.Score, "the failing rule does not fire, the other one does")
}
