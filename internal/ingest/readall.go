package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStop, returned by ReadAll's callback, ends the read without an error.
var ErrStop = errors.New("stop reading")

// ReadAll reads stream s from where cfg starts to its end, as it is when
// the read starts, with an ordered consumer, and calls fn with each
// message in order. Everything asked for is in the stream already, so
// every fetch returns at once (FetchNoWait) instead of waiting out an
// expiry at the end.
func ReadAll(ctx context.Context, s jetstream.Stream, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) error) error {
	if s.CachedInfo().State.Msgs == 0 {
		return nil
	}
	oc, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.CachedInfo().Config.Name, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := oc.FetchNoWait(1000)
		if err != nil {
			return fmt.Errorf("read %s: %w", s.CachedInfo().Config.Name, err)
		}
		got, end := 0, false
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if err := fn(m); errors.Is(err, ErrStop) {
				return nil
			} else if err != nil {
				return err
			}
			end = md.NumPending == 0
		}
		if err := batch.Error(); err != nil && !Quiet(err) {
			return fmt.Errorf("read %s: %w", s.CachedInfo().Config.Name, err)
		}
		if got == 0 || end {
			return nil
		}
	}
}
