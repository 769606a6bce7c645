// Package churn computes churn analytics over customer lifetimes: per
// period (calendar months or quarters, UTC), and within each period per
// segment and per stage, the simple and adjusted churn rates, revenue
// churn, and for the open period a predictive churn rate from each
// customer's churn probability.
//
// The definitions, for a period [S, E):
//
//   - A customer is seen from First (its first signal) and lost at Churned
//     (its first churn outcome; zero when it has not churned). A churn
//     before First counts at First.
//   - Start: customers first seen before S and not lost before S. A churn
//     exactly at S is in the period that starts at S, so that customer is
//     counted at its start and lost in it.
//   - New: customers first seen in [S, E).
//   - Lost: customers lost in [S, E), new ones included; LostNew: those of
//     them that were also new in the period.
//   - End = Start + New - Lost: customers first seen before E and not lost
//     before E.
//   - Simple = (Lost - LostNew) / Start: of the customers present at the
//     start, the share lost in the period. New customers are in neither
//     the numerator nor the denominator.
//   - Adjusted = Lost / ((Start + End) / 2): every loss, over the midpoint
//     of the customer count across the period.
//   - Revenue churn = (ARRChurned + ARRDowngraded) / ARRStart, over the
//     customers present at the start: the ARR of those lost (as it stood
//     when they left) plus what downgrades in the period took away.
//     NetRevenue subtracts ARRExpanded, what expansions added.
//   - Predictive, in the open period only (the one holding AsOf) and only
//     over customers with a probability p of churning within Horizon who
//     are not lost at AsOf: each p becomes a daily probability
//     d = 1 - (1-p)^(1/horizon days); ExpectedPerDay = Σ d and DailyRate =
//     ExpectedPerDay / Customers; ExpectedLosses = Σ 1 - (1-d)^(period
//     days), what a period of that length is expected to lose (to compare
//     with Lost of closed periods), Rate = ExpectedLosses / Customers, and
//     ExpectedRemaining the same from AsOf to the period's end.
//
// A rate whose denominator is zero (an empty period, a group without
// customers at the start) is NaN: a Rate, which JSON writes as null and
// text as "-". Periods are whole calendar periods; the open one holds the
// figures up to AsOf, and none after AsOf is reported.
//
// The package is pure: no I/O but the io.Writer of its reports, no clock.
package churn

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Customer is one customer's lifetime.
type Customer struct {
	ID      string
	Segment string
	Stage   string
	// ARR is the customer's annual recurring revenue when first seen;
	// Changes move it.
	ARR float64
	// Changes are the ARR changes of downgrades and expansions (and
	// renewals at another ARR), each with the new ARR, in any order.
	Changes []Change
	First   time.Time
	// Churned is when the customer was lost, zero when it was not.
	Churned time.Time
	// Probability is the probability of churning within the report's
	// Horizon, as of its AsOf; HasProbability says it is set.
	Probability    float64
	HasProbability bool
}

// Change is a new ARR from a time on.
type Change struct {
	Time time.Time
	ARR  float64
}

// By is the length of the periods.
type By string

// The periods a report is cut into.
const (
	Month   By = "month"
	Quarter By = "quarter"
)

// ParseBy reads "month" or "quarter"; "" is a month.
func ParseBy(s string) (By, error) {
	switch By(s) {
	case "", Month:
		return Month, nil
	case Quarter:
		return Quarter, nil
	}
	return "", fmt.Errorf("churn: period %q: want month or quarter", s)
}

// Config is how a report is cut.
type Config struct {
	By By
	// From and To bound the periods: the first is the one holding From,
	// the last the one holding To. Zero From, or one before the earliest
	// First, is the earliest First; zero To, or one after AsOf, is AsOf.
	// At most MaxPeriods.
	From, To time.Time
	// AsOf is when the data stands: the open period holds it and the
	// probabilities are as of it. Zero is the latest time in the input.
	AsOf time.Time
	// Horizon is what the probabilities are over; without it, or without
	// any probability, there is no predictive figure.
	Horizon time.Duration
	// Source says where the probabilities come from, for the report.
	Source string
}

