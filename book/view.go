package book

import (
	"iter"
	"math"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// View is customer id as of its last evaluation, explained (reasons,
// playbook, history) when explain is set; false when there is neither a
// signal nor a profile for it.
func (b *Book) View(id string, explain bool) (api.CustomerView, bool) {
	c, ok := b.customers[id]
	if !ok {
		if _, known := b.profiles[id]; !known {
			return api.CustomerView{}, false
		}
		// A profile but no signal yet: a customer all the same, healthy.
		c = &Customer{Score: *scorer.NewState(id), Profile: b.profiles[id]}
	}
	return b.view(id, c, explain), true
}

func (b *Book) view(id string, c *Customer, explain bool) api.CustomerView {
	p := c.Profile
	v := api.CustomerView{Customer: id, Score: c.Score.Score, RawScore: c.Score.Raw,
		Probability: b.model.Probability(&c.Score), HorizonDays: b.model.Horizon().Hours() / 24, Tier: c.Score.Tier,
		Evaluated: time.Unix(c.Score.Evaluated, 0).UTC(), LastEvent: time.Unix(c.Score.Watermark, 0).UTC(),
		Profile: p, Alerting: c.Alert, LastAlert: c.Last}
	if p != nil {
		v.Name, v.Owner, v.Segment, v.ARR = p.Name, p.Owner, p.Segment, p.ARR
		v.RevenueAtRisk = alerting.RevenueAtRisk(p.ARR, c.Score.Score)
	}
	if d := signals.DaysUntil(scorer.Renewal(&c.Score, p, c.Score.Evaluated), v.Evaluated); d >= 0 {
		v.DaysToRenewal = &d
	}
	v.Fate = c.Score.Fate()
	if c.Score.AtRisk != 0 && v.Fate == scorer.FateOpen {
		at := time.Unix(c.Score.AtRiskSince(), 0).UTC()
		v.AtRiskSince = &at
	}
	if prev, ok := c.Score.ScoreOn(c.Score.Evaluated - daySeconds); ok {
		d := math.Round((c.Score.Score-prev)*10) / 10
		v.Change1d = &d
	}
	if explain {
		res := b.model.Explain(&c.Score, p, v.Evaluated, &b.clocks)
		v.Reasons, v.Playbook = res.Contributions, res.Playbook
		for i := range c.Score.Outcomes {
			v.Outcomes = append(v.Outcomes, api.NewOutcomeView(&c.Score.Outcomes[i]))
		}
		v.History = c.Score.HistoryPoints()
		if v.History == nil {
			v.History = []scorer.Point{}
		}
	}
	return v
}

// Matching returns the first f.Size() customers f selects in f's order
// (after f.After, when set), unexplained and in no particular order:
// f.Order sorts them. A bounded heap keeps only those, so a list of a
// million customers holds f.Size() views, not a million, and costs
// O(n log k) under the lock that guards the book.
func (b *Book) Matching(f api.Filter) []api.CustomerView {
	var after *api.CustomerView
	if f.After != "" {
		c, ok := b.customers[f.After]
		if !ok {
			return nil
		}
		v := b.view(f.After, c, false)
		after = &v
	}
	return b.MatchingAfter(f, after)
}

// MatchingAfter is Matching with the customer f.After stands for given as
// its view (nil: from the start): a book that does not hold that customer
// (one partition of several) pages all the same.
//
// Only the fields f.Compare reads are computed for every customer; the
// full view is built for the k kept.
func (b *Book) MatchingAfter(f api.Filter, after *api.CustomerView) []api.CustomerView {
	k := f.Size()
	top := make(worst, 0, min(k, len(b.customers)))
	for id, c := range b.customers {
		if !f.Match(c.Score.Tier, c.Profile) {
			continue
		}
		e := ranked{key: b.sortKey(id, c), c: c}
		if after != nil && f.Compare(&e.key, after) <= 0 {
			continue
		}
		top = top.offer(f, e, k)
	}
	out := make([]api.CustomerView, len(top))
	for i, e := range top {
		out[i] = b.view(e.key.Customer, e.c, false)
	}
	return out
}

// sortKey is what api.Filter.Compare reads of a customer's view, computed
// as view computes it.
func (b *Book) sortKey(id string, c *Customer) api.CustomerView {
	v := api.CustomerView{Customer: id, Score: c.Score.Score, RawScore: c.Score.Raw, Probability: b.model.Probability(&c.Score)}
	if c.Profile != nil {
		v.RevenueAtRisk = alerting.RevenueAtRisk(c.Profile.ARR, c.Score.Score)
	}
	return v
}

// ranked is a customer in the heap, by its sort key.
type ranked struct {
	key api.CustomerView
	c   *Customer
}

// worst is a heap of customers whose root is the one f orders last: a
// better one takes its place.
type worst []ranked

func (h worst) offer(f api.Filter, e ranked, k int) worst {
	if len(h) < k {
		h = append(h, e)
		for i := len(h) - 1; i > 0; { // sift up
			p := (i - 1) / 2
			if f.Compare(&h[i].key, &h[p].key) <= 0 {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		return h
	}
	if k == 0 || f.Compare(&e.key, &h[0].key) >= 0 {
		return h
	}
	h[0] = e
	for i := 0; ; { // sift down
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && f.Compare(&h[l].key, &h[m].key) > 0 {
			m = l
		}
		if r < len(h) && f.Compare(&h[r].key, &h[m].key) > 0 {
			m = r
		}
		if m == i {
			return h
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Standing is where a customer stands as of its last evaluation: what a
// backtest reads of every customer at each of its dates.
type Standing struct {
	Customer string
	Score    float64
	// Raw is the sum of the contributions, below 0 and past 100 too:
	// what ranks customers the score ties. Probability is p(churn) from
	// it, through the rule set's calibration.
	Raw         float64
	Probability float64
	Tier        rules.Tier
	Profile     *signals.Profile
	// Firing are the rules whose condition holds.
	Firing []string
	// Contributions are every contributing rule's points, firing or
	// fading: what a fit reads each rule's activation from.
	Contributions []scorer.Contribution
}

// Standings yields every customer's standing, in no order.
func (b *Book) Standings() iter.Seq[Standing] {
	return func(yield func(Standing) bool) {
		for id, c := range b.customers {
			s := Standing{Customer: id, Score: c.Score.Score, Tier: c.Score.Tier, Profile: c.Profile}
			res := b.model.Explain(&c.Score, c.Profile, time.Unix(c.Score.Evaluated, 0), &b.clocks)
			s.Raw, s.Probability, s.Contributions = res.Raw, res.Probability, res.Contributions
			for _, r := range res.Contributions {
				if r.Firing {
					s.Firing = append(s.Firing, r.Rule)
				}
			}
			if !yield(s) {
				return
			}
		}
	}
}

// Outcomes sums up the outcomes r selects, and counts as open the
// customers warned since their last outcome (whatever r's since says: it
// is where they stand now).
func (b *Book) Outcomes(r api.OutcomesRequest) api.OutcomesSummary {
	from, to, _ := r.Window()
	sum := api.NewOutcomesBuilder(r)
	for _, c := range b.customers {
		st := &c.Score
		for i := range st.Outcomes {
			if r.Match(st.Outcomes[i].T, from, to, c.Profile) {
				sum.Add(&st.Outcomes[i], c.Profile)
			}
		}
		if st.Fate() == scorer.FateOpen && r.Match(st.AtRisk, 0, to, c.Profile) {
			sum.AddOpen(c.Profile)
		}
	}
	return sum.Summary()
}
