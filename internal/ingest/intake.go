package ingest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/signals"
)

// Delivery is one message of a chunk, with what can be worked out before
// it is applied: its metadata and, for a signal, its decoding.
type Delivery struct {
	Msg  jetstream.Msg
	Meta *jetstream.MsgMetadata
	// Subject is the message's subject as its producer published it (a
	// partition's prefix taken off).
	Subject string
	// Signal reports a signal subject; Decoded and DecodeErr are then its
	// decoding.
	Signal    bool
	Decoded   signals.Signal
	DecodeErr error
}

// Chunk is a run of deliveries in stream order, with no message missing
// before any of them. Redeliveries of messages the handler has applied
// already may be among them: it skips them by stream sequence.
type Chunk struct {
	Deliveries []Delivery
	// CaughtUp reports that the stream held nothing more when the chunk
	// was fetched.
	CaughtUp bool
	// Reopened says that the consumer was opened (again) since the last
	// chunk: messages of the chunks before belong to the old one and must
	// not be acknowledged any more.
	Reopened bool
}

// Handler applies chunks. The deliveries, and the signals decoded in them,
// are reused once Handle returns: it must copy what it keeps.
type Handler interface {
	Handle(ctx context.Context, c Chunk)
}

// Intake reads the input stream through a durable consumer and hands it
// over in ordered chunks.
type Intake struct {
	// Open creates the consumer positioned where the handler's durable
	// state ends. It is called at start, whenever the consumer is gone and
	// after a gap.
	Open func(ctx context.Context) (jetstream.Consumer, error)
	// Batch is how many messages one fetch asks for.
	Batch int
	// Now is the clock far-future event times are judged by.
	Now func() time.Time
	// Strip is the prefix the stream added to producers' subjects, taken
	// off again before decoding: "risk.p.3." of a partition's stream
	// ("risk.p.3.signals.usage.acme" was "risk.signals.usage.acme").
	Strip string
	Log   *logging.Limited
}

// ChunkSize is how many deliveries travel from the decoding goroutine to
// the applying one at a time: enough to make the hand-over cheap.
const ChunkSize = 64

var chunkPool = sync.Pool{New: func() any { return new([ChunkSize]Delivery) }}

// Run reads until ctx ends; then it returns once the chunk in hand is
// applied. A reader goroutine fetches and decodes (decoding is pure and a
// fifth of the cost of a signal), so that the goroutine that applies in
// order, the one that bounds intake, does not; and the next fetch goes out
// as soon as the last one has arrived, not once it is applied.
//
// Every delivery, redeliveries included, takes the next consumer
// sequence. A jump means messages were handed out that never arrived (a
// dropped connection, an expired pull): the server would redeliver them
// only after AckWait, behind newer ones, and applying those first would
// reorder the stream. So on a jump nothing from there on is handed over,
// and the consumer is opened again from the handler's durable state.
func (in *Intake) Run(ctx context.Context, h Handler) {
	for ctx.Err() == nil {
		rd := in.startReader(ctx)
		in.drain(ctx, rd, h)
		rd.stop()
	}
}

// drain hands the reader's chunks to h until a gap or the end of ctx.
func (in *Intake) drain(ctx context.Context, rd *reader, h Handler) {
	var delivered uint64 // consumer sequence of the last delivery
	for {
		var it item
		select {
		case it = <-rd.items:
		case <-ctx.Done():
			return
		}
		if it.opened {
			delivered = 0 // a new consumer counts from 1
			h.Handle(ctx, Chunk{Reopened: true})
			continue
		}
		ds, gap := checkOrder(it.chunk, &delivered, in.Log)
		caughtUp := it.empty || (len(ds) > 0 && ds[len(ds)-1].Meta.NumPending == 0)
		if len(ds) > 0 || caughtUp {
			h.Handle(ctx, Chunk{Deliveries: ds, CaughtUp: caughtUp && !gap})
		}
		putChunk(it.chunk)
		if gap {
			in.Log.Warn("gap", "messages handed out by the consumer never arrived; resuming from the last checkpoint")
			return
		}
	}
}

