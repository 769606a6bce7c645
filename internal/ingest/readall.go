package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStop, returned by ReadAll's callback, ends the read without an error.
var ErrStop = errors.New("stop reading")

// readWait bounds one fetch of ReadAll: the messages are in the stream
// already, so only a stalled server makes it wait.
const readWait = 30 * time.Second

// readBytes bounds what one fetch of ReadAll asks for.
const readBytes = 8 << 20

// ReadAll reads stream s, the subjects of filter (all when empty) from
// sequence from (the start when 0), to its end as it is when the read
// starts, and calls fn with each message in order.
//
// It reads through an ephemeral consumer whose pending count says how many
// messages there are: every fetch asks for exactly what is left, so it
// returns as soon as they are delivered, and the end is never mistaken
// for a stall. (A fetch that asks for more waits out its expiry; one that
// asks not to wait may find a consumer just created still empty.)
func ReadAll(ctx context.Context, s jetstream.Stream, filter []string, from uint64, fn func(jetstream.Msg) error) error {
	name := s.CachedInfo().Config.Name
	cc := jetstream.ConsumerConfig{FilterSubjects: filter, AckPolicy: jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute, MemoryStorage: true}
	if from > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := s.CreateConsumer(ctx, cc)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	for left := cons.CachedInfo().NumPending; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Bounded in bytes too: a thousand chunks of the state log would
		// outrun what the client buffers for a subscription (64 MiB), and
		// the server would drop the rest as for a slow consumer.
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(readWait), jetstream.FetchMaxBytes(readBytes))
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if err := fn(m); errors.Is(err, ErrStop) {
				return nil
			} else if err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !Quiet(err) {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if got == 0 {
			return fmt.Errorf("read %s: %d messages left unread, none delivered in %s", name, left, readWait)
		}
		left -= min(got, left)
	}
	return nil
}
