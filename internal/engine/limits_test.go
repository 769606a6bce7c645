package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/signals"
)

// TestLimitsBoundTheStreamsAndTheCustomers: every stream gets its cap, the
// metrics show their use, and a customer beyond max_customers goes to the
// DLQ with reason capacity.
func TestLimitsBoundTheStreamsAndTheCustomers(t *testing.T) {
	_, nc := natstest.Server(t, "")
	limits := engine.Limits{SignalsMaxBytes: 64 << 20, AlertsMaxAge: 48 * time.Hour, AlertsMaxBytes: 32 << 20,
		DLQMaxAge: 72 * time.Hour, DLQMaxBytes: 16 << 20, StateMaxBytes: 128 << 20, MaxCustomers: 1}
	eng, err := engine.New(nc, engine.Config{Rules: defaultRules(t), Policy: alerting.DefaultPolicy(),
		CheckpointInterval: 50 * time.Millisecond, SignalsMaxAge: 240 * time.Hour, Limits: limits})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	f := &fixture{t: t, nc: nc, js: js, eng: eng, cancel: cancel, done: done}
	t.Cleanup(f.stop)
	require.Eventually(t, func() bool { return eng.Ready() == nil }, 10*time.Second, 10*time.Millisecond)

	want := map[string]struct {
		age     time.Duration
		bytes   int64
		discard jetstream.DiscardPolicy
	}{
		api.SignalsStream:          {240 * time.Hour, 64 << 20, jetstream.DiscardOld},
		api.AlertsStream:           {48 * time.Hour, 32 << 20, jetstream.DiscardOld},
		api.DLQStream:              {72 * time.Hour, 16 << 20, jetstream.DiscardOld},
		api.StateStream:            {0, 128 << 20, jetstream.DiscardNew},
		"KV_" + api.ProfilesBucket: {0, -1, jetstream.DiscardNew},
	}
	for name, w := range want {
		s, err := js.Stream(context.Background(), name)
		require.NoError(t, err, name)
		cfg := s.CachedInfo().Config
		assert.Equal(t, w.age, cfg.MaxAge, name)
		assert.Equal(t, w.bytes, cfg.MaxBytes, name)
		assert.Equal(t, w.discard, cfg.Discard, name)
	}

	now := time.Now().UTC()
	f.signal(signals.KindNPS, "n1", "first", now.Add(-time.Hour), `{"score":9}`)
	f.signal(signals.KindNPS, "n2", "second", now.Add(-time.Hour), `{"score":9}`)
	f.signal(signals.KindNPS, "n3", "first", now.Add(-time.Minute), `{"score":8}`)
	f.wait()
	_, ok := eng.Customer("second")
	assert.False(t, ok, "beyond the cap")
	stats := scrape(t, eng)
	assert.Equal(t, 1.0, stats[`riskwatch_dlq_total{reason="capacity"}`])
	assert.Equal(t, 2.0, stats[`riskwatch_signals_total{kind="nps",result="scored"}`])
	assert.Equal(t, 1.0, stats[`riskwatch_customers_max`])
	assert.Equal(t, float64(64<<20), stats[`riskwatch_stream_max_bytes{stream="RISK_SIGNALS"}`])
	// The engine's clock ticks go to RISK_SIGNALS too.
	assert.GreaterOrEqual(t, stats[`riskwatch_stream_messages{stream="RISK_SIGNALS"}`], 3.0)
	assert.Positive(t, stats[`riskwatch_stream_bytes{stream="RISK_SIGNALS"}`])
	assert.Contains(t, stats, `riskwatch_stream_bytes{stream="RISK_STATE"}`)
}
