package engine

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/signals"
)

// checkpoint makes everything applied so far durable, in this order:
//  1. the changed customer records and profiles are appended to the state
//     log (RISK_STATE) in chunks;
//  2. the alerts, DLQ messages and profile materialisations already
//     published are confirmed (failed ones are re-sent; their message ids
//     make that idempotent);
//  3. the commit with the covered sequence is written;
//  4. last is acknowledged, which under AckAll acknowledges all before it.
//
// A crash before the commit replays from the previous checkpoint, and the
// next start drops the uncommitted chunks; records encoded while the
// intake went on carry their own sequence and skip what they contain.
func (e *Engine) checkpoint(ctx context.Context, last jetstream.Msg) error {
	start := time.Now()
	err := e.writeCheckpoint(ctx)
	e.metrics.CheckpointSecs.Observe(time.Since(start).Seconds())
	e.mu.Lock()
	e.healthErr = err
	e.mu.Unlock()
	if err != nil {
		e.metrics.CheckpointErrors.Inc()
		e.logLimited("checkpoint", "checkpoint failed; messages stay unacknowledged and will be retried", zap.Error(err))
		return err
	}
	if last != nil {
		if err := last.Ack(); err != nil {
			// Not fatal: the next checkpoint acknowledges further, and a
			// redelivery is skipped by sequence.
			e.logLimited("ack", "acknowledgement failed", zap.Error(err))
		}
	}
	return nil
}

// asyncCheckpoint is a checkpoint running on its own goroutine.
type asyncCheckpoint struct {
	last    jetstream.Msg
	started time.Time
	done    chan error
}

// checkpointAsync runs checkpoint(last) on its own goroutine. It is not
// cut short when ctx ends: the loop waits for it before its final
// checkpoint, and a checkpoint abandoned half way would only be redone.
func (e *Engine) checkpointAsync(ctx context.Context, last jetstream.Msg) *asyncCheckpoint {
	a := &asyncCheckpoint{last: last, started: e.cfg.Now(), done: make(chan error, 1)}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	go func() {
		defer cancel()
		a.done <- e.checkpoint(cctx, last)
	}()
	return a
}

func (e *Engine) writeCheckpoint(ctx context.Context) error {
	// What this checkpoint covers: everything applied so far.
	e.mu.Lock()
	seq := e.applied
	cp := checkpointRecord{Seq: seq, Watermark: e.watermark, LastSweep: e.lastSweep, Digest: e.lastDigest,
		Time: e.cfg.Now().UTC().Format(time.RFC3339)}
	dirty, dirtyProf := e.dirty, e.dirtyProf
	e.dirty, e.dirtyProf = map[string]struct{}{}, map[string]struct{}{}
	image := e.stateLog.needsImage()
	ids := make([]string, 0, len(dirty))
	// Profiles are taken as of seq, under the same lock: a customer record
	// may be encoded after the intake moved on (it carries its own
	// sequence), but a profile is read back for every customer replayed
	// after seq and must be the one they were scored with. A profile is
	// replaced on update, never changed in place: keeping the pointer is
	// enough.
	var profiles []*signals.Profile
	if image {
		for id := range e.customers {
			ids = append(ids, id)
		}
		profiles = make([]*signals.Profile, 0, len(e.profiles))
		for _, p := range e.profiles {
			profiles = append(profiles, p)
		}
	} else {
		for id := range dirty {
			ids = append(ids, id)
		}
		profiles = make([]*signals.Profile, 0, len(dirtyProf))
		for id := range dirtyProf {
			if p, ok := e.profiles[id]; ok {
				profiles = append(profiles, p)
			}
		}
	}
	e.mu.Unlock()
	restore := func() {
		e.mu.Lock()
		for id := range dirty {
			e.dirty[id] = struct{}{}
		}
		for id := range dirtyProf {
			e.dirtyProf[id] = struct{}{}
		}
		e.mu.Unlock()
	}
	w := newChunkWriter(ctx, e.js, e.nc.MaxPayload())
	if err := e.encodeCustomers(w, ids); err != nil {
		restore()
		return err
	}
	for _, p := range profiles {
		buf := appendProfile(w.begin(entryProfile), p)
		if err := w.end(buf); err != nil {
			restore()
			return err
		}
		if w.full() {
			if err := w.flush(); err != nil {
				restore()
				return err
			}
		}
	}
	// An image always writes a chunk, so that it has a first sequence.
	if err := w.close(image); err != nil {
		restore()
		return fmt.Errorf("write %d customer records and %d profiles: %w", len(ids), len(profiles), err)
	}
	// Every alert, DLQ message and profile published to its bucket up to
	// the last record encoded is confirmed before the commit: a record may
	// already hold the effect of messages applied after seq (it carries
	// its own sequence, and a replay skips them for its customer), so what
	// those messages sent must be durable before the record counts.
	if err := e.confirmPublished(ctx); err != nil {
		restore()
		return err
	}
	next := e.stateLog
	if image {
		next = logState{base: w.first, imageBytes: w.bytes}
	} else {
		next.deltaBytes += w.bytes
	}
	cp.Base, cp.ImageBytes, cp.DeltaBytes = next.base, next.imageBytes, next.deltaBytes
	if _, err := commit(ctx, e.js, cp); err != nil {
		restore()
		return err
	}
	if image && e.stateLog.base != 0 {
		// The log before the new image is needed no more. Failing to
		// drop it costs disk, not correctness: log it and go on.
		if err := e.purgeStateBefore(ctx, next.base); err != nil {
			e.logLimited("purge", "old checkpoints not purged from "+StateStream, zap.Error(err))
		}
	}
	e.stateLog = next
	e.mu.Lock()
	e.durable = seq
	e.mu.Unlock()
	return nil
}

