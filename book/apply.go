package book

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Message is one message of the input stream.
type Message struct {
	// Seq is its stream sequence: steps must come in increasing order.
	Seq     uint64
	Subject string
	Data    []byte
	// Signal and SignalErr are the decoding of a signal (a subject under
	// signals.SignalPrefix): the runtime decodes ahead, off the step.
	Signal    *signals.Signal
	SignalErr error
}

// Effects is what steps ask the runtime to do, in the order asked. The
// runtime drains it (Reset) and reuses it.
type Effects struct {
	Alerts  []*alerting.Alert
	Digests []alerting.Digest
	// Rejects go to the DLQ.
	Rejects []Reject
	// Profiles were applied and are shared in the profiles bucket.
	Profiles []Applied
	// RuleErrors are rule conditions that failed to evaluate.
	RuleErrors []scorer.RuleError
	// Quiet are the producers that went quiet as a whole or came back.
	Quiet []Quiet
	// Swept is set by a sweep, with how many customers are in each tier.
	Swept bool
	Tiers Tiers
}

// Reject is an input message refused, with why.
type Reject struct {
	Seq     uint64
	Subject string
	Data    []byte
	Err     error
}

// Applied is a profile applied at a stream sequence.
type Applied struct {
	Profile *signals.Profile
	Seq     uint64
}

// Reset empties e, keeping its capacity.
func (e *Effects) Reset() {
	clear(e.Alerts)
	clear(e.Rejects)
	clear(e.Profiles)
	e.Alerts, e.Digests, e.Rejects, e.Profiles, e.RuleErrors = e.Alerts[:0], e.Digests[:0], e.Rejects[:0], e.Profiles[:0], e.RuleErrors[:0]
	e.Quiet = e.Quiet[:0]
	e.Swept, e.Tiers = false, Tiers{}
}

// Reject records m as refused for err.
func (e *Effects) Reject(m *Message, err error) {
	e.Rejects = append(e.Rejects, Reject{Seq: m.Seq, Subject: m.Subject, Data: m.Data, Err: err})
}

// Input is what a message was.
type Input uint8

const (
	InputSignal Input = iota + 1
	InputProfile
	InputCommand
	InputTick
	InputUnknown
)

// Result is what a step made of a message.
type Result string

const (
	Scored    Result = "scored"    // a signal counted and its customer rescored
	Duplicate Result = "duplicate" // a signal id already counted for the customer
	Late      Result = "late"      // a signal older than the lateness window allows
	Rejected  Result = "rejected"  // invalid input, gone to the DLQ
	Covered   Result = "covered"   // already in the customer's restored state
	Accepted  Result = "ok"        // a profile or command applied
	Refused   Result = "refused"   // a valid command that does not apply (no open alert, ...)
)

// Outcome is the result of a step, for metrics and for whoever waits for
// a command's verdict.
type Outcome struct {
	Input  Input
	Kind   string // the signal kind or command type, for metrics
	Result Result
	// Err is why the message was rejected or refused.
	Err error
	// Recorded is the outcome a scored outcome signal recorded, with its
	// fate as known then (Type 0 otherwise).
	Recorded scorer.Outcome
}

// Apply applies m. It may publish alerts (a signal or profile that moves
// a customer) and refuse input, into out. When the producers' clocks
// enter a new day, it sweeps at the day's start as part of the same step;
// a tick sweeps at its time.
//
// A message that makes the model panic is refused (ReasonProcessing)
// instead of taking the process down: one poison message must not stop
// the stream. What the step decided before the panic stands.
func (b *Book) Apply(m *Message, out *Effects) (o Outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = Outcome{Input: InputUnknown, Result: Rejected, Err: &signals.Error{Reason: signals.ReasonProcessing,
				Msg: fmt.Sprintf("the engine failed on this message: %v", r)}}
			out.Reject(m, o.Err)
		}
	}()
	if b.inspect != nil {
		b.inspect(m.Subject, m.Data)
	}
	switch {
	case strings.HasPrefix(m.Subject, signals.SignalPrefix):
		o = b.applySignal(m, out)
	case strings.HasPrefix(m.Subject, signals.CustomerPrefix):
		o = b.applyProfile(m, out)
	case strings.HasPrefix(m.Subject, api.ActionPrefix):
		o = b.applyCommand(m, out)
	case m.Subject == ClockSubject:
		return b.applyTick(m, out)
	default:
		o = Outcome{Input: InputUnknown, Result: Rejected,
			Err: &signals.Error{Reason: signals.ReasonBadSubject, Msg: "no handler for this subject"}}
		out.Reject(m, o.Err)
	}
	return o
}

