package book

import (
	"iter"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// sweepDays sweeps at the start of the day the clocks have entered, when
// they entered a new one since the last sweep: the time of the sweep is
// the day's, not the message's that moved the clock, so that the same
// history sweeps at the same times whatever order it came in.
func (b *Book) sweepDays(seq uint64, out *Effects) {
	if day := b.clock.Watermark - b.clock.Watermark%daySeconds; day > b.clock.LastSweep {
		b.Sweep(day, seq, out)
	}
}

// Tiers counts customers by tier.
type Tiers [rules.Critical + 1]int

// Sweep re-evaluates every customer at clock time now (Unix seconds), as
// of stream sequence seq: silences (no usage, no CSM contact, unanswered
// quotes) fire, contributions decay, reminders fall due. On a new day it
// also sends the digests. It counts the customers in each tier into out.
func (b *Book) Sweep(now int64, seq uint64, out *Effects) {
	tiers := &out.Tiers
	*tiers = Tiers{}
	out.Swept = true
	cause := alerting.SweepCause(now)
	// The raises of a sweep share the owners' budgets out together,
	// ranked, not in the order of the map.
	pos := b.place(seq)
	var hold []held
	for id, c := range b.customers {
		if now > c.Score.Watermark && !b.ahead(c, now, seq) {
			b.evaluate(id, c, c.Profile, now, cause, pos, &hold, out)
		}
	}
	b.shareOut(hold, pos, out)
	for _, c := range b.customers {
		tiers[c.Score.Tier]++
	}
	b.clock.LastSweep = now
	if d := int32(now / daySeconds); d > b.clock.LastDigest {
		// The outcomes since the last digest, at most a week of them.
		from := max(int64(b.clock.LastDigest)*daySeconds, now-7*daySeconds)
		digests := alerting.Digests(time.Unix(now, 0).UTC(), b.digestEntries(now, from, seq))
		for i := range digests {
			digests[i].Budget = b.budgetOf(digests[i].Owner, d, pos)
		}
		out.Digests = append(out.Digests, digests...)
		b.clock.LastDigest = d
	}
}

// ahead reports whether c holds more than the stream up to seq at clock
// time now: restored from a checkpoint whose records were encoded while
// the intake went on (they carry a later sequence than the commit's),
// while the runtime replays what lies before them. Such a record already
// holds this sweep's effect, or its customer did not exist yet at this
// point of the stream; either way the sweep and the day's digest must
// leave it out, or the replay would diverge from the uninterrupted run.
// A customer evaluated after the sweep's time (its own latest event is
// later) is left out in every run alike.
func (b *Book) ahead(c *Customer, now int64, seq uint64) bool {
	return c.Score.Seq > seq || c.Score.Evaluated > now
}

// digestEntries yields every customer with its owner as the digest of the
// day of now sees it, with its outcomes from from to now.
func (b *Book) digestEntries(now, from int64, seq uint64) iter.Seq2[string, alerting.DigestEntry] {
	date := time.Unix(now, 0).UTC()
	return func(yield func(string, alerting.DigestEntry) bool) {
		for id, c := range b.customers {
			if b.ahead(c, now, seq) {
				// Its digest went out before the crash; the id, per
				// owner and day, makes this one a duplicate JetStream
				// drops.
				continue
			}
			p := c.Profile
			yesterday, _ := c.Score.ScoreOn(now - daySeconds)
			segment, owner := "", ""
			e := alerting.DigestEntry{Customer: id, Score: c.Score.Score, ScoreYesterday: yesterday,
				Tier: c.Score.Tier, DaysToRenewal: signals.DaysUntil(scorer.Renewal(&c.Score, p, now), date),
				Probability: b.model.Probability(&c.Score), HorizonDays: b.model.Horizon().Hours() / 24}
			if p != nil {
				segment, owner = p.Segment, p.Owner
				e.Name, e.ARR = p.Name, p.ARR
				e.RevenueAtRisk = alerting.RevenueAtRisk(p.ARR, c.Score.Score)
			}
			e.TierYesterday = b.rules.ThresholdsFor(segment).Classify(yesterday, rules.Healthy)
			e.Deferred = c.Alert.Deferred != 0 && !c.Alert.Open()
			e.Inhibited = c.Alert.Inhibited != 0
			for i := range c.Score.Outcomes {
				if o := &c.Score.Outcomes[i]; o.T >= from && o.T < now {
					e.Outcomes = append(e.Outcomes, alerting.NewDigestOutcome(id, e.Name, o))
				}
			}
			if !yield(owner, e) {
				return
			}
		}
	}
}
