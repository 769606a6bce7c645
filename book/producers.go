package book

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Producer is what the book knows of one producer of signals, a signal
// kind, across every customer. Its clock is how far in event time the
// producer is known: its latest event, moved on with the wall clock (by
// ticks) only while it is live. A customer's silence of that kind is
// judged against the clock, never against the wall clock, so that a
// backfill's lag is not a customer's silence; and a producer that goes
// quiet as a whole stops its clock, which holds those silences, and is
// reported once, as an operator's problem.
type Producer struct {
	// Latest is its latest event time (Unix seconds), 0 when it was never
	// heard from.
	Latest int64 `json:"latest,omitempty"`
	// Clock is Latest, or later: the wall time of the last tick that
	// found it live.
	Clock int64 `json:"clock,omitempty"`
	// Gap is its usual interval between two events that move Latest on:
	// a maximum that fades with a week's half-life of event time.
	Gap int64 `json:"gap,omitempty"`
	// Live says a tick found it caught up with the wall clock; Quiet that
	// it went silent as a whole since.
	Live  bool `json:"live,omitempty"`
	Quiet bool `json:"quiet,omitempty"`
}

// Quiet thresholds: a producer is quiet when it has sent nothing for
// quietGaps of its usual intervals, and never sooner than quietFloor. A
// new producer's usual interval is taken to be firstGap, a daily export's,
// until its own intervals have faded that in: so that the first night of
// a daily rollup is not taken for a silence.
const (
	quietGaps  = 4
	quietFloor = 6 * 3600
	firstGap   = 86400
	gapFade    = 7 * 86400
)

// quietAfter is how long the producer may send nothing and still be live.
func (p *Producer) quietAfter() int64 { return max(quietFloor, quietGaps*p.Gap) }

// heard records an event at t, and reports whether it ended a silence.
func (p *Producer) heard(t int64) bool {
	if p.Latest == 0 {
		p.Gap = firstGap
	}
	if t > p.Latest {
		if p.Latest > 0 {
			gap := t - p.Latest
			fade := float64(p.Gap) * math.Exp2(-float64(gap)/gapFade)
			p.Gap = max(gap, int64(fade))
		}
		p.Latest = t
	}
	p.Clock = max(p.Clock, t)
	back := p.Quiet
	p.Quiet = false
	return back
}

// tick moves the clock to wall time now when the producer is live; it
// reports whether the producer has just gone quiet.
func (p *Producer) tick(now int64) bool {
	if p.Latest == 0 {
		return false
	}
	if now-p.Latest <= p.quietAfter() {
		p.Clock, p.Live = max(p.Clock, now), true
		return false
	}
	if p.Live && !p.Quiet {
		p.Quiet = true
		return true
	}
	return false
}

// ticking reports whether a tick at now can change anything for p: it is
// live, or it was and has not been reported quiet yet. A producer heard
// from only in the past (a backfill) never is, so that a stream of old
// signals is never interleaved with ticks.
func (p *Producer) ticking(now int64) bool {
	return p.Latest > 0 && (now-p.Latest <= p.quietAfter() || (p.Live && !p.Quiet))
}

// ClockSubject carries ticks: riskd publishes one on RISK_SIGNALS every
// sweep interval while a producer is live, so that the wall clock enters
// the stream, and every replay of it moves the clocks, sweeps and holds
// silences at the same messages.
const ClockSubject = "risk.clock"

// Tick is the body of a message on ClockSubject.
type Tick struct {
	Time time.Time `json:"time"`
}

// NeedsTick reports whether a tick at wall time now would move a
// producer's clock or report one quiet.
func (b *Book) NeedsTick(now time.Time) bool {
	for i := range b.clock.Producers {
		if b.clock.Producers[i].ticking(now.Unix()) {
			return true
		}
	}
	return false
}

// Quiet is an operator's alert: a producer went quiet as a whole, or came
// back. While it is quiet the customers' silences of its kind are held.
type Quiet struct {
	Kind signals.Kind `json:"kind"`
	// Quiet is false when the producer came back.
	Quiet bool `json:"quiet"`
	// Latest is its latest event then; At when this was seen (the tick's
	// time, or the event's that ended the silence).
	Latest time.Time `json:"latest"`
	At     time.Time `json:"at"`
}

// OpsPrefix begins the subjects of operators' alerts, on RISK_ALERTS.
const OpsPrefix = "risk.ops."

// Subject is where the operator's alert is published:
// risk.ops.producer.<kind>.
func (q Quiet) Subject() string { return OpsPrefix + "producer." + string(q.Kind) }

// ID is its Nats-Msg-Id: one per producer, change and latest event.
func (q Quiet) ID() string {
	state := "back"
	if q.Quiet {
		state = "quiet"
	}
	return fmt.Sprintf("ops-%s-%s-%d", q.Kind, state, q.Latest.Unix())
}

// syncClocks copies the producers' clocks to where the scorer reads them.
// Only steps call it: queries read the copy under the book's read lock.
func (b *Book) syncClocks() {
	for i := range b.clock.Producers {
		b.clocks[i] = b.clock.Producers[i].Clock
	}
}

// applyTick moves the live producers' clocks to the tick's time, reports
// those gone quiet, and sweeps.
func (b *Book) applyTick(m *Message, out *Effects) Outcome {
	o := Outcome{Input: InputTick, Kind: "tick"}
	var tk Tick
	if err := json.Unmarshal(m.Data, &tk); err != nil || tk.Time.IsZero() {
		o.Result, o.Err = Rejected, &signals.Error{Reason: signals.ReasonMalformed, Msg: "a tick is {\"time\": RFC 3339}"}
		out.Reject(m, o.Err)
		return o
	}
	now := tk.Time.Unix()
	for i := range b.clock.Producers {
		p := &b.clock.Producers[i]
		if p.tick(now) {
			out.Quiet = append(out.Quiet, Quiet{Kind: signals.Kinds[i], Quiet: true,
				Latest: time.Unix(p.Latest, 0).UTC(), At: tk.Time.UTC()})
		}
		b.clock.Watermark = max(b.clock.Watermark, p.Clock)
	}
	b.syncClocks()
	b.sweepDays(m.Seq, out)
	if now > b.clock.LastSweep {
		b.Sweep(now, m.Seq, out)
	}
	o.Result = Accepted
	return o
}