func (b *Book) applySignal(m *Message, out *Effects) Outcome {
	o := Outcome{Input: InputSignal, Kind: KindLabel(m.Subject)}
	if m.SignalErr != nil || m.Signal == nil {
		o.Result, o.Err = Rejected, m.SignalErr
		if o.Err == nil {
			o.Err = &signals.Error{Reason: signals.ReasonProcessing, Msg: "the signal was not decoded"}
		}
		out.Reject(m, o.Err)
		return o
	}
	s := m.Signal
	o.Kind = string(s.Kind)
	// The clocks move on every valid signal, even one this customer's
	// checkpoint already covers, so a replay sweeps at the same messages.
	t := s.Time.Unix()
	if k := s.Kind.Index(); k >= 0 {
		pr := &b.clock.Producers[k]
		if pr.heard(t) {
			out.Quiet = append(out.Quiet, Quiet{Kind: s.Kind, Latest: s.Time.UTC(), At: s.Time.UTC()})
		}
		b.clocks[k] = pr.Clock
	}
	b.clock.Watermark = max(b.clock.Watermark, t)
	// A signal of a new day comes after that day's start: the sweep and
	// the digests of the day see every customer as it was then.
	b.sweepDays(m.Seq, out)
	if _, known := b.customers[s.Customer]; !known && b.full(len(b.customers)) {
		o.Result, o.Err = Rejected, capacityError("customers", b.maxCust)
		out.Reject(m, o.Err)
		return o
	}
	c := b.customerFor(s.Customer)
	p := c.Profile
	if s.Kind == signals.KindUsage {
		// Before the customer's own checks: the segments' usage counts
		// every usage signal of the stream once (see peers).
		b.peers.usage(s, p)
	}
	if m.Seq <= c.Score.Seq {
		o.Result = Covered
		return o
	}
	// Apply changes the state (counts, remembered ids, watermark) even
	// when the score does not move, and a panic may leave it half
	// changed: the next checkpoint must hold it either way.
	b.dirty[s.Customer] = struct{}{}
	if err := b.model.Apply(&c.Score, s, p); err != nil {
		if errors.Is(err, scorer.ErrDuplicate) {
			o.Result = Duplicate
			return o
		}
		o.Result, o.Err = Late, err
		out.Reject(m, err)
		return o
	}
	c.Score.Seq = m.Seq
	b.evaluate(s.Customer, c, p, max(c.Score.Watermark, b.clock.LastSweep), alerting.SignalCause(s.ID), b.place(m.Seq), nil, out)
	o.Result = Scored
	if s.Kind == signals.KindOutcome {
		for i := range c.Score.Outcomes {
			if c.Score.Outcomes[i].ID == s.ID {
				o.Recorded = c.Score.Outcomes[i]
			}
		}
	}
	return o
}

// KindLabel is the signal kind named by a signal subject, "unknown" when
// it names none.
func KindLabel(subject string) string {
	rest := strings.TrimPrefix(subject, signals.SignalPrefix)
	k, _, _ := strings.Cut(rest, ".")
	if signals.Kind(k).Valid() {
		return k
	}
	return "unknown"
}

func (b *Book) customerFor(id string) *Customer {
	c, ok := b.customers[id]
	if !ok {
		c = &Customer{Score: *scorer.NewState(id), Profile: b.profiles[id]}
		b.customers[id] = c
	}
	return c
}

