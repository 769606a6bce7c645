package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/signals"
)

// checkpoint makes everything applied so far durable, in this order:
//  1. the alerts and DLQ messages already published are confirmed (failed
//     ones are re-sent; their message ids make that idempotent);
//  2. dirty customer records and profiles are written to their buckets;
//  3. the checkpoint record with the covered sequence is written;
//  4. last is acknowledged, which under AckAll acknowledges all before it.
//
// A crash between any two steps replays from the previous checkpoint and
// ends in the same state: records written early carry their own sequence
// and skip what they already contain.
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
	// Profiles are taken as of seq, under the same lock: a restore from
	// this checkpoint takes only revisions stamped at or before seq, so a
	// revision stamped later (encoded after the intake moved on) would be
	// ignored, and one stamped seq must not hold a later update. A profile
	// is replaced on update, never changed in place: keeping the pointer
	// is enough.
	profiles := make(map[string]*signals.Profile, len(dirtyProf))
	for id := range dirtyProf {
		if p, ok := e.profiles[id]; ok {
			profiles[id] = p
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
	recs, nState, err := e.encodeDirty(dirty, profiles, seq)
	if err != nil {
		restore()
		return err
	}
	// Every alert and DLQ message published up to the last record encoded
	// is confirmed before any record is written: a record may already hold
	// the effect of messages applied after seq (it carries its own
	// sequence, and a replay skips them for its customer), so the alerts
	// those messages sent must be durable first.
	if err := e.confirmPublished(ctx); err != nil {
		restore()
		return err
	}
	// Bucket writes as async publishes to the KV subjects: one round trip
	// per batch instead of one per key.
	futures := make([]jetstream.PubAckFuture, 0, min(len(recs), writeWindow))
	for _, r := range recs {
		if len(futures) == writeWindow {
			// A window at a time: the records share the connection with
			// the intake, and megabytes of them queued at once would hold
			// its next fetch behind them.
			if err := waitAll(ctx, futures); err != nil {
				restore()
				return fmt.Errorf("write %d customer records and %d profiles: %w", nState, len(recs)-nState, err)
			}
			futures = futures[:0]
		}
		msg := nats.NewMsg(r.key)
		msg.Data = r.body
		if r.profile {
			// Restore keeps the newest revision a complete checkpoint
			// covers: a profile written by a checkpoint that crashed half
			// way must not reach signals it came after.
			msg.Header.Set(SeqHeader, strconv.FormatUint(seq, 10))
		}
		f, err := e.js.PublishMsgAsync(msg)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// More records than the client keeps in flight (a sweep
			// dirties every customer): wait for those sent, then go on.
			if err = waitAll(ctx, futures); err == nil {
				futures = futures[:0]
				f, err = e.js.PublishMsgAsync(msg)
			}
		}
		if err != nil {
			restore()
			return fmt.Errorf("write state %s: %w", r.key, err)
		}
		futures = append(futures, f)
	}
	if err := waitAll(ctx, futures); err != nil {
		restore()
		return fmt.Errorf("write %d customer records and %d profiles: %w", nState, len(recs)-nState, err)
	}
	body, _ := json.Marshal(cp)
	if _, err := e.kvState.Put(ctx, checkpointKey, body); err != nil {
		restore()
		return fmt.Errorf("write checkpoint record: %w", err)
	}
	e.mu.Lock()
	e.durable = seq
	e.mu.Unlock()
	return nil
}

// writeWindow is how many records a checkpoint has in flight at once.
const writeWindow = 256

// record is one encoded bucket entry of a checkpoint.
type record struct {
	key     string
	body    []byte
	profile bool
}

// encodeChunk is how many customers are encoded per hold of the lock. A
// checkpoint may hold tens of thousands of records; the intake waits for
// at most one chunk (about half a microsecond a record) between its
// messages.
const encodeChunk = 256

// encodeDirty encodes the records of the dirty customers, a chunk at a
// time under the read lock, so that the intake goes on in between, and
// the profiles taken as of the checkpoint's sequence seq. A customer
// record encoded late may hold messages applied after seq: it carries its
// own sequence and a replay skips what it holds.
func (e *Engine) encodeDirty(dirty map[string]struct{}, profiles map[string]*signals.Profile, seq uint64) ([]record, int, error) {
	recs := make([]record, 0, len(dirty)+len(profiles))
	ids := make([]string, 0, encodeChunk)
	flush := func() error {
		// One buffer per chunk: the records stay referenced by their
		// publishes until acknowledged, so they cannot share one buffer
		// across chunks, but need not each have their own.
		buf := make([]byte, 0, 640*len(ids))
		e.mu.RLock()
		defer e.mu.RUnlock()
		for _, id := range ids {
			c, ok := e.customers[id]
			if !ok {
				continue
			}
			start := len(buf)
			var err error
			if buf, err = AppendRecord(buf, Record{State: &c.Score, Alert: c.Alert}); err != nil {
				return fmt.Errorf("encode customer %q: %w", id, err)
			}
			recs = append(recs, record{key: "$KV." + StateBucket + "." + stateKey(id), body: buf[start:len(buf):len(buf)]})
		}
		ids = ids[:0]
		return nil
	}
	for id := range dirty {
		if ids = append(ids, id); len(ids) == encodeChunk {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	nState := len(recs)
	for id, p := range profiles {
		body, err := json.Marshal(p)
		if err != nil {
			return nil, 0, fmt.Errorf("encode profile %q (as of %d): %w", id, seq, err)
		}
		recs = append(recs, record{key: "$KV." + ProfilesBucket + "." + signals.SubjectToken(id), body: body, profile: true})
	}
	return recs, nState, nil
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

func waitAll(ctx context.Context, fs []jetstream.PubAckFuture) error {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
