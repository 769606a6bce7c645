package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/signals"
)

// Handle applies a chunk of the intake (ingest.Handler), then sees to the
// checkpoints and, once caught up, to the ticks of the wall clock.
func (e *Engine) Handle(ctx context.Context, c ingest.Chunk) {
	if c.Reopened {
		e.cp.lastMsg = nil // it belonged to the old consumer: nothing to ack
		return
	}
	if !e.waitHeld(ctx) {
		return
	}
	n, last := e.apply(c.Deliveries)
	if c.CaughtUp {
		e.caughtUp()
	}
	if last != nil {
		e.cp.lastMsg = last
	}
	e.cp.since += n
	if c.CaughtUp {
		e.maybeTick(ctx)
	}
	e.cp.after(ctx, e)
}

// apply applies deliveries in order and returns how many were new and the
// last message (the one to acknowledge, which under AckAll acknowledges
// all before it). One hold of the lock for the chunk: a checkpoint encodes
// between chunks, and taking the lock per message would let it in after
// every message, slowing the intake to one message per encoded chunk.
func (e *Engine) apply(ds []ingest.Delivery) (int, jetstream.Msg) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	var last jetstream.Msg
	for i := range ds {
		d := &ds[i]
		last = d.Msg
		e.metrics.lag.Set(float64(d.Meta.NumPending))
		seq := d.Meta.Sequence.Stream
		if seq <= e.progress.applied {
			e.metrics.signals.WithLabelValues("", "skipped").Inc()
			continue
		}
		e.step(d, seq)
		e.progress.applied = seq
		n++
	}
	if !e.progress.ready && e.progress.applied >= e.progress.readyAt {
		e.progress.ready = true
		e.cfg.Log.Info("caught up", zap.Uint64("seq", e.progress.applied))
	}
	if len(ds) > 0 {
		close(e.progress.appliedCh)
		e.progress.appliedCh = make(chan struct{})
	}
	return n, last
}

// step runs one message through the book and publishes what it decided.
// Called with e.mu held.
func (e *Engine) step(d *ingest.Delivery, seq uint64) {
	m := book.Message{Seq: seq, Subject: d.Subject, Data: d.Msg.Data()}
	if d.Signal {
		m.Signal, m.SignalErr = &d.Decoded, d.DecodeErr
	}
	o := e.book.Apply(&m, &e.fx)
	e.publish()
	e.count(o, seq)
	if o.Result == book.Scored {
		if !d.Meta.Timestamp.IsZero() {
			e.metrics.latency.Observe(time.Since(d.Meta.Timestamp).Seconds())
		}
		if e.cfg.Scored != nil {
			e.cfg.Scored(m.Signal.Customer, m.Signal.ID)
		}
	}
}

// count records a step's outcome in the metrics, and a refused command's
// reason for whoever submitted it.
func (e *Engine) count(o book.Outcome, seq uint64) {
	switch o.Input {
	case book.InputSignal:
		if o.Result != book.Covered {
			e.metrics.signals.WithLabelValues(o.Kind, string(o.Result)).Inc()
		}
		if o.Result == book.Scored && o.Recorded.Type != 0 {
			e.metrics.countOutcome(&o.Recorded)
		}
	case book.InputProfile:
		if o.Result == book.Accepted {
			e.metrics.profiles.Inc()
		}
	case book.InputCommand:
		switch o.Result {
		case book.Accepted, book.Refused:
			e.metrics.actions.WithLabelValues(o.Kind, string(o.Result)).Inc()
		}
		if o.Result == book.Refused {
			if len(e.refused) > 1000 {
				clear(e.refused) // only recent submitters wait for these
			}
			e.refused[seq] = o.Err.Error()
		}
	}
}

// publish hands what the step decided to the outbox. Called with e.mu
// held.
func (e *Engine) publish() {
	for _, err := range e.fx.RuleErrors {
		e.metrics.ruleErrors.WithLabelValues(err.Rule).Inc()
		e.log.Warn("rule:"+err.Rule, "rule evaluation failed", zap.String("rule", err.Rule), zap.Error(err))
	}
	if e.fx.Swept {
		for t, n := range e.fx.Tiers {
			e.metrics.customers.WithLabelValues(tierName(t)).Set(float64(n))
		}
		e.producerMetrics()
	}
	e.outbox.Effects(&e.fx)
	e.fx.Reset()
}

// maybeTick publishes a tick of the wall clock to RISK_SIGNALS once the
// consumer has caught up, every SweepInterval, while a tick would move a
// producer's clock. The tick comes back through the stream and is applied
// in its place like any message: a replay moves the clocks and sweeps at
// the same points, so the same stream gives the same scores.
func (e *Engine) maybeTick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := e.cfg.Now().UTC().Truncate(time.Second)
	if now.Sub(e.lastTick) < e.cfg.SweepInterval {
		return
	}
	e.mu.RLock()
	needs := e.book.NeedsTick(now)
	e.mu.RUnlock()
	if !needs {
		return
	}
	e.lastTick = now
	body, _ := json.Marshal(book.Tick{Time: now})
	msg := nats.NewMsg(e.part.tick)
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, e.part.tickID+strconv.FormatInt(now.Unix(), 10))
	if _, err := e.js.PublishMsgAsync(msg); err != nil {
		e.log.Warn("tick", "tick not published", zap.Error(err))
	}
}

// producerMetrics sets the producers' gauges, for those ever heard from.
// Called with e.mu held.
func (e *Engine) producerMetrics() {
	clock := e.book.Clock()
	for i, p := range clock.Producers {
		if p.Latest == 0 {
			continue
		}
		kind := string(signals.Kinds[i])
		e.metrics.producerClock.WithLabelValues(kind).Set(float64(p.Clock))
		quiet := 0.0
		if p.Quiet {
			quiet = 1
		}
		e.metrics.producerQuiet.WithLabelValues(kind).Set(quiet)
	}
}
