package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

// TestLostDeliveriesAreFetchedAgain makes the durable consumer hand
// messages to another client while the engine is busy, as happens to
// deliveries in flight when a connection drops. The server would
// redeliver them only after AckWait, behind newer messages; the engine
// must notice the hole in the consumer sequence and apply every message,
// in stream order.
func TestLostDeliveriesAreFetchedAgain(t *testing.T) {
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	blocked, release := make(chan struct{}), make(chan struct{})
	inspect := func(_ string, data []byte) {
		if strings.Contains(string(data), `"block"`) {
			close(blocked)
			<-release
		}
	}
	eng, _ := startWith(t, nc, engine.Config{Inspect: inspect})
	ctx := context.Background()
	at := time.Now().UTC().Add(-time.Hour)
	_, err = js.Publish(ctx, "risk.signals.ticket.blocker", signalBody("block", "blocker", at))
	require.NoError(t, err)
	<-blocked

	// While the engine is stuck on "block", take deliveries from its
	// consumer. Messages that still reach the engine's own pull request
	// are fine; the test goes on until it has taken some.
	thief := natstest.Connect(t, nc.ConnectedUrl())
	tjs, err := jetstream.New(thief)
	require.NoError(t, err)
	cons, err := tjs.Consumer(ctx, api.SignalsStream, "riskd")
	require.NoError(t, err)
	var stolen []string
	published := 1 // the blocker
	for i := 0; len(stolen) < 3; i++ {
		require.Less(t, i, 200, "could not take deliveries from the consumer")
		id := fmt.Sprintf("stolen-%d", i)
		_, err := js.Publish(ctx, "risk.signals.ticket."+id, signalBody(id, id, at))
		require.NoError(t, err)
		published++
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(300*time.Millisecond))
		require.NoError(t, err)
		for m := range batch.Messages() {
			// Not acknowledged: under AckAll that would acknowledge for
			// the engine too.
			stolen = append(stolen, m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:])
		}
	}
	close(release)
	ack, err := js.Publish(ctx, "risk.signals.ticket.after", signalBody("after", "after", at))
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitApplied(wctx, ack.Sequence))
	for _, id := range append(stolen, "after", "blocker") {
		_, ok := eng.Customer(id)
		require.True(t, ok, "customer %s of a message taken from the consumer is unknown", id)
	}
	// Every ticket published, the last one included; not the stream's
	// sequence, which also counts the engine's clock ticks.
	total := float64(published + 1)
	require.Equal(t, total, scrape(t, eng)[`riskwatch_signals_total{kind="ticket",result="scored"}`], "every message scored once")
	waitAckFloor(t, js, ack.Sequence)
}
