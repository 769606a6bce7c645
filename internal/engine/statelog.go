package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/signals"
)

// The state log: checkpoints are appended to the stream RISK_STATE as
// chunks of records (risk.state.records), each checkpoint closed by a
// commit (risk.state.commit) that says which sequence of RISK_SIGNALS it
// covers and where the records it stands on begin (Base: the first chunk
// of the last full image). A checkpoint writes the records of the
// customers and profiles changed since the last one; once those deltas
// outweigh the last image, it writes every record instead, and the log
// before the new image is purged after its commit.
//
// Per-customer KV entries cost the server a stored message and the
// removal of the previous revision for every record of every checkpoint,
// and a restart a message per customer and per profile: at 100,000
// customers a checkpoint took four seconds and a restart with a million
// customers 35. Chunks of a quarter megabyte make both a matter of bytes.
const (
	StateStream         = "RISK_STATE"
	StateRecordsSubject = "risk.state.records"
	StateCommitSubject  = "risk.state.commit"
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

// logState is what the checkpoint goroutine knows of the log. Only the
// checkpoint (one at a time) and restore (before any) touch it.
type logState struct {
	base       uint64 // first sequence of the last image; 0: none yet
	imageBytes int64  // size of the last image
	deltaBytes int64  // size of the deltas written since
}

// imageFloor is the least delta volume that calls for a new image: small
// states are not rewritten whole every few checkpoints.
var imageFloor int64 = 1 << 20

// needsImage reports whether the next checkpoint should write every record.
func (l logState) needsImage() bool {
	return l.base == 0 || l.deltaBytes > max(l.imageBytes, imageFloor)
}

// chunkWriter appends entries to chunks and publishes each chunk as it
// fills, keeping at most chunksInFlight unacknowledged.
type chunkWriter struct {
	ctx     context.Context
	js      jetstream.JetStream
	limit   int
	buf     []byte
	entries int
	flight  []jetstream.PubAckFuture
	first   uint64 // stream sequence of the first chunk
	bytes   int64
	chunks  int
}

func newChunkWriter(ctx context.Context, js jetstream.JetStream, maxPayload int64) *chunkWriter {
	limit := chunkSize
	if maxPayload > 0 {
		// Room for the subject and headers the server counts in.
		limit = min(limit, int(maxPayload)-1024)
	}
	return &chunkWriter{ctx: ctx, js: js, limit: limit}
}

// begin starts an entry of kind and returns the buffer to append it to;
// end finishes it.
func (w *chunkWriter) begin(kind byte) []byte {
	w.buf = append(w.buf, kind, 0, 0, 0, 0, 0)
	return w.buf
}

func (w *chunkWriter) end(buf []byte) error {
	start := len(w.buf)
	n := len(buf) - start
	if n > w.limit {
		w.abandon()
		return fmt.Errorf("a record of %d bytes does not fit a state chunk of %d", n, w.limit)
	}
	putUvarint5(buf[start-5:start], uint64(n))
	w.buf = buf
	w.entries++
	return nil
}

// full reports whether the chunk in hand should be flushed. Entries are
// added under the engine's lock and chunks published outside it.
func (w *chunkWriter) full() bool { return len(w.buf) >= w.limit }

// abandon drops an entry begun but not ended.
func (w *chunkWriter) abandon() { w.buf = w.buf[:len(w.buf)-6] }

// flush publishes the chunk in hand, even an empty one when force is set.
func (w *chunkWriter) flush() error { return w.send(false) }

func (w *chunkWriter) send(force bool) error {
	if w.entries == 0 && !force {
		return nil
	}
	if len(w.flight) == chunksInFlight {
		if err := w.settle(w.flight[0]); err != nil {
			return err
		}
		w.flight = w.flight[1:]
	}
	msg := &nats.Msg{Subject: StateRecordsSubject, Data: w.buf}
	f, err := w.js.PublishMsgAsync(msg)
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

func (w *chunkWriter) settle(f jetstream.PubAckFuture) error {
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

// close publishes what is left (an empty chunk if nothing was written and
// force is set) and waits for every chunk to be stored.
func (w *chunkWriter) close(force bool) error {
	if err := w.send(force && w.chunks == 0); err != nil {
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

// commit writes the commit that makes the chunks written so far count,
// and returns its sequence.
func commit(ctx context.Context, js jetstream.JetStream, cp checkpointRecord) (uint64, error) {
	body, err := json.Marshal(cp)
	if err != nil {
		return 0, err
	}
	ack, err := js.Publish(ctx, StateCommitSubject, body)
	if err != nil {
		return 0, fmt.Errorf("write checkpoint commit: %w", err)
	}
	return ack.Sequence, nil
}

// stateStreamConfig is RISK_STATE's configuration.
func stateStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: StateStream, Subjects: []string{"risk.state.>"},
		Description: "Riskwatch checkpoints: chunks of customer and profile records, each checkpoint closed by a commit",
		Storage:     jetstream.FileStorage, Replicas: replicas}
}

// committed is the last checkpoint as read back: the commit, its sequence
// and the records it stands on, in log order (a later record of a
// customer or profile replaces an earlier one).
type committed struct {
	cp        checkpointRecord
	seq       uint64
	customers []*customer
	profiles  []*signals.Profile
	bytes     int64
}

// errNoCommit means the log holds no checkpoint yet.
var errNoCommit = errors.New("no checkpoint commit")

// readCommitted reads the last commit and the chunks from its Base up to
// it, decoding chunks on every CPU while the next ones arrive. Chunks
// after the commit belong to a checkpoint that never completed, or to one
// in progress: they are left out, and with cut (a restart, when nothing
// else writes the log) deleted.
func readCommitted(ctx context.Context, js jetstream.JetStream, cut bool) (committed, error) {
	var out committed
	s, err := js.Stream(ctx, StateStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, errNoCommit
	} else if err != nil {
		return out, fmt.Errorf("stream %s: %w", StateStream, err)
	}
	last, err := s.GetLastMsgForSubject(ctx, StateCommitSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		if !cut {
			return out, errNoCommit
		}
		// Chunks without any commit: a first checkpoint that crashed.
		if err := s.Purge(ctx); err != nil {
			return out, fmt.Errorf("drop an uncommitted checkpoint: %w", err)
		}
		return out, errNoCommit
	} else if err != nil {
		return out, fmt.Errorf("read checkpoint commit: %w", err)
	}
	if err := json.Unmarshal(last.Data, &out.cp); err != nil {
		return out, fmt.Errorf("checkpoint commit %d is corrupt: %w", last.Sequence, err)
	}
	out.seq = last.Sequence
	if out.cp.Base == 0 || out.cp.Base >= out.seq {
		return out, fmt.Errorf("checkpoint commit %d: base %d is not before it", last.Sequence, out.cp.Base)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq  uint64
		data []byte
		res  *chunkResult
	}
	jobs := make(chan job, 2*runtime.GOMAXPROCS(0))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := decodeChunk(j.data, j.res); err != nil {
					fail(fmt.Errorf("state chunk %d: %w", j.seq, err))
				}
			}
		}()
	}
	var results []*chunkResult
	readErr := readChunks(ctx, s, out.cp.Base, out.seq, func(seq uint64, data []byte) error {
		r := new(chunkResult)
		results = append(results, r)
		out.bytes += int64(len(data))
		select {
		case jobs <- job{seq: seq, data: data, res: r}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return out, firstErr
	}
	if readErr != nil {
		return out, fmt.Errorf("read state chunks %d to %d: %w", out.cp.Base, out.seq, readErr)
	}
	if cut {
		if err := cutUncommitted(ctx, s, out.seq); err != nil {
			return out, err
		}
	}
	n, np := 0, 0
	for _, r := range results {
		n += len(r.customers)
		np += len(r.profiles)
	}
	out.customers = make([]*customer, 0, n)
	out.profiles = make([]*signals.Profile, 0, np)
	for _, r := range results {
		out.customers = append(out.customers, r.customers...)
		out.profiles = append(out.profiles, r.profiles...)
	}
	return out, nil
}

// readChunks calls fn with every chunk in [from, to) of the records
// subject, in order.
func readChunks(ctx context.Context, s jetstream.Stream, from, to uint64, fn func(seq uint64, data []byte) error) error {
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{StateRecordsSubject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return err
	}
	for {
		// Everything asked for is in the stream already: FetchNoWait
		// returns what there is instead of waiting out an expiry.
		batch, err := oc.FetchNoWait(256)
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if md.Sequence.Stream >= to {
				return nil // a checkpoint that did not commit
			}
			if err := fn(md.Sequence.Stream, m.Data()); err != nil {
				return err
			}
			if md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 {
			return nil
		}
	}
}

// chunkResult is what one chunk holds, in its order.
type chunkResult struct {
	customers []*customer
	profiles  []*signals.Profile
}

// decodeChunk decodes the entries of a chunk into r.
func decodeChunk(data []byte, r *chunkResult) error {
	for off := 0; off < len(data); {
		kind := data[off]
		n, k := uvarint(data[off+1:])
		if k <= 0 || n > uint64(len(data)-off-1-k) {
			return fmt.Errorf("entry at byte %d: bad length", off)
		}
		body := data[off+1+k : off+1+k+int(n)]
		switch kind {
		case entryCustomer:
			c := new(customer)
			if err := decodeRecord(body, &c.Score, &c.Alert); err != nil {
				return fmt.Errorf("customer record at byte %d: %w", off, err)
			}
			r.customers = append(r.customers, c)
		case entryProfile:
			p, err := decodeProfile(body)
			if err != nil {
				return fmt.Errorf("profile at byte %d: %w", off, err)
			}
			r.profiles = append(r.profiles, p)
		default:
			return fmt.Errorf("entry at byte %d: unknown kind 0x%02x", off, kind)
		}
		off += 1 + k + int(n)
	}
	return nil
}

// cutUncommitted deletes what follows the last commit: the chunks of a
// checkpoint that crashed before its commit. Left in the log they would
// sit between the base and the next commit and count as part of it, and
// they may hold the effect of messages whose alerts died with the
// process: the replay would skip those messages for their customers and
// the alerts would never be sent. The engine writes nothing before its
// restore is done, so nothing is lost here.
func cutUncommitted(ctx context.Context, s jetstream.Stream, commitSeq uint64) error {
	info, err := s.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return fmt.Errorf("stream %s: %w", StateStream, err)
	}
	deleted := make(map[uint64]bool, len(info.State.Deleted))
	for _, seq := range info.State.Deleted {
		deleted[seq] = true
	}
	for seq := max(commitSeq+1, info.State.FirstSeq); seq <= info.State.LastSeq; seq++ {
		if deleted[seq] {
			continue
		}
		if err := s.DeleteMsg(ctx, seq); err != nil {
			return fmt.Errorf("drop the uncommitted checkpoint at %d: %w", seq, err)
		}
	}
	return nil
}

// Checkpoint is the last committed checkpoint as read back from
// RISK_STATE, for tools and tests: what it covers and the records it
// stands on, one per customer and profile.
type Checkpoint struct {
	// Seq is the last RISK_SIGNALS sequence it covers; Commit the
	// sequence of its commit in RISK_STATE.
	Seq, Commit uint64
	Watermark   int64
	LastSweep   int64
	LastDigest  int32
	Records     []Record
	Profiles    []signals.Profile
}

// ReadCheckpoint reads the last committed checkpoint; with none, it
// returns an empty Checkpoint. It only reads, so it may run beside riskd.
func ReadCheckpoint(ctx context.Context, js jetstream.JetStream) (Checkpoint, error) {
	st, err := readCommitted(ctx, js, false)
	if errors.Is(err, errNoCommit) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Seq: st.cp.Seq, Commit: st.seq, Watermark: st.cp.Watermark, LastSweep: st.cp.LastSweep,
		LastDigest: st.cp.Digest}
	latest := map[string]*customer{}
	var order []string
	for _, c := range st.customers {
		if _, ok := latest[c.Score.Customer]; !ok {
			order = append(order, c.Score.Customer)
		}
		latest[c.Score.Customer] = c
	}
	for _, id := range order {
		c := latest[id]
		cp.Records = append(cp.Records, Record{State: &c.Score, Alert: c.Alert})
	}
	profiles := map[string]*signals.Profile{}
	var porder []string
	for _, p := range st.profiles {
		if _, ok := profiles[p.ID]; !ok {
			porder = append(porder, p.ID)
		}
		profiles[p.ID] = p
	}
	for _, id := range porder {
		cp.Profiles = append(cp.Profiles, *profiles[id])
	}
	return cp, nil
}

