package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

var customerGetCmd = &command{
	name:    "customer get",
	args:    "[--json] ID",
	summary: "show a customer's profile, score, tier and alert state",
	help: `Asks riskd (the riskwatch micro service, risk.api.customer.get) for one
customer: profile, score and tier, revenue at risk, days to renewal, and
the state of its alerts (open alert id, acknowledgement, snooze). See
'riskctl explain' for the reasons behind the score.`,
	example: `riskctl customer get acme-corp
riskctl customer get acme-corp --json | jq .alerting.last_id`,
	run: runCustomerGet,
}

func runCustomerGet(e *env, c *command, args []string) int {
	return withCustomer(e, c, args, api.EndpointCustomerGet, func(_ *nats.Conn, _ *connOpts, v *api.CustomerView) int {
		writeCustomer(e.stdout, v, e.now())
		return exitOK
	})
}

// withCustomer is what `customer get` and `explain` share: one customer
// named on the command line, asked of the micro service's endpoint, its
// JSON answer printed with --json or else handed to show.
func withCustomer(e *env, c *command, args []string, endpoint string,
	show func(nc *nats.Conn, conn *connOpts, v *api.CustomerView) int) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	asJSON := fs.Bool("json", false, "print the service's JSON answer")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one customer")
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	var v api.CustomerView
	raw, err := conn.call(nc, endpoint, api.GetRequest{ID: pos[0]}, &v)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	return show(nc, conn, &v)
}

