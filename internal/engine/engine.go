// Package engine is riskd's coordinator: it owns the JetStream streams and
// wires the stages of the pipeline, in the order a signal takes them:
//
//	ingest (fetch, decode, order) → book (the pure step) → outbox (publish) → statelog (checkpoint)
//
// One goroutine applies the intake's chunks to the book under a lock;
// queries read the book under a read lock. Messages are acknowledged only
// once the checkpoint that includes them is durable, so a crash at any
// moment ends in the same scores and alerts as an uninterrupted run.
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
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/internal/outbox"
	"github.com/riskwatch/riskwatch/internal/statelog"
	"github.com/riskwatch/riskwatch/rules"
)

// Config is what an engine needs besides a connection.
type Config struct {
	Rules  *rules.Set
	Policy alerting.Policy
	// Batch is how many messages one fetch asks for.
	Batch int
	// CheckpointInterval and CheckpointEvery bound how much is replayed
	// after a crash: a checkpoint is taken after whichever comes first.
	CheckpointInterval time.Duration
	CheckpointEvery    int
	// ImageFloor is the least volume of deltas in the state log that calls
	// for a full image (default statelog.DefaultImageFloor).
	ImageFloor int64
	// SweepInterval is how often, once caught up, riskd publishes a tick
	// of the wall clock to RISK_SIGNALS while a producer is live: the
	// producers' clocks move on, and silences are swept, at the ticks.
	SweepInterval time.Duration
	// Durable is the consumer's name.
	Durable string
	// Replicas and SignalsMaxAge configure the streams.
	Replicas      int
	SignalsMaxAge time.Duration
	Now           func() time.Time
	Log           *zap.Logger
	Registry      prometheus.Registerer
	// Inspect is book.Config.Inspect: it runs with the state locked and
	// must not call the engine.
	Inspect func(subject string, data []byte)
	// Partition is the part of the input this engine owns (all of it by
	// default).
	Partition Partition
	// StreamsReady says the streams are set up (Setup): a group's node
	// does it once for all the engines of its partitions.
	StreamsReady bool
	// Scored, when set, is told of every signal once it is scored (and its
	// alert, if any, published), with the state locked: it must return
	// quickly. riskbench times publish-to-score with it.
	Scored func(customer, id string)

	// Limits bound the streams and the customers (limits.go).
	Limits Limits
}

func (c *Config) defaults() {
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
		c.Durable = defaultDurable
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
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
	log     *logging.Limited
	nc      *nats.Conn
	js      jetstream.JetStream
	outbox  *outbox.Outbox
	state   *statelog.Log
	metrics *metrics
	part    names
	// stop ends Run early (the lease was lost, a commit was fenced off);
	// lost says why.
	stop   context.CancelFunc
	lostMu sync.Mutex
	lost   error
	cp     scheduler // touched by the applying goroutine only
	// lastTick is when the last tick was published (applying goroutine).
	lastTick time.Time

	mu       sync.RWMutex
	book     *book.Book
	progress progress
	fx       book.Effects // what the step in hand decided, reused
	refused  map[uint64]string
}

// progress is how far the engine got, guarded by the engine's lock.
type progress struct {
	applied   uint64 // last stream sequence applied
	durable   uint64 // last stream sequence covered by a checkpoint
	readyAt   uint64 // stream's last sequence at start: ready once applied
	ready     bool
	healthErr error         // the last checkpoint's failure
	appliedCh chan struct{} // closed and replaced whenever applied moves
}

