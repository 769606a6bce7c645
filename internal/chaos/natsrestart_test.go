package chaos

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/internal/natstest"
)

// TestNATSRestartLosesNothing stops the nats-server under a running riskd
// while it consumes, starts it again on the same port and store, and
// publishes the rest of the workload. riskd must report the outage on
// /readyz, stay up, reconnect, and end exactly like the uninterrupted run,
// with every signal scored once.
func TestNATSRestartLosesNothing(t *testing.T) {
	want, _ := reference(t)
	w := sharedWorkload()
	store := t.TempDir()
	s := natstest.Start(t, store, server.RANDOM_PORT)
	port := s.Addr().(*net.TCPAddr).Port
	url := s.ClientURL()
	_, base, stop := runDaemon(t, url, nil)
	nc := natstest.Connect(t, url)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	half := len(w.Messages) / 2
	publishAll(t, js, w.Messages[:half])
	// Restart mid-stream: once riskd is on its way through the first half.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := consumerInfo(ctx, js)
		return err == nil && info.AckFloor.Stream >= uint64(half/5)
	}, doneTimeout(), 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if info, err := consumerInfo(ctx, js); err == nil {
		t.Logf("stopping NATS with %d of %d messages delivered, %d acknowledged", info.Delivered.Stream, half, info.AckFloor.Stream)
	}
	cancel()
	s.Shutdown()
	s.WaitForShutdown()
	require.Eventually(t, func() bool { return httpStatus(base+"/readyz") == http.StatusServiceUnavailable },
		doneTimeout(), 10*time.Millisecond, "/readyz reports the outage")

	natstest.Start(t, store, port)
	require.Eventually(t, nc.IsConnected, doneTimeout(), 10*time.Millisecond)
	waitReady(t, base, nil)
	last := publishAll(t, js, w.Messages[half:])
	require.Equal(t, uint64(len(w.Messages)), last, "no publish lost or repeated around the restart")
	waitAcked(t, js, last, nil)

	m := metrics(t, base)
	require.Equal(t, float64(w.Expect.TotalScored()), sumMetric(m, "riskwatch_signals_total", `result="scored"`), "signals scored")
	require.Equal(t, float64(w.Expect.Duplicates), sumMetric(m, "riskwatch_signals_total", `result="duplicate"`), "duplicates")
	require.Equal(t, float64(w.Expect.Late), sumMetric(m, "riskwatch_signals_total", `result="late"`), "late signals")
	got := collect(t, js, base)
	require.NoError(t, stop())
	requireNoRepeats(t, "alert", got.Alerts)
	requireExpected(t, w, got)
	requireSameOutcome(t, want, got)
}
