package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
)

// TestOutputTooLargeToPublishDoesNotWedge feeds an engine, on a server
// whose max payload is 32 KiB, a rejected signal that fills it (its DLQ
// entry, with the reason added, would not fit) and an owner with enough
// customers at risk that the day's digest does not fit either. Such a
// message fails on every attempt; retrying it would fail every checkpoint
// from then on and stop riskd for good. The DLQ entry must go out
// truncated, saying so; the digest must be dropped and counted; and the
// engine must stay healthy and acknowledge everything.
func TestOutputTooLargeToPublishDoesNotWedge(t *testing.T) {
	const maxPayload = 32 << 10
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), MaxPayload: maxPayload, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc := natstest.Connect(t, s.ClientURL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	set, err := rules.Parse("any-answer.yaml", []byte(`
rules:
  - name: any-answer
    category: survey
    kind: nps
    when: nps.last >= 0
    weight: 50
    half_life: 30d
`))
	require.NoError(t, err)
	eng, _ := startWith(t, nc, engine.Config{Rules: set})
	ctx := context.Background()

	big := `{"id":"big","kind":"nps","customer":"c","time":"2025-03-03T10:00:00Z","data":{"score":"` +
		strings.Repeat("x", maxPayload-200) + `"}}`
	ack, err := js.Publish(ctx, "risk.signals.nps.c", []byte(big))
	require.NoError(t, err)
	bigSeq := ack.Sequence
	day := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	for i := range 300 {
		id := fmt.Sprintf("customer-%03d", i)
		_, err := js.Publish(ctx, "risk.customers."+id, fmt.Appendf(nil, `{"id":%q,"name":"A customer with a long enough name %d","owner":"busy","arr":1000}`, id, i))
		require.NoError(t, err)
		_, err = js.Publish(ctx, "risk.signals.nps."+id, fmt.Appendf(nil, `{"id":"n-%d","kind":"nps","customer":%q,"time":%q,"data":{"score":3}}`,
			i, id, day.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
		require.NoError(t, err)
	}
	// The next day: the sweep, and the digest of the day before.
	ack, err = js.Publish(ctx, "risk.signals.nps.late-riser", fmt.Appendf(nil, `{"id":"next","kind":"nps","customer":"late-riser","time":%q,"data":{"score":9}}`,
		day.Add(24*time.Hour).Format(time.RFC3339)))
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitApplied(wctx, ack.Sequence))
	waitAckFloor(t, js, ack.Sequence)
	require.NoError(t, eng.Healthy())

	dlq, err := js.OrderedConsumer(ctx, api.DLQStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	m, err := dlq.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("dlq-%d", bigSeq), m.Headers().Get(jetstream.MsgIDHeader))
	assert.True(t, strings.HasPrefix(m.Headers().Get(api.ErrorHeader), "wrong_type"), m.Headers().Get(api.ErrorHeader))
	assert.Equal(t, strconv.Itoa(len(big)), m.Headers().Get(api.TruncatedHeader))
	assert.Less(t, len(m.Data()), len(big))
	assert.True(t, strings.HasPrefix(big, string(m.Data())), "the DLQ keeps the start of the original")

	got := scrape(t, eng)
	assert.Equal(t, 1.0, got[`riskwatch_publish_dropped_total{kind="digest"}`])
	assert.Equal(t, 301.0, got[`riskwatch_signals_total{kind="nps",result="scored"}`])
}