// WriteImage writes cp's records and profiles to RISK_STATE as a full
// image with its commit, and drops the log before it: what a riskd
// started on that stream restores. riskbench grows a state with it.
func WriteImage(ctx context.Context, js jetstream.JetStream, cp Checkpoint, maxPayload int64) error {
	if _, err := js.CreateOrUpdateStream(ctx, stateStreamConfig(1)); err != nil {
		return fmt.Errorf("create or update stream %s: %w", StateStream, err)
	}
	w := newChunkWriter(ctx, js, maxPayload)
	for _, r := range cp.Records {
		buf, err := AppendRecord(w.begin(entryCustomer), r)
		if err != nil {
			w.abandon()
			return err
		}
		if err := w.end(buf); err != nil {
			return err
		}
		if w.full() {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	for i := range cp.Profiles {
		if err := w.end(appendProfile(w.begin(entryProfile), &cp.Profiles[i])); err != nil {
			return err
		}
		if w.full() {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	if err := w.close(true); err != nil {
		return err
	}
	rec := checkpointRecord{Seq: cp.Seq, Watermark: cp.Watermark, LastSweep: cp.LastSweep, Digest: cp.LastDigest,
		Time: time.Now().UTC().Format(time.RFC3339), Base: w.first, ImageBytes: w.bytes}
	if _, err := commit(ctx, js, rec); err != nil {
		return err
	}
	s, err := js.Stream(ctx, StateStream)
	if err != nil {
		return err
	}
	return s.Purge(ctx, jetstream.WithPurgeSequence(w.first))
}
