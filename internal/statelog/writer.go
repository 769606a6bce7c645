// Package statelog is riskd's state store: checkpoints appended to the
// stream RISK_STATE as chunks of binary records (risk.state.records), each
// checkpoint closed by a commit (risk.state.commit) that says which
// sequence of RISK_SIGNALS it covers and where the records it stands on
// begin (Base: the first chunk of the last full image). A checkpoint
// writes the records of the customers and profiles changed since the last
// one; once those deltas outweigh the last image, it writes every record
// instead, and the log before the new image is purged after its commit.
//
// Per-customer KV entries cost the server a stored message and the
// removal of the previous revision for every record of every checkpoint,
// and a restart a message per customer and per profile: at 100,000
// customers a checkpoint took four seconds and a restart with a million
// customers 35. Chunks of a quarter megabyte make both a matter of bytes.
package statelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/signals"
)

// Entry kinds in a chunk: a chunk is a sequence of entries, each a kind
// byte, a uvarint length and the entry.
const (
	entryCustomer = 'c' // AppendRecord
	entryProfile  = 'p' // appendProfile
)

// chunkSize is the size a chunk is closed at, unless the server's max
// payload calls for less. Big enough that the per-message cost vanishes,
// small enough that a chunk in flight does not hold up the intake's
// fetches on the shared connection.
const chunkSize = 256 << 10

// chunksInFlight bounds the chunks a checkpoint has unacknowledged.
const chunksInFlight = 8

// StreamConfig is RISK_STATE's configuration.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: api.StateStream, Subjects: []string{"risk.state.>"},
		Description: "Riskwatch checkpoints: chunks of customer and profile records, each checkpoint closed by a commit",
		Storage:     jetstream.FileStorage, Replicas: replicas}
}

// Commit closes a checkpoint: what it covers and, from Base, where the
// records it stands on begin in RISK_STATE. Its JSON is the log's format.
type Commit struct {
	Seq       uint64 `json:"seq"`
	Watermark int64  `json:"watermark"`
	LastSweep int64  `json:"last_sweep"`
	Digest    int32  `json:"last_digest"`
	// Producers are the producers' clocks, by signal kind.
	Producers  map[signals.Kind]book.Producer `json:"producers,omitempty"`
	Time       string                         `json:"time"`
	Base       uint64                         `json:"base,omitempty"`
	ImageBytes int64                          `json:"image_bytes,omitempty"`
	DeltaBytes int64                          `json:"delta_bytes,omitempty"`
	// Peers are the segments' usage as of Seq (book.Book.Peers); a commit
	// of a riskd before them has none, and the book sums them from the
	// customers' records.
	Peers []book.PeerSegment `json:"peers,omitempty"`
	// Epoch is the lease of the riskd that wrote the commit (0 without
	// one): only chunks of the same epoch count towards it.
	Epoch uint64 `json:"epoch,omitempty"`
}

// legacyGap is the usual interval taken for the producers of a commit
// without producers' clocks: a day.
const legacyGap = 86400

// CommitOf is the commit of seq that holds clock.
func CommitOf(seq uint64, clock book.Clock) Commit {
	c := Commit{Seq: seq, Watermark: clock.Watermark, LastSweep: clock.LastSweep, Digest: clock.LastDigest}
	for i, p := range clock.Producers {
		if p != (book.Producer{}) {
			if c.Producers == nil {
				c.Producers = map[signals.Kind]book.Producer{}
			}
			c.Producers[signals.Kinds[i]] = p
		}
	}
	return c
}

// Clock is the book's clock the commit holds. A kind this riskd does not
// know (a newer one wrote the commit) is dropped. A commit of a riskd
// before producers' clocks has none: every producer is taken as heard at
// its watermark, with a day's interval, as that riskd judged every kind,
// so that an upgrade does not hold every rule until each kind is heard.
func (c Commit) Clock() book.Clock {
	k := book.Clock{Watermark: c.Watermark, LastSweep: c.LastSweep, LastDigest: c.Digest}
	if c.Producers == nil && c.Watermark > 0 {
		for i := range k.Producers {
			k.Producers[i] = book.Producer{Latest: c.Watermark, Clock: c.Watermark, Gap: legacyGap}
		}
	}
	for kind, p := range c.Producers {
		if i := kind.Index(); i >= 0 {
			k.Producers[i] = p
		}
	}
	return k
}

