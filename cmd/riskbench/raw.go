package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishAll publishes every message of c asynchronously with its
// Nats-Msg-Id, as a well-behaved producer does, and waits for every ack.
// This is the raw JetStream publish rate: nats.go alone, no Riskwatch code.
func publishAll(ctx context.Context, nc *nats.Conn, c *corpus) (time.Duration, error) {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		if failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}), jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	start := time.Now()
	for i := range c.Len() {
		msg := &nats.Msg{Subject: c.Subject(i), Data: c.Data(i), Header: nats.Header{jetstream.MsgIDHeader: []string{c.ID(i)}}}
		for {
			_, err := js.PublishMsgAsync(msg)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return 0, fmt.Errorf("publish message %d: %w", i, err)
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(5 * time.Minute):
		return 0, errors.New("publish acks did not all arrive within 5 minutes")
	}
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d publishes failed, the first with: %v", n, firstErr.Load())
	}
	return took, nil
}

// Raw consume modes: Fetch batches as the engine takes them, and the
// Messages iterator that keeps pull requests outstanding.
const (
	modeFetch    = "fetch"
	modeMessages = "messages"
)

// consumeAll reads n messages of stream with a new durable pull consumer
// (acknowledging every 50,000, the way the engine acknowledges per
// checkpoint) and deletes the consumer. Nothing is done with the data: this
// is the ceiling any consumer of the stream can reach.
func consumeAll(ctx context.Context, js jetstream.JetStream, stream string, n int, mode string, batch int) (time.Duration, error) {
	name := "riskbench-raw-" + mode
	_ = js.DeleteConsumer(ctx, stream, name)
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckAllPolicy,
		AckWait: 5 * time.Minute, MaxAckPending: 1 << 20, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("create consumer %s: %w", name, err)
	}
	defer func() { _ = js.DeleteConsumer(context.WithoutCancel(ctx), stream, name) }()
	got := 0
	bytes := 0
	ack := func(m jetstream.Msg) {
		got++
		bytes += len(m.Data())
		if got%50_000 == 0 || got == n {
			_ = m.Ack()
		}
	}
	start := time.Now()
	switch mode {
	case modeFetch:
		for got < n {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			b, err := cons.Fetch(batch, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				return 0, fmt.Errorf("fetch: %w", err)
			}
			for m := range b.Messages() {
				ack(m)
			}
		}
	case modeMessages:
		it, err := cons.Messages(jetstream.PullMaxMessages(batch))
		if err != nil {
			return 0, fmt.Errorf("messages: %w", err)
		}
		defer it.Stop()
		for got < n {
			m, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
			if err != nil {
				return 0, fmt.Errorf("next after %d messages: %w", got, err)
			}
			ack(m)
		}
	default:
		return 0, fmt.Errorf("unknown consume mode %q", mode)
	}
	took := time.Since(start)
	if bytes == 0 {
		return 0, errors.New("consumed no data")
	}
	return took, nil
}
