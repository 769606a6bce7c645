package scorer

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
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
	Rules *rules.Set
	// Peers, when set, gives the usage features their segment's figures
	// (segment_drop_pct, segment_fade_pct). The runtime sets it before
	// the first evaluation; without it those features are 0.
	Peers    Peers
	lateness int64
	// backfill is how far back (seconds) the firing history is revised
	// for a signal of a producer that trails the others.
	backfill int64
	slack    int
	// kinds is the producer (signals.Kinds index) of each rule, -1 for a
	// rule without a kind.
	kinds []int
	// catchUp is how far back (seconds) a firing can still show in a score.
	catchUp int64
	// seeds key the rule memos of this model's evaluations.
	seeds [2]maphash.Seed
	// refs are the features each rule's condition reads, by rule name:
	// what its explanation cites the signals of.
	refs map[string][]string
}

// usageKind is the index of usage among the kinds of Clocks.
var usageKind = signals.KindUsage.Index()

// peers fills the segment's figures of f's customer (st) at time at.
func (m *Model) peers(f *rules.Features, st *State, at int64) {
	peerFeatures(&f.Usage, m.Peers, f.Profile.Segment, st, dayOf(at))
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
	// Whole days: the history is revised a day at a time.
	backfill := set.BackfillWindow.Truncate(24 * time.Hour)
	kinds := make([]int, len(set.Rules))
	for i, r := range set.Rules {
		kinds[i] = signals.Kind(r.Kind).Index()
	}
	refs := make(map[string][]string, len(set.Rules))
	for _, r := range set.Rules {
		refs[r.Name] = references(r.When)
	}
	return &Model{Rules: set, lateness: int64(l / time.Second), backfill: int64(backfill / time.Second),
		slack: ringSlack(l + backfill), kinds: kinds,
		catchUp: int64(catchUpHalfLives * longest / time.Second), seeds: newSeeds(), refs: refs}
}

// Lateness is how far behind its producer's latest event for the
// customer a signal may be.
func (m *Model) Lateness() time.Duration { return time.Duration(m.lateness) * time.Second }

// Apply counts s for the customer of st. It returns ErrDuplicate for an id
// already counted and a *signals.Error with ReasonLate for a signal older
// than the lateness window allows against the latest of its own kind for
// the customer; st is unchanged then. A signal that trails the customer's
// other producers is accepted, and the firing history of the days it
// lands in is revised (Revised reports how).
func (m *Model) Apply(st *State, s *signals.Signal, p *signals.Profile) error {
	_, err := m.apply(st, s, p)
	return err
}

// Revision says how far a signal revised a customer's committed history.
type Revision uint8

const (
	// NotRevised: the signal came after every closed day.
	NotRevised Revision = iota
	// Revised: the closed days from the signal's on were evaluated again.
	Revised
	// Truncated: the signal is older than the backfill window; the days
	// of the window were evaluated again, the history before it kept.
	Truncated
)

// ApplyRevised is Apply that also says whether, and how far, the closed
// days were evaluated again.
func (m *Model) ApplyRevised(st *State, s *signals.Signal, p *signals.Profile) (Revision, error) {
	return m.apply(st, s, p)
}

func (m *Model) apply(st *State, s *signals.Signal, p *signals.Profile) (Revision, error) {
	t := s.Time.Unix()
	k := s.Kind.Index()
	if k >= 0 && st.Kinds[k] != 0 && t < st.Kinds[k]-m.lateness {
		return NotRevised, &signals.Error{Reason: signals.ReasonLate, Field: "time", Msg: fmt.Sprintf(
			"%s is more than %s before the latest %s event of customer %q (%s)",
			s.Time.UTC().Format(time.RFC3339), m.Lateness(), s.Kind, st.Customer,
			time.Unix(st.Kinds[k], 0).UTC().Format(time.RFC3339))}
	}
	// Sparse events are kept with their ids for 90 days, so their
	// duplicates are caught however late; usage rollups only by the last
	// ids seen.
	if st.hasEvent(t, s.ID) || st.seen(s.ID) {
		return NotRevised, ErrDuplicate
	}
	st.resize(m.slack)
	rev := NotRevised
	if t < st.Committed {
		// A producer that trails the others: the closed days from this
		// signal's on were judged without it.
		rev = m.rollback(st, t)
	}
	if t > st.Watermark {
		// Close the days that this customer's latest events have left
		// behind, before this signal's data is in: it is newer than all
		// of them.
		m.commit(st, p, t-m.lateness)
		st.Watermark = t
	}
	if k >= 0 {
		st.Kinds[k] = max(st.Kinds[k], t)
	}
	st.add(s, st.Watermark-m.lateness-m.backfill)
	if s.Kind == signals.KindOutcome {
		st.addOutcome(s, p)
	}
	if rev != NotRevised {
		m.commit(st, p, st.Watermark-m.lateness)
	}
	return rev, nil
}

