package chaos

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/statelog"
)

var (
	refOnce sync.Once
	ref     *outcome
	refTook time.Duration
)

// reference is the uninterrupted run of the shared workload: riskd
// started once, the workload published, everything acknowledged, riskd
// stopped cleanly. Tests that break things compare with it.
func reference(t *testing.T) (*outcome, time.Duration) {
	t.Helper()
	refOnce.Do(func() {
		w := sharedWorkload()
		s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
		nc := natstest.Connect(t, s.ClientURL())
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		logPath := filepath.Join(t.TempDir(), "riskd-reference.log")
		logTail(t, logPath)
		start := time.Now()
		p := startRiskd(t, s.ClientURL(), logPath)
		waitReady(t, p.base, func() bool { return !p.exited() })
		last := publishAll(t, js, w.Messages)
		require.Equal(t, uint64(len(w.Messages)), last, "nothing but the workload is in RISK_SIGNALS")
		waitAcked(t, js, last, func() bool { return !p.exited() })
		took := time.Since(start)
		o := collect(t, js, p.base)
		requireOddCustomers(t, p.base, w)
		p.stop()
		requireExpected(t, w, o)
		requireNoRepeats(t, "alert", o.Alerts)
		ref, refTook = o, took
		t.Logf("reference run: %d messages, %d customers, %d alerts, %d digests, %d DLQ entries in %s",
			len(w.Messages), len(o.Records), len(o.Alerts), len(o.Digests), len(o.DLQ), took.Round(time.Millisecond))
	})
	require.NotNil(t, ref, "the reference run failed in an earlier test")
	return ref, refTook
}

// TestKill9EndsLikeAnUninterruptedRun kills riskd with SIGKILL at seeded
// random moments while it consumes the workload, restarts it each time,
// and requires the final scores, tiers, state records, alerts, digests and
// DLQ entries of the uninterrupted run, with no alert published twice.
func TestKill9EndsLikeAnUninterruptedRun(t *testing.T) {
	want, took := reference(t)
	w := sharedWorkload()
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	nc := natstest.Connect(t, s.ClientURL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	logPath := filepath.Join(t.TempDir(), "riskd-killed.log")
	logTail(t, logPath)

	rng := rand.New(rand.NewPCG(workloadConfig().Seed, 9))
	kills := 3 + rng.IntN(3)
	p := startRiskd(t, s.ClientURL(), logPath)
	waitReady(t, p.base, func() bool { return !p.exited() })
	type result struct {
		last uint64
		err  error
	}
	published := make(chan result, 1)
	go func() {
		last, err := Publish(js, w.Messages)
		published <- result{last, err}
	}()
	var created time.Time
	for i := range kills {
		if i == 1 {
			// Right after the start: while riskd restores its checkpoint.
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		} else {
			// Once this riskd has taken over the consumer, a random share of
			// the time the reference run took: while it catches up, applies
			// and checkpoints.
			created = waitNewConsumer(t, js, created, p)
			time.Sleep(time.Duration(rng.Int64N(int64(took/time.Duration(kills)) + 1)))
		}
		p.kill()
		ahead, cp := recordsAhead(t, js)
		t.Logf("kill %d/%d: checkpoint at %d, %d customer records ahead of it", i+1, kills, cp, ahead)
		p = startRiskd(t, s.ClientURL(), logPath)
	}
	pub := <-published
	require.NoError(t, pub.err)
	last := pub.last
	require.Equal(t, uint64(len(w.Messages)), last)
	waitReady(t, p.base, func() bool { return !p.exited() })
	waitAcked(t, js, last, func() bool { return !p.exited() })
	got := collect(t, js, p.base)
	requireOddCustomers(t, p.base, w)
	p.stop()

	requireNoRepeats(t, "alert", got.Alerts)
	requireNoRepeats(t, "digest", got.Digests)
	requireNoRepeats(t, "DLQ entry", got.DLQ)
	requireExpected(t, w, got)
	requireSameOutcome(t, want, got)
}

// waitNewConsumer waits until a riskd started after the consumer created at
// prev has recreated it, and returns its creation time.
func waitNewConsumer(t *testing.T, js jetstream.JetStream, prev time.Time, p *riskdProc) time.Time {
	t.Helper()
	deadline := time.Now().Add(doneTimeout())
	for {
		require.False(t, p.exited(), "riskd exited")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := consumerInfo(ctx, js)
		cancel()
		if err == nil && info.Created.After(prev) {
			return info.Created
		}
		require.True(t, time.Now().Before(deadline), "riskd did not take over its consumer within %s", doneTimeout())
		time.Sleep(5 * time.Millisecond)
	}
}

// recordsAhead counts the customer records of the last checkpoint that are
// ahead of the sequence it covers (encoded while the intake went on): the
// state a restart replays around.
func recordsAhead(t *testing.T, js jetstream.JetStream) (int, uint64) {
	t.Helper()
	cp, err := statelog.ReadCheckpoint(context.Background(), js)
	require.NoError(t, err)
	ahead := 0
	for _, rec := range cp.Records {
		if rec.State.Seq > cp.Seq {
			ahead++
		}
	}
	return ahead, cp.Seq
}
