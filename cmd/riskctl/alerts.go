package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/signals"
)

var alertsTailCmd = &command{
	name:    "alerts tail",
	args:    "[--owner O] [--severity S] [--customer C] [--json] [--count N]",
	summary: "follow live alerts, readable or as JSON lines",
	help: `Subscribes to risk.alerts.<severity>.<owner>.<customer> and prints each
alert as it arrives, until Ctrl-C or --count alerts. --owner, --severity and
--customer narrow the subscription on the server (owner and customer ids go
through the same subject encoding as riskd's). --json prints each alert's
payload on one line, for jq and scripts. Only alerts sent while it runs are
shown; 'riskctl explain ID' shows a customer's past ones.`,
	example: `riskctl alerts tail --owner alice
riskctl alerts tail --severity critical --json | jq -r .customer`,
	run: runAlertsTail,
}

var tailSeverities = []string{"watch", "at_risk", "critical", alerting.SeverityResolved}

func runAlertsTail(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	owner := fs.String("owner", "", "only alerts routed to this owner ("+alerting.Unassigned+" for customers without one)")
	severity := fs.String("severity", "", "only this severity: "+strings.Join(tailSeverities, ", "))
	customer := fs.String("customer", "", "only this customer's alerts")
	asJSON := fs.Bool("json", false, "print each alert's JSON payload on one line")
	n := fs.Int("count", 0, "stop after this many alerts (0: until interrupted)")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return e.usageError(c, "unexpected argument %q", pos[0])
	case *severity != "" && !slices.Contains(tailSeverities, *severity):
		return e.usageError(c, "--severity %q: want one of %s", *severity, strings.Join(tailSeverities, ", "))
	case *n < 0:
		return e.usageError(c, "--count must not be negative")
	}
	subject := alertSubject(*severity, *owner, *customer)
	nc, err := conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return e.fail(c, fmt.Errorf("subscribe to %s: %w", subject, err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.FlushTimeout(conn.timeout); err != nil {
		return e.fail(c, fmt.Errorf("subscribe to %s: %w", subject, err))
	}
	fmt.Fprintf(e.stderr, "listening on %s (Ctrl-C to stop)\n", subject)
	seen := 0
	for *n == 0 || seen < *n {
		select {
		case <-ctx.Done():
			return exitOK
		case m := <-msgs:
			var a alerting.Alert
			if err := json.Unmarshal(m.Data, &a); err != nil {
				fmt.Fprintf(e.stderr, "riskctl alerts tail: %s: not an alert: %v\n", m.Subject, err)
				continue
			}
			seen++
			if *asJSON {
				fmt.Fprintf(e.stdout, "%s\n", m.Data)
			} else {
				fmt.Fprint(e.stdout, alerting.Text(&a))
			}
		}
	}
	return exitOK
}

// alertSubject is the subscription for the filters; an empty filter is a
// wildcard.
func alertSubject(severity, owner, customer string) string {
	tok := func(v, def string) string {
		if v == "" {
			return def
		}
		return signals.SubjectToken(v)
	}
	sev := severity
	if sev == "" {
		sev = "*"
	}
	last := ">"
	if customer != "" {
		last = signals.SubjectToken(customer)
	}
	return alerting.SubjectPrefix + sev + "." + tok(owner, "*") + "." + last
}
