package engine

import (
	"context"
	"time"

	"go.uber.org/zap"
)

const daySeconds = int64(24 * time.Hour / time.Second)

// maybeSweepEvent sweeps all customers when the event clock enters a new
// day. It runs inside the processing of a message, so a replay sweeps at
// exactly the same points. Called with e.mu held.
func (e *Engine) maybeSweepEvent() {
	if e.watermark/daySeconds <= e.lastSweep/daySeconds {
		return
	}
	e.sweep(e.watermark)
}

// maybeSweepWall sweeps against wall time once the consumer has caught
// up, every SweepInterval.
func (e *Engine) maybeSweepWall(ctx context.Context) {
	if e.cfg.Clock != ClockWall || ctx.Err() != nil {
		return
	}
	now := e.cfg.Now().Unix()
	e.mu.Lock()
	defer e.mu.Unlock()
	if now-e.lastSweep < int64(e.cfg.SweepInterval/time.Second) {
		return
	}
	e.sweep(now)
}

// sweep re-evaluates every customer at clock time now: silences (no usage,
// no CSM contact, unanswered quotes) fire, contributions decay, reminders
// fall due. Called with e.mu held.
func (e *Engine) sweep(now int64) {
	start := time.Now()
	cause := "sweep:" + unixString(now)
	tiers := map[string]float64{}
	for id, c := range e.customers {
		if now > c.Score.Evaluated {
			e.evaluate(id, c, e.profiles[id], now, cause)
		}
		tiers[c.Score.Tier.String()]++
	}
	for _, t := range []string{"healthy", "watch", "at_risk", "critical"} {
		e.metrics.Customers.WithLabelValues(t).Set(tiers[t])
	}
	e.lastSweep = now
	if d := int32(now / daySeconds); d > e.lastDigest {
		e.publishDigests(now)
		e.lastDigest = d
	}
	e.log.Debug("sweep", zap.Int("customers", len(e.customers)), zap.Duration("took", time.Since(start)))
}
