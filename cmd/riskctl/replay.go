package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/replay"
)

var replayCmd = &command{
	name:    "replay",
	args:    "[--rules FILE] [--json] FILE.ndjson",
	summary: "run a signal file through the engine offline and print final tiers and alerts",
	help: `Runs a signal file through the engine's scoring step in this process,
exactly as riskd applies its stream: every line in file order, in event
time (silences are judged at each producer's latest event), a signal whose
id came before dropped as JetStream drops it. Then prints each customer's final score and
tier with its alerts, the alerts in order, the rejected lines, and a
summary: lines, signals, profiles, duplicates, rejected by reason,
customers per tier, alerts by type. No server is needed. For how well the
rules predict churn on a history with outcomes, see 'riskctl backtest'.

The file is NDJSON, as for 'riskctl send': one signal envelope per line,
in event-time order per customer and kind (a signal more than the rule
file's lateness behind its customer's latest event of the same kind is
rejected as late; one system's export after another's is fine), and
optionally profile lines {"profile": {"id": ..., "owner": ..., ...}}, which
apply from their place in the file on. FILE - reads stdin.`,
	example: `riskctl replay --rules my-rules.yaml history.ndjson
riskctl replay history.ndjson --json | jq '.customers[] | select(.tier == "critical") | .customer'`,
	run: runReplay,
}

// maxAlertLines bounds the alerts listed in the text output; --json has
// them all.
const maxAlertLines = 200

func runReplay(e *env, c *command, args []string) int {
	fs := e.flags(c)
	rulesFile := fs.String("rules", "", "rule file (default: the built-in rules)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	force := fs.Bool("progress", false, "show a progress line on stderr even when it is not a terminal")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one signal file (- for stdin)")
	}
	set, err := configs.LoadRules(*rulesFile)
	if err != nil {
		return e.fail(c, err)
	}
	in, total, closeIn, err := e.openInput(pos[0])
	if err != nil {
		return e.fail(c, err)
	}
	defer closeIn()
	prog := newProgress(e.stderr, *force)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := replay.Run(ctx, in, replay.Options{Rules: set, TotalBytes: total, Now: e.now,
		Progress: func(p replay.Progress) {
			prog.update(p.Bytes, p.TotalBytes, p.Done, "%s lines", alerting.Thousands(float64(p.Lines)))
		}})
	prog.finish()
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, res); err != nil {
			return e.fail(c, err)
		}
		return exitOK
	}
	writeReplay(e.stdout, res)
	return exitOK
}

func writeReplay(w io.Writer, res *replay.Result) {
	alertsOf := map[string]int{}
	lastAlert := map[string]string{}
	for _, a := range res.Alerts {
		alertsOf[a.Customer]++
		lastAlert[a.Customer] = fmt.Sprintf("%s %s %s", a.Time.Format(time.DateOnly), a.Type, a.Severity)
	}
	fmt.Fprintln(w, "Customers, by revenue at risk:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tOWNER\tTIER\tSCORE\tAT RISK\tALERTS\tLAST ALERT")
	for _, v := range res.Customers {
		currency := ""
		if v.Profile != nil {
			currency = v.Profile.Currency
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%d\t%s\n", displayID(v), orDash(v.Owner), v.Tier, v.Score,
			alerting.Money(v.RevenueAtRisk, currency), alertsOf[v.Customer], orDash(lastAlert[v.Customer]))
	}
	_ = tw.Flush()
	if res.Summary.Customers > len(res.Customers) {
		fmt.Fprintf(w, "(the first %d of %d customers; --json has the same limit)\n", len(res.Customers), res.Summary.Customers)
	}

	fmt.Fprintf(w, "\nAlerts (%d):\n", len(res.Alerts))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, a := range res.Alerts {
		if i == maxAlertLines {
			fmt.Fprintf(tw, "  … %d more (--json lists them all)\n", len(res.Alerts)-maxAlertLines)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tscore %.1f\n", a.Time.Format(time.RFC3339), a.Customer, a.Type, a.Severity, a.Score)
	}
	_ = tw.Flush()

	if len(res.Rejected) > 0 {
		fmt.Fprintf(w, "\nRejected (%d):\n", len(res.Rejected))
		for i, r := range res.Rejected {
			if i == maxAlertLines {
				fmt.Fprintf(w, "  … %d more (--json lists them all)\n", len(res.Rejected)-maxAlertLines)
				break
			}
			line := "?"
			if r.Line > 0 {
				line = strconv.Itoa(r.Line)
			}
			fmt.Fprintf(w, "  line %s: %s\n", line, r.Error)
		}
	}

	s := res.Summary
	fmt.Fprintf(w, "\nSummary: %d lines: %d signals, %d profiles, %d duplicates dropped, %d rejected%s\n",
		s.Lines, s.Signals, s.Profiles, s.Duplicates, s.Rejected, counts(s.RejectedByReason))
	if !s.From.IsZero() {
		fmt.Fprintf(w, "  event time %s to %s\n", s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  %d customers: %d healthy, %d watch, %d at_risk, %d critical\n", s.Customers,
		s.Tiers["healthy"], s.Tiers["watch"], s.Tiers["at_risk"], s.Tiers["critical"])
	fmt.Fprintf(w, "  %d alerts: %d raised, %d escalated, %d reminders, %d resolved, %d unclaimed\n", len(res.Alerts),
		s.AlertsByType["raised"], s.AlertsByType["escalated"], s.AlertsByType["reminder"], s.AlertsByType["resolved"],
		s.AlertsByType["unclaimed"])
}

// counts formats a reason count map as " (late 2, missing_field 1)".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := " ("
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", k, m[k])
	}
	return out + ")"
}
