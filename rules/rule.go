package rules

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Defaults and bounds of a rule file.
const (
	// DefaultCostLimit caps the runtime cost of one evaluation of one rule
	// when the file sets no cost_limit. A typical rule costs under 20.
	DefaultCostLimit uint64 = 10_000
	// MaxCostLimit is the largest cost_limit a file may set.
	MaxCostLimit uint64 = 1_000_000
	// DefaultLateness is how late a signal may arrive when the file sets no
	// lateness.
	DefaultLateness = 24 * time.Hour
	// DefaultBackfillWindow is how far one producer's signals may trail
	// another's, for a customer, with the scores of event-time order, when
	// the file sets no backfill_window.
	DefaultBackfillWindow = 14 * 24 * time.Hour
	// MaxWhenLength bounds a `when` expression, in bytes.
	MaxWhenLength = 2048
)

// Set is a loaded, checked rule file.
type Set struct {
	// Rules in file order.
	Rules []*Rule
	// Tiers are the thresholds for customers whose segment has none of its own.
	Tiers Thresholds
	// SegmentTiers override Tiers for a profile.segment.
	SegmentTiers map[string]Thresholds
	// Lateness is how far behind the latest event time of its producer
	// (its kind) for the customer a signal may be and still be scored.
	Lateness time.Duration
	// BackfillWindow is how far behind the customer's latest event of any
	// kind a signal may be and still give exactly the scores of event-time
	// order: the firing history of that many days is revised when a
	// signal of another producer lands in it. Older signals are scored,
	// but the history before the window is not revised.
	BackfillWindow time.Duration
	// CostLimit caps the runtime cost of one evaluation of one rule.
	CostLimit uint64
	// Calibration maps the raw score to p(churn within its horizon): the
	// file's calibration block, or DefaultCalibration when it has none
	// (Calibrated false).
	Calibration Calibration
	Calibrated  bool
	// Source is the file name the set was parsed from.
	Source string
}

// ThresholdsFor returns the tier thresholds for a customer's segment.
func (s *Set) ThresholdsFor(segment string) Thresholds {
	if th, ok := s.SegmentTiers[segment]; ok {
		return th
	}
	return s.Tiers
}

// Rule returns the rule with that name, or nil.
func (s *Set) Rule(name string) *Rule {
	for _, r := range s.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Rule is one checked rule. Its fields mirror the file; the compiled
// condition and detail template are kept alongside.
type Rule struct {
	Name     string
	Category string
	// Kind is the signal kind whose recent ids the explanation cites; empty
	// when the rule is not about one kind.
	Kind string
	// When is the CEL condition as written.
	When string
	// Detail is the template as written; see Render.
	Detail string
	// Weight is the contribution, in score points, while the rule fires:
	// negative for a protective rule, which lowers the score.
	Weight float64
	// HalfLife is how fast the contribution decays once the rule stops firing.
	HalfLife time.Duration
	// Segments and Stages override Weight for a profile.segment or
	// profile.stage; see WeightFor.
	Segments map[string]float64
	Stages   map[string]float64
	Playbook []string
	// Line is where the rule starts in Set.Source.
	Line int

	prg cel.Program
	// fast is prg without runtime cost tracking, which costs more than
	// most conditions themselves. It exists only for conditions made of
	// operators whose cost the static estimate bounds exactly (see
	// boundedCost); Parse has already refused any estimate above the
	// cost limit, so for such a condition, on features whose strings are
	// within the estimator's bound, the limit cannot be reached and
	// tracking it changes nothing.
	fast cel.Program
	// compiled is the condition as Go closures (compiled.go), for
	// conditions fast runs that use only what the compiler implements;
	// it answers exactly as fast does wherever it answers at all.
	compiled eval[bool]
	detail   detail
}

// WeightFor is the rule's weight for a customer in segment and stage: the
// stage or segment override when one matches, the larger of the two when
// both do, else Weight. The journey and the account's size each make a
// signal louder on their own; taking the larger avoids counting it twice.
func (r *Rule) WeightFor(segment, stage string) float64 {
	seg, segOK := r.Segments[segment]
	stg, stgOK := r.Stages[stage]
	switch {
	case segOK && stgOK:
		return max(seg, stg)
	case segOK:
		return seg
	case stgOK:
		return stg
	}
	return r.Weight
}

// Eval reports whether the rule fires for f. Each evaluation is capped by
// the set's cost limit; an evaluation that exceeds it, or fails at run time
// (say, a division by zero), returns an error and does not fire. Eval is
// safe for concurrent use.
func (r *Rule) Eval(f *Features) (bool, error) {
	if r.prg == nil {
		return false, fmt.Errorf("rule %q has no compiled condition: rules come from Parse or Load", r.Name)
	}
	bounded := r.fast != nil && stringsBounded(f)
	// The compiled form stands in for fast, so it runs where fast would;
	// where CEL would report an error it declines, and CEL reports it.
	if bounded && r.compiled != nil {
		if fired, ok := r.compiled(f); ok {
			return fired, nil
		}
	}
	return r.evalCEL(f, bounded)
}

// evalCEL evaluates the condition with CEL: without cost tracking when
// bounded says the estimate holds for f, else with the set's cost limit.
func (r *Rule) evalCEL(f *Features, bounded bool) (bool, error) {
	prg := r.prg
	if bounded {
		prg = r.fast
	}
	out, _, err := prg.Eval(activation{f})
	if err != nil {
		return false, fmt.Errorf("rule %q: %w", r.Name, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		// The checker proved the type bool; this is only reachable if the
		// CEL runtime disagrees with its own checker.
		return false, fmt.Errorf("rule %q: when returned %s, not bool", r.Name, out.Type())
	}
	return bool(b), nil
}

// Render fills the rule's detail template with f's values. A rule without
// a detail renders as its name.
func (r *Rule) Render(f *Features) string {
	if len(r.detail.parts) == 0 {
		return r.Name
	}
	return r.detail.render(f)
}
