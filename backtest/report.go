package backtest

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
)

// Num is a figure of a report: NaN where it is undefined (no churner, no
// alert), written as null in JSON and "-" in text.
type Num float64

// MarshalJSON writes n rounded to four decimals, or null.
func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(float64(n)*1e4)/1e4, 'f', -1, 64), nil
}

func (n Num) String() string {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return "-"
	}
	return strconv.FormatFloat(float64(n), 'f', 3, 64)
}

// Report is what a backtest measured.
type Report struct {
	Lines      int       `json:"lines"`
	Signals    int       `json:"signals"`
	Profiles   int       `json:"profiles"`
	Rejected   int       `json:"rejected"`
	Duplicates int       `json:"duplicates"`
	Churners   int       `json:"churners"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Horizon    string    `json:"horizon"`
	Dates      []string  `json:"dates"`
	// Models are the rule sets in the order given, then the baseline.
	Models []ModelReport `json:"models"`
}

// ModelReport is one rule set's figures, or the baseline's.
type ModelReport struct {
	Name string `json:"name"`
	// Observations are customers at dates; Churned those that churned
	// within the horizon after their date.
	Observations int `json:"observations"`
	Churned      int `json:"churned"`
	BaseRate     Num `json:"base_rate"`
	AUC          Num `json:"auc"`
	// Tiers: flagged at watch or above, at_risk or above, critical.
	Tiers []TierReport `json:"tiers"`
	// Of the churners within the span of the dates: lead time from the
	// first at_risk (or worse) alert to the churn, and how many had none.
	// Not for the baseline, which raises no alert.
	LeadDaysMedian    Num `json:"lead_days_median"`
	AlertedChurners   int `json:"alerted_churners"`
	UnalertedChurners int `json:"unalerted_churners"`
	AlertsPerCSMWeek  Num `json:"alerts_per_csm_week"`
	// Rules by lift, for rule sets.
	Rules []RuleReport `json:"rules,omitempty"`
	// Groups by segment, then stage.
	Groups []GroupReport `json:"groups"`
}

// TierReport is a tier's confusion figures.
type TierReport struct {
	Tier           rules.Tier `json:"tier"`
	Flagged        int        `json:"flagged"`
	Recall         Num        `json:"recall"`
	Precision      Num        `json:"precision"`
	FalseAlertRate Num        `json:"false_alert_rate"`
	RevenueRecall  Num        `json:"revenue_recall"`
}

// RuleReport is how well one rule's firing predicts churn.
type RuleReport struct {
	Rule      string `json:"rule"`
	Fired     int    `json:"fired"`
	Churned   int    `json:"churned"`
	Precision Num    `json:"precision"`
	// Lift is the precision over the base rate: 2 means those it fires on
	// churn twice as often as the average customer.
	Lift Num `json:"lift"`
}

// GroupReport is a segment's or stage's figures.
type GroupReport struct {
	By           string `json:"by"`
	Value        string `json:"value"`
	Observations int    `json:"observations"`
	Churned      int    `json:"churned"`
	AUC          Num    `json:"auc"`
	RecallAtRisk Num    `json:"recall_at_risk"`
}

func newReport(h *History, cfg Config, dates []time.Time) *Report {
	r := &Report{Lines: h.Lines, Signals: len(h.Signals), Profiles: len(h.Profiles), Rejected: h.Rejected,
		Duplicates: h.Duplicates, Churners: len(h.Churned), From: h.First, To: h.Last, Horizon: days(cfg.Horizon)}
	for _, d := range dates {
		r.Dates = append(r.Dates, d.Format(time.DateOnly))
	}
	return r
}

// measure computes a model's figures over its observations: the rule
// set's scores and tiers, or with volume the baseline's.
func measure(name string, obs []observation, volume [][rules.Critical + 1]int, h *History, cfg Config,
	dates []time.Time, alerts []alerting.Alert) ModelReport {
	baseline := volume != nil
	scores := make([]float64, len(obs))
	labels := make([]bool, len(obs))
	tiers := make([]rules.Tier, len(obs))
	if baseline {
		tiers = flagsByVolume(obs, volume)
	}
	m := ModelReport{Name: name, Observations: len(obs)}
	for i, o := range obs {
		scores[i], labels[i] = o.score, o.churned
		if baseline {
			scores[i] = o.baseline
		} else {
			tiers[i] = o.tier
		}
		if o.churned {
			m.Churned++
		}
	}
	base := ratio(m.Churned, len(obs))
	m.BaseRate, m.AUC = Num(base), Num(AUC(scores, labels))
	for t := rules.Watch; t <= rules.Critical; t++ {
		var c Confusion
		for i, o := range obs {
			c.Add(tiers[i] >= t, o.churned, o.arr)
		}
		m.Tiers = append(m.Tiers, TierReport{Tier: t, Flagged: c.TP + c.FP, Recall: Num(c.Recall()),
			Precision: Num(c.Precision()), FalseAlertRate: Num(c.FalseAlertRate()), RevenueRecall: Num(c.RevenueRecall())})
	}
	m.Groups = append(groups("segment", obs, scores, tiers, func(o observation) string { return o.segment }),
		groups("stage", obs, scores, tiers, func(o observation) string { return o.stage })...)
	m.LeadDaysMedian, m.AlertsPerCSMWeek = Num(nan), Num(nan)
	if baseline {
		return m
	}
	m.Rules = ruleLift(obs, base)
	to := dates[len(dates)-1].Add(cfg.Horizon)
	if to.After(h.Last) {
		to = h.Last
	}
	lead, unwarned := leadTimes(alerts, h, dates[0], to, cfg.Horizon)
	m.AlertedChurners, m.UnalertedChurners = len(lead), unwarned
	m.LeadDaysMedian = Num(median(lead))
	m.AlertsPerCSMWeek = Num(alertsPerCSMWeek(alerts, obs, dates[0], to))
	return m
}

// ruleLift is each rule's precision and lift over the base rate, best
// lift first.
func ruleLift(obs []observation, base float64) []RuleReport {
	fired, churned := map[string]int{}, map[string]int{}
	for _, o := range obs {
		for _, r := range o.firing {
			fired[r]++
			if o.churned {
				churned[r]++
			}
		}
	}
	var out []RuleReport
	for r, n := range fired {
		p := ratio(churned[r], n)
		out = append(out, RuleReport{Rule: r, Fired: n, Churned: churned[r], Precision: Num(p), Lift: Num(p / base)})
	}
	slices.SortFunc(out, func(a, b RuleReport) int {
		return cmp.Or(cmp.Compare(float64(b.Lift), float64(a.Lift)), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// groups are the figures of obs split by key ("" is "(none)").
func groups(by string, obs []observation, scores []float64, tiers []rules.Tier, key func(observation) string) []GroupReport {
	idx := map[string][]int{}
	for i, o := range obs {
		k := key(o)
		if k == "" {
			k = "(none)"
		}
		idx[k] = append(idx[k], i)
	}
	var out []GroupReport
	for _, k := range slices.Sorted(maps.Keys(idx)) {
		g := GroupReport{By: by, Value: k, Observations: len(idx[k])}
		var s []float64
		var l []bool
		var c Confusion
		for _, i := range idx[k] {
			s, l = append(s, scores[i]), append(l, obs[i].churned)
			c.Add(tiers[i] >= rules.AtRisk, obs[i].churned, 0)
			if obs[i].churned {
				g.Churned++
			}
		}
		g.AUC, g.RecallAtRisk = Num(AUC(s, l)), Num(c.Recall())
		out = append(out, g)
	}
	return out
}

// alertsPerCSMWeek is the raised and escalated alerts between from and
// to, per owner of the customers observed and per week.
func alertsPerCSMWeek(alerts []alerting.Alert, obs []observation, from, to time.Time) float64 {
	owners := map[string]struct{}{}
	for _, o := range obs {
		owners[o.owner] = struct{}{}
	}
	n := 0
	for _, a := range alerts {
		if (a.Type == alerting.Raised || a.Type == alerting.Escalated) && !a.Time.Before(from) && !a.Time.After(to) {
			n++
		}
	}
	weeks := max(to.Sub(from).Hours()/24/7, 1)
	return float64(n) / float64(max(len(owners), 1)) / weeks
}

// WriteText writes r as the tables riskctl backtest prints.
func WriteText(w io.Writer, r *Report) error {
	var obs, churned int
	if len(r.Models) > 0 {
		obs, churned = r.Models[0].Observations, r.Models[0].Churned
	}
	fmt.Fprintf(w, "History: %s lines, %s signals, %s profiles, %s churned customers, %s to %s\n",
		alerting.Thousands(float64(r.Lines)), alerting.Thousands(float64(r.Signals)), alerting.Thousands(float64(r.Profiles)),
		alerting.Thousands(float64(r.Churners)), r.From.Format(time.DateOnly), r.To.Format(time.DateOnly))
	fmt.Fprintf(w, "Scored at %d dates (%s … %s), horizon %s: %s observations, %s churned within the horizon\n\n",
		len(r.Dates), r.Dates[0], r.Dates[len(r.Dates)-1], r.Horizon,
		alerting.Thousands(float64(obs)), alerting.Thousands(float64(churned)))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	row := func(label string, f func(m ModelReport) string) {
		cells := []string{label}
		for _, m := range r.Models {
			cells = append(cells, f(m))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("", func(m ModelReport) string { return m.Name })
	row("AUC", func(m ModelReport) string { return m.AUC.String() })
	for i, t := range []string{"watch+", "at_risk+", "critical"} {
		row(t+" recall", func(m ModelReport) string { return m.Tiers[i].Recall.String() })
		row(t+" precision", func(m ModelReport) string { return m.Tiers[i].Precision.String() })
		row(t+" false alert rate", func(m ModelReport) string { return m.Tiers[i].FalseAlertRate.String() })
		row(t+" revenue recall", func(m ModelReport) string { return m.Tiers[i].RevenueRecall.String() })
	}
	row("lead time, median days", func(m ModelReport) string { return m.LeadDaysMedian.String() })
	row("churners alerted / not", func(m ModelReport) string {
		if m.Name == BaselineName {
			return "-"
		}
		return fmt.Sprintf("%d / %d", m.AlertedChurners, m.UnalertedChurners)
	})
	row("alerts per CSM per week", func(m ModelReport) string { return m.AlertsPerCSMWeek.String() })
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nThe baseline flags as many customers at each date and tier as the first rule set.")

	for _, m := range r.Models {
		if len(m.Rules) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nRules of %s, by lift (base rate %s):\n", m.Name, m.BaseRate)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tFIRED\tCHURNED\tPRECISION\tLIFT")
		for _, rr := range m.Rules {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", rr.Rule, rr.Fired, rr.Churned, rr.Precision, rr.Lift)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nBy segment and stage, AUC (recall at at_risk+):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"GROUP", "OBSERVATIONS", "CHURNED"}
	for _, m := range r.Models {
		head = append(head, m.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for gi, g := range r.Models[0].Groups {
		cells := []string{g.By + " " + g.Value, strconv.Itoa(g.Observations), strconv.Itoa(g.Churned)}
		for _, m := range r.Models {
			cells = append(cells, fmt.Sprintf("%s (%s)", m.Groups[gi].AUC, m.Groups[gi].RecallAtRisk))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// WriteCSV writes r as rows of model, group, metric and value: one table
// a spreadsheet pivots.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	put := func(model, group, metric string, v any) {
		var s string
		switch v := v.(type) {
		case Num:
			b, _ := v.MarshalJSON()
			s = strings.TrimPrefix(string(b), "null")
		default:
			s = fmt.Sprint(v)
		}
		_ = cw.Write([]string{model, group, metric, s})
	}
	_ = cw.Write([]string{"model", "group", "metric", "value"})
	for _, m := range r.Models {
		put(m.Name, "all", "observations", m.Observations)
		put(m.Name, "all", "churned", m.Churned)
		put(m.Name, "all", "auc", m.AUC)
		for _, t := range m.Tiers {
			g := t.Tier.String()
			put(m.Name, g, "flagged", t.Flagged)
			put(m.Name, g, "recall", t.Recall)
			put(m.Name, g, "precision", t.Precision)
			put(m.Name, g, "false_alert_rate", t.FalseAlertRate)
			put(m.Name, g, "revenue_recall", t.RevenueRecall)
		}
		put(m.Name, "all", "lead_days_median", m.LeadDaysMedian)
		put(m.Name, "all", "alerts_per_csm_week", m.AlertsPerCSMWeek)
		for _, rr := range m.Rules {
			put(m.Name, "rule "+rr.Rule, "fired", rr.Fired)
			put(m.Name, "rule "+rr.Rule, "precision", rr.Precision)
			put(m.Name, "rule "+rr.Rule, "lift", rr.Lift)
		}
		for _, g := range m.Groups {
			put(m.Name, g.By+" "+g.Value, "auc", g.AUC)
			put(m.Name, g.By+" "+g.Value, "recall_at_risk", g.RecallAtRisk)
		}
	}
	cw.Flush()
	return cw.Error()
}