// Part is the log of one partition of the input: the subjects its chunks
// and commits go to, and the epoch of its owner's lease.
type Part struct {
	Records, Commit string
	// Filter covers both subjects and nothing else; empty for the
	// unpartitioned log, which has the stream to itself.
	Filter string
	Epoch  uint64
}

// PartOf is the log of partition index of count, owned under epoch. With
// one partition it is the unpartitioned log riskd always wrote.
func PartOf(index, count int, epoch uint64) Part {
	if count <= 1 {
		return Part{Records: api.StateRecordsSubject, Commit: api.StateCommitSubject, Epoch: epoch}
	}
	p := "risk.state.p" + strconv.Itoa(index) + "."
	return Part{Records: p + "records", Commit: p + "commit", Filter: p + ">", Epoch: epoch}
}

// EpochHeader carries the writer's epoch on every chunk.
const EpochHeader = "Riskwatch-Epoch"

// ErrFenced means another riskd committed to the partition since this one
// restored it: it owns the partition now, and this one must let go.
var ErrFenced = errors.New("fenced: another riskd committed to this partition")

// Log is the state log of one riskd: what it knows of the log so far.
// One checkpoint at a time writes it, and only after Restore.
type Log struct {
	js         jetstream.JetStream
	maxPayload func() int64
	imageFloor int64
	part       Part
	// lastCommit is the sequence of the last commit on part.Commit, the
	// one the next commit expects: if another writer committed in
	// between, the write fails and this one is fenced off.
	lastCommit uint64
	base       uint64 // first sequence of the last image; 0: none yet
	imageBytes int64  // size of the last image
	deltaBytes int64  // size of the deltas written since
}

// New is the log on js; maxPayload is the server's limit. A checkpoint
// writes a full image once the deltas since the last one outweigh it and
// imageFloor (DefaultImageFloor when 0): small states are not rewritten
// whole every few checkpoints.
func New(js jetstream.JetStream, maxPayload func() int64, imageFloor int64, part Part) *Log {
	if imageFloor <= 0 {
		imageFloor = DefaultImageFloor
	}
	return &Log{js: js, maxPayload: maxPayload, imageFloor: imageFloor, part: part}
}

// DefaultImageFloor is the least delta volume that calls for a new image.
const DefaultImageFloor = 1 << 20

// NeedsImage reports whether the next checkpoint should write every record.
func (l *Log) NeedsImage() bool {
	return l.base == 0 || l.deltaBytes > max(l.imageBytes, l.imageFloor)
}

// Writer writes one checkpoint: entries are added to the chunk in hand
// (the engine does so under its lock) and chunks published as they fill
// (outside it).
type Writer struct {
	log     *Log
	ctx     context.Context
	image   bool
	limit   int
	buf     []byte
	entries int
	flight  []jetstream.PubAckFuture
	first   uint64 // stream sequence of the first chunk
	bytes   int64
	chunks  int
}

// Begin starts a checkpoint, a full image when image is set.
func (l *Log) Begin(ctx context.Context, image bool) *Writer {
	limit := chunkSize
	if mp := l.maxPayload(); mp > 0 {
		// Room for the subject and headers the server counts in.
		limit = min(limit, int(mp)-1024)
	}
	return &Writer{log: l, ctx: ctx, image: image, limit: limit}
}

// Customer adds c's record.
func (w *Writer) Customer(c *book.Customer) error {
	buf, err := AppendRecord(w.begin(entryCustomer), Record{State: &c.Score, Alert: c.Alert})
	if err != nil {
		w.buf = w.buf[:len(w.buf)-6]
		return fmt.Errorf("encode customer %q: %w", c.Score.Customer, err)
	}
	return w.end(buf)
}

// Profile adds p.
func (w *Writer) Profile(p *signals.Profile) error {
	return w.end(appendProfile(w.begin(entryProfile), p))
}

