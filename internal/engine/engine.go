// Package engine is the runtime of riskd: it owns the JetStream streams and
// buckets, consumes signals in batches, runs them through the scorer and
// the alert policy, publishes alerts, and checkpoints state so that a crash
// at any moment ends in the same scores and alerts as an uninterrupted run.
//
// One goroutine applies messages in stream order; queries read under a
// read lock. Messages are acknowledged only after the checkpoint that
// includes them is durable.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Clock modes.
const (
	// ClockWall sweeps silences against wall time once the consumer has
	// caught up: the live default.
	ClockWall = "wall"
	// ClockEvent sweeps against the latest event time seen: replays and
	// backfills, where the outcome must depend on the data alone.
	ClockEvent = "event"
)

// Config is what an engine needs besides a connection.
type Config struct {
	Rules  *rules.Set
	Policy alerting.Policy
	Clock  string
	// Batch is how many messages one fetch asks for.
	Batch int
	// CheckpointInterval and CheckpointEvery bound how much is replayed
	// after a crash: a checkpoint is taken after whichever comes first.
	CheckpointInterval time.Duration
	CheckpointEvery    int
	// SweepInterval is how often silences are swept in wall-clock mode.
	SweepInterval time.Duration
	// Durable is the consumer name; Partition, if set, restricts the
	// consumer to risk.signals.*.<tokens of a partition> in a scaled-out
	// deployment (a filter subject list).
	Durable string
	Filter  []string
	// Storage settings for the streams.
	Replicas      int
	SignalsMaxAge time.Duration
	AlertsMaxAge  time.Duration
	DedupWindow   time.Duration
	Now           func() time.Time
	Log           *zap.Logger
	Registry      prometheus.Registerer
	// Inspect, when set, sees every message just before it is applied,
	// on the engine's goroutine with the state locked (it must not call
	// the engine). It is a fault-injection point for tests: a panic in it
	// is handled like a panic of the scorer on that message.
	Inspect func(subject string, data []byte)
	// Scored, when set, is told of every signal once it is scored (and
	// its alert, if any, published), on the engine's goroutine with the
	// state locked: it must return quickly. riskbench times
	// publish-to-score with it.
	Scored func(customer, id string)
}

func (c *Config) defaults() {
	if c.Clock == "" {
		c.Clock = ClockWall
	}
	if c.Batch <= 0 {
		c.Batch = 1000
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 2 * time.Second
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 100_000
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	if c.Durable == "" {
		c.Durable = "riskd"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 2 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

// Engine is a running riskd core.
type Engine struct {
	cfg     Config
	log     *zap.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	model   *scorer.Model
	metrics *Metrics
	kvProf  jetstream.KeyValue
	// stateLog is touched only by restore and by the checkpoint in flight.
	stateLog logState
	limiter  *logLimiter

	mu         sync.RWMutex
	customers  map[string]*customer
	profiles   map[string]*signals.Profile
	alertIndex map[string]string // open alert id -> customer
	dirty      map[string]struct{}
	dirtyProf  map[string]struct{}
	applied    uint64 // last stream sequence applied
	durable    uint64 // last stream sequence covered by a checkpoint
	watermark  int64  // latest event time seen (the event clock)
	lastSweep  int64
	lastDigest int32
	readyAt    uint64 // stream's last sequence at start: ready once applied
	ready      bool
	healthErr  error
	appliedCh  chan struct{} // closed and replaced whenever applied moves
	// delivered is the consumer sequence of the last message received: a
	// jump means the consumer handed out messages that never arrived.
	delivered uint64

	actionErrs map[uint64]string // refusals of recent actions, for Submit

	// scratch is the result of the signal being scored, reused: it holds
	// the only per-signal allocation scoring would otherwise make.
	scratch scorer.Result

	pending []jetstream.PubAckFuture
	retry   []*nats.Msg
}

type customer struct {
	// Score is held by value: one allocation per customer, not two (a
	// million customers saved 64 MB).
	Score scorer.State
	Alert alerting.State
	last  *alerting.Alert // not persisted: the latest alert, for display
}

// New prepares an engine on nc. Run starts it.
func New(nc *nats.Conn, cfg Config) (*Engine, error) {
	cfg.defaults()
	if cfg.Rules == nil {
		return nil, errors.New("engine: no rule set")
	}
	if cfg.Clock != ClockWall && cfg.Clock != ClockEvent {
		return nil, fmt.Errorf("engine: clock %q: want %s or %s", cfg.Clock, ClockWall, ClockEvent)
	}
	// Alerts, DLQ entries and profiles go out asynchronously and are
	// confirmed by the next checkpoint: room for a checkpoint's worth of
	// them (an initial load of profiles) before a publish has to wait.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		return nil, fmt.Errorf("engine: jetstream: %w", err)
	}
	e := &Engine{
		cfg: cfg, log: cfg.Log, nc: nc, js: js,
		model:      scorer.NewModel(cfg.Rules),
		metrics:    NewMetrics(cfg.Registry),
		limiter:    newLogLimiter(time.Minute),
		customers:  map[string]*customer{},
		profiles:   map[string]*signals.Profile{},
		alertIndex: map[string]string{},
		dirty:      map[string]struct{}{},
		dirtyProf:  map[string]struct{}{},
		actionErrs: map[uint64]string{},
		appliedCh:  make(chan struct{}),
	}
	return e, nil
}

// Metrics exposes the collectors, e.g. for the webhook runner.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// JetStream is the engine's JetStream context.
func (e *Engine) JetStream() jetstream.JetStream { return e.js }

// Run sets up streams, restores the checkpoint and consumes until ctx is
// done; then it finishes the batch in hand, checkpoints and returns.
func (e *Engine) Run(ctx context.Context) error {
	cons, err := e.start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while starting: nothing was applied, nothing to
			// flush, and a shutdown is not a failure.
			return nil
		}
		return err
	}
	return e.loop(ctx, cons)
}

