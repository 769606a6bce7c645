package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
)

var topCmd = &command{
	name:    "top",
	args:    "[--owner O] [--segment S] [--tier T] [--limit N] [--json]",
	summary: "the customers at risk, sorted by revenue at risk",
	help: `Lists customers from riskd (risk.api.customer.list), by default every
customer above healthy, largest revenue at risk (ARR x score / 100) first:
owner, segment, tier, score, its change over the last day, the calibrated
probability of churn within the horizon (90 days unless the rules'
calibration says otherwise), ARR, revenue at risk and days to renewal.
--sort probability (or score) ranks by the probability: customers the
score ties at 100 keep the order of their raw scores. --tier all lists
healthy customers too.`,
	example: `riskctl top --owner alice --limit 10
riskctl top --tier critical --sort score`,
	run: runTop,
}

func runTop(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	var req api.Filter
	fs.StringVar(&req.Owner, "owner", "", "only the customers of this owner")
	fs.StringVar(&req.Segment, "segment", "", "only this segment")
	fs.StringVar(&req.Tier, "tier", "risk", "healthy, watch, at_risk, critical, risk (every tier above healthy) or all")
	fs.StringVar(&req.Sort, "sort", "revenue_at_risk", "revenue_at_risk, probability or score (by the raw score: no ties at 100)")
	fs.IntVar(&req.Limit, "limit", 20, "at most this many customers")
	asJSON := fs.Bool("json", false, "print the service's JSON answer")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.usageError(c, "unexpected argument %q", pos[0])
	}
	if req.Tier == "all" {
		req.Tier = ""
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	var list api.ListResponse
	raw, err := conn.call(nc, api.EndpointCustomerList, req, &list)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	if err := writeTop(e.stdout, list.Customers); err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

// writeTop prints a list as riskctl top shows it.
func writeTop(w io.Writer, views []api.CustomerView) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no customers match")
		return err
	}
	// Every customer's probability has the same horizon: the rules'.
	pHead := "P(CHURN)"
	if d := views[0].HorizonDays; d > 0 {
		pHead = "P(CHURN " + strconv.FormatFloat(d, 'f', -1, 64) + "D)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CUSTOMER\tOWNER\tSEGMENT\tTIER\tSCORE\tCHANGE 1D\t%s\tARR\tAT RISK\tRENEWS IN\n", pHead)
	for _, v := range views {
		renews := "-"
		if v.DaysToRenewal != nil {
			renews = strconv.FormatInt(*v.DaysToRenewal, 10) + "d"
		}
		currency := ""
		if v.Profile != nil {
			currency = v.Profile.Currency
		}
		p := "-"
		if v.HorizonDays > 0 {
			p = alerting.Percent(v.Probability)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n", displayID(v), orDash(v.Owner), orDash(v.Segment),
			v.Tier, v.Score, change(v.Change1d), p, alerting.Money(v.ARR, currency), alerting.Money(v.RevenueAtRisk, currency), renews)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write the list: %w", err)
	}
	return nil
}

func displayID(v api.CustomerView) string {
	if v.Name != "" && v.Name != v.Customer {
		return fmt.Sprintf("%s (%s)", v.Customer, v.Name)
	}
	return v.Customer
}

// change formats the score's change over the last day, "-" when the
// customer has no score from a day before.
func change(d *float64) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%+.1f", *d)
}
