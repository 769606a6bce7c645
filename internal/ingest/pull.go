// Package ingest reads riskd's JetStream streams. A Puller is the pull
// loop every durable consumer of riskd runs (the intake and the webhook
// deliveries): fetch a batch, hand it over, ride out failed fetches and a
// lost consumer. An Intake is the engine's side of it: signals decoded
// while the last chunk is applied, deliveries checked for gaps, ordered
// chunks handed to a Handler. ReadAll reads a stream to its end (the
// checkpoint log, the alerts a tool lists).
package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/logging"
)

// Puller is a pull loop over a durable consumer.
type Puller struct {
	// Name says what reads, in log lines.
	Name string
	// Open creates or positions the consumer. Run calls it at start and
	// again whenever the consumer is gone (deleted, or lost with a NATS
	// restart when it lives in memory).
	Open func(ctx context.Context) (jetstream.Consumer, error)
	// Batch is how many messages one fetch asks for (default 1), MaxWait
	// how long it waits for them (default 2 s): also how long a stop may
	// wait.
	Batch   int
	MaxWait time.Duration
	// Pause is the wait after a failure before the next attempt (default
	// 250 ms).
	Pause time.Duration
	Log   *logging.Limited
}

// Run fetches batches and hands each to handle, one at a time, until ctx
// ends; then it returns nil. handle gets every batch, empty ones (a fetch
// that waited MaxWait for nothing) included, and must read its messages;
// an error it returns ends Run with that error.
func (p *Puller) Run(ctx context.Context, handle func(jetstream.MessageBatch) error) error {
	batch := max(p.Batch, 1)
	wait := p.MaxWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	pause := p.Pause
	if pause <= 0 {
		pause = 250 * time.Millisecond
	}
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			c, err := p.Open(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.Log.Warn(p.Name+":open", "cannot open the consumer", zap.String("reader", p.Name), zap.Error(err))
					Sleep(ctx, pause)
				}
				continue
			}
			cons = c
		}
		// MaxWait, not a context: the server ends the request after the
		// messages it sent, so none is lost in flight (a context cut at
		// its deadline could drop the last ones, and a lost delivery
		// costs the intake a restart from its checkpoint). A stop waits
		// for the fetch in hand, at most MaxWait.
		b, err := cons.Fetch(batch, jetstream.FetchMaxWait(wait))
		if err == nil {
			if err = handle(b); err != nil {
				return err
			}
			err = b.Error()
		}
		if err == nil || Quiet(err) || ctx.Err() != nil {
			continue
		}
		if Gone(err) {
			cons = nil // opened again at the top
		}
		p.Log.Warn(p.Name+":fetch", "fetch failed", zap.String("reader", p.Name), zap.Error(err))
		Sleep(ctx, pause)
	}
	return nil
}

// Quiet reports a fetch that ended without messages because none came in
// time: not a failure.
func Quiet(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// Gone reports a fetch that failed because the consumer no longer exists:
// deleted by someone, or lost with a NATS restart (a consumer in memory).
// A pull request to a missing consumer finds no responder.
func Gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders)
}

// Sleep waits d or until ctx ends; false when ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
