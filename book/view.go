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
func (b *Book) MatchingAfter(f api.Filter, after *api.CustomerView) []api.CustomerView {
	k := f.Size()
	top := make(worst, 0, min(k, len(b.customers)))
	for id, c := range b.customers {
		if !f.Match(c.Score.Tier, c.Profile) {
			continue
		}
		v := b.view(id, c, false)
		if after != nil && f.Compare(&v, after) <= 0 {
			continue
		}
		top = top.offer(f, v, k)
	}
	return top
}

// worst is a heap of views whose root is the one f orders last: a new
// view better than it takes its place.
type worst []api.CustomerView

func (h worst) offer(f api.Filter, v api.CustomerView, k int) worst {
	if len(h) < k {
		h = append(h, v)
		// sift up
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if f.Compare(&h[i], &h[p]) <= 0 {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		return h
	}
	if k == 0 || f.Compare(&v, &h[0]) >= 0 {
		return h
	}
	h[0] = v
	// sift down
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && f.Compare(&h[l], &h[m]) > 0 {
			m = l
		}
		if r < len(h) && f.Compare(&h[r], &h[m]) > 0 {
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
