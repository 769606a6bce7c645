package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var explainCmd = &command{
	name:    "explain",
	args:    "[--json] ID",
	summary: "why a customer scores what it does: contributions, signals, tier history",
	help: `Shows a customer's score broken into the contributions of the rules
behind it, each with its detail and the ids of the newest signals of the
rule's kind (up to five), whether it still fires or is fading with its
half-life; the playbook;
a sparkline of the daily score over the last 90 days; and the tier history
as the alerts announced it (read from stream RISK_ALERTS). Under the score,
the calibrated probability of churn within the horizon, from the raw sum of
the contributions (which the score caps at 0 and 100).`,
	example: `riskctl explain acme-corp`,
	run:     runExplain,
}

// maxTierHistory bounds the alerts shown as tier history.
const maxTierHistory = 20

func runExplain(e *env, c *command, args []string) int {
	return withCustomer(e, c, args, api.EndpointExplain, func(nc *nats.Conn, conn *connOpts, v *api.CustomerView) int {
		ctx, cancel := context.WithTimeout(context.Background(), conn.timeout)
		defer cancel()
		alerts, alertsErr := customerAlerts(ctx, nc, v.Customer)
		writeExplanation(e.stdout, v, alerts, alertsErr, e.now())
		return exitOK
	})
}

func writeExplanation(w io.Writer, v *api.CustomerView, alerts []alerting.Alert, alertsErr error, now time.Time) {
	head := displayID(*v)
	if v.Owner != "" {
		head += "  owner " + v.Owner
	}
	if v.Segment != "" {
		head += "  segment " + v.Segment
	}
	currency := ""
	if v.Profile != nil {
		currency = v.Profile.Currency
	}
	if v.ARR > 0 {
		head += "  ARR " + alerting.Money(v.ARR, currency)
	}
	if v.DaysToRenewal != nil {
		head += fmt.Sprintf("  renews in %dd", *v.DaysToRenewal)
	}
	fmt.Fprintln(w, head)
	fmt.Fprintf(w, "score %.1f  tier %s", v.Score, v.Tier)
	if v.ARR > 0 {
		fmt.Fprintf(w, "  revenue at risk %s", alerting.Money(v.RevenueAtRisk, currency))
	}
	fmt.Fprintf(w, "  as of %s\n", v.Evaluated.Format(time.RFC3339))
	if c := alerting.Chance(v.Probability, v.HorizonDays); c != "" {
		fmt.Fprintf(w, "%s (calibrated from the raw score %.1f", c, v.RawScore)
		if v.RawScore != v.Score {
			fmt.Fprintf(w, ", which the score caps at %.0f", v.Score)
		}
		fmt.Fprintln(w, ")")
	}
	fmt.Fprintln(w)

	if len(v.Reasons) == 0 {
		fmt.Fprintln(w, "No rule contributes to the score.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tPOINTS\tSTATE\tDETAIL\tSIGNALS")
		total := 0.0
		for _, r := range v.Reasons {
			total += r.Contribution
			fmt.Fprintf(tw, "%s\t%+.1f\t%s\t%s\t%s\n", r.Rule, r.Contribution, reasonState(r), r.Detail, strings.Join(r.Signals, " "))
		}
		capped := ""
		if total > 100 {
			capped = " (capped at 100)"
		}
		fmt.Fprintf(tw, "\t%.1f\ttotal%s\t\t\n", total, capped)
		_ = tw.Flush()
	}
	if len(v.Playbook) > 0 {
		fmt.Fprintln(w, "\nPlaybook:")
		for _, step := range v.Playbook {
			fmt.Fprintf(w, "  → %s\n", step)
		}
	}
	fmt.Fprintln(w, "\nScore, last 90 days (one mark a day, 0 ▁ to 100 █):")
	if len(v.History) == 0 {
		fmt.Fprintln(w, "  no history yet")
	} else {
		line, from, to, lo, hi := sparkline(v.History)
		fmt.Fprintf(w, "  %s\n  %s to %s, min %.0f, max %.0f, now %.1f\n", line, from, to, lo, hi, v.Score)
	}
	writeOutcomes(w, v)
	fmt.Fprintln(w, "\nTier history (the alerts sent):")
	switch {
	case alertsErr != nil:
		fmt.Fprintf(w, "  unavailable: %v\n", alertsErr)
	case len(alerts) == 0:
		fmt.Fprintf(w, "  no alert yet; tier %s\n", v.Tier)
	default:
		if len(alerts) > maxTierHistory {
			fmt.Fprintf(w, "  (%d earlier alerts not shown)\n", len(alerts)-maxTierHistory)
			alerts = alerts[len(alerts)-maxTierHistory:]
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range alerts {
			fmt.Fprintf(tw, "  %s\t%s\t%s → %s\tscore %.1f\t%s\n", a.Time.Format(time.RFC3339), a.Type,
				a.PreviousTier, a.Tier, a.Score, a.ID)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\nAlerts: %s\n", alertState(v, now))
}

func reasonState(c scorer.Contribution) string {
	if c.Firing {
		return "firing"
	}
	if !c.LastFired.IsZero() {
		return "fading since " + c.LastFired.Format(time.DateOnly)
	}
	return "fading"
}

// writeOutcomes shows the customer's outcomes and what became of its
// warnings.
func writeOutcomes(w io.Writer, v *api.CustomerView) {
	currency := ""
	if v.Profile != nil {
		currency = v.Profile.Currency
	}
	fmt.Fprintln(w, "\nOutcomes:")
	if len(v.Outcomes) == 0 {
		fmt.Fprintln(w, "  none recorded")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range v.Outcomes {
			arr := "-"
			if o.ARRChange != nil {
				arr = signedMoney(*o.ARRChange, currency)
			}
			warned := "no at_risk day before it"
			if o.AtRiskSince != nil && o.LeadTimeDays != nil {
				warned = fmt.Sprintf("at_risk since %s, %.1f days ahead", o.AtRiskSince.Format(time.DateOnly), *o.LeadTimeDays)
			}
			fmt.Fprintf(tw, "  %s\t%s\tARR %s\t%s\t%s\t%s\n", o.Time.Format(time.DateOnly), o.Type, arr, o.Fate, warned, o.ID)
		}
		_ = tw.Flush()
	}
	switch {
	case v.Fate == scorer.FateOpen && v.AtRiskSince != nil:
		fmt.Fprintf(w, "Fate: open, at_risk since %s with no outcome yet\n", v.AtRiskSince.Format(time.DateOnly))
	case v.Fate != "":
		fmt.Fprintf(w, "Fate: %s\n", v.Fate)
	}
}

// signedMoney is an ARR change with its sign.
func signedMoney(v float64, currency string) string {
	if v < 0 {
		return "-" + alerting.Money(-v, currency)
	}
	return "+" + alerting.Money(v, currency)
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws one mark per day from the first to the last day of the
// history, on the fixed 0-100 scale so that two customers compare. A day
// without an evaluation repeats the day before: the score did not change
// without one.
func sparkline(history []scorer.Point) (line, from, to string, lo, hi float64) {
	from, to = history[0].Day, history[len(history)-1].Day
	first, err1 := time.Parse(time.DateOnly, from)
	last, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return "", from, to, 0, 0
	}
	byDay := make(map[string]float64, len(history))
	lo, hi = 100, 0
	for _, p := range history {
		byDay[p.Day] = p.Score
		lo, hi = min(lo, p.Score), max(hi, p.Score)
	}
	var b strings.Builder
	cur := history[0].Score
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		if s, ok := byDay[d.Format(time.DateOnly)]; ok {
			cur = s
		}
		i := int(cur / 100 * float64(len(sparks)))
		b.WriteRune(sparks[min(max(i, 0), len(sparks)-1)])
	}
	return b.String(), from, to, lo, hi
}

// customerAlerts reads a customer's alerts, oldest first, from stream
// RISK_ALERTS: the subject's last token is the customer's.
func customerAlerts(ctx context.Context, nc *nats.Conn, customer string) ([]alerting.Alert, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, alerting.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", alerting.Stream, err)
	}
	filter := alerting.SubjectPrefix + "*.*." + signals.SubjectToken(customer)
	// Counting first spares waiting for a fetch to time out when the
	// customer has no alert, the common case.
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", alerting.Stream, err)
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil, nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", alerting.Stream, err)
	}
	var out []alerting.Alert
	for read := uint64(0); read < total; {
		m, err := oc.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", alerting.Stream, err)
		}
		read++
		var a alerting.Alert
		if json.Unmarshal(m.Data(), &a) == nil && a.Customer == customer {
			out = append(out, a)
		}
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			break
		}
	}
	return out, nil
}