func (w *Writer) begin(kind byte) []byte {
	w.buf = append(w.buf, kind, 0, 0, 0, 0, 0)
	return w.buf
}

func (w *Writer) end(buf []byte) error {
	start := len(w.buf)
	n := len(buf) - start
	if n > w.limit {
		w.buf = w.buf[:start-6]
		return fmt.Errorf("a record of %d bytes does not fit a state chunk of %d", n, w.limit)
	}
	putUvarint5(buf[start-5:start], uint64(n))
	w.buf = buf
	w.entries++
	return nil
}

// Full reports whether the chunk in hand should be flushed.
func (w *Writer) Full() bool { return len(w.buf) >= w.limit }

// Flush publishes the chunk in hand, if it holds anything.
func (w *Writer) Flush() error { return w.send(false) }

func (w *Writer) send(force bool) error {
	if w.entries == 0 && !force {
		return nil
	}
	if len(w.flight) == chunksInFlight {
		if err := w.settle(w.flight[0]); err != nil {
			return err
		}
		w.flight = w.flight[1:]
	}
	msg := &nats.Msg{Subject: w.log.part.Records, Data: w.buf}
	if e := w.log.part.Epoch; e != 0 {
		msg.Header = nats.Header{EpochHeader: []string{strconv.FormatUint(e, 10)}}
	}
	f, err := w.log.js.PublishMsgAsync(msg)
	if err != nil {
		return fmt.Errorf("write state chunk: %w", err)
	}
	w.flight = append(w.flight, f)
	w.bytes += int64(len(w.buf))
	w.chunks++
	// The published message keeps its buffer until acknowledged.
	w.buf, w.entries = make([]byte, 0, w.limit+w.limit/8), 0
	return nil
}

func (w *Writer) settle(f jetstream.PubAckFuture) error {
	select {
	case ack := <-f.Ok():
		if w.first == 0 {
			w.first = ack.Sequence
		}
		return nil
	case err := <-f.Err():
		return fmt.Errorf("write state chunk: %w", err)
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// Close publishes what is left and waits for every chunk to be stored.
// An image always writes a chunk, so that it has a first sequence.
func (w *Writer) Close() error {
	if err := w.send(w.image && w.chunks == 0); err != nil {
		return err
	}
	for _, f := range w.flight {
		if err := w.settle(f); err != nil {
			return err
		}
	}
	w.flight = nil
	return nil
}

// Commit writes the commit that makes the closed checkpoint count: c with
// where its records begin. After an image the log before it is purged;
// failing to purge costs disk, not correctness, and is returned as
// purgeErr.
func (w *Writer) Commit(c Commit) (purgeErr, err error) {
	l := w.log
	base, image, delta := l.base, l.imageBytes, l.deltaBytes+w.bytes
	if w.image {
		base, image, delta = w.first, w.bytes, 0
	}
	c.Base, c.ImageBytes, c.DeltaBytes, c.Epoch = base, image, delta, l.part.Epoch
	if c.Time == "" {
		c.Time = time.Now().UTC().Format(time.RFC3339)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	ack, err := l.js.Publish(w.ctx, l.part.Commit, body, jetstream.WithExpectLastSequencePerSubject(l.lastCommit))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return nil, fmt.Errorf("write checkpoint commit: %w (%v)", ErrFenced, err)
	}
	if err != nil {
		return nil, fmt.Errorf("write checkpoint commit: %w", err)
	}
	l.lastCommit = ack.Sequence
	if w.image && l.base != 0 {
		purgeErr = l.purgeBefore(w.ctx, base)
	}
	l.base, l.imageBytes, l.deltaBytes = base, image, delta
	return purgeErr, nil
}

func (l *Log) purgeBefore(ctx context.Context, seq uint64) error {
	s, err := l.js.Stream(ctx, api.StateStream)
	if err != nil {
		return err
	}
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSequence(seq)}
	if l.part.Filter != "" {
		opts = append(opts, jetstream.WithPurgeSubject(l.part.Filter))
	}
	return s.Purge(ctx, opts...)
}
