package ruletest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/scorer"
)

// maxSweeps bounds the sweep evaluations of one test, so that a one-minute
// sweep over a year of signals fails clearly instead of running for ages.
const maxSweeps = 200_000

// Result is the outcome of one test.
type Result struct {
	Test     *Test
	Failures []Failure
	// Err is a problem that stopped the test: a signal the model refused
	// (other than a duplicate id, which is skipped as the engine skips it)
	// or too many sweeps.
	Err error
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool { return r.Err == nil && len(r.Failures) == 0 }

// Failure is an expectation that did not hold, with what was seen.
type Failure struct {
	Expect   *Expectation
	Problems []string
	Got      scorer.Result
	// Alerts are the alerts sent since the previous expectation.
	Alerts []*alerting.Alert
}

// Run runs every test of the suite with the default alert policy.
func (s *Suite) Run() []Result {
	model := scorer.NewModel(s.Rules)
	out := make([]Result, len(s.Tests))
	for i := range s.Tests {
		out[i] = RunTest(model, alerting.DefaultPolicy(), &s.Tests[i])
	}
	return out
}

// RunTest plays one test: its signals in event-time order (file order for
// equal times), each applied and evaluated with the alert policy deciding
// after it, as the engine does on every signal; an evaluation at each
// expectation's time, as the engine's sweep does; and, if the test sets a
// sweep interval, an evaluation at every multiple of it in between.
func RunTest(model *scorer.Model, policy alerting.Policy, t *Test) Result {
	res := Result{Test: t}
	sigs := slices.Clone(t.Signals)
	slices.SortStableFunc(sigs, func(a, b Signal) int { return a.Signal.Time.Compare(b.Signal.Time) })

	st := scorer.NewState(t.Customer)
	var as alerting.State
	var sent []*alerting.Alert
	var last time.Time // the latest evaluation
	sweeps := 0
	evaluate := func(at time.Time, cause alerting.Cause) scorer.Result {
		r := model.Evaluate(st, t.Profile, at)
		if a := policy.Decide(&as, r, t.Profile, st.Churned > 0, cause); a != nil {
			sent = append(sent, a)
		}
		last = r.Time
		return r
	}
	// sweepUntil evaluates at each multiple of the sweep interval after the
	// latest evaluation and before end.
	sweepUntil := func(end time.Time) error {
		if t.Sweep <= 0 || last.IsZero() {
			return nil
		}
		for at := last.Truncate(t.Sweep).Add(t.Sweep); at.Before(end); at = at.Add(t.Sweep) {
			if sweeps++; sweeps > maxSweeps {
				return fmt.Errorf("more than %d sweeps: use a longer sweep interval", maxSweeps)
			}
			evaluate(at, alerting.SweepCause(at.Unix()))
		}
		return nil
	}

	next := 0
	for i := range t.Expect {
		e := &t.Expect[i]
		for ; next < len(sigs) && !sigs[next].Signal.Time.After(e.At); next++ {
			s := &sigs[next]
			if err := sweepUntil(s.Signal.Time); err != nil {
				res.Err = err
				return res
			}
			if err := model.Apply(st, &s.Signal, t.Profile); err != nil {
				if errors.Is(err, scorer.ErrDuplicate) {
					continue
				}
				res.Err = fmt.Errorf("line %d: signal %s: %w", s.Line, s.Signal.ID, err)
				return res
			}
			evaluate(s.Signal.Time, alerting.MessageCause(uint64(next+1)))
		}
		if err := sweepUntil(e.At); err != nil {
			res.Err = err
			return res
		}
		got := evaluate(e.At, alerting.SweepCause(e.At.Unix()))
		if problems := check(e, got, sent); len(problems) > 0 {
			res.Failures = append(res.Failures, Failure{Expect: e, Problems: problems, Got: got, Alerts: sent})
		}
		sent = nil
	}
	return res
}

// check lists what differs between e and what was seen.
func check(e *Expectation, got scorer.Result, sent []*alerting.Alert) []string {
	var out []string
	if e.Tier != nil && got.Tier != *e.Tier {
		out = append(out, fmt.Sprintf("tier: got %s, want %s", got.Tier, *e.Tier))
	}
	if e.MinTier != nil && got.Tier < *e.MinTier {
		out = append(out, fmt.Sprintf("tier: got %s, want %s or worse", got.Tier, *e.MinTier))
	}
	if e.MaxTier != nil && got.Tier > *e.MaxTier {
		out = append(out, fmt.Sprintf("tier: got %s, want %s or better", got.Tier, *e.MaxTier))
	}
	if e.Score != nil && !e.Score.Contains(got.Score) {
		out = append(out, fmt.Sprintf("score: got %.1f, want %s", got.Score, e.Score))
	}
	firing := firingRules(got)
	var missing, unwanted []string
	for _, r := range e.Firing {
		if !slices.Contains(firing, r) {
			missing = append(missing, r)
		}
	}
	for _, r := range e.NotFiring {
		if slices.Contains(firing, r) {
			unwanted = append(unwanted, r)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("firing: %s not firing; firing: %s", list(missing), list(firing)))
	}
	if len(unwanted) > 0 {
		out = append(out, fmt.Sprintf("not_firing: %s firing, want it not to", list(unwanted)))
	}
	names := make([]string, 0, len(e.Contributions))
	for name := range e.Contributions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		want := e.Contributions[name]
		if v := contribution(got, name); !want.Contains(v) {
			out = append(out, fmt.Sprintf("contributions.%s: got %.1f, want %s", name, v, want))
		}
	}
	if e.Alerts != nil && !alertsMatch(e.Alerts, sent) {
		want := make([]string, len(e.Alerts))
		for i, a := range e.Alerts {
			want[i] = a.String()
		}
		out = append(out, fmt.Sprintf("alerts: got %s, want %s", list(alertNames(sent)), list(want)))
	}
	return out
}

func firingRules(r scorer.Result) []string {
	var out []string
	for _, c := range r.Contributions {
		if c.Firing {
			out = append(out, c.Rule)
		}
	}
	return out
}

func contribution(r scorer.Result, rule string) float64 {
	for _, c := range r.Contributions {
		if c.Rule == rule {
			return c.Contribution
		}
	}
	return 0
}

func alertsMatch(want []AlertSpec, got []*alerting.Alert) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if string(got[i].Type) != w.Type || (w.Severity != "" && got[i].Severity != w.Severity) {
			return false
		}
	}
	return true
}

func alertNames(as []*alerting.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a.Type) + "/" + a.Severity
	}
	return out
}

func list(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	return "[" + strings.Join(s, ", ") + "]"
}
