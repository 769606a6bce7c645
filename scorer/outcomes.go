package scorer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// MaxOutcomes bounds the outcomes remembered per customer: the newest
// ones, by event time.
const MaxOutcomes = 8

// OutcomeType is the type of an outcome signal, in a byte. Its values are
// the checkpoint format: append, never renumber.
type OutcomeType uint8

// Outcome types.
const (
	OutcomeNone OutcomeType = iota
	OutcomeRenewed
	OutcomeChurned
	OutcomeDowngraded
	OutcomeExpanded
	numOutcomeTypes
)

var outcomeNames = [numOutcomeTypes]string{"", "renewed", "churned", "downgraded", "expanded"}

// OutcomeTypes lists every outcome type.
var OutcomeTypes = []OutcomeType{OutcomeRenewed, OutcomeChurned, OutcomeDowngraded, OutcomeExpanded}

func (o OutcomeType) String() string {
	if o < numOutcomeTypes {
		return outcomeNames[o]
	}
	return "unknown"
}

// ParseOutcomeType is the type named s, OutcomeNone when s names none.
func ParseOutcomeType(s string) OutcomeType {
	for i, n := range outcomeNames {
		if i > 0 && n == s {
			return OutcomeType(i)
		}
	}
	return OutcomeNone
}

var errBadOutcome = errors.New("not an outcome type")

func (o OutcomeType) valid() bool { return o != OutcomeNone && o < numOutcomeTypes }

