package engine

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// CustomerView is what the API shows about one customer.
type CustomerView struct {
	Customer      string  `json:"customer"`
	Name          string  `json:"name,omitempty"`
	Owner         string  `json:"owner,omitempty"`
	Segment       string  `json:"segment,omitempty"`
	ARR           float64 `json:"arr,omitempty"`
	DaysToRenewal *int64  `json:"days_to_renewal,omitempty"`
	Score         float64 `json:"score"`
	// Change1d is the score now minus the score recorded a day before the
	// last evaluation, when there is one.
	Change1d      *float64              `json:"change_1d,omitempty"`
	Tier          rules.Tier            `json:"tier"`
	RevenueAtRisk float64               `json:"revenue_at_risk"`
	Evaluated     time.Time             `json:"evaluated"`
	LastEvent     time.Time             `json:"last_event"`
	Reasons       []scorer.Contribution `json:"reasons,omitzero"` // only when explained
	Playbook      []string              `json:"playbook,omitempty"`
	History       []scorer.Point        `json:"history,omitzero"`
	Profile       *signals.Profile      `json:"profile,omitempty"`
	Alerting      alerting.State        `json:"alerting"`
	LastAlert     *alerting.Alert       `json:"last_alert,omitempty"`
}

// Customer explains one customer as of its last evaluation; false when
// there is neither a signal nor a profile for it.
func (e *Engine) Customer(id string) (CustomerView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.customers[id]
	if !ok {
		if _, known := e.profiles[id]; !known {
			return CustomerView{}, false
		}
		// A profile but no signal yet: a customer all the same, healthy.
		c = &customer{Score: *scorer.NewState(id)}
	}
	return e.view(id, c, true), true
}

func (e *Engine) view(id string, c *customer, explain bool) CustomerView {
	p := e.profiles[id]
	v := CustomerView{Customer: id, Score: c.Score.Score, Tier: c.Score.Tier,
		Evaluated: time.Unix(c.Score.Evaluated, 0).UTC(), LastEvent: time.Unix(c.Score.Watermark, 0).UTC(),
		Profile: p, Alerting: c.Alert, LastAlert: c.last}
	if p != nil {
		v.Name, v.Owner, v.Segment, v.ARR = p.Name, p.Owner, p.Segment, p.ARR
		v.RevenueAtRisk = alerting.RevenueAtRisk(p.ARR, c.Score.Score)
		if d := p.DaysToRenewal(v.Evaluated); d >= 0 {
			v.DaysToRenewal = &d
		}
	}
	if prev, ok := c.Score.ScoreOn(c.Score.Evaluated - daySeconds); ok {
		d := math.Round((c.Score.Score-prev)*10) / 10
		v.Change1d = &d
	}
	if explain {
		res := e.model.Explain(&c.Score, p, v.Evaluated)
		v.Reasons, v.Playbook = res.Contributions, res.Playbook
		v.History = c.Score.HistoryPoints()
		if v.History == nil {
			v.History = []scorer.Point{}
		}
	}
	return v
}

// Filter selects customers for List.
type Filter struct {
	Tier    string // a tier name; "" for all; "risk" for every tier above healthy
	Owner   string
	Segment string
	Sort    string // revenue_at_risk (default) or score
	Limit   int    // default 100, at most 10000
}

// List returns the customers matching f, sorted.
func (e *Engine) List(f Filter) []CustomerView {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10_000)
	e.mu.RLock()
	out := make([]CustomerView, 0, min(limit, len(e.customers)))
	for id, c := range e.customers {
		if !f.match(c.Score.Tier, e.profiles[id]) {
			continue
		}
		out = append(out, e.view(id, c, false))
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b CustomerView) int {
		if f.Sort == "score" {
			if c := cmp.Compare(b.Score, a.Score); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(b.RevenueAtRisk, a.RevenueAtRisk); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Customer, b.Customer)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (f Filter) match(t rules.Tier, p *signals.Profile) bool {
	switch f.Tier {
	case "":
	case "risk":
		if t == rules.Healthy {
			return false
		}
	default:
		if t.String() != f.Tier {
			return false
		}
	}
	if f.Owner != "" && (p == nil || p.Owner != f.Owner) {
		return false
	}
	if f.Segment != "" && (p == nil || p.Segment != f.Segment) {
		return false
	}
	return true
}

// Stats are counts for /readyz and the tools.
type Stats struct {
	Customers int    `json:"customers"`
	Profiles  int    `json:"profiles"`
	Applied   uint64 `json:"applied_seq"`
	Durable   uint64 `json:"checkpoint_seq"`
}

// Stats reports counts.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return Stats{Customers: len(e.customers), Profiles: len(e.profiles), Applied: e.applied, Durable: e.durable}
}

// Profile returns a customer's profile.
func (e *Engine) Profile(id string) (signals.Profile, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, ok := e.profiles[id]
	if !ok {
		return signals.Profile{}, false
	}
	return *p, true
}
