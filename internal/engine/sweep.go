package engine

import (
	"context"
	"time"

	"go.uber.org/zap"
)

const daySeconds = int64(24 * time.Hour / time.Second)

// maybeSweepEvent sweeps all customers when the event clock enters a new
// day. It runs inside the processing of message seq, so a replay sweeps at
// exactly the same points. Called with e.mu held.
func (e *Engine) maybeSweepEvent(seq uint64) {
	if e.watermark/daySeconds <= e.lastSweep/daySeconds {
		return
	}
	e.sweep(e.watermark, seq)
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
	e.sweep(now, e.applied)
}

// sweep re-evaluates every customer at clock time now, as of stream
// sequence seq: silences (no usage, no CSM contact, unanswered quotes)
// fire, contributions decay, reminders fall due. Called with e.mu held.
func (e *Engine) sweep(now int64, seq uint64) {
	start := time.Now()
	cause := "sweep:" + unixString(now)
	tiers := map[string]float64{}
	for id, c := range e.customers {
		if now > c.Score.Evaluated && !e.ahead(c, now, seq) {
			e.evaluate(id, c, e.profiles[id], now, cause)
		}
		tiers[c.Score.Tier.String()]++
	}
	for _, t := range []string{"healthy", "watch", "at_risk", "critical"} {
		e.metrics.Customers.WithLabelValues(t).Set(tiers[t])
	}
	e.lastSweep = now
	if d := int32(now / daySeconds); d > e.lastDigest {
		e.publishDigests(now, seq)
		e.lastDigest = d
	}
	e.log.Debug("sweep", zap.Int("customers", len(e.customers)), zap.Duration("took", time.Since(start)))
}

// ahead reports whether c holds more than the stream up to seq at clock
// time now: restored from a checkpoint whose records were encoded while
// the intake went on (they carry a later sequence than the commit's),
// while the engine replays what lies before them. Such a record already holds this sweep's
// effect, or its customer did not exist yet at this point of the stream;
// either way the sweep and the day's digest must leave it out, or the
// replay would diverge from the uninterrupted run. In an uninterrupted run
// no customer is ever ahead: with the event clock, every evaluation
// happens at a time at most the clock's. (The wall clock can be behind a
// customer's events, which may be up to a day in the future.)
func (e *Engine) ahead(c *customer, now int64, seq uint64) bool {
	return c.Score.Seq > seq || (e.cfg.Clock == ClockEvent && c.Score.Evaluated > now)
}