// evaluate rescores a customer at time at and decides its alert. What
// does not change the customer (a sweep that leaves its score, tier and
// alert as they were, on the same day) is not recorded: the state then
// holds only what a replay of the stream reproduces, and a sweep does not
// make every customer a change for the next checkpoint. A raw score that
// moved alone (past the cap, or below 0) is recorded alone.
//
// The score is explained only when an alert comes of it: explaining (rule
// details, evidence, playbook) costs more than scoring, and almost every
// signal changes nothing worth telling anyone.
func (b *Book) evaluate(id string, c *Customer, p *signals.Profile, at int64, cause alerting.Cause, pos uint64, hold *[]held, out *Effects) {
	// The result is scratch, reused for every evaluation: nothing keeps
	// it (an alert copies what it says).
	res := &b.scratch
	b.model.Judge(res, &b.features, &c.Score, p, time.Unix(at, 0), &b.clocks)
	out.RuleErrors = append(out.RuleErrors, res.Errors...)
	prevAlert := c.Alert
	a := b.policy.Decide(&c.Alert, *res, p, c.Score.Churned > 0, cause)
	decided := a != nil
	send, isHeld := a, false
	if a != nil {
		n := 0
		if hold != nil {
			n = len(*hold)
		}
		send = b.hygiene(id, c, p, prevAlert, a, pos, hold)
		isHeld = hold != nil && len(*hold) > n
	}
	if !isHeld {
		markTier(c, &prevAlert, pos)
	}
	_, dirty := b.dirty[id]
	if dirty || decided || res.Score != c.Score.Score || res.Tier != c.Score.Tier || !sameAlertState(prevAlert, c.Alert) ||
		res.Time.Unix()/daySeconds != c.Score.Evaluated/daySeconds {
		b.model.Keep(&c.Score, res)
		b.dirty[id] = struct{}{}
	} else if res.Raw != c.Score.Raw {
		// Past the cap (or below 0) the raw score moves alone: it ranks
		// the customer and makes its probability, so it is kept, and
		// checkpointed. Nothing else is: the evaluation time would move
		// the clock later scores start from, which only an evaluation
		// that changes the customer may do.
		c.Score.Raw = res.Raw
		b.dirty[id] = struct{}{}
	}
	if send == nil && !isHeld {
		return
	}
	// The explanation comes from the evaluation just made: c.Score has
	// only taken its result since, which DescribeFrom does not read. A
	// raise held for the sweep's budget is described now, while the
	// result is at hand.
	b.model.DescribeFrom(&c.Score, &b.features, res)
	b.policy.Describe(a, *res)
	if isHeld {
		return
	}
	b.emit(id, c, prevAlert, a, out)
}

// markTier records a change of c's announced tier at pos, unless a budget
// slot taken there recorded it already.
func markTier(c *Customer, prev *alerting.State, pos uint64) {
	if c.Alert.Tier == prev.Tier {
		return
	}
	if n := len(c.Alert.Marks); n > 0 && c.Alert.Marks[n-1].Pos == pos && len(c.Alert.Marks) != len(prev.Marks) {
		return
	}
	c.Alert.Mark(pos, prev.Tier, 0, false)
}

// emit sends alert a of customer id, whose alert state was prev.
func (b *Book) emit(id string, c *Customer, prev alerting.State, a *alerting.Alert, out *Effects) {
	if prev.LastID != "" && prev.LastID != c.Alert.LastID {
		delete(b.alerts, prev.LastID)
	}
	if prev.Unclaimed != "" && prev.Unclaimed != c.Alert.Unclaimed {
		delete(b.alerts, prev.Unclaimed)
	}
	b.alerts[a.ID] = id
	c.Last = a
	out.Alerts = append(out.Alerts, a)
}

func sameAlertState(a, b alerting.State) bool {
	return a.Tier == b.Tier && a.LastSent == b.LastSent && a.Resolved == b.Resolved && a.LastID == b.LastID &&
		a.Unclaimed == b.Unclaimed && a.Deferred == b.Deferred && a.Inhibited == b.Inhibited && a.Charge == b.Charge &&
		len(a.Marks) == len(b.Marks)
}

