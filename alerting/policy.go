package alerting

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Policy is the alert hygiene: how often to remind, how long to stay quiet
// after a resolution, how much to say.
type Policy struct {
	// Repeat is the reminder interval per tier above healthy.
	Repeat map[rules.Tier]time.Duration
	// Cooldown is how long after a resolved alert a new raise below
	// critical is held back, so a customer hovering at the edge of healthy
	// does not page its CSM twice a day.
	Cooldown time.Duration
	// MaxReasons bounds the contributions listed in a payload.
	MaxReasons int
	// Budget is how many customers of one owner may be raised a day, by
	// the book's clock (0: no budget). Raises beyond it are deferred: no
	// alert, the customer is listed in the owner's digest, and its raise
	// competes again at the next sweep (package book applies it, as it
	// needs every customer of the owner).
	Budget int
	// Unclaimed is how long an open at_risk or critical alert may stay
	// without an acknowledgement or a snooze before the owner's team hears
	// of it (an alert of type unclaimed), per tier; a tier left out, or
	// 0, is never escalated to the team.
	Unclaimed map[rules.Tier]time.Duration
}

// Defaults of the policy.
const (
	DefaultCooldown   = 24 * time.Hour
	DefaultMaxReasons = 5
	// DefaultBudget is the raises per owner and day.
	DefaultBudget = 5
	// MaxLog bounds the acknowledgements and snoozes remembered per
	// customer, to keep the per-customer state small.
	MaxLog = 20
)

// DefaultPolicy reminds weekly on watch, every three days on at_risk and
// daily on critical, and holds raises back for a day after a resolution.
func DefaultPolicy() Policy {
	return Policy{
		Repeat: map[rules.Tier]time.Duration{
			rules.Watch:    7 * 24 * time.Hour,
			rules.AtRisk:   3 * 24 * time.Hour,
			rules.Critical: 24 * time.Hour,
		},
		Cooldown:   DefaultCooldown,
		MaxReasons: DefaultMaxReasons,
		Budget:     DefaultBudget,
		Unclaimed: map[rules.Tier]time.Duration{
			rules.AtRisk:   24 * time.Hour,
			rules.Critical: 4 * time.Hour,
		},
	}
}

// Validate reports a policy that would remind too often or never.
func (p Policy) Validate() error {
	var errs []error
	for _, t := range []rules.Tier{rules.Watch, rules.AtRisk, rules.Critical} {
		if d := p.Repeat[t]; d < time.Minute {
			errs = append(errs, fmt.Errorf("repeat.%s %s: want at least 1m", t, d))
		}
	}
	for t := range p.Repeat {
		if t == rules.Healthy || t > rules.Critical {
			errs = append(errs, fmt.Errorf("repeat.%s: want watch, at_risk or critical", t))
		}
	}
	if p.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("cooldown %s is negative", p.Cooldown))
	}
	if p.Budget < 0 {
		errs = append(errs, fmt.Errorf("budget %d is negative (0 for none)", p.Budget))
	}
	for t, d := range p.Unclaimed {
		switch {
		case t != rules.AtRisk && t != rules.Critical:
			errs = append(errs, fmt.Errorf("unclaimed.%s: want at_risk or critical", t))
		case d < 0:
			errs = append(errs, fmt.Errorf("unclaimed.%s %s is negative (0 for never)", t, d))
		case d > 0 && d < time.Minute:
			errs = append(errs, fmt.Errorf("unclaimed.%s %s: want at least 1m", t, d))
		}
	}
	if p.MaxReasons < 0 || p.MaxReasons > 50 {
		errs = append(errs, fmt.Errorf("max_reasons %d: want 1 to 50 (0 for the default %d)", p.MaxReasons, DefaultMaxReasons))
	}
	return errors.Join(errs...)
}

// repeat falls back to the default so that a zero Policy cannot remind on
// every evaluation.
func (p Policy) repeat(t rules.Tier) time.Duration {
	if d := p.Repeat[t]; d > 0 {
		return d
	}
	return DefaultPolicy().Repeat[t]
}

