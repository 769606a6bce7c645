package api

import (
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// OutcomeView is one outcome signal of a customer as riskd shows it: in
// the customer view and the explanation, newest last.
type OutcomeView struct {
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// ARR is the new ARR the signal gave; ARRChange is the change from
	// the profile's ARR when the signal was applied (all of it for a
	// churn), when both are known.
	ARR       *float64 `json:"arr,omitempty"`
	ARRChange *float64 `json:"arr_change,omitempty"`
	// Fate is how the episode this outcome closes went (scorer.Fates).
	Fate scorer.Fate `json:"fate"`
	// AtRiskSince is the start of the episode's first day that ended
	// at_risk or worse; LeadTimeDays runs from it to the outcome.
	AtRiskSince  *time.Time `json:"at_risk_since,omitempty"`
	LeadTimeDays *float64   `json:"lead_time_days,omitempty"`
}

// NewOutcomeView shows o.
func NewOutcomeView(o *scorer.Outcome) OutcomeView {
	v := OutcomeView{ID: o.ID, Type: o.Type.String(), Time: time.Unix(o.T, 0).UTC(), Fate: o.Fate()}
	if o.ARR >= 0 {
		arr := o.ARR
		v.ARR = &arr
	}
	if c, ok := o.Change(); ok {
		v.ARRChange = &c
	}
	if o.Alert != 0 {
		at := time.Unix(o.AtRiskSince(), 0).UTC()
		v.AtRiskSince = &at
		lead := Days(o.LeadTime())
		v.LeadTimeDays = &lead
	}
	return v
}

// Days is d in days, rounded to a tenth.
func Days(d time.Duration) float64 {
	return math.Round(d.Hours()/24*10) / 10
}

// OutcomesRequest selects the outcomes a summary counts: GET /v1/outcomes
// query parameters and the outcomes request of the micro service. Every
// field is optional.
type OutcomesRequest struct {
	Owner   string `json:"owner,omitempty"`
	Segment string `json:"segment,omitempty"`
	// Since and Until (YYYY-MM-DD, UTC) bound the outcomes' event time:
	// from the start of Since to the end of Until.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
}

// Check reports a request that cannot mean anything, as a 400 *Error.
func (r OutcomesRequest) Check() error {
	for _, fl := range []struct{ name, v string }{{"owner", r.Owner}, {"segment", r.Segment}} {
		if len(fl.v) > signals.MaxField {
			return Errorf(http.StatusBadRequest, "%s is %d bytes, the limit is %d", fl.name, len(fl.v), signals.MaxField)
		}
	}
	from, to, err := r.Window()
	if err != nil {
		return err
	}
	if to != 0 && from >= to {
		return Errorf(http.StatusBadRequest, "since %s is after until %s", r.Since, r.Until)
	}
	return nil
}

// Window is the request's time bounds in Unix seconds: from (inclusive,
// 0 for none) and to (exclusive, 0 for none).
func (r OutcomesRequest) Window() (from, to int64, err error) {
	if r.Since != "" {
		t, perr := time.Parse(time.DateOnly, r.Since)
		if perr != nil {
			return 0, 0, Errorf(http.StatusBadRequest, "since %q: want a date, YYYY-MM-DD", r.Since)
		}
		from = t.Unix()
	}
	if r.Until != "" {
		t, perr := time.Parse(time.DateOnly, r.Until)
		if perr != nil {
			return 0, 0, Errorf(http.StatusBadRequest, "until %q: want a date, YYYY-MM-DD", r.Until)
		}
		to = t.AddDate(0, 0, 1).Unix()
	}
	return from, to, nil
}

// Match reports whether an outcome at t of a customer with profile p
// (nil when it has none) is counted.
func (r OutcomesRequest) Match(t int64, from, to int64, p *signals.Profile) bool {
	if t < from || (to != 0 && t >= to) {
		return false
	}
	if r.Owner != "" && (p == nil || p.Owner != r.Owner) {
		return false
	}
	if r.Segment != "" && (p == nil || p.Segment != r.Segment) {
		return false
	}
	return true
}

// FateCounts are the outcomes of a set of customers by fate, and the
// revenue they kept or lost.
type FateCounts struct {
	// Outcomes counts the outcome signals; Open the customers warned since
	// their last outcome, with none yet.
	Outcomes int `json:"outcomes"`
	// Fates counts outcomes by fate, every fate present (open counts
	// customers).
	Fates map[scorer.Fate]int `json:"fates"`
	// ARRSaved is the ARR kept by saved customers (the new ARR when the
	// outcome gave one); ARRLostAfterAlert and ARRLostWithoutAlert are
	// what churns and downgrades lost, warned or not.
	ARRSaved            float64 `json:"arr_saved"`
	ARRLostAfterAlert   float64 `json:"arr_lost_after_alert"`
	ARRLostWithoutAlert float64 `json:"arr_lost_without_alert"`
}

// LeadTimes summarise the lead times of churns after an alert, in days.
type LeadTimes struct {
	Count  int     `json:"count"`
	Median float64 `json:"median_days"`
	Min    float64 `json:"min_days"`
	Max    float64 `json:"max_days"`
}

// OwnerOutcomes are one owner's figures ("" for customers without one).
type OwnerOutcomes struct {
	Owner string `json:"owner"`
	FateCounts
}

// OutcomesSummary is GET /v1/outcomes and the outcomes endpoint: what
// became of riskd's warnings.
type OutcomesSummary struct {
	Request OutcomesRequest `json:"request"`
	FateCounts
	// ByType counts outcomes by type.
	ByType map[string]int `json:"by_type"`
	// SaveRate is saved ÷ (saved + churned and downgraded after an
	// alert); ChurnWarned is churned after an alert ÷ every churn. Nil
	// when there is nothing to divide.
	SaveRate    *float64  `json:"save_rate,omitempty"`
	ChurnWarned *float64  `json:"churn_warned,omitempty"`
	LeadTime    LeadTimes `json:"lead_time"`
	// Owners are the same figures per owner, by owner.
	Owners []OwnerOutcomes `json:"owners"`
	// Leads are the lead times LeadTime sums up, in days, for merging
	// the summaries of several partitions (MergeOutcomes).
	Leads []float64 `json:"-"`
}

// MergeOutcomes is the summary of r over parts, the summaries of disjoint
// sets of customers (the partitions of a riskd group), each with its
// Leads.
func MergeOutcomes(r OutcomesRequest, parts []OutcomesSummary) OutcomesSummary {
	b := NewOutcomesBuilder(r)
	add := func(to *FateCounts, from *FateCounts) {
		to.Outcomes += from.Outcomes
		for f, n := range from.Fates {
			to.Fates[f] += n
		}
		to.ARRSaved += from.ARRSaved
		to.ARRLostAfterAlert += from.ARRLostAfterAlert
		to.ARRLostWithoutAlert += from.ARRLostWithoutAlert
	}
	for i := range parts {
		p := &parts[i]
		add(&b.s.FateCounts, &p.FateCounts)
		for t, n := range p.ByType {
			b.s.ByType[t] += n
		}
		for j := range p.Owners {
			o := &p.Owners[j]
			add(&b.owner(&signals.Profile{Owner: o.Owner}).FateCounts, &o.FateCounts)
		}
		b.leads = append(b.leads, p.Leads...)
	}
	return b.Summary()
}

// OutcomesBuilder sums outcomes up into a summary.
type OutcomesBuilder struct {
	s      OutcomesSummary
	owners map[string]*OwnerOutcomes
	leads  []float64
}

// NewOutcomesBuilder starts a summary of what r selects.
func NewOutcomesBuilder(r OutcomesRequest) *OutcomesBuilder {
	b := &OutcomesBuilder{s: OutcomesSummary{Request: r, FateCounts: newFateCounts(), ByType: map[string]int{}},
		owners: map[string]*OwnerOutcomes{}}
	for _, t := range scorer.OutcomeTypes {
		b.s.ByType[t.String()] = 0
	}
	return b
}

func newFateCounts() FateCounts {
	c := FateCounts{Fates: make(map[scorer.Fate]int, len(scorer.Fates))}
	for _, f := range scorer.Fates {
		c.Fates[f] = 0
	}
	return c
}

func (b *OutcomesBuilder) owner(p *signals.Profile) *OwnerOutcomes {
	name := ""
	if p != nil {
		name = p.Owner
	}
	o, ok := b.owners[name]
	if !ok {
		o = &OwnerOutcomes{Owner: name, FateCounts: newFateCounts()}
		b.owners[name] = o
	}
	return o
}

// Add counts outcome o of a customer with profile p.
func (b *OutcomesBuilder) Add(o *scorer.Outcome, p *signals.Profile) {
	fate := o.Fate()
	b.s.ByType[o.Type.String()]++
	for _, c := range []*FateCounts{&b.s.FateCounts, &b.owner(p).FateCounts} {
		c.Outcomes++
		c.Fates[fate]++
		change, ok := o.Change()
		switch {
		case fate == scorer.FateSaved:
			if o.ARR >= 0 && o.Type != scorer.OutcomeChurned {
				c.ARRSaved += o.ARR
			} else {
				c.ARRSaved += o.Prior
			}
		case ok && change < 0 && o.Alert != 0:
			c.ARRLostAfterAlert -= change
		case ok && change < 0:
			c.ARRLostWithoutAlert -= change
		}
	}
	if fate == scorer.FateChurnedAfterAlert {
		b.leads = append(b.leads, Days(o.LeadTime()))
	}
}

// AddOpen counts a customer warned since its last outcome.
func (b *OutcomesBuilder) AddOpen(p *signals.Profile) {
	b.s.Fates[scorer.FateOpen]++
	b.owner(p).Fates[scorer.FateOpen]++
}

// Summary is the summary of everything added.
func (b *OutcomesBuilder) Summary() OutcomesSummary {
	s := b.s
	round := func(c *FateCounts) {
		c.ARRSaved = math.Round(c.ARRSaved*100) / 100
		c.ARRLostAfterAlert = math.Round(c.ARRLostAfterAlert*100) / 100
		c.ARRLostWithoutAlert = math.Round(c.ARRLostWithoutAlert*100) / 100
	}
	round(&s.FateCounts)
	f := s.Fates
	if n := f[scorer.FateSaved] + f[scorer.FateChurnedAfterAlert] + f[scorer.FateDowngradedAfterAlert]; n > 0 {
		r := math.Round(float64(f[scorer.FateSaved])/float64(n)*1000) / 1000
		s.SaveRate = &r
	}
	if n := f[scorer.FateChurnedAfterAlert] + f[scorer.FateChurnedWithoutAlert]; n > 0 {
		r := math.Round(float64(f[scorer.FateChurnedAfterAlert])/float64(n)*1000) / 1000
		s.ChurnWarned = &r
	}
	s.Leads = slices.Clone(b.leads)
	if len(b.leads) > 0 {
		leads := slices.Clone(b.leads)
		slices.Sort(leads)
		s.LeadTime = LeadTimes{Count: len(leads), Median: median(leads), Min: leads[0], Max: leads[len(leads)-1]}
	}
	s.Owners = make([]OwnerOutcomes, 0, len(b.owners))
	for _, o := range b.owners {
		oc := *o
		round(&oc.FateCounts)
		s.Owners = append(s.Owners, oc)
	}
	slices.SortFunc(s.Owners, func(a, b OwnerOutcomes) int {
		switch {
		case a.Owner < b.Owner:
			return -1
		case a.Owner > b.Owner:
			return 1
		}
		return 0
	})
	return s
}

// median of sorted values, rounded to a tenth.
func median(sorted []float64) float64 {
	n := len(sorted)
	m := sorted[n/2]
	if n%2 == 0 {
		m = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return math.Round(m*10) / 10
}
