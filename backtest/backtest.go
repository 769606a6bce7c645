// Package backtest measures how well scores predict churn on a customer
// base's own history: at each of a set of dates it scores every customer
// with what was known then, and checks the scores against who churned
// within the horizon after. Several rule sets are measured side by side,
// with a naive baseline (time since the customer's last event, against
// its own cadence) beside them. It is pure: the history comes in as
// messages, the report goes out as values; the runtime's scoring step
// (package book) does the scoring, as riskd would.
package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Model is a rule set to measure.
type Model struct {
	Name  string
	Rules *rules.Set
}

// Config is what a backtest measures and when.
type Config struct {
	Models []Model
	Policy alerting.Policy
	// Horizon is how far after a date a churn counts for it (default 90
	// days).
	Horizon time.Duration
	// At are the dates to score at. Without them, dates every Every
	// (default 30 days) from Warmup after the first event to Horizon
	// before the last, so every date's horizon is in the history.
	At     []time.Time
	Every  time.Duration
	Warmup time.Duration
	// Progress, when set, is told of the signals applied so far, out of
	// total, every few thousand.
	Progress func(done, total int)
}

const day = 24 * time.Hour

func (c *Config) defaults() {
	if c.Horizon <= 0 {
		c.Horizon = 90 * day
	}
	if c.Every <= 0 {
		c.Every = 30 * day
	}
	if c.Warmup <= 0 {
		c.Warmup = 42 * day
	}
	if c.Policy.Repeat == nil {
		c.Policy = alerting.DefaultPolicy()
	}
}

// Dates are the dates of c over h: c.At, or the default series, each at
// the start of its day (UTC), where riskd sweeps.
func (c Config) Dates(h *History) ([]time.Time, error) {
	c.defaults()
	var out []time.Time
	if len(c.At) > 0 {
		for _, t := range c.At {
			out = append(out, t.UTC().Truncate(day))
		}
	} else {
		last := h.Last.Add(-c.Horizon)
		for t := h.First.Add(c.Warmup).UTC().Truncate(day); !t.After(last); t = t.Add(c.Every) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("backtest: the history (%s to %s) is too short for a %s horizon after %s of warm-up: give --at, or a longer history",
			h.First.Format(time.DateOnly), h.Last.Format(time.DateOnly), days(c.Horizon), days(c.Warmup))
	}
	return out, nil
}

func days(d time.Duration) string { return fmt.Sprintf("%gd", d.Hours()/24) }

// observation is one customer at one date.
type observation struct {
	date     int // index into the dates
	customer string
	score    float64 // the raw sum, which ranks what the capped score ties
	clamped  float64 // the score, in [0, 100]
	prob     float64
	tier     rules.Tier
	baseline float64
	churned  bool // within the horizon after the date
	arr      float64
	owner    string
	segment  string
	stage    string
	firing   []string
	// activation is each contributing rule's points over its weight.
	activation map[string]float64
}

// run is one model's pass over the history.
type run struct {
	obs    []observation
	alerts []alerting.Alert
}

// Run measures every model of cfg on h.
func Run(ctx context.Context, h *History, cfg Config) (*Report, error) {
	cfg.defaults()
	if len(cfg.Models) == 0 {
		return nil, errors.New("backtest: no rule set to measure")
	}
	dates, err := cfg.Dates(h)
	if err != nil {
		return nil, err
	}
	rep := newReport(h, cfg, dates)
	var runs []run
	for i, m := range cfg.Models {
		progress := func(done int) {
			if cfg.Progress != nil {
				cfg.Progress(i*len(h.Signals)+done, len(cfg.Models)*len(h.Signals))
			}
		}
		r, err := replay(ctx, h, cfg, m.Rules, dates, false, progress)
		if err != nil {
			return nil, fmt.Errorf("backtest: %s: %w", m.Name, err)
		}
		runs = append(runs, r)
		rep.Models = append(rep.Models, measure(m.Name, r.obs, nil, h, cfg, dates, r.alerts))
	}
	// The baseline flags, at each date and tier, as many customers as the
	// first rule set: its figures compare at equal alert volume.
	rep.Models = append(rep.Models, measure(BaselineName, runs[0].obs, volumes(runs[0].obs, len(dates)), h, cfg, dates, nil))
	return rep, nil
}

// BaselineName names the naive baseline in a report.
const BaselineName = "baseline"

// replay applies h to a fresh book of set, and observes every customer at
// each date: after every signal before it, at the sweep riskd makes at
// the start of that day.
func replay(ctx context.Context, h *History, cfg Config, set *rules.Set, dates []time.Time, activations bool,
	progress func(int)) (run, error) {
	b := book.New(book.Config{Rules: set, Policy: cfg.Policy})
	var fx book.Effects
	var r run
	var seq uint64
	drain := func() {
		for _, a := range fx.Alerts {
			r.alerts = append(r.alerts, *a)
		}
		fx.Reset()
	}
	apply := func(m book.Message) {
		seq++
		m.Seq = seq
		b.Apply(&m, &fx)
		drain()
	}
	for _, m := range h.Profiles {
		apply(m)
	}
	act := activity{}
	next := 0
	var weights *rules.Set // activations are read against it
	if activations {
		weights = set
	}
	for i, m := range h.Signals {
		for next < len(dates) && !m.Signal.Time.Before(dates[next]) {
			r.obs = observe(b, &fx, seq, next, dates[next], h, cfg.Horizon, act, weights, r.obs)
			drain()
			next++
		}
		apply(m)
		act.add(m.Signal)
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			progress(i)
		}
	}
	for ; next < len(dates); next++ {
		r.obs = observe(b, &fx, seq, next, dates[next], h, cfg.Horizon, act, weights, r.obs)
		drain()
	}
	progress(len(h.Signals))
	return r, nil
}