func (e *Engine) purgeStateBefore(ctx context.Context, seq uint64) error {
	s, err := e.js.Stream(ctx, StateStream)
	if err != nil {
		return err
	}
	return s.Purge(ctx, jetstream.WithPurgeSequence(seq))
}

// encodeChunk bounds the customers encoded per hold of the lock. A
// checkpoint may hold a million records; the intake waits for at most one
// chunk (0.5 to 3 µs a record, the more customers the slower) between
// its chunks of messages.
const encodeChunk = 64

// encodeCustomers writes the records of customers ids, encoded a chunk
// at a time under the read lock, so that the intake goes on in between,
// and published outside it. A record encoded late may hold messages
// applied after the checkpoint's sequence: it carries its own sequence
// and a replay skips what it holds.
func (e *Engine) encodeCustomers(w *chunkWriter, ids []string) error {
	for len(ids) > 0 {
		n, err := e.encodeSome(w, ids)
		if err != nil {
			return err
		}
		ids = ids[n:]
		// A checkpoint is background work: let the intake and the
		// reader have the CPU between chunks rather than wait out the
		// scheduler's time slice (10 ms) behind it. On two CPUs shared
		// with NATS that wait was the tail of publish-to-score.
		runtime.Gosched()
		if w.full() {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeSome encodes up to encodeChunk of ids, stopping early when the
// chunk in hand is full, and says how many it took.
func (e *Engine) encodeSome(w *chunkWriter, ids []string) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, id := range ids {
		if n == encodeChunk || w.full() {
			break
		}
		n++
		c, ok := e.customers[id]
		if !ok {
			continue
		}
		buf, err := AppendRecord(w.begin(entryCustomer), Record{State: &c.Score, Alert: c.Alert})
		if err != nil {
			w.abandon()
			return n, fmt.Errorf("encode customer %q: %w", id, err)
		}
		if err := w.end(buf); err != nil {
			return n, err
		}
	}
	return n, nil
}

// confirmPublished waits for the acks of alerts and DLQ messages sent
// since the last checkpoint, re-sending the ones that failed.
func (e *Engine) confirmPublished(ctx context.Context) error {
	e.mu.Lock()
	pending, retry := e.pending, e.retry
	e.pending, e.retry = nil, nil
	e.mu.Unlock()
	var failed []*nats.Msg
	for _, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			e.logLimited("publish", "publish failed, retrying", zap.String("subject", f.Msg().Subject), zap.Error(err))
			failed = append(failed, f.Msg())
		case <-ctx.Done():
			e.requeue(append(failed, msgsOf(pending)...))
			return ctx.Err()
		}
	}
	failed = append(failed, retry...)
	for i, m := range failed {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := e.js.PublishMsg(pctx, m)
		cancel()
		if err != nil {
			e.requeue(failed[i:])
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
	}
	return nil
}

func msgsOf(fs []jetstream.PubAckFuture) []*nats.Msg {
	out := make([]*nats.Msg, len(fs))
	for i, f := range fs {
		out[i] = f.Msg()
	}
	return out
}

func (e *Engine) requeue(msgs []*nats.Msg) {
	e.mu.Lock()
	e.retry = append(msgs, e.retry...)
	e.mu.Unlock()
}