// writeRaw prints a service answer as it came, with a final newline.
func (e *env) writeRaw(c *command, raw []byte) int {
	if _, err := fmt.Fprintf(e.stdout, "%s\n", raw); err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

func writeCustomer(w io.Writer, v *api.CustomerView, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	name := v.Customer
	if v.Name != "" && v.Name != v.Customer {
		name = fmt.Sprintf("%s (%s)", v.Customer, v.Name)
	}
	fmt.Fprintf(tw, "customer\t%s\n", name)
	if p := v.Profile; p != nil {
		fmt.Fprintf(tw, "owner\t%s\n", orDash(p.Owner))
		fmt.Fprintf(tw, "segment\t%s\n", orDash(p.Segment))
		if p.Plan != "" {
			fmt.Fprintf(tw, "plan\t%s\n", p.Plan)
		}
		if p.Stage != "" {
			fmt.Fprintf(tw, "stage\t%s\n", p.Stage)
		}
		fmt.Fprintf(tw, "ARR\t%s\n", alerting.Money(p.ARR, p.Currency))
		if p.RenewalDate != "" {
			renew := p.RenewalDate
			if v.DaysToRenewal != nil {
				renew += fmt.Sprintf(" (in %d days)", *v.DaysToRenewal)
			}
			fmt.Fprintf(tw, "renewal\t%s\n", renew)
		}
	} else {
		fmt.Fprintf(tw, "profile\tnone (riskctl customer set %s --owner ... to add one)\n", v.Customer)
	}
	fmt.Fprintf(tw, "score\t%.1f, tier %s\n", v.Score, v.Tier)
	if v.Profile != nil && v.Profile.ARR > 0 {
		fmt.Fprintf(tw, "revenue at risk\t%s\n", alerting.Money(v.RevenueAtRisk, v.Profile.Currency))
	}
	fmt.Fprintf(tw, "evaluated\t%s\n", v.Evaluated.Format(time.RFC3339))
	fmt.Fprintf(tw, "last event\t%s\n", v.LastEvent.Format(time.RFC3339))
	fmt.Fprintf(tw, "alerts\t%s\n", alertState(v, now))
	_ = tw.Flush()
}

// alertState sums up the alert policy's view of a customer in one line.
func alertState(v *api.CustomerView, now time.Time) string {
	a := v.Alerting
	var parts []string
	if a.Open() {
		parts = append(parts, fmt.Sprintf("open alert %s (%s)", a.LastID, a.Tier))
	} else {
		parts = append(parts, "no open alert")
	}
	if a.Ack != nil {
		parts = append(parts, fmt.Sprintf("acknowledged by %s at %s", a.Ack.By, a.Ack.At.Format(time.RFC3339)))
	}
	if a.Snooze != nil && a.Snooze.Until.After(now) {
		parts = append(parts, fmt.Sprintf("snoozed by %s until %s", a.Snooze.By, a.Snooze.Until.Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var customerSetCmd = &command{
	name:    "customer set",
	args:    "ID [flags] | ID -f PROFILE.json",
	summary: "store a customer's profile (owner, ARR, renewal date, segment, ...)",
	help: `Stores a customer profile through riskd (risk.api.customer.put), which
applies it in order with the signals. The fields given as flags are changed
and the others kept from the profile riskd has; --replace starts from an
empty profile instead. -f reads a whole profile as JSON
({"id","name","arr","currency","renewal_date","segment","owner","plan","stage"})
and replaces the stored one.`,
	example: `riskctl customer set acme-corp --name "Acme Corp" --arr 120000 --renewal-date 2027-01-15 \
  --segment enterprise --owner alice --stage adoption
riskctl customer set acme-corp --owner bob
riskctl customer set acme-corp -f acme.json`,
	run: runCustomerSet,
}

func runCustomerSet(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	asJSON := fs.Bool("json", false, "print the service's JSON answer")
	file := fs.String("f", "", "read the profile from a JSON `FILE`")
	replace := fs.Bool("replace", false, "start from an empty profile instead of the stored one")
	fields := profileFieldFlags(fs)
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one customer")
	}
	id := pos[0]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	edits := 0
	for name := range fields {
		if set[name] {
			edits++
		}
	}
	switch {
	case *file != "" && edits > 0:
		return e.usageError(c, "give -f or field flags, not both")
	case *file == "" && edits == 0:
		return e.usageError(c, "nothing to set: give field flags such as --owner, or -f FILE")
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()

	p, err := profileToEdit(conn, nc, id, *file, *replace)
	if err != nil {
		return e.fail(c, err)
	}
	p.ID = id
	str := map[string]*string{"name": &p.Name, "currency": &p.Currency, "renewal-date": &p.RenewalDate,
		"segment": &p.Segment, "owner": &p.Owner, "plan": &p.Plan, "stage": &p.Stage}
	for name, dst := range str {
		if set[name] {
			*dst = *fields[name]
		}
	}
	if set["arr"] {
		v, err := strconv.ParseFloat(*fields["arr"], 64)
		if err != nil {
			return e.usageError(c, "--arr %q is not a number", *fields["arr"])
		}
		p.ARR = v
	}
	if err := p.Validate(); err != nil {
		return e.fail(c, fmt.Errorf("invalid profile: %w", err))
	}
	var stored signals.Profile
	raw, err := conn.call(nc, api.EndpointCustomerPut, p, &stored)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	printStored(e.stdout, &stored)
	return exitOK
}

// profileFieldFlags defines a flag for each profile field that can be set
// on its own, by the flag's name.
func profileFieldFlags(fs *flag.FlagSet) map[string]*string {
	fields := map[string]*string{}
	for _, f := range []struct{ name, usage string }{
		{"name", "display name"},
		{"arr", "annual recurring revenue, a number"},
		{"currency", "ISO 4217 code of the ARR, e.g. EUR"},
		{"renewal-date", "next renewal, YYYY-MM-DD"},
		{"segment", "segment, e.g. enterprise, mid_market, smb"},
		{"owner", "the CSM who owns the account (alerts are routed by it)"},
		{"plan", "plan name"},
		{"stage", "lifecycle stage: " + strings.Join(signals.Stages, ", ")},
	} {
		fields[f.name] = fs.String(f.name, "", f.usage)
	}
	return fields
}

// profileToEdit is the profile that customer set starts from: the one in
// file when given, else the one riskd stores for id unless replace, else
// an empty one.
func profileToEdit(conn *connOpts, nc *nats.Conn, id, file string, replace bool) (signals.Profile, error) {
	var p signals.Profile
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return p, fmt.Errorf("read profile: %w", err)
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return p, fmt.Errorf("%s: %w", file, err)
		}
		if p.ID != "" && p.ID != id {
			return p, fmt.Errorf("%s is the profile of %q, not %q", file, p.ID, id)
		}
	} else if !replace {
		var v api.CustomerView
		_, err := conn.call(nc, api.EndpointCustomerGet, api.GetRequest{ID: id}, &v)
		switch {
		case err == nil && v.Profile != nil:
			p = *v.Profile
		case err == nil, api.StatusOf(err) == http.StatusNotFound:
			// No profile yet: start from an empty one.
		default:
			return p, fmt.Errorf("read the stored profile to update it (--replace skips this): %w", err)
		}
	}
	return p, nil
}

// printStored confirms a stored profile and lists the fields it has.
func printStored(w io.Writer, stored *signals.Profile) {
	fmt.Fprintf(w, "stored the profile of %s\n", stored.ID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range []struct{ k, v string }{{"name", stored.Name}, {"owner", stored.Owner}, {"segment", stored.Segment},
		{"ARR", alerting.Money(stored.ARR, stored.Currency)}, {"renewal", stored.RenewalDate}, {"plan", stored.Plan}, {"stage", stored.Stage}} {
		if f.v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", f.k, f.v)
		}
	}
	_ = tw.Flush()
}