// observe sweeps the book at date and records every customer that exists
// then and has not churned yet.
func observe(b *book.Book, fx *book.Effects, seq uint64, i int, date time.Time, h *History, horizon time.Duration,
	act activity, weights *rules.Set, out []observation) []observation {
	if date.Unix() > b.Clock().LastSweep {
		b.Sweep(date.Unix(), seq, fx) // the sweep riskd makes as the day starts
	}
	end := date.Add(horizon)
	n := len(out)
	for s := range b.Standings() {
		churn, churned := h.Churned[s.Customer]
		if churned && !churn.After(date) {
			continue // gone already
		}
		o := observation{date: i, customer: s.Customer, score: s.Raw, clamped: s.Score, prob: s.Probability, tier: s.Tier,
			baseline: act.baseline(s.Customer, date), churned: churned && !churn.After(end), firing: s.Firing}
		if p := s.Profile; p != nil {
			o.arr, o.owner, o.segment, o.stage = p.ARR, p.Owner, p.Segment, p.Stage
		}
		if weights != nil {
			o.activation = activation(weights, s.Contributions)
		}
		out = append(out, o)
	}
	// In customer order: the baseline's ties fall the same way in every
	// run.
	slices.SortFunc(out[n:], func(a, b observation) int { return strings.Compare(a.customer, b.customer) })
	return out
}

// activity is what the baseline knows of each customer: its active days.
type activity map[string]*cadence

type cadence struct {
	first, last int64 // first and last active day
	days        int   // distinct active days
	lastEvent   time.Time
}

func (a activity) add(s *signals.Signal) {
	if s.Kind == signals.KindOutcome {
		return // an outcome is not the customer's activity
	}
	c := a[s.Customer]
	if c == nil {
		c = &cadence{first: s.Time.Unix() / 86400}
		a[s.Customer] = c
	}
	d := s.Time.Unix() / 86400
	if c.days == 0 || d > c.last {
		c.last = d
		c.days++
	}
	if s.Time.After(c.lastEvent) {
		c.lastEvent = s.Time
	}
}

// defaultCadence is the cadence taken for a customer active on one day
// only: weekly.
const defaultCadence = 7.0

// baseline is the naive score at date: days since the last event, in
// units of the customer's own mean interval between active days.
func (a activity) baseline(customer string, date time.Time) float64 {
	c := a[customer]
	if c == nil {
		return 0
	}
	gap := defaultCadence
	if c.days > 1 {
		gap = max(float64(c.last-c.first)/float64(c.days-1), 1)
	}
	return date.Sub(c.lastEvent).Hours() / 24 / gap
}

// volumes counts, per date and tier, the customers obs flags at that tier
// or above.
func volumes(obs []observation, dates int) [][rules.Critical + 1]int {
	v := make([][rules.Critical + 1]int, dates)
	for _, o := range obs {
		for t := rules.Watch; t <= o.tier; t++ {
			v[o.date][t]++
		}
	}
	return v
}

// flagsByVolume marks, per date, the top volume[date][tier] observations
// by baseline score as flagged at tier: the baseline's tiers.
func flagsByVolume(obs []observation, volume [][rules.Critical + 1]int) []rules.Tier {
	tiers := make([]rules.Tier, len(obs))
	byDate := map[int][]int{}
	for i, o := range obs {
		byDate[o.date] = append(byDate[o.date], i)
	}
	for _, d := range slices.Sorted(maps.Keys(byDate)) {
		idx := byDate[d]
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(obs[b].baseline, obs[a].baseline) })
		for t := rules.Watch; t <= rules.Critical; t++ {
			for _, i := range idx[:min(volume[d][t], len(idx))] {
				tiers[i] = max(tiers[i], t)
			}
		}
	}
	return tiers
}

// leadTimes are the days from each churner's first alert at at_risk or
// above within the horizon before its churn, to the churn; and the
// churners of the measured span with no such alert.
func leadTimes(alerts []alerting.Alert, h *History, from, to time.Time, horizon time.Duration) (lead []float64, unwarned int) {
	first := map[string]time.Time{}
	for _, a := range alerts {
		if a.Tier < rules.AtRisk || (a.Type != alerting.Raised && a.Type != alerting.Escalated) {
			continue
		}
		churn, ok := h.Churned[a.Customer]
		if !ok || !a.Time.Before(churn) || churn.Sub(a.Time) > horizon {
			continue
		}
		if t, seen := first[a.Customer]; !seen || a.Time.Before(t) {
			first[a.Customer] = a.Time
		}
	}
	for c, churn := range h.Churned {
		if churn.Before(from) || churn.After(to) {
			continue
		}
		if t, ok := first[c]; ok {
			lead = append(lead, churn.Sub(t).Hours()/24)
		} else {
			unwarned++
		}
	}
	return lead, unwarned
}

// nan is a missing figure.
var nan = math.NaN()
