package scorer

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// ErrDuplicate is returned by Apply for a signal id already counted for the
// customer. It is not bad input: producers retry.
var ErrDuplicate = errors.New("duplicate signal id")

// DefaultLateness is used when the rule set names none.
const DefaultLateness = rules.DefaultLateness

// catchUpHalfLives bounds how far back closed days are evaluated after a
// long silence, in half-lives of the slowest rule: a firing older than that
// contributes less than 100 * 2^-11 < 0.05 points, which rounds to nothing.
const catchUpHalfLives = 11

// Model applies a rule set to customer states. It holds no per-customer
// data and is safe for concurrent use on different states.
type Model struct {
	Rules    *rules.Set
	lateness int64
	slack    int
	// catchUp is how far back (seconds) a firing can still show in a score.
	catchUp int64
	// seeds key the rule memos of this model's evaluations.
	seeds [2]maphash.Seed
}

// NewModel builds a model for set.
func NewModel(set *rules.Set) *Model {
	l := set.Lateness
	if l <= 0 {
		l = DefaultLateness
	}
	longest := 24 * time.Hour
	for _, r := range set.Rules {
		longest = max(longest, r.HalfLife)
	}
	return &Model{Rules: set, lateness: int64(l / time.Second), slack: ringSlack(l),
		catchUp: int64(catchUpHalfLives * longest / time.Second), seeds: newSeeds()}
}

// Lateness is how far behind a customer's latest event a signal may be.
func (m *Model) Lateness() time.Duration { return time.Duration(m.lateness) * time.Second }

// Apply counts s for the customer of st. It returns ErrDuplicate for an id
// already counted and a *signals.Error with ReasonLate for a signal older
// than the lateness window allows; st is unchanged then.
func (m *Model) Apply(st *State, s *signals.Signal, p *signals.Profile) error {
	t := s.Time.Unix()
	if st.Watermark != 0 && t < st.Watermark-m.lateness {
		return &signals.Error{Reason: signals.ReasonLate, Field: "time", Msg: fmt.Sprintf(
			"%s is more than %s before the latest event of customer %q (%s)",
			s.Time.UTC().Format(time.RFC3339), m.Lateness(), st.Customer,
			time.Unix(st.Watermark, 0).UTC().Format(time.RFC3339))}
	}
	// Sparse events are kept with their ids for 90 days, so their
	// duplicates are caught however late; usage rollups only by the last
	// ids seen.
	if st.hasEvent(t, s.ID) || st.seen(s.ID) {
		return ErrDuplicate
	}
	st.resize(m.slack)
	if t > st.Watermark {
		// Close the days that no accepted signal can reach any more, before
		// this signal's data is in: it is newer than all of them.
		m.commit(st, p, t-m.lateness)
		st.Watermark = t
	}
	st.add(s, st.Watermark-m.lateness)
	return nil
}

