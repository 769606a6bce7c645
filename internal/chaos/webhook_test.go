package chaos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/webhook"
)

// TestSlowWebhooksDoNotStallScoring points one webhook at an endpoint that
// never answers and another at one that always fails, then feeds riskd a
// workload that raises many alerts. Scoring must finish regardless; each
// sink has at most one request in flight and at most
// webhook.MaxAckPending alerts outstanding, the rest staying in the stream
// rather than in riskd's memory; and riskd still stops promptly.
func TestSlowWebhooksDoNotStallScoring(t *testing.T) {
	w := Generate(Config{Seed: 5, Customers: 1000, Signals: 15_000, Days: 20,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)})
	release := make(chan struct{})
	var inFlight, maxInFlight, failed atomic.Int64
	hangs := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// With the body read, the server notices when the client gives up.
		_, _ = io.Copy(io.Discard, r.Body)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hangs.Close)
	t.Cleanup(func() { close(release) })
	fails := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		failed.Add(1)
		http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(fails.Close)

	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	nc := natstest.Connect(t, s.ClientURL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, base, stop := runDaemon(t, s.ClientURL(), func(c *config.Config) {
		c.Webhooks = []config.Webhook{
			{Name: "hangs", URL: hangs.URL, Timeout: 500 * time.Millisecond, MaxAttempts: 2,
				Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			{Name: "fails", URL: fails.URL, MaxAttempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		}
	})
	last := publishAll(t, js, w.Messages)
	waitAcked(t, js, last, nil)

	m := metrics(t, base)
	require.Equal(t, float64(w.Expect.TotalScored()), sumMetric(m, "riskwatch_signals_total", `result="scored"`),
		"every signal is scored while the webhooks are stuck")
	alerts := sumMetric(m, "riskwatch_alerts_total")
	require.Greater(t, alerts, float64(2*webhook.MaxAckPending), "the workload raises more alerts than a sink may hold")
	require.Eventually(t, func() bool { return failed.Load() > 0 && maxInFlight.Load() > 0 }, time.Minute, 10*time.Millisecond)

	ctx := context.Background()
	for _, sink := range []string{"hangs", "fails"} {
		cons, err := js.Consumer(ctx, alerting.Stream, webhook.ConsumerName(sink))
		require.NoError(t, err)
		info, err := cons.Info(ctx)
		require.NoError(t, err)
		assert.LessOrEqual(t, info.NumAckPending, webhook.MaxAckPending, "%s: alerts held outside the stream", sink)
		assert.Positive(t, info.NumPending, "%s: the undelivered alerts wait in the stream", sink)
		assert.Less(t, info.AckFloor.Stream, info.Delivered.Stream+info.NumPending, "%s: nothing was delivered", sink)
	}
	// One request at a time from riskd; the server may see two overlap for
	// the moment it takes to notice that the client gave up on the first
	// (its context ends after the client's timeout, and the retry comes
	// 10 ms later). Deliveries in parallel would show up to MaxAckPending.
	assert.LessOrEqual(t, maxInFlight.Load(), int64(2), "one request at a time to the hanging webhook")
	require.NoError(t, stop(), "riskd stops although a webhook hangs")
	require.Eventually(t, func() bool { return inFlight.Load() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the hanging request is abandoned at shutdown")
}