// Group names of a row.
const (
	GroupAll     = "all"
	GroupSegment = "segment"
	GroupStage   = "stage"
	// None is the value of a row of customers without a segment or stage.
	None = "(none)"
)

// Report is the churn of a customer base, period by period.
type Report struct {
	By   By        `json:"by"`
	AsOf time.Time `json:"as_of"`
	// Customers is how many lifetimes the report read.
	Customers int `json:"customers"`
	// HorizonDays and Source describe the probabilities behind the
	// predictive figures, when there are any.
	HorizonDays float64  `json:"horizon_days,omitempty"`
	Source      string   `json:"probability_source,omitempty"`
	Periods     []Period `json:"periods"`
}

// Period is one period's figures: the "all" row, then one per segment,
// then one per stage, each segment and stage of the input in every period.
type Period struct {
	Label string    `json:"period"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Open marks the period holding AsOf: its figures run to AsOf.
	Open bool  `json:"open,omitempty"`
	Rows []Row `json:"rows"`
}

// Row is the figures of a group of customers in a period.
type Row struct {
	Group string `json:"group"`
	Value string `json:"value,omitempty"`

	Start   int `json:"start"`
	New     int `json:"new"`
	Lost    int `json:"lost"`
	LostNew int `json:"lost_new"`
	End     int `json:"end"`

	Simple   Rate `json:"simple"`
	Adjusted Rate `json:"adjusted"`

	ARRStart      float64 `json:"arr_start"`
	ARRChurned    float64 `json:"arr_churned"`
	ARRDowngraded float64 `json:"arr_downgraded"`
	ARRExpanded   float64 `json:"arr_expanded"`
	Revenue       Rate    `json:"revenue"`
	NetRevenue    Rate    `json:"net_revenue"`

	Predictive *Predictive `json:"predictive,omitempty"`
}

// Predictive is the churn a group's probabilities predict.
type Predictive struct {
	Customers         int     `json:"customers"`
	ExpectedPerDay    float64 `json:"expected_per_day"`
	DailyRate         Rate    `json:"daily_rate"`
	ExpectedLosses    float64 `json:"expected_losses"`
	Rate              Rate    `json:"rate"`
	ExpectedRemaining float64 `json:"expected_remaining"`
}

const day = 24 * time.Hour

// Compute cuts customers into the periods of cfg and measures each.
func Compute(customers []Customer, cfg Config) (*Report, error) {
	by, err := ParseBy(string(cfg.By))
	if err != nil {
		return nil, err
	}
	cs := make([]Customer, 0, len(customers))
	for _, c := range customers {
		if c.First.IsZero() {
			continue // never seen: not a customer yet
		}
		c.First = c.First.UTC()
		if !c.Churned.IsZero() && c.Churned.Before(c.First) {
			c.Churned = c.First
		}
		if len(c.Changes) > 1 {
			c.Changes = slices.Clone(c.Changes) // the caller's stays as it is
			slices.SortStableFunc(c.Changes, func(a, b Change) int { return a.Time.Compare(b.Time) })
		}
		cs = append(cs, c)
	}
	asOf := cfg.AsOf
	if asOf.IsZero() {
		asOf = latest(cs)
	}
	asOf = asOf.UTC()
	r := &Report{By: by, AsOf: asOf, Customers: len(cs), Periods: []Period{}}
	predict := cfg.Horizon >= day && slices.ContainsFunc(cs, func(c Customer) bool { return c.HasProbability })
	if predict {
		r.HorizonDays, r.Source = cfg.Horizon.Hours()/24, cfg.Source
	}
	if len(cs) == 0 {
		return r, nil
	}
	from, to := cfg.From, cfg.To
	if earliest := slices.MinFunc(cs, func(a, b Customer) int { return a.First.Compare(b.First) }).First; from.Before(earliest) {
		from = earliest // the periods before the first customer are empty
	}
	if to.IsZero() || to.After(asOf) {
		to = asOf
	}
	from, to = from.UTC(), to.UTC()
	if to.Before(from) {
		return nil, fmt.Errorf("churn: the periods end (%s) before they start (%s)",
			to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	if n := periods(from, to, by); n > MaxPeriods {
		return nil, fmt.Errorf("churn: %s to %s is %d periods, more than %d: narrow it with from and to",
			from.Format(time.DateOnly), to.Format(time.DateOnly), n, MaxPeriods)
	}
	segments, stages := values(cs, func(c Customer) string { return c.Segment }), values(cs, func(c Customer) string { return c.Stage })
	// Each customer adds to three rows: all, its segment's, its stage's.
	groups := []Row{{Group: GroupAll}}
	index := map[[2]string]int{}
	for _, g := range []struct {
		name string
		vs   []string
	}{{GroupSegment, segments}, {GroupStage, stages}} {
		for _, v := range g.vs {
			index[[2]string{g.name, v}] = len(groups)
			groups = append(groups, Row{Group: g.name, Value: v})
		}
	}
	rowsOf := make([][3]int, len(cs))
	for i, c := range cs {
		rowsOf[i] = [3]int{0, index[[2]string{GroupSegment, or(c.Segment)}], index[[2]string{GroupStage, or(c.Stage)}]}
	}
	for s := periodStart(from, by); !s.After(to); s = next(s, by) {
		e := next(s, by)
		p := Period{Label: label(s, by), Start: s, End: e, Open: !asOf.Before(s) && asOf.Before(e),
			Rows: slices.Clone(groups)}
		for i := range cs {
			var one Row
			if !measure(&one, &cs[i], s, e) {
				continue
			}
			for _, r := range rowsOf[i] {
				p.Rows[r].add(&one)
			}
		}
		for i := range p.Rows {
			p.Rows[i].rates()
		}
		if p.Open && predict {
			for i := range p.Rows {
				p.Rows[i].Predictive = &Predictive{}
			}
			hd := cfg.Horizon.Hours() / 24
			length, remaining := e.Sub(s).Hours()/24, e.Sub(asOf).Hours()/24
			for i, c := range cs {
				if !c.HasProbability || math.IsNaN(c.Probability) || c.First.After(asOf) ||
					(!c.Churned.IsZero() && !c.Churned.After(asOf)) {
					continue
				}
				d := Daily(c.Probability, hd)
				for _, r := range rowsOf[i] {
					pr := p.Rows[r].Predictive
					pr.Customers++
					pr.ExpectedPerDay += d
					pr.ExpectedLosses += 1 - math.Pow(1-d, length)
					pr.ExpectedRemaining += 1 - math.Pow(1-d, remaining)
				}
			}
			for i := range p.Rows {
				pr := p.Rows[i].Predictive
				pr.DailyRate = ratio(pr.ExpectedPerDay, float64(pr.Customers))
				pr.Rate = ratio(pr.ExpectedLosses, float64(pr.Customers))
			}
		}
		r.Periods = append(r.Periods, p)
	}
	return r, nil
}

// measure puts customer c's figures over [s, e) in row; false when c is
// neither there at the start nor new.
func measure(row *Row, c *Customer, s, e time.Time) bool {
	lostBefore := func(t time.Time) bool { return !c.Churned.IsZero() && c.Churned.Before(t) }
	atStart := c.First.Before(s) && !lostBefore(s)
	isNew := !c.First.Before(s) && c.First.Before(e)
	if !atStart && !isNew {
		return false
	}
	lost := lostBefore(e)
	if atStart {
		row.Start++
		row.ARRStart += arrAt(c, s)
		for i, ch := range c.Changes {
			if ch.Time.Before(s) || !ch.Time.Before(e) || (lost && !ch.Time.Before(c.Churned)) {
				continue
			}
			prev := c.ARR
			if i > 0 {
				prev = c.Changes[i-1].ARR
			}
			if d := ch.ARR - prev; d < 0 {
				row.ARRDowngraded -= d
			} else {
				row.ARRExpanded += d
			}
		}
		if lost {
			row.ARRChurned += arrAt(c, c.Churned)
		}
	}
	if isNew {
		row.New++
	}
	if lost {
		row.Lost++
		if isNew {
			row.LostNew++
		}
	}
	return true
}

// add adds the counts and amounts of o to r.
func (r *Row) add(o *Row) {
	r.Start += o.Start
	r.New += o.New
	r.Lost += o.Lost
	r.LostNew += o.LostNew
	r.ARRStart += o.ARRStart
	r.ARRChurned += o.ARRChurned
	r.ARRDowngraded += o.ARRDowngraded
	r.ARRExpanded += o.ARRExpanded
}

// rates computes r's end and rates from its counts and amounts.
func (r *Row) rates() {
	r.End = r.Start + r.New - r.Lost
	r.Simple = ratio(float64(r.Lost-r.LostNew), float64(r.Start))
	r.Adjusted = ratio(float64(r.Lost), float64(r.Start+r.End)/2)
	r.Revenue = ratio(r.ARRChurned+r.ARRDowngraded, r.ARRStart)
	r.NetRevenue = ratio(r.ARRChurned+r.ARRDowngraded-r.ARRExpanded, r.ARRStart)
}

// Daily turns p, a probability of churning within horizonDays, into the
// constant daily probability that compounds to it: 1 - (1-p)^(1/days).
// p is clamped to [0, 1].
func Daily(p, horizonDays float64) float64 {
	p = min(max(p, 0), 1)
	return 1 - math.Pow(1-p, 1/horizonDays)
}

// arrAt is c's ARR just before t: its first ARR moved by the changes
// before t.
func arrAt(c *Customer, t time.Time) float64 {
	arr := c.ARR
	for _, ch := range c.Changes {
		if !ch.Time.Before(t) {
			break
		}
		arr = ch.ARR
	}
	return arr
}

// latest is the latest time in cs.
func latest(cs []Customer) time.Time {
	var t time.Time
	for _, c := range cs {
		t = maxTime(maxTime(t, c.First), c.Churned)
		for _, ch := range c.Changes {
			t = maxTime(t, ch.Time)
		}
	}
	return t
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func values(cs []Customer, key func(Customer) string) []string {
	set := map[string]struct{}{}
	for _, c := range cs {
		set[or(key(c))] = struct{}{}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b string) int {
		// "(none)" last
		return cmp.Or(cmp.Compare(boolInt(a == None), boolInt(b == None)), cmp.Compare(a, b))
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func or(v string) string {
	if v == "" {
		return None
	}
	return v
}

// MaxPeriods bounds the periods of a report: a hundred years of months.
const MaxPeriods = 1200

// periods counts the periods from the one holding from to the one holding
// to.
func periods(from, to time.Time, by By) int {
	months := (to.Year()-from.Year())*12 + int(to.Month()) - int(from.Month())
	if by == Quarter {
		return (to.Year()*12+int(to.Month())-1)/3 - (from.Year()*12+int(from.Month())-1)/3 + 1
	}
	return months + 1
}

func periodStart(t time.Time, by By) time.Time {
	m := t.Month()
	if by == Quarter {
		m -= (m - 1) % 3
	}
	return time.Date(t.Year(), m, 1, 0, 0, 0, 0, time.UTC)
}

func next(s time.Time, by By) time.Time {
	if by == Quarter {
		return s.AddDate(0, 3, 0)
	}
	return s.AddDate(0, 1, 0)
}

func label(s time.Time, by By) string {
	if by == Quarter {
		return fmt.Sprintf("%d-Q%d", s.Year(), (int(s.Month())-1)/3+1)
	}
	return s.Format("2006-01")
}

func ratio(num, den float64) Rate {
	if den == 0 {
		return Rate(math.NaN())
	}
	return Rate(num / den)
}
