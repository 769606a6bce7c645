package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

// TestCheckpointWriteFailureStopsAcking makes every write to the state
// bucket fail (its stream refuses messages over 16 bytes, as a full disk or
// a JetStream limit would) while riskd consumes. riskd must report
// unhealthy, count the failures, stop taking messages and acknowledge
// nothing past the last good checkpoint. When the fault goes away, health
// recovers and riskd goes on; when it comes back and riskd is stopped
// while unhealthy, the next riskd resumes from the last good checkpoint.
// In the end everything is acknowledged and the outcome is that of the
// uninterrupted run.
func TestCheckpointWriteFailureStopsAcking(t *testing.T) {
	want, _ := reference(t)
	w := sharedWorkload()
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	nc := natstest.Connect(t, s.ClientURL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, base, stop := runDaemon(t, s.ClientURL(), nil)
	ctx := context.Background()

	first := len(w.Messages) / 10
	good := publishAll(t, js, w.Messages[:first])
	waitAcked(t, js, good, nil)
	stateStream, err := js.Stream(ctx, api.StateStream)
	require.NoError(t, err)
	healthy := stateStream.CachedInfo().Config
	broken := healthy
	broken.MaxMsgSize = 16
	setConfig := func(c jetstream.StreamConfig) {
		t.Helper()
		_, err := js.UpdateStream(ctx, c)
		require.NoError(t, err)
	}
	errorsSoFar := 0.0
	requireFailing := func() uint64 {
		t.Helper()
		require.Eventually(t, func() bool { return httpStatus(base+"/healthz") == http.StatusServiceUnavailable },
			doneTimeout(), 10*time.Millisecond, "/healthz reports the failing checkpoint")
		require.Eventually(t, func() bool {
			m, err := scrapeMetrics(base)
			return err == nil && sumMetric(m, "riskwatch_checkpoint_errors_total") >= errorsSoFar+3
		}, doneTimeout(), 10*time.Millisecond, "the checkpoint is retried")
		errorsSoFar = sumMetric(metrics(t, base), "riskwatch_checkpoint_errors_total")
		return checkpointSeq(t, js)
	}

	setConfig(broken)
	last := publishAll(t, js, w.Messages[first:])
	cp := requireFailing()
	requireHeldBack(t, js, cp, last)

	setConfig(healthy)
	require.Eventually(t, func() bool { return httpStatus(base+"/healthz") == http.StatusOK },
		doneTimeout(), 10*time.Millisecond, "health recovers with the fault gone")
	require.Eventually(t, func() bool {
		seq, err := readCheckpointSeq(js)
		return err == nil && seq > cp
	}, doneTimeout(), 10*time.Millisecond, "checkpoints go on")

	setConfig(broken)
	cp = requireFailing()
	requireHeldBack(t, js, cp, last)
	// Stopped while unhealthy: the final checkpoint fails too, and the next
	// riskd starts from the last good one.
	require.ErrorContains(t, stop(), "final checkpoint")
	require.Equal(t, cp, checkpointSeq(t, js), "no checkpoint was written during the fault")
	setConfig(healthy)

	_, base, stop = runDaemon(t, s.ClientURL(), nil)
	waitAcked(t, js, last, nil)
	require.Equal(t, http.StatusOK, httpStatus(base+"/healthz"))
	got := collect(t, js, base)
	require.NoError(t, stop())
	requireNoRepeats(t, "alert", got.Alerts)
	requireExpected(t, w, got)
	requireSameOutcome(t, want, got)
}

// checkpointSeq is the stream sequence the durable checkpoint covers.
func checkpointSeq(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	seq, err := readCheckpointSeq(js)
	require.NoError(t, err)
	return seq
}

func readCheckpointSeq(js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, api.StateStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", api.StateStream, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, api.StateCommitSubject)
	if err != nil {
		return 0, fmt.Errorf("checkpoint commit: %w", err)
	}
	var cp struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &cp); err != nil {
		return 0, fmt.Errorf("checkpoint commit: %w", err)
	}
	return cp.Seq, nil
}

// requireHeldBack checks that nothing past checkpoint cp is acknowledged
// and that riskd stopped taking messages well before last.
func requireHeldBack(t *testing.T, js jetstream.JetStream, cp, last uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := consumerInfo(ctx, js)
	require.NoError(t, err)
	require.LessOrEqual(t, info.AckFloor.Stream, cp, "acknowledged past the last durable checkpoint")
	require.Less(t, info.Delivered.Stream, last, "riskd kept consuming with failing checkpoints")
}