func (p Policy) maxReasons() int {
	if p.MaxReasons <= 0 {
		return DefaultMaxReasons
	}
	return p.MaxReasons
}

// State is what the policy remembers about one customer between
// evaluations. It is plain data, checkpointed with the scorer's state.
type State struct {
	// Tier is the tier subscribers were last told about; healthy when no
	// alert is open. It follows the score down without an alert, so that a
	// later rise escalates again.
	Tier rules.Tier `json:"tier"`
	// Score is the score of the last alert.
	Score float64 `json:"score,omitempty"`
	// Opened, LastSent and Resolved are unix seconds of the raise of the
	// open alert, of the last alert of any type and of the last resolution.
	Opened   int64  `json:"opened,omitempty"`
	LastSent int64  `json:"last_sent,omitempty"`
	Resolved int64  `json:"resolved,omitempty"`
	LastID   string `json:"last_id,omitempty"`
	// Ack silences reminders until the customer escalates or resolves.
	Ack *Action `json:"ack,omitempty"`
	// Snooze silences reminders, raises and escalations below critical
	// until Snooze.Until.
	Snooze *Action `json:"snooze,omitempty"`
	// Log is the history of acknowledgements and snoozes, oldest first, at
	// most MaxLog entries.
	Log []Action `json:"log,omitempty"`

	// Announced is when the tier of the open alert was announced (unix
	// seconds, by its raise or escalation): the start of the time its
	// owner has to claim it. Unclaimed is the id of the alert that told
	// the owner's team nobody did, "" while none was sent.
	Announced int64  `json:"announced,omitempty"`
	Unclaimed string `json:"unclaimed,omitempty"`
	// Deferred is when a raise was first held back by the owner's daily
	// budget, while it waits; Inhibited is when an alert was first muted
	// by a parent account's bigger open alert, until one is sent.
	Deferred  int64 `json:"deferred,omitempty"`
	Inhibited int64 `json:"inhibited,omitempty"`
	// Charge is the latest day's budget slot the customer took.
	Charge Charge `json:"charge,omitzero"`
	// Marks are the latest changes of Tier and slots taken, newest last,
	// at most MaxMarks: what lets a replay from a checkpoint whose record
	// of this customer is ahead of it read the customer as it stood at
	// an earlier message (its tier for a child's inhibition, its slot for
	// the owner's budget).
	Marks []Mark `json:"marks,omitempty"`
}

// MaxMarks bounds State.Marks.
const MaxMarks = 4

// Charge is a budget slot: the day (Unix days) and the place in the
// stream it was taken at.
type Charge struct {
	Day int32  `json:"day"`
	Pos uint64 `json:"pos"`
}

// Mark is a change of a State's Tier at a place in the stream (Pos, as
// package book counts steps), from the tier before; Charged when it took
// a budget slot on Day.
type Mark struct {
	Pos     uint64     `json:"pos"`
	From    rules.Tier `json:"from"`
	Day     int32      `json:"day,omitempty"`
	Charged bool       `json:"charged,omitempty"`
}

// TierBefore is the tier st announced before place pos of the stream: the
// tier a mark at or after pos changed, as far as the marks go back.
func (st *State) TierBefore(pos uint64) rules.Tier {
	for _, m := range st.Marks {
		if m.Pos >= pos {
			return m.From
		}
	}
	return st.Tier
}

// ChargedBefore reports whether st took a budget slot of day before place
// pos of the stream.
func (st *State) ChargedBefore(day int32, pos uint64) bool {
	if st.Charge.Day == day && st.Charge.Pos < pos && st.Charge != (Charge{}) {
		return true
	}
	for _, m := range st.Marks {
		if m.Charged && m.Day == day && m.Pos < pos {
			return true
		}
	}
	return false
}