// New prepares an engine on nc. Run starts it.
func New(nc *nats.Conn, cfg Config) (*Engine, error) {
	cfg.defaults()
	if cfg.Rules == nil {
		return nil, errors.New("engine: no rule set")
	}
	// Alerts, DLQ entries and profiles go out asynchronously and are
	// confirmed by the next checkpoint: room for a checkpoint's worth of
	// them (an initial load of profiles) before a publish has to wait.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		return nil, fmt.Errorf("engine: jetstream: %w", err)
	}
	part := cfg.Partition.names(cfg.Durable)
	e := &Engine{
		cfg: cfg, log: logging.NewLimited(cfg.Log, time.Minute), nc: nc, js: js, part: part,
		outbox:   outbox.New(js, nc.MaxPayload, cfg.Registry, cfg.Log),
		state:    statelog.New(js, nc.MaxPayload, cfg.ImageFloor, part.state),
		metrics:  newMetrics(cfg.Registry),
		book:     book.New(book.Config{Rules: cfg.Rules, Policy: cfg.Policy, Inspect: cfg.Inspect, MaxCustomers: cfg.Limits.MaxCustomers}),
		progress: progress{appliedCh: make(chan struct{})},
		refused:  map[uint64]string{},
	}
	e.outbox.DigestPart = part.digest
	e.cp.lastCP = cfg.Now()
	if err := cfg.Registry.Register(newStreamUsage(js, cfg.Limits.MaxCustomers)); err != nil {
		return nil, fmt.Errorf("engine: stream metrics: %w", err)
	}
	return e, nil
}

// JetStream is the engine's JetStream context.
func (e *Engine) JetStream() jetstream.JetStream { return e.js }

// Run sets up streams, restores the checkpoint and consumes until ctx is
// done; then it finishes the chunk in hand, checkpoints and returns.
//
// A lost lease or a fenced commit ends Run early with that error, without
// a final checkpoint: the partition's new owner carries on from the last
// one.
func (e *Engine) Run(ctx context.Context) error {
	ctx, e.stop = context.WithCancel(ctx)
	defer e.stop()
	if err := e.start(ctx); err != nil {
		if lost := e.lostErr(); lost != nil {
			return lost
		}
		if ctx.Err() != nil {
			// Stopped while starting: nothing was applied, nothing to
			// flush, and a shutdown is not a failure.
			return nil
		}
		return err
	}
	in := ingest.Intake{Open: e.reposition, Batch: e.cfg.Batch, Now: e.cfg.Now, Log: e.log, Strip: e.part.strip}
	in.Run(ctx, e)
	// Shutdown: let the checkpoint in flight finish, then flush what was
	// applied so the next start resumes here.
	e.cp.settle(e, true)
	if lost := e.lostErr(); lost != nil {
		return lost
	}
	if !e.held() {
		return ErrLeaseLost
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.checkpoint(flushCtx, e.cp.lastMsg); err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	return nil
}

// held reports whether the partition's lease is still certainly held.
func (e *Engine) held() bool {
	h := e.cfg.Partition.Held
	return h == nil || h()
}

// waitHeld waits while the partition's lease has lapsed (NATS out of
// reach): applying now could apply a customer twice at once, should
// another riskd have taken the partition. It reports false once ctx ends:
// the lease was lost for good, or the engine is stopping.
func (e *Engine) waitHeld(ctx context.Context) bool {
	for !e.held() {
		if !ingest.Sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return ctx.Err() == nil
}

// lose stops Run for err: the lease was lost or a commit fenced off.
func (e *Engine) lose(err error) {
	e.lostMu.Lock()
	if e.lost == nil {
		e.lost = err
		e.cfg.Log.Warn("partition lost; stopping without a checkpoint", zap.Int("partition", e.cfg.Partition.Index), zap.Error(err))
	}
	e.lostMu.Unlock()
	if e.stop != nil {
		e.stop()
	}
}

func (e *Engine) lostErr() error {
	e.lostMu.Lock()
	defer e.lostMu.Unlock()
	return e.lost
}

// caughtUp marks the engine ready once a fetch found nothing more.
func (e *Engine) caughtUp() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.progress.ready {
		e.progress.ready = true
		e.cfg.Log.Info("caught up", zap.Uint64("seq", e.progress.applied))
	}
}

// Ready reports whether the engine has caught up with the stream as it was
// at start and NATS is connected.
func (e *Engine) Ready() error {
	if !e.nc.IsConnected() {
		return fmt.Errorf("NATS is %s", e.nc.Status())
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.progress.ready {
		return fmt.Errorf("catching up: applied %d of %d", e.progress.applied, e.progress.readyAt)
	}
	return nil
}

// Healthy reports a failing checkpoint, the one condition that makes the
// daemon stop acknowledging.
func (e *Engine) Healthy() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.progress.healthErr
}

// WaitApplied blocks until the engine has applied stream sequence seq.
func (e *Engine) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		e.mu.RLock()
		applied, ch := e.progress.applied, e.progress.appliedCh
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