// checkOrder keeps the deliveries of chunk up to the first gap in
// consumer sequences, and those with metadata.
func checkOrder(chunk []Delivery, delivered *uint64, log *logging.Limited) ([]Delivery, bool) {
	kept := chunk[:0]
	for i := range chunk {
		d := chunk[i]
		if d.Meta == nil {
			log.Warn("metadata", "message without JetStream metadata", zap.String("subject", d.Msg.Subject()))
			continue
		}
		if d.Meta.Sequence.Consumer > *delivered+1 {
			return kept, true
		}
		*delivered = d.Meta.Sequence.Consumer
		kept = append(kept, d)
	}
	return kept, false
}

func putChunk(c []Delivery) {
	if cap(c) == 0 {
		return
	}
	// Nothing applied keeps a reference into the chunk: the handler
	// copies what it keeps of a signal.
	clear(c[:cap(c)])
	chunkPool.Put((*[ChunkSize]Delivery)(c[:ChunkSize]))
}

// reader is the fetching and decoding goroutine.
type reader struct {
	items  chan item // unbuffered: see send
	cancel context.CancelFunc
	done   chan struct{}
}

// item is a chunk of deliveries, the end of an empty fetch, or the news
// that the consumer was opened (again).
type item struct {
	chunk  []Delivery
	empty  bool
	opened bool
}

func (in *Intake) startReader(ctx context.Context) *reader {
	ctx, cancel := context.WithCancel(ctx)
	r := &reader{items: make(chan item), cancel: cancel, done: make(chan struct{})}
	p := Puller{Name: "intake", Batch: in.Batch, MaxWait: 200 * time.Millisecond, Log: in.Log,
		Open: func(ctx context.Context) (jetstream.Consumer, error) {
			c, err := in.Open(ctx)
			if err == nil && !r.send(ctx, item{opened: true}) {
				err = ctx.Err()
			}
			return c, err
		}}
	go func() {
		defer close(r.done)
		// One request at a time: the server spreads deliveries over the
		// requests waiting, and two would interleave the stream.
		_ = p.Run(ctx, func(b jetstream.MessageBatch) error { return in.decode(ctx, b, r) })
	}()
	return r
}

func (r *reader) send(ctx context.Context, it item) bool {
	select {
	case r.items <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// stop ends the reader. Messages it fetched and did not hand over are
// dropped: the next consumer starts from the handler's durable state.
func (r *reader) stop() {
	r.cancel()
	<-r.done
}

// decode reads batch and hands its messages over a chunk at a time,
// signals decoded. It returns ctx's error once the reader is stopped.
func (in *Intake) decode(ctx context.Context, b jetstream.MessageBatch, r *reader) error {
	chunk := chunkPool.Get().(*[ChunkSize]Delivery)[:0]
	got := false
	for msg := range b.Messages() {
		got = true
		// Decoded in place: the slots are reused, a Signal is not
		// allocated per message.
		chunk = append(chunk, Delivery{Msg: msg})
		d := &chunk[len(chunk)-1]
		d.Meta, _ = msg.Metadata()
		d.Subject = msg.Subject()
		if in.Strip != "" {
			if rest, ok := strings.CutPrefix(d.Subject, in.Strip); ok {
				d.Subject = "risk." + rest
			}
		}
		if subject := d.Subject; strings.HasPrefix(subject, signals.SignalPrefix) {
			d.Signal = true
			d.DecodeErr = signals.DecodeInto(&d.Decoded, subject, msg.Data(), in.Now())
		}
		if len(chunk) == ChunkSize {
			if !r.send(ctx, item{chunk: chunk}) {
				return ctx.Err()
			}
			chunk = chunkPool.Get().(*[ChunkSize]Delivery)[:0]
			continue
		}
		// Hand over at once whenever the applying goroutine waits (items
		// is unbuffered): a chunk fills only while it is busy, so a quiet
		// stream is not held back to make one up.
		select {
		case r.items <- item{chunk: chunk}:
			chunk = chunkPool.Get().(*[ChunkSize]Delivery)[:0]
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
	if !r.send(ctx, item{chunk: chunk, empty: !got}) {
		return ctx.Err()
	}
	return nil
}
