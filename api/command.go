package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Command is what a person asks of a customer's alerts: acknowledge the
// open alert, snooze the customer, or lift a snooze. It travels through
// RISK_SIGNALS on risk.actions.<customer-token>, so that it is applied in
// order with the signals and replayed with them after a crash; riskd
// records it as an alerting.Action.
type Command struct {
	Type     string    `json:"type"` // alerting.KindAck, KindSnooze or KindUnsnooze
	Customer string    `json:"customer"`
	AlertID  string    `json:"alert_id,omitempty"`
	By       string    `json:"by"`
	Note     string    `json:"note,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Time     time.Time `json:"time"`
}

// MaxSnooze bounds a snooze: a longer silence is a decision for the rules,
// not for one CSM's click.
const MaxSnooze = 366 * 24 * time.Hour

// Validate checks a command, wherever it comes from: riskd refuses an
// invalid one on NATS as it does over HTTP.
func (c Command) Validate() error {
	switch {
	case c.Type != alerting.KindAck && c.Type != alerting.KindSnooze && c.Type != alerting.KindUnsnooze:
		return fmt.Errorf("action type %q: want ack, snooze or unsnooze", c.Type)
	case c.Customer == "" || len(c.Customer) > signals.MaxCustomer:
		return fmt.Errorf("action needs a customer of 1-%d bytes", signals.MaxCustomer)
	case c.By == "" || len(c.By) > signals.MaxField:
		return fmt.Errorf("action needs \"by\": who does it (1-%d bytes)", signals.MaxField)
	case len(c.Note) > signals.MaxText:
		return fmt.Errorf("note is %d bytes, the limit is %d", len(c.Note), signals.MaxText)
	case len(c.AlertID) > signals.MaxField:
		return fmt.Errorf("alert id is %d bytes, the limit is %d", len(c.AlertID), signals.MaxField)
	case c.Time.IsZero():
		return fmt.Errorf("action has no time")
	case c.Type == alerting.KindSnooze && !c.Until.After(c.Time):
		return fmt.Errorf("snooze until %s is not after %s", c.Until.Format(time.RFC3339), c.Time.Format(time.RFC3339))
	case c.Type == alerting.KindSnooze && c.Until.Sub(c.Time) > MaxSnooze:
		return fmt.Errorf("snooze until %s is more than 366 days after %s", c.Until.Format(time.RFC3339), c.Time.Format(time.RFC3339))
	}
	return nil
}

// Subject is where the command is published.
func (c Command) Subject() string { return ActionPrefix + signals.SubjectToken(c.Customer) }

// Action is the command as the alert policy records it.
func (c Command) Action() alerting.Action {
	return alerting.Action{Kind: c.Type, By: c.By, Note: c.Note, At: c.Time.UTC(), Until: c.Until.UTC(), AlertID: c.AlertID}
}

// AckRequest acknowledges an open alert: POST /v1/alerts/{id}/ack and the
// alert.ack endpoint.
type AckRequest struct {
	AlertID string `json:"alert_id,omitempty"` // NATS only: HTTP takes it from the path
	By      string `json:"by"`
	Note    string `json:"note,omitempty"`
}

// Check reports an ack that cannot be right, as a 400 *Error.
func (r AckRequest) Check() error {
	switch {
	case r.AlertID == "":
		return Errorf(http.StatusBadRequest, "alert id is required")
	case len(r.AlertID) > signals.MaxField:
		return Errorf(http.StatusBadRequest, "alert id is %d bytes, the limit is %d", len(r.AlertID), signals.MaxField)
	}
	return nil
}

// Command is the ack of customer's alert at now.
func (r AckRequest) Command(customer string, now time.Time) Command {
	return Command{Type: alerting.KindAck, Customer: customer, AlertID: r.AlertID, By: r.By, Note: r.Note, Time: now.UTC()}
}

// SnoozeRequest silences a customer's alerts until a time or for a
// duration, or lifts a snooze: POST /v1/customers/{id}/snooze and the
// customer.snooze endpoint.
type SnoozeRequest struct {
	ID       string `json:"id,omitempty"` // NATS only: HTTP takes it from the path
	Until    string `json:"until,omitempty"`
	For      string `json:"for,omitempty"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
	Unsnooze bool   `json:"unsnooze,omitempty"`
}

// Command turns the request into the command it asks for at now, or a 400
// *Error.
func (r SnoozeRequest) Command(now time.Time) (Command, error) {
	if err := CheckCustomerID(r.ID); err != nil {
		return Command{}, err
	}
	now = now.UTC()
	c := Command{Customer: r.ID, By: r.By, Note: r.Reason, Time: now}
	switch {
	case r.Unsnooze && (r.Until != "" || r.For != ""):
		return c, Errorf(http.StatusBadRequest, "unsnooze takes neither until nor for")
	case r.Unsnooze:
		c.Type = alerting.KindUnsnooze
	case r.Until != "" && r.For != "":
		return c, Errorf(http.StatusBadRequest, "give until or for, not both")
	case r.Until != "":
		t, err := time.Parse(time.RFC3339, r.Until)
		if err != nil {
			return c, Errorf(http.StatusBadRequest, "until %q: want an RFC 3339 time such as 2026-12-01T09:00:00Z", r.Until)
		}
		c.Type, c.Until = alerting.KindSnooze, t.UTC()
	case r.For != "":
		d, err := rules.ParseDuration(r.For)
		if err != nil {
			return c, Errorf(http.StatusBadRequest, "for: %v", err)
		}
		if d <= 0 {
			return c, Errorf(http.StatusBadRequest, "for %q: want a positive duration", r.For)
		}
		if d > MaxSnooze {
			return c, Errorf(http.StatusBadRequest, "for %q is longer than the limit of 366d", r.For)
		}
		c.Type, c.Until = alerting.KindSnooze, now.Add(d)
	default:
		return c, Errorf(http.StatusBadRequest, "give until (RFC 3339) or for (e.g. 72h or 3d), or unsnooze: true")
	}
	if c.Type == alerting.KindSnooze && c.Until.Sub(now) > MaxSnooze {
		return c, Errorf(http.StatusBadRequest, "until %s is more than 366 days ahead", r.Until)
	}
	if err := c.Validate(); err != nil {
		return c, Errorf(http.StatusBadRequest, "%v", err)
	}
	return c, nil
}
