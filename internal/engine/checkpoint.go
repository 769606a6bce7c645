package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/statelog"
)

// scheduler decides when checkpoints run. Checkpoints run beside the
// intake: one starts and the intake goes on applying chunks while its
// records are encoded (a chunk at a time under the lock) and written. At
// most one is in flight; its outcome is picked up between chunks.
type scheduler struct {
	inflight *asyncCheckpoint
	lastCP   time.Time
	// took is how long the last checkpoint ran. While a backlog drains,
	// checkpoints are spaced by at least checkpointSpacing times that, so
	// they take a bounded share of the machine: every checkpoint rewrites
	// each customer touched since the previous one, and back to back they
	// would rewrite nearly a record per message.
	took time.Duration
	// since counts the messages applied since the last checkpoint began;
	// lastMsg is the newest, the one its success acknowledges.
	since   int
	lastMsg jetstream.Msg
	// failing stops the intake until a checkpoint succeeds: every chunk
	// taken meanwhile would only grow what a crash replays and what memory
	// holds, with nothing acknowledged.
	failing bool
}

// checkpointSpacing keeps checkpoints to about a fifth of the time at most.
const checkpointSpacing = 4

// after runs after every chunk: it picks up the outcome of the checkpoint
// in flight and starts the next one when it is due.
func (s *scheduler) after(ctx context.Context, e *Engine) {
	s.settle(e, false)
	for s.failing && ctx.Err() == nil {
		ingest.Sleep(ctx, e.cfg.CheckpointInterval)
		if ctx.Err() != nil {
			return
		}
		err := e.checkpoint(ctx, s.lastMsg)
		if errors.Is(err, statelog.ErrFenced) {
			e.lose(err)
			return
		}
		if err == nil {
			s.since, s.lastMsg, s.failing = 0, nil, false
		}
		s.lastCP = e.cfg.Now()
	}
	if s.inflight != nil {
		return // the next one starts once this one is done
	}
	// lastMsg alone (redelivered messages, all skipped) still calls for a
	// checkpoint: it is what moves the consumer's ack floor.
	elapsed := e.cfg.Now().Sub(s.lastCP)
	spaced := elapsed >= checkpointSpacing*s.took
	due := s.since >= e.cfg.CheckpointEvery || elapsed >= e.cfg.CheckpointInterval
	switch {
	case (s.since > 0 || s.lastMsg != nil) && spaced && due:
		s.start(ctx, e)
	case s.since == 0 && spaced && elapsed >= e.cfg.CheckpointInterval:
		// Nothing new from the stream, but sweeps may have changed state.
		e.mu.RLock()
		changed := e.book.Changed()
		e.mu.RUnlock()
		if changed {
			s.start(ctx, e)
		} else {
			s.lastCP = e.cfg.Now()
		}
	}
}

func (s *scheduler) start(ctx context.Context, e *Engine) {
	s.inflight = e.checkpointAsync(ctx, s.lastMsg)
	s.lastCP = e.cfg.Now()
	s.since, s.lastMsg = 0, nil
}

// settle picks up the outcome of the checkpoint in flight, waiting for it
// when wait is set.
func (s *scheduler) settle(e *Engine, wait bool) {
	if s.inflight == nil {
		return
	}
	var err error
	if wait {
		err = <-s.inflight.done
	} else {
		select {
		case err = <-s.inflight.done:
		default:
			return
		}
	}
	s.took = e.cfg.Now().Sub(s.inflight.started)
	if errors.Is(err, statelog.ErrFenced) {
		e.lose(err)
	}
	if err != nil {
		// Its changes are changes again; its last message is acknowledged
		// by the next checkpoint that succeeds (under AckAll a later
		// message acknowledges it too).
		s.failing = true
		if s.lastMsg == nil {
			s.lastMsg = s.inflight.last
		}
	}
	s.inflight = nil
}

// asyncCheckpoint is a checkpoint running on its own goroutine.
type asyncCheckpoint struct {
	last    jetstream.Msg
	started time.Time
	done    chan error
}

// checkpointAsync runs checkpoint(last) on its own goroutine. It is not
// cut short when ctx ends: the engine waits for it before its final
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

