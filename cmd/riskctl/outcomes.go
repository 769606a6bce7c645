package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
)

var outcomesCmd = &command{
	name:    "outcomes",
	args:    "[--owner O] [--segment S] [--since DATE] [--until DATE] [--json]",
	summary: "what became of the warnings: saved, churned after or without an alert, lead times",
	help: `Sums up the outcome signals riskd recorded (risk.api.outcomes): each
outcome closes an episode of the customer, and its fate says whether the
episode had a day that ended at_risk or worse before it: saved (renewed
or expanded after one), churned_after_alert (with the lead time from the
first such day), churned_without_alert, downgraded_after_alert,
downgraded_without_alert, renewed_without_alert; open counts the
customers at_risk since their last outcome, with none yet. Then the ARR
kept by the saved and lost by churns and downgrades, warned or not, the
save rate, the share of churns that were warned, the lead times, and the
same per owner. --since and --until (YYYY-MM-DD, UTC) bound the outcomes'
event time.`,
	example: `riskctl outcomes --since 2026-01-01
riskctl outcomes --owner alice --json`,
	run: runOutcomes,
}

func runOutcomes(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	var req api.OutcomesRequest
	fs.StringVar(&req.Owner, "owner", "", "only the customers of this owner")
	fs.StringVar(&req.Segment, "segment", "", "only this segment")
	fs.StringVar(&req.Since, "since", "", "only outcomes from this day on (YYYY-MM-DD)")
	fs.StringVar(&req.Until, "until", "", "only outcomes up to this day, included (YYYY-MM-DD)")
	asJSON := fs.Bool("json", false, "print the service's JSON answer")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.usageError(c, "unexpected argument %q", pos[0])
	}
	if err := req.Check(); err != nil {
		return e.usageError(c, "%v", err)
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	var s api.OutcomesSummary
	raw, err := conn.call(nc, api.EndpointOutcomes, req, &s)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	if err := writeOutcomesSummary(e.stdout, &s); err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

func writeOutcomesSummary(w io.Writer, s *api.OutcomesSummary) error {
	fmt.Fprintf(w, "%d outcomes", s.Outcomes)
	for _, t := range scorer.OutcomeTypes {
		if n := s.ByType[t.String()]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, t)
		}
	}
	fmt.Fprintf(w, "; %d customers open (at_risk, no outcome yet)\n\n", s.Fates[scorer.FateOpen])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FATE\tCOUNT")
	for _, f := range scorer.Fates {
		if f != scorer.FateOpen {
			fmt.Fprintf(tw, "%s\t%d\n", f, s.Fates[f])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nARR saved %s; lost after an alert %s, without one %s\n",
		alerting.Money(s.ARRSaved, ""), alerting.Money(s.ARRLostAfterAlert, ""), alerting.Money(s.ARRLostWithoutAlert, ""))
	if s.SaveRate != nil {
		fmt.Fprintf(w, "save rate %.0f%% of the alerted outcomes\n", *s.SaveRate*100)
	}
	if s.ChurnWarned != nil {
		fmt.Fprintf(w, "churns warned %.0f%%\n", *s.ChurnWarned*100)
	}
	if l := s.LeadTime; l.Count > 0 {
		fmt.Fprintf(w, "lead time of churns after an alert: median %.1f days (min %.1f, max %.1f, %d churns)\n", l.Median, l.Min, l.Max, l.Count)
	}
	if len(s.Owners) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OWNER\tOUTCOMES\tSAVED\tCHURNED AFTER ALERT\tCHURNED WITHOUT\tOPEN\tARR SAVED\tARR LOST")
	for _, o := range s.Owners {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", orDash(o.Owner), o.Outcomes, o.Fates[scorer.FateSaved],
			o.Fates[scorer.FateChurnedAfterAlert], o.Fates[scorer.FateChurnedWithoutAlert], o.Fates[scorer.FateOpen],
			alerting.Money(o.ARRSaved, ""), alerting.Money(o.ARRLostAfterAlert+o.ARRLostWithoutAlert, ""))
	}
	return tw.Flush()
}
