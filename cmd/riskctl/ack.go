package main

import (
	"fmt"
	"os"

	"github.com/riskwatch/riskwatch/api"
)

var ackCmd = &command{
	name:    "ack",
	args:    "ALERT_ID [--by NAME] [--note TEXT]",
	summary: "acknowledge an open alert: no more reminders until it escalates or resolves",
	help: `Acknowledges a customer's open alert through riskd (risk.api.alert.ack).
Reminders stop until the customer escalates to a worse tier or recovers.
ALERT_ID is the alert's id, as 'riskctl alerts tail --json', 'riskctl
explain' and the alert payload show it; only the customer's latest alert
can be acknowledged. --by defaults to $USER.

--as-owner OWNER acknowledges as that owner's CSM user (csm-<owner>, whose
NATS permissions allow only risk.api.alert.ack.<owner>): riskd then acts
only on that owner's customers, and --by is the owner.`,
	example: `riskctl ack 3f2a9c0d1e4b5a6f7c8d9e0f1a2b3c4d --by alice --note "called the champion, QBR booked"`,
	run:     runAck,
}

func runAck(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	by := fs.String("by", os.Getenv("USER"), "who acknowledges")
	note := fs.String("note", "", "what was done about it")
	asJSON := fs.Bool("json", false, "print the service's JSON answer (the customer after the ack)")
	owner := fs.String("as-owner", "", "act as this owner's CSM user: only their customers (docs/security.md)")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one alert id")
	}
	if *by == "" && *owner == "" {
		return e.usageError(c, "--by is required ($USER is not set)")
	}
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	var v api.CustomerView
	endpoint := api.EndpointAlertAck
	if *owner != "" {
		endpoint, *by = ownerEndpoint(endpoint, *owner), *owner
	}
	raw, err := conn.call(nc, endpoint, api.AckRequest{AlertID: pos[0], By: *by, Note: *note}, &v)
	if err != nil {
		return e.fail(c, err)
	}
	if *asJSON {
		return e.writeRaw(c, raw)
	}
	fmt.Fprintf(e.stdout, "acknowledged alert %s of %s, tier %s, as %s\n", pos[0], displayID(v), v.Tier, *by)
	return exitOK
}