// Mark records a change of tier from from at pos, and the budget slot of
// day it took when charged.
func (st *State) Mark(pos uint64, from rules.Tier, day int32, charged bool) {
	if charged {
		if st.Charge.Day != day || st.Charge == (Charge{}) {
			st.Charge = Charge{Day: day, Pos: pos}
		}
	} else {
		day = 0
	}
	if len(st.Marks) >= MaxMarks {
		st.Marks = append(st.Marks[:0:0], st.Marks[len(st.Marks)-MaxMarks+1:]...)
	}
	st.Marks = append(st.Marks, Mark{Pos: pos, From: from, Day: day, Charged: charged})
}

// Action kinds.
const (
	KindAck      = "ack"
	KindSnooze   = "snooze"
	KindUnsnooze = "unsnooze"
)

// Action is an acknowledgement or a snooze by a person.
type Action struct {
	Kind    string    `json:"kind"`
	By      string    `json:"by"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at"`
	Until   time.Time `json:"until,omitzero"`
	AlertID string    `json:"alert_id,omitempty"`
}

// Open reports whether an alert is open: raised and not yet resolved.
func (st *State) Open() bool { return st.Tier != rules.Healthy }

// Snoozed reports whether a snooze is in force at t.
func (st *State) Snoozed(t time.Time) bool { return st.Snooze != nil && t.Before(st.Snooze.Until) }

// Decide is called after every evaluation of a customer: on a signal, a
// profile change or a periodic sweep. It updates st and returns the alert
// to send, or nil.
//
// cause names what triggered the evaluation (the stream sequence of the
// signal, or "sweep:<unix>"), so that the alert id is the same when a
// replay takes the same decision and JetStream drops the duplicate.
// A churned customer gets one final resolved alert if one is open, then
// nothing ever again.
func (p Policy) Decide(st *State, r scorer.Result, prof *signals.Profile, churned bool, cause Cause) *Alert {
	now := r.Time.UTC()
	if st.Snooze != nil && !st.Snoozed(now) {
		st.Snooze = nil // expired; the log keeps it
	}
	snoozed := st.Snooze != nil
	if churned {
		if !st.Open() {
			return nil
		}
		a := p.send(st, Resolved, r, prof, cause)
		a.Churned = true
		return a
	}
	switch {
	case r.Tier == st.Tier:
		if !st.Open() {
			st.Deferred, st.Inhibited = 0, 0 // healthy: nothing waits
			return nil
		}
		if st.Ack != nil || snoozed {
			return nil
		}
		if d := p.Unclaimed[st.Tier]; d > 0 && st.Unclaimed == "" && now.Unix()-st.announced() >= int64(d/time.Second) {
			return p.unclaimed(st, r, prof, cause)
		}
		if now.Unix()-st.LastSent < int64(p.repeat(st.Tier)/time.Second) {
			return nil
		}
		return p.send(st, Reminder, r, prof, cause)
	case r.Tier == rules.Healthy:
		return p.send(st, Resolved, r, prof, cause)
	case !st.Open():
		cooling := st.Resolved != 0 && now.Unix()-st.Resolved < int64(p.Cooldown/time.Second)
		if r.Tier < rules.Critical && (snoozed || cooling) {
			return nil // st stays healthy, so the raise comes once this passes
		}
		return p.send(st, Raised, r, prof, cause)
	case r.Tier > st.Tier:
		if r.Tier < rules.Critical && snoozed {
			return nil // st keeps the old tier: the escalation comes after the snooze
		}
		return p.send(st, Escalated, r, prof, cause)
	default:
		// Better but not healthy: no alert, a CSM does not need one for a
		// customer easing from at_risk to watch. Following the tier down
		// means a relapse is reported as an escalation.
		st.Tier = r.Tier
		return nil
	}
}

// send builds the alert and moves st to what it announces.
func (p Policy) send(st *State, t Type, r scorer.Result, prof *signals.Profile, cause Cause) *Alert {
	a := p.newAlert(t, st, r, prof, cause)
	now := a.Time.Unix()
	switch t {
	case Raised:
		st.Opened, st.Ack, st.Announced, st.Unclaimed = now, nil, now, ""
	case Escalated:
		st.Ack = nil // a worse tier deserves a fresh look
		st.Announced, st.Unclaimed = now, ""
	case Resolved:
		st.Opened, st.Resolved, st.Ack, st.Announced, st.Unclaimed = 0, now, nil, 0, ""
	}
	st.Tier, st.Score, st.LastSent, st.LastID = a.Tier, a.Score, now, a.ID
	st.Deferred, st.Inhibited = 0, 0
	return a
}

