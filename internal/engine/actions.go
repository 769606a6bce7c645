package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/signals"
)

// Action is an acknowledgement or snooze, sent through RISK_SIGNALS on
// risk.actions.<customer-token> so that it is applied in order with the
// signals and replayed with them after a crash.
type Action struct {
	Type     string    `json:"type"` // ack, snooze, unsnooze
	Customer string    `json:"customer"`
	AlertID  string    `json:"alert_id,omitempty"`
	By       string    `json:"by"`
	Note     string    `json:"note,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Time     time.Time `json:"time"`
}

// Validate checks an action before it is published.
func (a Action) Validate() error {
	switch {
	case a.Type != "ack" && a.Type != "snooze" && a.Type != "unsnooze":
		return fmt.Errorf("action type %q: want ack, snooze or unsnooze", a.Type)
	case a.Customer == "" || len(a.Customer) > signals.MaxCustomer:
		return fmt.Errorf("action needs a customer of 1-%d bytes", signals.MaxCustomer)
	case a.By == "" || len(a.By) > signals.MaxField:
		return fmt.Errorf("action needs \"by\": who does it (1-%d bytes)", signals.MaxField)
	case len(a.Note) > signals.MaxText:
		return fmt.Errorf("note is %d bytes, the limit is %d", len(a.Note), signals.MaxText)
	case a.Type == "snooze" && !a.Until.After(a.Time):
		return fmt.Errorf("snooze until %s is not after %s", a.Until.Format(time.RFC3339), a.Time.Format(time.RFC3339))
	case a.Time.IsZero():
		return fmt.Errorf("action has no time")
	}
	return nil
}

// CustomerOfAlert finds the customer of an open alert id.
func (e *Engine) CustomerOfAlert(id string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.alertIndex[id]
	return c, ok
}

// Submit publishes an action and waits until the engine has applied it;
// the error is the engine's verdict (for example: no open alert).
func (e *Engine) Submit(ctx context.Context, a Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ack, err := e.js.Publish(ctx, ActionPrefix+signals.SubjectToken(a.Customer), body)
	if err != nil {
		return fmt.Errorf("publish %s: %w", a.Type, err)
	}
	if err := e.WaitApplied(ctx, ack.Sequence); err != nil {
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if msg, ok := e.actionErrs[ack.Sequence]; ok {
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// applyAction applies an ack or snooze. Called with e.mu held.
func (e *Engine) applyAction(subject string, data []byte, seq uint64) {
	var a Action
	if err := json.Unmarshal(data, &a); err != nil {
		e.reject(subject, data, seq, &signals.Error{Reason: signals.ReasonMalformed, Msg: err.Error()})
		return
	}
	if err := a.Validate(); err != nil {
		e.reject(subject, data, seq, &signals.Error{Reason: signals.ReasonOutOfRange, Msg: err.Error()})
		return
	}
	c, ok := e.customers[a.Customer]
	if !ok {
		e.actionFailed(seq, a, fmt.Errorf("unknown customer %q", a.Customer))
		return
	}
	if seq <= c.Score.Seq {
		return
	}
	c.Score.Seq = seq
	act := alerting.Action{Kind: a.Type, By: a.By, Note: a.Note, At: a.Time.UTC(), Until: a.Until.UTC(), AlertID: a.AlertID}
	var err error
	switch a.Type {
	case "ack":
		err = alerting.Ack(&c.Alert, act)
	default:
		err = alerting.Snooze(&c.Alert, act)
	}
	if err != nil {
		e.actionFailed(seq, a, err)
		return
	}
	e.metrics.Actions.WithLabelValues(a.Type, "ok").Inc()
	e.dirty[a.Customer] = struct{}{}
}

func (e *Engine) actionFailed(seq uint64, a Action, err error) {
	e.metrics.Actions.WithLabelValues(a.Type, "refused").Inc()
	if len(e.actionErrs) > 1000 {
		clear(e.actionErrs) // only recent submitters wait for these
	}
	e.actionErrs[seq] = err.Error()
}

// PutProfile publishes a profile through the stream and waits until it is
// applied, so the caller reads its own write.
func (e *Engine) PutProfile(ctx context.Context, p signals.Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ack, err := e.js.Publish(ctx, signals.CustomerPrefix+signals.SubjectToken(p.ID), body)
	if err != nil {
		return fmt.Errorf("publish profile: %w", err)
	}
	return e.WaitApplied(ctx, ack.Sequence)
}