func (o OutcomeType) MarshalText() ([]byte, error) {
	if !o.valid() {
		return nil, fmt.Errorf("scorer: invalid outcome type %d", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

func (o *OutcomeType) UnmarshalText(b []byte) error {
	t := ParseOutcomeType(string(b))
	if t == OutcomeNone {
		return fmt.Errorf("scorer: unknown outcome type %q in checkpoint", b)
	}
	*o = t
	return nil
}

// Fate is what became of a customer's warnings: how the episode that an
// outcome closes went.
type Fate string

// Fates. An episode is the time from one outcome to the next (from the
// first signal for the first); it was alerted when a closed day of it
// ended at_risk or worse.
const (
	// FateSaved: renewed or expanded after an at_risk-or-worse day.
	FateSaved Fate = "saved"
	// FateChurnedAfterAlert: churned after an at_risk-or-worse day; the
	// lead time runs from the first such day.
	FateChurnedAfterAlert Fate = "churned_after_alert"
	// FateChurnedWithoutAlert: churned with no at_risk-or-worse day.
	FateChurnedWithoutAlert Fate = "churned_without_alert"
	// FateDowngradedAfterAlert: downgraded after an at_risk-or-worse day:
	// kept, but for less; the lead time is counted as for a churn.
	FateDowngradedAfterAlert Fate = "downgraded_after_alert"
	// FateDowngradedWithoutAlert: downgraded with no warning.
	FateDowngradedWithoutAlert Fate = "downgraded_without_alert"
	// FateRenewedWithoutAlert: renewed or expanded, never at risk: the
	// quiet, healthy path.
	FateRenewedWithoutAlert Fate = "renewed_without_alert"
	// FateOpen: at_risk or worse since the last outcome, no outcome yet.
	FateOpen Fate = "open"
)

// Fates lists every fate, in the order reports show them.
var Fates = []Fate{FateSaved, FateChurnedAfterAlert, FateChurnedWithoutAlert, FateDowngradedAfterAlert,
	FateDowngradedWithoutAlert, FateRenewedWithoutAlert, FateOpen}

// Outcome is one outcome signal as the customer's state keeps it.
type Outcome struct {
	// T is the event time (Unix seconds), ID the signal's id.
	T    int64       `json:"t"`
	ID   string      `json:"id"`
	Type OutcomeType `json:"type"`
	// ARR is the new ARR the signal gave (0 for a churn that gave none),
	// -1 when it gave none; Prior is the profile's ARR when the signal
	// was applied (0 when unknown).
	ARR   float64 `json:"arr"`
	Prior float64 `json:"prior,omitempty"`
	// Alert is the end (Unix seconds) of the first closed day of the
	// episode this outcome closes that ended at_risk or worse, 0 when
	// none did.
	Alert int64 `json:"alert,omitempty"`
}

// Fate is how the episode this outcome closes went.
func (o *Outcome) Fate() Fate {
	alerted := o.Alert != 0
	switch o.Type {
	case OutcomeChurned:
		if alerted {
			return FateChurnedAfterAlert
		}
		return FateChurnedWithoutAlert
	case OutcomeDowngraded:
		if alerted {
			return FateDowngradedAfterAlert
		}
		return FateDowngradedWithoutAlert
	}
	if alerted {
		return FateSaved
	}
	return FateRenewedWithoutAlert
}

// AtRiskSince is the start (Unix seconds) of the episode's first day
// that ended at_risk or worse, 0 when none did. The alert was raised
// that day, or the day before when the score crossed into at_risk late
// in a day and ended the next one there.
func (o *Outcome) AtRiskSince() int64 { return dayStart(o.Alert) }

// LeadTime is the time from the start of the episode's first day that
// ended at_risk or worse to the outcome, 0 when none did: it counts
// from that day's start, so it is longer than from the alert by up to a
// day.
func (o *Outcome) LeadTime() time.Duration {
	if o.Alert == 0 {
		return 0
	}
	return time.Duration(o.T-dayStart(o.Alert)) * time.Second
}

// AtRiskSince is the start of the first day since the last outcome that
// ended at_risk or worse, 0 when none did.
func (st *State) AtRiskSince() int64 { return dayStart(st.AtRisk) }

// dayStart is the start of the closed day that ends at boundary d, 0 for
// none.
func dayStart(d int64) int64 {
	if d == 0 {
		return 0
	}
	return d - day
}

// Change is the outcome's change of ARR: the new ARR less the prior one,
// everything for a churn; ok is false when a figure is missing.
func (o *Outcome) Change() (change float64, ok bool) {
	switch {
	case o.Type == OutcomeChurned:
		return -o.Prior, o.Prior > 0
	case o.ARR < 0 || o.Prior <= 0:
		return 0, false
	}
	return math.Round((o.ARR-o.Prior)*100) / 100, true
}

// Fate is the customer's fate: open while its current episode has an
// at_risk-or-worse day and it has not churned, else the latest outcome's,
// "" when there is neither.
func (st *State) Fate() Fate {
	if st.AtRisk != 0 && st.Churned == 0 {
		return FateOpen
	}
	if n := len(st.Outcomes); n > 0 {
		return st.Outcomes[n-1].Fate()
	}
	return ""
}

// addOutcome records an outcome signal: its episode takes the warnings
// before it from the episode it splits. p is the profile, for the ARR
// before. The state's rollback has already reopened the closed days
// after the signal's (within the backfill window): commit marks them
// again, into the right episodes.
func (st *State) addOutcome(s *signals.Signal, p *signals.Profile) {
	typ := ParseOutcomeType(s.Outcome.Type)
	t := s.Time.Unix()
	if typ == OutcomeNone || t <= st.OutcomesFloor ||
		slices.ContainsFunc(st.Outcomes, func(o Outcome) bool { return o.ID == s.ID }) {
		return
	}
	o := Outcome{T: t, ID: s.ID, Type: typ, ARR: -1}
	if s.Outcome.ARR != nil {
		o.ARR = *s.Outcome.ARR
	} else if typ == OutcomeChurned {
		o.ARR = 0
	}
	if p != nil {
		o.Prior = p.ARR
	}
	i, _ := slices.BinarySearchFunc(st.Outcomes, o, func(a, b Outcome) int {
		if a.T != b.T {
			return cmpInt(a.T, b.T)
		}
		return cmpString(a.ID, b.ID)
	})
	// The episode this outcome splits: the next outcome's, or the current.
	next := &st.AtRisk
	upTo := int64(math.MaxInt64)
	if i < len(st.Outcomes) {
		next, upTo = &st.Outcomes[i].Alert, st.Outcomes[i].T
	}
	if *next != 0 && *next <= t {
		// Its first warning came before this outcome: it is this one's,
		// and the rest of that episode starts after t.
		o.Alert = *next
		*next = st.firstClosedAtRisk(t, min(upTo, st.Committed))
	}
	st.Outcomes = slices.Insert(st.Outcomes, i, o)
	if n := len(st.Outcomes) - MaxOutcomes; n > 0 {
		st.OutcomesFloor = st.Outcomes[n-1].T
		st.Outcomes = append(st.Outcomes[:0:0], st.Outcomes[n:]...)
	}
}

// firstClosedAtRisk is the first closed day boundary in (after, upTo]
// that ended at_risk or worse, among the 32 ClosedTiers holds; 0 when
// none did. Only a signal older than the backfill window asks for days
// before the last commit: within it, they are evaluated again.
func (st *State) firstClosedAtRisk(after, upTo int64) int64 {
	first := int64(0)
	for k := int64(0); k < 32; k++ {
		d := st.Committed - k*day
		if d <= after {
			break
		}
		if d <= upTo && rules.Tier((st.ClosedTiers>>(2*k))&3) >= rules.AtRisk {
			first = d
		}
	}
	return first
}

// markTier records that the closed day ending at d ended in tier: the
// first at_risk-or-worse day of an episode is its warning.
func (st *State) markTier(d int64, tier rules.Tier) {
	if tier < rules.AtRisk || d <= st.OutcomesFloor {
		return
	}
	for i := range st.Outcomes {
		if o := &st.Outcomes[i]; o.T >= d {
			if o.Alert == 0 || d < o.Alert {
				o.Alert = d
			}
			return
		}
	}
	if st.AtRisk == 0 || d < st.AtRisk {
		st.AtRisk = d
	}
}

// reopenEpisodes forgets the warnings on closed days after b, which a
// rollback reopens: the commit that follows marks them again.
func (st *State) reopenEpisodes(b int64) {
	for i := range st.Outcomes {
		if st.Outcomes[i].Alert > b {
			st.Outcomes[i].Alert = 0
		}
	}
	if st.AtRisk > b {
		st.AtRisk = 0
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