func (b *Book) applyProfile(m *Message, out *Effects) Outcome {
	o := Outcome{Input: InputProfile, Kind: "customer"}
	p, err := signals.DecodeProfile(m.Subject, m.Data)
	if err != nil {
		o.Result, o.Err = Rejected, err
		out.Reject(m, err)
		return o
	}
	if _, known := b.profiles[p.ID]; !known && b.full(len(b.profiles)) {
		o.Result, o.Err = Rejected, capacityError("profiles", b.maxCust)
		out.Reject(m, o.Err)
		return o
	}
	b.profiles[p.ID] = &p
	b.dirtyProf[p.ID] = struct{}{}
	out.Profiles = append(out.Profiles, Applied{Profile: &p, Seq: m.Seq})
	c, ok := b.customers[p.ID]
	if ok {
		if chargedSince(&c.Alert, -1<<31) && (c.Profile == nil || c.Profile.Owner != p.Owner) {
			// The budget counts a customer's slots under its owner of
			// the moment.
			if c.Profile != nil {
				b.recount(c.Profile.Owner)
			}
			if p.Owner != "" {
				if b.charged[p.Owner] == nil {
					b.charged[p.Owner] = map[string]struct{}{}
				}
				b.charged[p.Owner][c.Score.Customer] = struct{}{}
				b.recount(p.Owner)
			}
		}
		c.Profile = &p
	}
	if ok && m.Seq > c.Score.Seq {
		c.Score.Seq = m.Seq
		b.dirty[p.ID] = struct{}{}
		b.evaluate(p.ID, c, &p, max(c.Score.Evaluated, b.clock.LastSweep), alerting.MessageCause(m.Seq), b.place(m.Seq), nil, out)
	}
	o.Result = Accepted
	return o
}

// applyCommand applies an ack, a snooze or an unsnooze.
func (b *Book) applyCommand(m *Message, out *Effects) Outcome {
	o := Outcome{Input: InputCommand, Kind: "action"}
	var cmd api.Command
	if err := json.Unmarshal(m.Data, &cmd); err != nil {
		o.Result, o.Err = Rejected, &signals.Error{Reason: signals.ReasonMalformed, Msg: err.Error()}
		out.Reject(m, o.Err)
		return o
	}
	if err := cmd.Validate(); err != nil {
		o.Result, o.Err = Rejected, &signals.Error{Reason: signals.ReasonOutOfRange, Msg: err.Error()}
		out.Reject(m, o.Err)
		return o
	}
	if tok := strings.TrimPrefix(m.Subject, api.ActionPrefix); tok != signals.SubjectToken(cmd.Customer) {
		// As for signals and profiles: the subject is what permissions
		// and consumers filter on, so it must name the customer acted on.
		o.Result, o.Err = Rejected, &signals.Error{Reason: signals.ReasonBadSubject, Field: "customer",
			Msg: fmt.Sprintf("subject token %q does not name customer %q (want %q)", tok, cmd.Customer, signals.SubjectToken(cmd.Customer))}
		out.Reject(m, o.Err)
		return o
	}
	o.Kind = cmd.Type
	c, ok := b.customers[cmd.Customer]
	if !ok {
		o.Result, o.Err = Refused, fmt.Errorf("unknown customer %q", cmd.Customer)
		return o
	}
	if m.Seq <= c.Score.Seq {
		o.Result = Covered
		return o
	}
	c.Score.Seq = m.Seq
	var err error
	if cmd.Type == alerting.KindAck {
		err = alerting.Ack(&c.Alert, cmd.Action())
	} else {
		err = alerting.Snooze(&c.Alert, cmd.Action())
	}
	if err != nil {
		o.Result, o.Err = Refused, err
		return o
	}
	b.dirty[cmd.Customer] = struct{}{}
	o.Result = Accepted
	return o
}

// full reports whether a map of n customers (or profiles) is at the
// book's bound.
func (b *Book) full(n int) bool { return b.maxCust > 0 && n >= b.maxCust }

func capacityError(what string, limit int) error {
	return &signals.Error{Reason: signals.ReasonCapacity, Field: "customer",
		Msg: fmt.Sprintf("riskd holds %d %s, its limit (max_customers): a new customer is refused, known ones go on", limit, what)}
}