// start sets up streams and state and positions the consumer; only then
// can the engine be ready.
func (e *Engine) start(ctx context.Context) (jetstream.Consumer, error) {
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	cons, err := e.reposition(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.ready = e.applied >= e.readyAt
	e.mu.Unlock()
	return cons, nil
}

// Ready reports whether the engine has caught up with the stream as it was
// at start and NATS is connected.
func (e *Engine) Ready() error {
	if !e.nc.IsConnected() {
		return fmt.Errorf("NATS is %s", e.nc.Status())
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.ready {
		return fmt.Errorf("catching up: applied %d of %d", e.applied, e.readyAt)
	}
	return nil
}

// Healthy reports a failing checkpoint, the one condition that makes the
// daemon stop acknowledging.
func (e *Engine) Healthy() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.healthErr
}

func (e *Engine) loop(ctx context.Context, cons jetstream.Consumer) error {
	lastCP := e.cfg.Now()
	since := 0
	var lastMsg jetstream.Msg
	failing := false
	// Checkpoints run beside the intake: the loop starts one and goes on
	// applying messages while its records are encoded (a chunk at a time
	// under the lock) and written. At most one is in flight; its outcome
	// is picked up here.
	var inflight *asyncCheckpoint
	// took is how long the last checkpoint ran. While a backlog drains,
	// checkpoints are spaced by at least checkpointSpacing times that, so
	// they take a bounded share of the machine: every checkpoint rewrites
	// each customer touched since the previous one, and back to back they
	// would rewrite nearly a record per message.
	var took time.Duration
	settle := func(wait bool) {
		if inflight == nil {
			return
		}
		var err error
		if wait {
			err = <-inflight.done
		} else {
			select {
			case err = <-inflight.done:
			default:
				return
			}
		}
		took = e.cfg.Now().Sub(inflight.started)
		if err != nil {
			// Its dirty records are dirty again; its last message is
			// acknowledged by the next checkpoint that succeeds (under
			// AckAll a later message acknowledges it too).
			failing = true
			if lastMsg == nil {
				lastMsg = inflight.last
			}
		}
		inflight = nil
	}
	// The reader fetches and decodes on its own goroutine, so that the
	// next request goes out while this loop is still applying the last.
	var rd *reader
	stopReader := func() {
		if rd != nil {
			rd.stop()
			rd = nil
		}
	}
	defer stopReader()
	startCheckpoint := func(last jetstream.Msg) {
		inflight = e.checkpointAsync(ctx, last)
		lastCP = e.cfg.Now()
	}
	for {
		if ctx.Err() != nil {
			break
		}
		settle(false)
		if failing {
			// A failed checkpoint stops intake until one succeeds: every
			// batch taken meanwhile would only grow what a crash replays
			// and what memory holds, with nothing acknowledged.
			sleep(ctx, e.cfg.CheckpointInterval)
			if ctx.Err() != nil {
				break
			}
			if e.checkpoint(ctx, lastMsg) == nil {
				since, lastMsg, failing = 0, nil, false
			}
			lastCP = e.cfg.Now()
			continue
		}
		if cons == nil {
			stopReader()
			c, err := e.reposition(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				e.logLimited("reposition", "cannot recreate the RISK_SIGNALS consumer", zap.Error(err))
				sleep(ctx, 250*time.Millisecond)
				continue
			}
			// lastMsg belonged to the deleted consumer: nothing to ack.
			cons, lastMsg = c, nil
		}
		if rd == nil {
			rd = e.startReader(ctx, cons)
		}
		var item readItem
		select {
		case item = <-rd.items:
		case <-ctx.Done():
			continue
		}
		n, last, pendingLeft, gap := e.applyChunk(item.chunk)
		if item.end && item.empty {
			pendingLeft = 0 // a fetch that found nothing: caught up
		}
		if last != nil {
			lastMsg = last
		}
		since += n
		if err := item.err; err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if consumerGone(err) {
				stopReader()
				cons = nil
			}
			e.logLimited("fetch", "fetch from RISK_SIGNALS failed", zap.Error(err))
		}
		if gap {
			e.logLimited("gap", "messages handed out by the consumer never arrived; resuming from the last checkpoint")
			stopReader()
			cons = nil
			continue
		}
		if pendingLeft == 0 {
			e.maybeSweepWall(ctx)
		}
		if inflight != nil {
			continue // the next one starts once this one is done
		}
		// lastMsg alone (redelivered messages, all skipped) still calls for
		// a checkpoint: it is what moves the consumer's ack floor.
		elapsed := e.cfg.Now().Sub(lastCP)
		spaced := elapsed >= checkpointSpacing*took
		if (since > 0 || lastMsg != nil) && spaced && (since >= e.cfg.CheckpointEvery || elapsed >= e.cfg.CheckpointInterval) {
			startCheckpoint(lastMsg)
			since, lastMsg = 0, nil
		} else if since == 0 && spaced && elapsed >= e.cfg.CheckpointInterval {
			// Nothing new from the stream, but sweeps may have changed
			// state.
			e.mu.RLock()
			dirty := len(e.dirty) + len(e.dirtyProf)
			e.mu.RUnlock()
			if dirty > 0 {
				startCheckpoint(nil)
			} else {
				lastCP = e.cfg.Now()
			}
		}
	}
	// Shutdown: let the checkpoint in flight finish, then flush what was
	// applied so the next start resumes here.
	stopReader()
	settle(true)
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.checkpoint(flushCtx, lastMsg); err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	return nil
}