// rollback forgets the committed days after the last boundary at or
// before t, at most the backfill window of them, so that the next commit
// evaluates them again with the data that came late.
func (m *Model) rollback(st *State, t int64) Revision {
	b := t - mod(t, day)
	rev := Revised
	if floor := st.Committed - m.backfill; b < floor {
		b, rev = floor, Truncated
	}
	if b >= st.Committed {
		return rev
	}
	if n := (st.Committed - b) / day; n >= 32 {
		st.ClosedTiers = 0
	} else {
		st.ClosedTiers >>= 2 * n
	}
	for i := range st.Fired {
		st.Fired[i].rollback(b)
	}
	st.Fired = slices.DeleteFunc(st.Fired, func(f Firing) bool { return f.At == 0 })
	st.Committed = b
	st.reopenEpisodes(b)
	return rev
}

// commit evaluates each closed day boundary up to upTo, records which
// rules fired there and the tier the day ended in. Every feature of a
// closed day reads only signals from before its end, so what is recorded
// depends on the signals alone, not on the order they came in: a signal
// that lands in a closed day makes rollback reopen it. After a silence
// longer than catchUp, the days before its last catchUp are skipped:
// whatever fired there has decayed to nothing, and Explain ignores
// firings that old.
func (m *Model) commit(st *State, p *signals.Profile, upTo int64) {
	last := upTo - mod(upTo, day)
	if last <= st.Committed {
		return
	}
	from := max(st.Committed+day, last-m.catchUp)
	st.pushTiers((from-st.Committed)/day-1, 0)
	for d := from; d <= last; d += day {
		if st.First == 0 || d <= st.First {
			st.pushTiers(1, 0) // nothing had happened yet
			continue
		}
		f := Features(st, p, d-1)
		m.peers(&f, st, d-1)
		for _, r := range m.Rules.Rules {
			if ok, err := r.Eval(&f); err == nil && ok {
				st.setFired(r.Name, d)
			}
		}
		score := m.closedScore(st, &f, d)
		tier := m.Rules.ThresholdsFor(f.Profile.Segment).Classify(score, rules.Tier(st.closedTier()))
		st.pushTiers(1, uint64(tier))
		st.markTier(d, tier)
	}
	st.Committed = last
	st.Fired = slices.DeleteFunc(st.Fired, func(f Firing) bool { return f.At < last-m.catchUp })
}

// pushTiers records n more closed days ending in tier (n >= 0).
func (st *State) pushTiers(n int64, tier uint64) {
	switch {
	case n <= 0:
		return
	case n >= 32:
		st.ClosedTiers = 0
	default:
		st.ClosedTiers <<= 2 * n
	}
	st.ClosedTiers |= tier
}

// closedScore is the score at the end of the closed day ending at d, from
// the firings committed up to it.
func (m *Model) closedScore(st *State, f *rules.Features, d int64) float64 {
	raw := 0.0
	for _, r := range m.Rules.Rules {
		last := st.fired(r.Name)
		if last < d-m.catchUp {
			last = 0
		}
		raw += rulePoints(r, last == d, last, d, f.Profile.Segment, f.Profile.Stage)
	}
	return clampScore(math.Round(raw*10) / 10)
}

// clampScore is the score of a raw sum: protective rules cannot take it
// below 0, nor can many rules take it above 100.
func clampScore(raw float64) float64 { return min(max(raw, 0), 100) }

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Contribution is one rule's share of the score.
type Contribution struct {
	Rule         string  `json:"rule"`
	Category     string  `json:"category"`
	Contribution float64 `json:"contribution"`
	// Detail and Signals explain the share; Score leaves them empty and
	// Describe fills them.
	Detail  string   `json:"detail"`
	Signals []string `json:"signals,omitempty"`
	// Firing is false for a rule that fired before and is fading with its
	// half-life.
	Firing    bool      `json:"firing"`
	LastFired time.Time `json:"last_fired,omitzero"`
}

