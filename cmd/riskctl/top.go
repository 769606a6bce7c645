package main

import (
	"fmt"
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
owner, segment, tier, score, its change over the last day, ARR, revenue
at risk and days to renewal. --tier all lists healthy customers too.`,
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
	if len(list.Customers) == 0 {
		fmt.Fprintln(e.stdout, "no customers match")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tOWNER\tSEGMENT\tTIER\tSCORE\tCHANGE 1D\tARR\tAT RISK\tRENEWS IN")
	for _, v := range list.Customers {
		renews := "-"
		if v.DaysToRenewal != nil {
			renews = strconv.FormatInt(*v.DaysToRenewal, 10) + "d"
		}
		currency := ""
		if v.Profile != nil {
			currency = v.Profile.Currency
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n", displayID(v), orDash(v.Owner), orDash(v.Segment),
			v.Tier, v.Score, change(v.Change1d), alerting.Money(v.ARR, currency), alerting.Money(v.RevenueAtRisk, currency), renews)
	}
	if err := tw.Flush(); err != nil {
		return e.fail(c, err)
	}
	return exitOK
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
