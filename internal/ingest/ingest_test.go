package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

func stream(t *testing.T, n int) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	for i := range n {
		subject := "t.a"
		if i%2 == 1 {
			subject = "t.b"
		}
		_, err := js.Publish(ctx, subject, []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	return js, s
}

func TestReadAllReadsToTheEndInOrder(t *testing.T) {
	_, s := stream(t, 2500)
	ctx := context.Background()
	var got []string
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(m jetstream.Msg) error {
		got = append(got, string(m.Data()))
		return nil
	}))
	require.Len(t, got, 2500)
	for i, d := range got {
		require.Equal(t, fmt.Sprint(i), d)
	}

	n := 0
	require.NoError(t, ingest.ReadAll(ctx, s, []string{"t.b"}, 2001, func(m jetstream.Msg) error {
		n++
		return nil
	}))
	assert.Equal(t, 250, n, "from a sequence, one subject")

	n = 0
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(jetstream.Msg) error {
		if n++; n == 10 {
			return ingest.ErrStop
		}
		return nil
	}))
	assert.Equal(t, 10, n, "ErrStop ends the read without an error")

	boom := errors.New("boom")
	assert.ErrorIs(t, ingest.ReadAll(ctx, s, nil, 0, func(jetstream.Msg) error { return boom }), boom)
}

func TestReadAllOfAnEmptyStream(t *testing.T) {
	_, s := stream(t, 0)
	called := false
	require.NoError(t, ingest.ReadAll(context.Background(), s, nil, 0,
		func(jetstream.Msg) error { called = true; return nil }))
	assert.False(t, called)
}

// A puller rides out a consumer deleted under it: it opens it again and
// reads on; and it stops once the fetch in hand ends.
func TestPullerReopensAndStopsPromptly(t *testing.T) {
	js, _ := stream(t, 10)
	var opened atomic.Int32
	p := ingest.Puller{Name: "test", Batch: 5, MaxWait: time.Second, Pause: 10 * time.Millisecond,
		Log: logging.NewLimited(zap.NewNop(), time.Minute),
		Open: func(ctx context.Context) (jetstream.Consumer, error) {
			opened.Add(1)
			return js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
		}}
	ctx, cancel := context.WithCancel(context.Background())
	var read atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, func(b jetstream.MessageBatch) error {
			for m := range b.Messages() {
				read.Add(1)
				_ = m.Ack()
			}
			return nil
		})
	}()
	require.Eventually(t, func() bool { return read.Load() == 10 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, js.DeleteConsumer(context.Background(), "T", "d"))
	_, err := js.Publish(context.Background(), "t.a", []byte("after"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return opened.Load() >= 2 && read.Load() >= 11 }, 10*time.Second, 5*time.Millisecond,
		"the consumer is opened again and the new message read")
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 5*time.Second, "a stop waits at most for the fetch in hand")
	case <-time.After(20 * time.Second):
		t.Fatal("the puller did not stop")
	}
}

func TestPullerStopsOnTheHandlersError(t *testing.T) {
	js, _ := stream(t, 3)
	boom := errors.New("boom")
	p := ingest.Puller{Name: "test", Batch: 2, MaxWait: time.Second, Log: logging.NewLimited(zap.NewNop(), time.Minute),
		Open: func(ctx context.Context) (jetstream.Consumer, error) {
			return js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "d"})
		}}
	err := p.Run(context.Background(), func(b jetstream.MessageBatch) error {
		for range b.Messages() {
		}
		return boom
	})
	assert.ErrorIs(t, err, boom)
}