// Result is a customer's score at one moment, with its explanation.
type Result struct {
	Customer string    `json:"customer"`
	Time     time.Time `json:"time"`
	// Score is clamped to [0, 100]; Raw is the signed sum of
	// Contributions before the clamp.
	Score float64 `json:"score"`
	Raw   float64 `json:"raw_score"`
	// Probability is p(churn within the calibration's horizon), from Raw
	// through the rule set's calibration (rules.DefaultCalibration when
	// the file has none): above the cap, customers still rank by it.
	Probability float64 `json:"probability"`
	// Horizon is the calibration's: Probability is p(churn within it).
	Horizon       time.Duration  `json:"-"`
	Tier          rules.Tier     `json:"tier"`
	PreviousScore float64        `json:"previous_score"`
	PreviousTier  rules.Tier     `json:"previous_tier"`
	Contributions []Contribution `json:"contributions"`
	// Playbook is what the firing rules suggest, the steps of the largest
	// contributions first (then in rule order), each step once. Score leaves it empty and Describe fills it.
	Playbook []string `json:"playbook,omitempty"`
	// Renewal is the customer's next renewal (Renewal), zero when unknown.
	Renewal time.Time `json:"-"`
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

// Evaluate scores the customer at time at and explains the score: Score
// followed by Describe.
func (m *Model) Evaluate(st *State, p *signals.Profile, at time.Time) Result {
	var f rules.Features
	var res Result
	memo := m.score(&res, st, p, at, &f, nil)
	m.record(st, &res, memo)
	// f is what Describe would compute again: nothing record writes to st
	// is read by Features.
	m.describe(st, &f, &res)
	return res
}

// Score scores the customer at time at (never earlier than its last
// evaluation, so a sweep's clock is not undone by an older signal) and
// updates its tier with hysteresis and its history. The contributions
// carry their points, firing state and last firing, but no detail,
// evidence or playbook: most scores are only compared with the last one,
// and explaining costs more than scoring. Describe adds the explanation
// to the few that need it.
func (m *Model) Score(st *State, p *signals.Profile, at time.Time) Result {
	var res Result
	m.ScoreInto(&res, st, p, at)
	return res
}

// ScoreInto is Score into a result the caller reuses: its contributions
// reuse the capacity of res.Contributions, so a caller that scores every
// signal and keeps none of the results allocates nothing for them.
func (m *Model) ScoreInto(res *Result, st *State, p *signals.Profile, at time.Time) {
	var f rules.Features
	m.Judge(res, &f, st, p, at, nil)
	m.Keep(st, res)
}

// Judge scores the customer at time at judged by the producers' clocks
// (nil: every kind at at), leaving in f the features the rules saw, so
// that the explanation, when one is needed, comes from this very
// evaluation (DescribeFrom) and the features are not derived again. It
// does not record the result in st: Keep does, and a caller that keeps
// only the evaluations that change something writes st only then.
func (m *Model) Judge(res *Result, f *rules.Features, st *State, p *signals.Profile, at time.Time, clocks *Clocks) {
	st.memo = m.score(res, st, p, at, f, clocks)
}

// Keep records res, the customer's latest evaluation, in st: its score,
// raw score, tier, time and the day's history point.
func (m *Model) Keep(st *State, res *Result) {
	st.Score, st.Raw, st.Tier, st.Evaluated = res.Score, res.Raw, res.Tier, res.Time.Unix()
	st.recordHistory(res.Time.Unix(), res.Score)
}

// Calibration is the rule set's calibration, rules.DefaultCalibration
// when the set has none (one built in code rather than parsed).
func (m *Model) Calibration() rules.Calibration {
	if m.Rules.Calibration.Horizon == 0 {
		return rules.DefaultCalibration
	}
	return m.Rules.Calibration
}

// Probability is p(churn within Horizon) of the customer st as of its
// last evaluation: its kept raw score through the model's calibration,
// what Result.Probability was then. Views, sweeps and digests read it
// without explaining the customer again.
func (m *Model) Probability(st *State) float64 {
	return m.Calibration().Probability(st.Raw)
}

// Horizon is the horizon of the probabilities: p(churn within Horizon).
func (m *Model) Horizon() time.Duration { return m.Calibration().Horizon }

// Describe fills in the explanation Score leaves out: the detail and the
// evidence of every contribution of r, and the playbook. st and p must be
// what r was scored from, with no signal applied since, for the
// explanation to be the one Evaluate gives. Contributions of rules the
// model does not have are left as they are.
func (m *Model) Describe(st *State, p *signals.Profile, r *Result) {
	var f rules.Features
	// Only firing rules render from the features; fading ones say when
	// they last fired.
	if slices.ContainsFunc(r.Contributions, func(c Contribution) bool { return c.Firing }) {
		f = Features(st, p, r.Time.Unix())
		m.peers(&f, st, r.Time.Unix())
	}
	m.describe(st, &f, r)
}

// DescribeFrom is Describe with the features ScoreWith left for r: nothing
// is derived again. Nothing applied to st since, as for Describe.
func (m *Model) DescribeFrom(st *State, f *rules.Features, r *Result) { m.describe(st, f, r) }

// Explain is Evaluate without changing st: what the score would be at at,
// judged by the producers' clocks (nil: every kind at at).
func (m *Model) Explain(st *State, p *signals.Profile, at time.Time, clocks *Clocks) Result {
	var f rules.Features
	var res Result
	m.score(&res, st, p, at, &f, clocks)
	m.describe(st, &f, &res)
	return res
}

// record keeps an evaluation and its memo in st.
func (m *Model) record(st *State, res *Result, memo ruleMemo) {
	m.Keep(st, res)
	st.memo = memo
}

var featuresPool = sync.Pool{New: func() any { return new(rules.Features) }}

// share is one contributing rule while score sums them up.
type share struct {
	rule   int
	points float64
	last   int64
	firing bool
}

// score computes an undescribed result into res (reusing the capacity of
// its contributions) and returns the rule memo Evaluate keeps, leaving the
// features of the moment in f. It reads st's memo but never writes it, so
// queries may explain under a read lock.
func (m *Model) score(res *Result, st *State, p *signals.Profile, at time.Time, f *rules.Features, clocks *Clocks) ruleMemo {
	now := max(at.Unix(), st.Evaluated, st.Watermark)
	*f = rules.Features{}
	renewal := features(f, st, p, now)
	judged, trails := clocks.trailing(now)
	if trails {
		judgeAt(f, st, p, &judged, renewal)
	}
	if t := judged[usageKind]; t > 0 {
		m.peers(f, st, t)
	} else {
		m.peers(f, st, now)
	}
	segment, stage := f.Profile.Segment, f.Profile.Stage
	*res = Result{Customer: st.Customer, Time: time.Unix(now, 0).UTC(),
		PreviousScore: st.Score, PreviousTier: st.Tier, Contributions: res.Contributions[:0]}
	if renewal > 0 {
		res.Renewal = time.Unix(renewal, 0).UTC()
	}
	var memo ruleMemo
	known := false
	if len(m.Rules.Rules) <= maxMemoRules {
		memo.key = m.memoKey(f)
		known = memo.key == st.memo.key
	}
	// Shares gather on the stack, so that the result gets one slice of
	// the exact size.
	var buf [16]share
	shares := buf[:0]
	// A condition's features escape (CEL's activation, the compiled
	// closures), so the conditions get a copy of f from a pool, taken only
	// when the memo cannot answer: f stays on the stack, and nothing is
	// allocated per evaluation. No condition keeps its features.
	var cf *rules.Features
	defer func() {
		if cf != nil {
			featuresPool.Put(cf)
		}
	}()
	for i, r := range m.Rules.Rules {
		var fired bool
		if known {
			fired = st.memo.fired&(1<<i) != 0
		} else {
			if cf == nil {
				cf = featuresPool.Get().(*rules.Features)
				*cf = *f
			}
			var err error
			if fired, err = r.Eval(cf); err != nil {
				res.Errors = append(res.Errors, RuleError{Rule: r.Name, Err: err})
			}
		}
		if fired && i < maxMemoRules {
			memo.fired |= 1 << i
		}
		k := m.kinds[i]
		if clocks.held(k) {
			continue // its producer was never heard from
		}
		lastFired := st.fired(r.Name)
		if k >= 0 && judged[k] > 0 {
			// Days past the producer's clock were closed without it.
			lastFired = st.firedAsOf(r.Name, judged[k])
		}
		if lastFired < now-m.catchUp {
			lastFired = 0
		}
		points := rulePoints(r, fired, lastFired, now, segment, stage)
		if points == 0 {
			continue // negative points are a protective rule's
		}
		shares = append(shares, share{rule: i, points: points, last: lastFired, firing: fired})
		res.Raw += points
	}
	sortShares(shares)
	m.setContributions(res, shares)
	res.Raw = math.Round(res.Raw*10) / 10
	// Protective rules (negative weights) lower the sum; the score stays
	// in [0, 100], the raw sum keeps the rest for the ranking and the
	// probability.
	res.Score = clampScore(res.Raw)
	cal := m.Calibration()
	res.Probability, res.Horizon = cal.Probability(res.Raw), cal.Horizon
	// Against the tier the last closed day ended in, not the last
	// evaluation's: the tier then depends on the history, not on when and
	// in which order it was evaluated.
	res.Tier = m.Rules.ThresholdsFor(segment).Classify(res.Score, rules.Tier(st.closedTier()))
	if len(res.Errors) > 0 {
		// Failures are reported on every evaluation, so they are not
		// remembered.
		memo = ruleMemo{}
	}
	return memo
}

// rulePoints is what rule r adds to a score at now, rounded to a tenth:
// its weight while it fires, decaying by its half-life once it stopped
// firing at lastFired, and nothing otherwise.
func rulePoints(r *rules.Rule, fired bool, lastFired, now int64, segment, stage string) float64 {
	var points float64
	// The weight (its overrides are map lookups) only for the rules
	// that contribute.
	switch {
	case fired:
		points = r.WeightFor(segment, stage)
	case lastFired > 0 && r.HalfLife > 0:
		points = r.WeightFor(segment, stage) * math.Exp2(-float64(now-lastFired)/r.HalfLife.Seconds())
	default:
		return 0
	}
	return math.Round(points*10) / 10
}

// sortShares orders shares as the contributions of a result are listed.
func sortShares(shares []share) {
	// Largest first (a protective rule's negative points last), ties in
	// rule order: an insertion sort, stable, and
	// for a handful of shares cheaper than a general sort's calls.
	for i := 1; i < len(shares); i++ {
		for j := i; j > 0 && shares[j].points > shares[j-1].points; j-- {
			shares[j], shares[j-1] = shares[j-1], shares[j]
		}
	}
}

// setContributions makes shares the contributions of res, reusing their
// capacity.
func (m *Model) setContributions(res *Result, shares []share) {
	// Non-nil when empty: an explanation lists no contributions as [], and
	// an empty slice costs no allocation.
	if res.Contributions == nil || cap(res.Contributions) < len(shares) {
		res.Contributions = make([]Contribution, len(shares))
	} else {
		res.Contributions = res.Contributions[:len(shares)]
		clear(res.Contributions)
	}
	for i, s := range shares {
		r := m.Rules.Rules[s.rule]
		c := &res.Contributions[i]
		c.Rule, c.Category, c.Contribution, c.Firing = r.Name, r.Category, s.points, s.firing
		if s.last > 0 {
			c.LastFired = time.Unix(s.last, 0).UTC()
		}
	}
}

// describe fills r's details, evidence and playbook; f holds the features
// at r.Time when a contribution is firing.
func (m *Model) describe(st *State, f *rules.Features, r *Result) {
	now := r.Time.Unix()
	for i := range r.Contributions {
		c := &r.Contributions[i]
		rule := m.Rules.Rule(c.Rule)
		switch {
		case rule == nil:
			continue
		case c.Firing:
			c.Detail = rule.Render(f)
		case !c.LastFired.IsZero():
			c.Detail = fmt.Sprintf("fired until %s, fading (half-life %s)",
				c.LastFired.UTC().Format(time.DateOnly), formatDays(rule.HalfLife))
		}
		c.Signals = evidence(st, m.refs[rule.Name], now)
	}
	r.Playbook = nil
	// The steps of the largest contributions come first: a CSM reads the
	// top of the list, and the alert and Slack show its first steps. Rule
	// order breaks ties, so the order is a function of the result.
	firing := make([]int, 0, len(m.Rules.Rules))
	points := make(map[string]float64, len(r.Contributions))
	for _, c := range r.Contributions {
		if c.Firing {
			points[c.Rule] = c.Contribution
		}
	}
	for i, rule := range m.Rules.Rules {
		if _, ok := points[rule.Name]; ok && len(rule.Playbook) > 0 {
			firing = append(firing, i)
		}
	}
	slices.SortStableFunc(firing, func(a, b int) int {
		return cmp.Compare(points[m.Rules.Rules[b].Name], points[m.Rules.Rules[a].Name])
	})
	for _, i := range firing {
		for _, step := range m.Rules.Rules[i].Playbook {
			if !slices.Contains(r.Playbook, step) {
				r.Playbook = append(r.Playbook, step)
			}
		}
	}
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