// commit evaluates each closed day boundary up to upTo and records which
// rules fired there. Every feature of a closed day reads only signals from
// before its end, all of which have arrived, so what is recorded does not
// depend on arrival order. After a silence longer than catchUp, the days
// before its last catchUp are skipped: whatever fired there has decayed to
// nothing, and Explain ignores firings that old.
func (m *Model) commit(st *State, p *signals.Profile, upTo int64) {
	last := upTo - mod(upTo, day)
	if st.First == 0 {
		st.Committed = max(st.Committed, last)
		return
	}
	for d := max(st.Committed+day, last-m.catchUp); d <= last; d += day {
		if d <= st.First {
			continue // nothing had happened yet
		}
		f := Features(st, p, d-1)
		for _, r := range m.Rules.Rules {
			if ok, err := r.Eval(&f); err == nil && ok {
				st.setFired(r.Name, d)
			}
		}
	}
	st.Committed = max(st.Committed, last)
	st.Fired = slices.DeleteFunc(st.Fired, func(f Firing) bool { return f.At < last-m.catchUp })
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Contribution is one rule's share of the score.
type Contribution struct {
	Rule         string   `json:"rule"`
	Category     string   `json:"category"`
	Contribution float64  `json:"contribution"`
	Detail       string   `json:"detail"`
	Signals      []string `json:"signals,omitempty"`
	// Firing is false for a rule that fired before and is fading with its
	// half-life.
	Firing    bool      `json:"firing"`
	LastFired time.Time `json:"last_fired,omitzero"`
}

// Result is a customer's score at one moment, with its explanation.
type Result struct {
	Customer string    `json:"customer"`
	Time     time.Time `json:"time"`
	// Score is capped at 100; Raw is the sum of Contributions before the cap.
	Score         float64        `json:"score"`
	Raw           float64        `json:"raw_score"`
	Tier          rules.Tier     `json:"tier"`
	PreviousScore float64        `json:"previous_score"`
	PreviousTier  rules.Tier     `json:"previous_tier"`
	Contributions []Contribution `json:"contributions"`
	Playbook      []string       `json:"playbook,omitempty"`
	// Errors are rule evaluation failures (for example the cost limit); the
	// rule counts as not firing.
	Errors []RuleError `json:"-"`
}

// RuleError is a rule whose condition failed to evaluate.
type RuleError struct {
	Rule string
	Err  error
}

func (e RuleError) Error() string { return e.Err.Error() }
func (e RuleError) Unwrap() error { return e.Err }

// Evaluate scores the customer at time at (never earlier than its last
// evaluation, so a sweep's clock is not undone by an older signal), updates
// its tier with hysteresis and its history, and explains the score.
func (m *Model) Evaluate(st *State, p *signals.Profile, at time.Time) Result {
	res, memo := m.explain(st, p, at)
	st.Score, st.Tier, st.Evaluated = res.Score, res.Tier, res.Time.Unix()
	st.recordHistory(res.Time.Unix(), res.Score)
	st.memo = memo
	return res
}

// Explain is Evaluate without changing st: what the score would be at at.
func (m *Model) Explain(st *State, p *signals.Profile, at time.Time) Result {
	res, _ := m.explain(st, p, at)
	return res
}

// explain is Explain, also returning the rule memo Evaluate keeps. It
// reads st's memo but never writes it, so queries may explain under a
// read lock.
func (m *Model) explain(st *State, p *signals.Profile, at time.Time) (Result, ruleMemo) {
	now := max(at.Unix(), st.Evaluated, st.Watermark)
	f := Features(st, p, now)
	segment, stage := f.Profile.Segment, f.Profile.Stage
	res := Result{Customer: st.Customer, Time: time.Unix(now, 0).UTC(),
		PreviousScore: st.Score, PreviousTier: st.Tier, Contributions: []Contribution{}}
	var memo ruleMemo
	known := false
	if len(m.Rules.Rules) <= maxMemoRules {
		memo.key = m.memoKey(&f)
		known = memo.key == st.memo.key
	}
	for i, r := range m.Rules.Rules {
		w := r.WeightFor(segment, stage)
		var fired bool
		if known {
			fired = st.memo.fired&(1<<i) != 0
		} else {
			var err error
			if fired, err = r.Eval(&f); err != nil {
				res.Errors = append(res.Errors, RuleError{Rule: r.Name, Err: err})
			}
		}
		if fired && i < maxMemoRules {
			memo.fired |= 1 << i
		}
		c := Contribution{Rule: r.Name, Category: r.Category}
		lastFired := st.fired(r.Name)
		if lastFired < now-m.catchUp {
			lastFired = 0
		}
		switch {
		case fired:
			c.Contribution, c.Firing, c.Detail = w, true, r.Render(&f)
		case lastFired > 0 && r.HalfLife > 0:
			age := float64(now - lastFired)
			c.Contribution = w * math.Exp2(-age/r.HalfLife.Seconds())
			c.Detail = fmt.Sprintf("fired until %s, fading (half-life %s)",
				time.Unix(lastFired, 0).UTC().Format(time.DateOnly), formatDays(r.HalfLife))
		default:
			continue
		}
		c.Contribution = math.Round(c.Contribution*10) / 10
		if c.Contribution <= 0 {
			continue
		}
		if lastFired > 0 {
			c.LastFired = time.Unix(lastFired, 0).UTC()
		}
		c.Signals = evidence(st, r.Kind, now)
		res.Contributions = append(res.Contributions, c)
		res.Raw += c.Contribution
		if fired {
			for _, step := range r.Playbook {
				if !slices.Contains(res.Playbook, step) {
					res.Playbook = append(res.Playbook, step)
				}
			}
		}
	}
	slices.SortStableFunc(res.Contributions, func(a, b Contribution) int {
		switch {
		case a.Contribution > b.Contribution:
			return -1
		case a.Contribution < b.Contribution:
			return 1
		}
		return 0
	})
	res.Raw = math.Round(res.Raw*10) / 10
	res.Score = min(res.Raw, 100)
	res.Tier = m.Rules.ThresholdsFor(segment).Classify(res.Score, st.Tier)
	if len(res.Errors) > 0 {
		// Failures are reported on every evaluation, so they are not
		// remembered.
		memo = ruleMemo{}
	}
	return res, memo
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// maxEvidence bounds the signal ids cited per contribution.
const maxEvidence = 5

// evidence lists the ids of the latest signals of kind behind a rule,
// newest first: the last usage, the answers compared, the rating, or the
// newest events of the kind among those the features see.
func evidence(st *State, kind string, now int64) []string {
	hi := firstAfter(st.Events, now)
	upTo := st.Events[:hi]
	switch signals.Kind(kind) {
	case "":
		return nil
	case signals.KindUsage:
		if st.LastUsageID != "" {
			return []string{st.LastUsageID}
		}
		return nil
	case signals.KindNPS:
		var ids []string
		for _, a := range npsAnswers(st, upTo) {
			if a.ID != "" {
				ids = append(ids, a.ID)
			}
		}
		return ids
	case signals.KindRating:
		if a, ok := ratingAnswer(st, upTo); ok && a.ID != "" {
			return []string{a.ID}
		}
		return nil
	}
	lo := max(hi-maxEvents, firstAfter(upTo, now-eventWindow-1))
	var ids []string
	for i := hi - 1; i >= lo && len(ids) < maxEvidence; i-- {
		if ev := &st.Events[i]; string(ev.Code.Kind()) == kind {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}
