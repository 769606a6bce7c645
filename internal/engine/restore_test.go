package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/statelog"
	"github.com/riskwatch/riskwatch/signals"
)

// Restore reads both buckets at once and decodes on every CPU: enough
// customers for several chunks per decoder must all come back, each with
// its own score and profile.
func TestRestoreBringsBackEveryCustomerAndProfile(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	const n = 3000
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		id := fmt.Sprintf("cust.%04d", i)
		f.publishAsync("risk.customers."+signals.SubjectToken(id),
			fmt.Sprintf(`{"id":%q,"name":"Customer %d","arr":%d,"owner":"alice"}`, id, i, 1000+i))
		f.publishAsync("risk.signals.usage."+signals.SubjectToken(id),
			fmt.Sprintf(`{"id":"u-%d","kind":"usage","customer":%q,"time":%q,"source":"test","data":{"events":%d}}`,
				i, id, end.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 1+i%7))
	}
	f.flushAsync(ctx)
	f.wait()
	before := map[string]api.CustomerView{}
	for i := range n {
		id := fmt.Sprintf("cust.%04d", i)
		v, ok := f.eng.Customer(id)
		require.True(t, ok, id)
		before[id] = v
	}
	f.stop()

	f2 := startEngine(t, nc)
	for id, want := range before {
		got, ok := f2.eng.Customer(id)
		require.True(t, ok, id)
		assert.Equal(t, want.Score, got.Score, id)
		require.NotNil(t, got.Profile, id)
		assert.Equal(t, want.Profile.ARR, got.Profile.ARR, id)
		assert.Equal(t, want.Profile.Name, got.Profile.Name, id)
	}
}

// A record that does not decode stops the start with the chunk named:
// riskd must not come up with a customer silently missing.
func TestRestoreRefusesACorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry []byte
		want  string
	}{
		{name: "customer record", entry: []byte("c\x0cnot a record"), want: "customer record"},
		{name: "profile", entry: []byte("p\x0dnot a profile"), want: "profile"},
		{name: "unknown entry", entry: []byte("x\x00"), want: "unknown kind"},
		{name: "entry past the end", entry: []byte("c\x7f"), want: "bad length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, nc := natstest.Server(t, "")
			f := startEngine(t, nc)
			churnScenario(f, "fine", time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
			f.wait()
			f.stop()

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// A chunk with the bad entry, then a commit that counts it.
			s, err := f.js.Stream(ctx, api.StateStream)
			require.NoError(t, err)
			last, err := s.GetLastMsgForSubject(ctx, api.StateCommitSubject)
			require.NoError(t, err)
			ack, err := f.js.Publish(ctx, api.StateRecordsSubject, tc.entry)
			require.NoError(t, err)
			_, err = f.js.Publish(ctx, api.StateCommitSubject, last.Data)
			require.NoError(t, err)

			eng, err := engine.New(nc, engine.Config{Rules: defaultRules(t), Policy: alerting.DefaultPolicy()})
			require.NoError(t, err)
			err = eng.Run(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), fmt.Sprintf("state chunk %d", ack.Sequence))
			assert.Contains(t, err.Error(), "restore")
		})
	}
}

// A checkpoint that crashed before its commit leaves chunks behind it;
// the next start drops them, so that no later commit can take them for
// its own.
func TestRestoreDropsAnUncommittedCheckpoint(t *testing.T) {
	_, nc := natstest.Server(t, "")
	f := startEngine(t, nc)
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	churnScenario(f, "kept", end)
	f.wait()
	f.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before, err := statelog.ReadCheckpoint(ctx, f.js)
	require.NoError(t, err)
	orphan, err := f.js.Publish(ctx, api.StateRecordsSubject, []byte("c\x0cnot a record"))
	require.NoError(t, err)

	f2 := startEngine(t, nc)
	s, err := f2.js.Stream(ctx, api.StateStream)
	require.NoError(t, err)
	_, err = s.GetMsg(ctx, orphan.Sequence)
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound, "the uncommitted chunk is gone")
	v, ok := f2.eng.Customer("kept")
	require.True(t, ok)
	assert.Positive(t, v.Score)
	f2.signal(signals.KindUsage, "kept-more", "kept", end.Add(time.Minute), `{"events":40}`)
	f2.wait()
	f2.stop()
	after, err := statelog.ReadCheckpoint(ctx, f.js)
	require.NoError(t, err)
	assert.Greater(t, after.Seq, before.Seq)
	assert.Greater(t, after.Commit, orphan.Sequence)
}

func (f *fixture) publishAsync(subject, body string) {
	f.t.Helper()
	_, err := f.js.PublishAsync(subject, []byte(body))
	if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		// More in flight than the client keeps (a slow run, the race
		// detector): let those be acknowledged, then go on.
		<-f.js.PublishAsyncComplete()
		_, err = f.js.PublishAsync(subject, []byte(body))
	}
	require.NoError(f.t, err)
}

func (f *fixture) flushAsync(ctx context.Context) {
	f.t.Helper()
	select {
	case <-f.js.PublishAsyncComplete():
	case <-ctx.Done():
		require.FailNow(f.t, "async publishes not acknowledged", ctx.Err())
	}
	info, err := f.js.Stream(ctx, api.SignalsStream)
	require.NoError(f.t, err)
	f.last = max(f.last, info.CachedInfo().State.LastSeq)
}
