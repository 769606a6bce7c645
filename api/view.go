package api

import (
	"cmp"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// CustomerView is what riskd shows about one customer: GET
// /v1/customers/{id}, the customer.get and explain endpoints, and each
// entry of a list (without reasons, playbook and history).
type CustomerView struct {
	Customer      string  `json:"customer"`
	Name          string  `json:"name,omitempty"`
	Owner         string  `json:"owner,omitempty"`
	Segment       string  `json:"segment,omitempty"`
	ARR           float64 `json:"arr,omitempty"`
	DaysToRenewal *int64  `json:"days_to_renewal,omitempty"`
	Score         float64 `json:"score"`
	// RawScore is the signed sum of the rules' contributions that Score
	// clamps to [0, 100]: past 100 (or below 0) it still orders customers.
	RawScore float64 `json:"raw_score"`
	// Probability is p(churn within HorizonDays): RawScore through the
	// rule set's calibration (its calibration block, or the documented
	// default), as of Evaluated. HorizonDays is the calibration's horizon
	// in days, so that a reader knows what the probability is of.
	Probability float64 `json:"probability"`
	HorizonDays float64 `json:"horizon_days"`
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
	// Fate is what became of the customer's warnings (scorer.Fate):
	// open while warned since the last outcome, else the last outcome's;
	// absent when there is neither. AtRiskSince, while open, is the start
	// of the first day since the last outcome that ended at_risk or worse.
	Fate        scorer.Fate `json:"fate,omitempty"`
	AtRiskSince *time.Time  `json:"at_risk_since,omitempty"`
	// Outcomes are the customer's latest outcome signals, oldest first
	// (only when explained).
	Outcomes []OutcomeView `json:"outcomes,omitempty"`
}

// Bounds of a list.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// Filter selects and orders customers: the query parameters of GET
// /v1/customers and the request of customer.list. Every field is optional.
type Filter struct {
	// Tier is a tier name, or "risk" for every tier above healthy.
	Tier    string `json:"tier,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Segment string `json:"segment,omitempty"`
	// Sort is revenue_at_risk (the default), probability, or score (ties
	// of the 0..100 score, at the cap, go to the higher raw score: the
	// probability's order).
	Sort string `json:"sort,omitempty"`
	// Limit is at most MaxLimit; 0 means DefaultLimit.
	Limit int `json:"limit,omitempty"`
	// After is the id of the last customer of the previous page (a
	// ListResponse's Next): the list goes on with the customers ordered
	// after it as it stands now.
	After string `json:"after,omitempty"`
}

// Check reports a filter that cannot mean anything, as a 400 *Error.
func (f Filter) Check() error {
	switch f.Tier {
	case "", "risk":
	default:
		if _, err := rules.ParseTier(f.Tier); err != nil {
			return Errorf(http.StatusBadRequest, "tier %q: want healthy, watch, at_risk, critical or risk (every tier above healthy)", f.Tier)
		}
	}
	switch f.Sort {
	case "", "revenue_at_risk", "score", "probability":
	default:
		return Errorf(http.StatusBadRequest, "sort %q: want revenue_at_risk, probability or score", f.Sort)
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return Errorf(http.StatusBadRequest, "limit %d: want 1 to %d", f.Limit, MaxLimit)
	}
	if len(f.After) > signals.MaxCustomer {
		return Errorf(http.StatusBadRequest, "after is %d bytes, the limit is %d", len(f.After), signals.MaxCustomer)
	}
	for _, fl := range []struct{ name, v string }{{"owner", f.Owner}, {"segment", f.Segment}} {
		if len(fl.v) > signals.MaxField {
			return Errorf(http.StatusBadRequest, "%s is %d bytes, the limit is %d", fl.name, len(fl.v), signals.MaxField)
		}
	}
	return nil
}

// Size is how many customers the list returns at most.
func (f Filter) Size() int {
	if f.Limit <= 0 {
		return DefaultLimit
	}
	return min(f.Limit, MaxLimit)
}

// Match reports whether a customer in tier t with profile p (nil when it
// has none) is selected.
func (f Filter) Match(t rules.Tier, p *signals.Profile) bool {
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

// Compare orders a list: by the filter's sort, then revenue at risk, then
// score, raw score and probability (largest first), then id. The raw
// score orders the customers the 0..100 score ties (at the cap, or at 0
// with protective rules), so the top of a list is no plateau of ties;
// the probability, a monotone function of the raw score, orders as it
// does.
func (f Filter) Compare(a, b *CustomerView) int {
	switch f.Sort {
	case "score":
		if c := compareRisk(a, b); c != 0 {
			return c
		}
	case "probability":
		if c := cmp.Compare(b.Probability, a.Probability); c != 0 {
			return c
		}
		if c := compareRisk(a, b); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(b.RevenueAtRisk, a.RevenueAtRisk); c != 0 {
		return c
	}
	if c := compareRisk(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.Customer, b.Customer)
}

// compareRisk orders by score, then raw score, then probability, largest
// first.
func compareRisk(a, b *CustomerView) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	if c := cmp.Compare(b.RawScore, a.RawScore); c != 0 {
		return c
	}
	return cmp.Compare(b.Probability, a.Probability)
}

// Order sorts views by Compare and keeps the first Size of them.
func (f Filter) Order(views []CustomerView) []CustomerView {
	slices.SortFunc(views, func(a, b CustomerView) int { return f.Compare(&a, &b) })
	return views[:min(len(views), f.Size())]
}

// ListResponse wraps a list so that it can grow fields (paging) without
// breaking clients.
type ListResponse struct {
	Customers []CustomerView `json:"customers"`
	// Next, when set, is the After of the next page: this one is full.
	Next string `json:"next,omitempty"`
}

// GetRequest names a customer for customer.get and explain; HTTP takes
// the id from the path.
type GetRequest struct {
	ID string `json:"id"`
}

// CheckCustomerID reports an id that cannot name a customer, as a 400
// *Error.
func CheckCustomerID(id string) error {
	switch {
	case id == "":
		return Errorf(http.StatusBadRequest, "customer id is required")
	case len(id) > signals.MaxCustomer:
		return Errorf(http.StatusBadRequest, "customer id is %d bytes, the limit is %d", len(id), signals.MaxCustomer)
	case !utf8.ValidString(id):
		return Errorf(http.StatusBadRequest, "customer id is not valid UTF-8")
	}
	return nil
}

// Stats are riskd's counts, for /readyz and the tools.
type Stats struct {
	Customers int    `json:"customers"`
	Profiles  int    `json:"profiles"`
	Applied   uint64 `json:"applied_seq"`
	Durable   uint64 `json:"checkpoint_seq"`
}