// consumerGone reports a fetch that failed because the consumer no longer
// exists: deleted by someone, or lost with a NATS restart (it keeps its
// state in memory). A pull request to a missing consumer finds no
// responder. The loop creates it again from the checkpoint.
func consumerGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders)
}

// checkpointSpacing keeps checkpoints to about a fifth of the time at most.
const checkpointSpacing = 4

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// WaitApplied blocks until the engine has applied stream sequence seq.
func (e *Engine) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		e.mu.RLock()
		applied, ch := e.applied, e.appliedCh
		e.mu.RUnlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for stream sequence %d (applied %d): %w", seq, applied, ctx.Err())
		case <-ch:
		}
	}
}

// logLimiter lets one log line per key through per period, so a flood of
// one bad input does not flood the log.
type logLimiter struct {
	mu     sync.Mutex
	period time.Duration
	last   map[string]time.Time
}

func newLogLimiter(period time.Duration) *logLimiter {
	return &logLimiter{period: period, last: map[string]time.Time{}}
}

func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		return false
	}
	if len(l.last) > 1000 {
		clear(l.last) // bound: keys come from a small set of reasons
	}
	l.last[key] = now
	return true
}

func (e *Engine) logLimited(key, msg string, fields ...zap.Field) {
	if e.limiter.allow(key, time.Now()) {
		e.log.Warn(msg, fields...)
	}
}

// Registry is where the engine's metrics are registered.
func (e *Engine) Registry() prometheus.Registerer { return e.cfg.Registry }
