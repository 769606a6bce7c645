package main

import (
	"fmt"
	"os"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

var snoozeCmd = &command{
	name:    "snooze",
	args:    "CUSTOMER (--for DURATION | --until TIME | --off) [--by NAME] [--reason TEXT]",
	summary: "silence a customer's alerts for a while, or lift a snooze",
	help: `Snoozes a customer through riskd (risk.api.customer.snooze): no
reminders, and no raise or escalation below critical, until the snooze
ends. Critical alerts always go through. --for takes a duration (72h, 3d,
at most 366d), --until an RFC 3339 time; --off lifts the snooze in force.
--by defaults to $USER. --as-owner OWNER snoozes as that owner's CSM user
(risk.api.customer.snooze.<owner>): only their customers, by the owner.`,
	example: `riskctl snooze acme-corp --for 3d --by alice --reason "migration week, agreed with the champion"
riskctl snooze acme-corp --off --by alice`,
	run: runSnooze,
}

func runSnooze(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	by := fs.String("by", os.Getenv("USER"), "who snoozes")
	reason := fs.String("reason", "", "why")
	forD := fs.String("for", "", "how long, e.g. 72h or 3d")
	until := fs.String("until", "", "until when, RFC 3339, e.g. 2026-12-01T09:00:00Z")
	off := fs.Bool("off", false, "lift the snooze")
	asJSON := fs.Bool("json", false, "print the service's JSON answer (the customer after the change)")
	owner := fs.String("as-owner", "", "act as this owner's CSM user: only their customers (docs/security.md)")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	given := 0
	for _, set := range []bool{*forD != "", *until != "", *off} {
		if set {
			given++
		}
	}
	switch {
	case len(pos) != 1:
		return e.usageError(c, "name one customer")
	case given != 1:
		return e.usageError(c, "give exactly one of --for, --until and --off")
	case *by == "" && *owner == "":
		return e.usageError(c, "--by is required ($USER is not set)")
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	endpoint := api.EndpointCustomerSnooze
	if *owner != "" {
		endpoint, *by = ownerEndpoint(endpoint, *owner), *owner
	}
	req := api.SnoozeRequest{ID: pos[0], For: *forD, Until: *until, By: *by, Reason: *reason, Unsnooze: *off}
	var v api.CustomerView
	raw, err := conn.call(nc, endpoint, req, &v)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	switch {
	case *off:
		fmt.Fprintf(e.stdout, "lifted the snooze of %s\n", displayID(v))
	case v.Alerting.Snooze != nil:
		fmt.Fprintf(e.stdout, "snoozed %s until %s (by %s)\n", displayID(v), v.Alerting.Snooze.Until.Format(time.RFC3339), v.Alerting.Snooze.By)
	default:
		fmt.Fprintf(e.stdout, "snoozed %s\n", displayID(v))
	}
	return exitOK
}

// ownerEndpoint is the owner-scoped form of a write endpoint: the owner's
// token (as in alert subjects) after it, e.g. alert.ack.alice.
func ownerEndpoint(endpoint, owner string) string {
	return endpoint + "." + signals.SubjectToken(owner)
}
