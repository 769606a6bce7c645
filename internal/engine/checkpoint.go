package engine

import (
	"context"
	"encoding/json"
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

func (e *Engine) writeCheckpoint(ctx context.Context) error {
	if err := e.confirmPublished(ctx); err != nil {
		return err
	}
	// Snapshot what to write under the lock, encode and send outside it.
	e.mu.Lock()
	seq := e.applied
	type rec struct {
		key     string
		body    []byte
		profile bool
	}
	recs := make([]rec, 0, len(e.dirty)+len(e.dirtyProf))
	var encErr error
	for id := range e.dirty {
		body, err := json.Marshal(e.customers[id])
		if err != nil {
			encErr = fmt.Errorf("encode customer %q: %w", id, err)
			break
		}
		recs = append(recs, rec{"$KV." + StateBucket + "." + stateKey(id), body, false})
	}
	nState := len(recs)
	for id := range e.dirtyProf {
		body, err := json.Marshal(e.profiles[id])
		if err != nil {
			encErr = fmt.Errorf("encode profile %q: %w", id, err)
			break
		}
		recs = append(recs, rec{"$KV." + ProfilesBucket + "." + signals.SubjectToken(id), body, true})
	}
	cp := checkpointRecord{Seq: seq, Watermark: e.watermark, LastSweep: e.lastSweep, Digest: e.lastDigest,
		Time: e.cfg.Now().UTC().Format(time.RFC3339)}
	dirty, dirtyProf := e.dirty, e.dirtyProf
	e.dirty, e.dirtyProf = map[string]struct{}{}, map[string]struct{}{}
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
	if encErr != nil {
		restore()
		return encErr
	}
	// Bucket writes as async publishes to the KV subjects: one round trip
	// per batch instead of one per key.
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	for _, r := range recs {
		msg := nats.NewMsg(r.key)
		msg.Data = r.body
		if r.profile {
			// Restore keeps the newest revision a complete checkpoint
			// covers: a profile written by a checkpoint that crashed half
			// way must not reach signals it came after.
			msg.Header.Set(SeqHeader, strconv.FormatUint(seq, 10))
		}
		f, err := e.js.PublishMsgAsync(msg)
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