// unclaimed builds the alert that tells the owner's team that the open
// alert of st went unclaimed. It is said once per announced tier and
// leaves the episode as it was (tier, score, the alert to acknowledge);
// like any alert it is the last sent, so the next reminder counts from
// it, and an evaluation again at the same time (a sweep replayed over a
// record that holds it) sends nothing.
func (p Policy) unclaimed(st *State, r scorer.Result, prof *signals.Profile, cause Cause) *Alert {
	a := p.newAlert(Unclaimed, st, r, prof, cause)
	since := time.Unix(st.announced(), 0).UTC()
	a.Since = &since
	st.Unclaimed, st.LastSent = a.ID, a.Time.Unix()
	st.Inhibited = 0
	return a
}

// announced is when the open alert's tier was announced; a state from
// before Announced counts from the raise.
func (st *State) announced() int64 {
	if st.Announced != 0 {
		return st.Announced
	}
	return st.Opened
}

// Ack acknowledges the open alert of the customer: no more reminders
// until it escalates or resolves. a.AlertID, when given, must be the
// latest alert's id, so that an ack meant for an older episode is refused.
func Ack(st *State, a Action) error {
	if a.Kind == "" {
		a.Kind = KindAck
	}
	switch {
	case a.Kind != KindAck:
		return fmt.Errorf("ack: kind %q is not %q", a.Kind, KindAck)
	case a.By == "":
		return errors.New("ack: who acknowledges (by) is required")
	case a.At.IsZero():
		return errors.New("ack: time is required")
	case !st.Open():
		return errors.New("ack: no open alert for this customer")
	case a.AlertID != "" && a.AlertID != st.LastID && a.AlertID != st.Unclaimed:
		return fmt.Errorf("ack: alert %s is not the customer's latest alert (%s)", a.AlertID, st.LastID)
	}
	if a.AlertID == "" {
		a.AlertID = st.LastID
	}
	a.Until = time.Time{}
	st.Ack = &a
	st.record(a)
	return nil
}

// Snooze silences the customer until a.Until (kind "snooze", the default):
// no reminders, no raise or escalation below critical. Kind "unsnooze"
// lifts a snooze in force at a.At. A snooze needs no open alert: a CSM may
// know ahead that a rough patch is coming.
func Snooze(st *State, a Action) error {
	if a.Kind == "" {
		a.Kind = KindSnooze
	}
	switch {
	case a.Kind != KindSnooze && a.Kind != KindUnsnooze:
		return fmt.Errorf("snooze: kind %q: want %s or %s", a.Kind, KindSnooze, KindUnsnooze)
	case a.By == "":
		return fmt.Errorf("%s: who does it (by) is required", a.Kind)
	case a.At.IsZero():
		return fmt.Errorf("%s: time is required", a.Kind)
	}
	if a.Kind == KindUnsnooze {
		if !st.Snoozed(a.At) {
			return errors.New("unsnooze: the customer is not snoozed")
		}
		a.Until = time.Time{}
		st.Snooze = nil
		st.record(a)
		return nil
	}
	if !a.Until.After(a.At) {
		return fmt.Errorf("snooze: until %s is not after %s", a.Until.UTC().Format(time.RFC3339), a.At.UTC().Format(time.RFC3339))
	}
	st.Snooze = &a
	st.record(a)
	return nil
}

// record appends to the bounded log, dropping the oldest entries.
func (st *State) record(a Action) {
	if len(st.Log) >= MaxLog {
		st.Log = append(st.Log[:0:0], st.Log[len(st.Log)-MaxLog+1:]...)
	}
	st.Log = append(st.Log, a)
}