// checkpoint makes everything applied so far durable, in this order:
//  1. the changed customer records and profiles are appended to the state
//     log (RISK_STATE) in chunks;
//  2. the alerts, DLQ messages and profiles the outbox published are
//     confirmed (failed ones are re-sent; their message ids make that
//     idempotent);
//  3. the commit with the covered sequence is written;
//  4. last is acknowledged, which under AckAll acknowledges all before it.
//
// A crash before the commit replays from the previous checkpoint, and the
// next start drops the uncommitted chunks; records encoded while the
// intake went on carry their own sequence and skip what they contain.
func (e *Engine) checkpoint(ctx context.Context, last jetstream.Msg) error {
	start := time.Now()
	err := e.writeCheckpoint(ctx)
	e.metrics.checkpointSecs.Observe(time.Since(start).Seconds())
	e.mu.Lock()
	e.progress.healthErr = err
	e.mu.Unlock()
	if err != nil {
		e.metrics.checkpointErrors.Inc()
		e.log.Warn("checkpoint", "checkpoint failed; messages stay unacknowledged and will be retried", zap.Error(err))
		return err
	}
	if last != nil {
		if err := last.Ack(); err != nil {
			// Not fatal: the next checkpoint acknowledges further, and a
			// redelivery is skipped by sequence.
			e.log.Warn("ack", "acknowledgement failed", zap.Error(err))
		}
	}
	return nil
}

func (e *Engine) writeCheckpoint(ctx context.Context) error {
	// What this checkpoint covers: everything applied so far.
	e.mu.Lock()
	seq := e.progress.applied
	commit := statelog.CommitOf(seq, e.book.Clock())
	commit.Peers = e.book.Peers()
	commit.Time = e.cfg.Now().UTC().Format(time.RFC3339)
	image := e.state.NeedsImage()
	ch := e.book.TakeChanges(image)
	e.mu.Unlock()
	if err := e.writeChanges(ctx, ch, image, commit); err != nil {
		e.mu.Lock()
		e.book.GiveBack(ch)
		e.mu.Unlock()
		return err
	}
	e.mu.Lock()
	e.progress.durable = seq
	e.mu.Unlock()
	return nil
}

// writeChanges writes one checkpoint of ch and commits it.
func (e *Engine) writeChanges(ctx context.Context, ch book.Changes, image bool, commit statelog.Commit) error {
	w := e.state.Begin(ctx, image)
	if err := e.encodeCustomers(w, ch.Customers); err != nil {
		return err
	}
	// Profiles are taken as of the commit's sequence: a customer record may
	// be encoded after the intake moved on (it carries its own sequence),
	// but a profile is read back for every customer replayed after it and
	// must be the one they were scored with.
	for _, p := range ch.Profiles {
		if err := w.Profile(p); err != nil {
			return err
		}
		if w.Full() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %d customer records and %d profiles: %w", len(ch.Customers), len(ch.Profiles), err)
	}
	// Every alert, DLQ message and profile published up to the last
	// record encoded is confirmed before the commit: a record may already
	// hold the effect of messages applied after the commit's sequence (it
	// carries its own, and a replay skips them for its customer), so what
	// those messages sent must be durable before the record counts.
	if err := e.outbox.Confirm(ctx); err != nil {
		return err
	}
	purgeErr, err := w.Commit(commit)
	if purgeErr != nil {
		// The old log costs disk, not correctness.
		e.log.Warn("purge", "old checkpoints not purged from RISK_STATE", zap.Error(purgeErr))
	}
	return err
}

// encodeChunk bounds the customers encoded per hold of the lock. A
// checkpoint may hold a million records; the intake waits for at most one
// chunk (0.5 to 3 µs a record, the more customers the slower) between its
// chunks of messages.
const encodeChunk = 64

// encodeCustomers writes the records of customers ids, encoded a chunk at
// a time under the read lock, so that the intake goes on in between, and
// published outside it. A record encoded late may hold messages applied
// after the checkpoint's sequence: it carries its own sequence and a
// replay skips what it holds.
func (e *Engine) encodeCustomers(w *statelog.Writer, ids []string) error {
	for len(ids) > 0 {
		n, err := e.encodeSome(w, ids)
		if err != nil {
			return err
		}
		ids = ids[n:]
		// A checkpoint is background work: let the intake and the reader
		// have the CPU between chunks rather than wait out the scheduler's
		// time slice (10 ms) behind it. On two CPUs shared with NATS that
		// wait was the tail of publish-to-score.
		runtime.Gosched()
		if w.Full() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeSome encodes up to encodeChunk of ids, stopping early when the
// chunk in hand is full, and says how many it took.
func (e *Engine) encodeSome(w *statelog.Writer, ids []string) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, id := range ids {
		if n == encodeChunk || w.Full() {
			break
		}
		n++
		if c := e.book.Customer(id); c != nil {
			if err := w.Customer(c); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
