package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Bounds of reading a customer's alerts from the stream: a page waits at
// most this long and keeps the latest maxCustomerAlerts.
const (
	alertsReadTimeout = 2 * time.Second
	maxAlertsRead     = 2000
	maxCustomerAlerts = 20
)

type customerData struct {
	View      api.CustomerView
	URL       string
	Chart     scoreChart
	Timeline  timeline
	Alerts    []alerting.Alert // newest first
	AlertsErr string
	Playbook  []string // the first three steps
	More      []string // the rest
	Status    string
	Snoozed   bool
	Open      bool // an alert is open
	CanAck    bool
	Log       []alerting.Action // newest first
	Name      string
	Snoozes   []string
	Now       time.Time
}

func (d *Dashboard) customerPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.CheckCustomerID(id); err != nil {
		d.fail(w, r, err, http.StatusBadRequest, err.Error())
		return
	}
	v, ok, err := d.o.Engine.Customer(r.Context(), id)
	if err != nil {
		d.fail(w, r, err, http.StatusServiceUnavailable, "This customer cannot be read right now (its part of the book is changing hands); try again in a few seconds.")
		return
	}
	if !ok {
		d.fail(w, r, nil, http.StatusNotFound, fmt.Sprintf("There is no customer %q.", id))
		return
	}
	now := d.o.Now()
	data := customerData{View: v, URL: customerURL(id), Status: alertStatus(&v, now), Snoozed: v.Alerting.Snoozed(now), Open: v.Alerting.Open(),
		Name: sessionOf(r).Name(), Snoozes: []string{"1d", "3d", "7d", "14d", "30d"}, Now: now}
	data.CanAck = v.Alerting.Open() && v.Alerting.LastID != "" && v.Alerting.Ack == nil
	n := min(3, len(v.Playbook))
	data.Playbook, data.More = v.Playbook[:n], v.Playbook[n:]
	for i := len(v.Alerting.Log) - 1; i >= 0; i-- {
		data.Log = append(data.Log, v.Alerting.Log[i])
	}
	if d.o.JetStream != nil {
		ctx, cancel := requestContext(r, alertsReadTimeout)
		alerts, err := customerAlerts(ctx, d.o.JetStream, id)
		cancel()
		if err != nil {
			data.AlertsErr = "The alert stream could not be read: " + err.Error()
		}
		data.Alerts = alerts
	} else if v.LastAlert != nil {
		data.Alerts = []alerting.Alert{*v.LastAlert}
	}
	segment := ""
	if v.Profile != nil {
		segment = v.Profile.Segment
	}
	sp := chartSpan(v.History, v.Evaluated)
	data.Chart = newScoreChart(v.History, d.o.Rules.ThresholdsFor(segment), d.o.Rules.Calibration, data.Alerts, sp)
	data.Timeline = newTimeline(v.Reasons, sp)
	slices.Reverse(data.Alerts)
	title := v.Customer
	if v.Name != "" {
		title = v.Name
	}
	d.render(w, r, http.StatusOK, "customer", page{Title: title, Nav: "book", Data: data})
}

// customerAlerts reads a customer's alerts from RISK_ALERTS, oldest first,
// the latest maxCustomerAlerts of at most maxAlertsRead: the subject's
// last token is the customer's.
func customerAlerts(ctx context.Context, js jetstream.JetStream, customer string) ([]alerting.Alert, error) {
	s, err := js.Stream(ctx, alerting.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", alerting.Stream, err)
	}
	filter := alerting.SubjectPrefix + "*.*." + signals.SubjectToken(customer)
	// Counting first spares waiting for a fetch to time out when the
	// customer has no alert, the common case.
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", alerting.Stream, err)
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if total > maxAlertsRead {
		// Too many to read: the latest of each subject (severity and
		// owner) tell where the customer stands.
		cfg.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	}
	oc, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", alerting.Stream, err)
	}
	var out []alerting.Alert
	for read := 0; read < maxAlertsRead; read++ {
		wait := time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(dl)), time.Millisecond)
		}
		m, err := oc.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			if len(out) > 0 && errors.Is(err, jetstream.ErrNoMessages) {
				break
			}
			return out, fmt.Errorf("read %s: %w", alerting.Stream, err)
		}
		var a alerting.Alert
		if json.Unmarshal(m.Data(), &a) == nil && a.Customer == customer {
			out = append(out, a)
		}
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			break
		}
	}
	if len(out) > maxCustomerAlerts {
		out = out[len(out)-maxCustomerAlerts:]
	}
	return out, nil
}

// ack acknowledges the customer's open alert as the session's person.
func (d *Dashboard) ack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	alertID := r.PostFormValue("alert_id")
	by, note := d.actor(r), strings.TrimSpace(r.PostFormValue("note"))
	if err := api.CheckCustomerID(id); err != nil {
		d.fail(w, r, err, http.StatusBadRequest, err.Error())
		return
	}
	req := api.AckRequest{AlertID: alertID, By: by, Note: note}
	if err := req.Check(); err != nil {
		d.fail(w, r, err, api.StatusOf(err), err.Error())
		return
	}
	cust, ok, err := d.o.Engine.CustomerOfAlert(r.Context(), alertID)
	if err != nil {
		d.fail(w, r, err, http.StatusServiceUnavailable, "The alert cannot be checked right now (its part of the book is changing hands); try again in a few seconds.")
		return
	}
	if !ok || cust != id {
		d.fail(w, r, nil, http.StatusConflict, "That alert is no longer open: it may have been resolved or replaced. Reload to see the latest.")
		return
	}
	d.act(w, r, req.Command(id, d.o.Now()), "Alert acknowledged.")
}

func (d *Dashboard) snooze(w http.ResponseWriter, r *http.Request) {
	req := api.SnoozeRequest{ID: r.PathValue("id"), For: r.PostFormValue("for"), By: d.actor(r),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	d.snoozeCommand(w, r, req, "Snoozed for "+req.For+".")
}

func (d *Dashboard) unsnooze(w http.ResponseWriter, r *http.Request) {
	req := api.SnoozeRequest{ID: r.PathValue("id"), Unsnooze: true, By: d.actor(r),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	d.snoozeCommand(w, r, req, "Snooze lifted.")
}

func (d *Dashboard) snoozeCommand(w http.ResponseWriter, r *http.Request, req api.SnoozeRequest, done string) {
	if err := api.CheckCustomerID(req.ID); err != nil {
		d.fail(w, r, err, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok, err := d.o.Engine.Customer(r.Context(), req.ID); err != nil {
		d.fail(w, r, err, http.StatusServiceUnavailable, "This customer cannot be read right now (its part of the book is changing hands); try again in a few seconds.")
		return
	} else if !ok {
		d.fail(w, r, nil, http.StatusNotFound, fmt.Sprintf("There is no customer %q.", req.ID))
		return
	}
	c, err := req.Command(d.o.Now())
	if err != nil {
		d.fail(w, r, err, api.StatusOf(err), err.Error())
		return
	}
	d.act(w, r, c, done)
}

// actor is who acts: the form's "by", remembered in the session for the
// next form, else the name given at sign-in.
func (d *Dashboard) actor(r *http.Request) string {
	s := sessionOf(r)
	by := strings.TrimSpace(r.PostFormValue("by"))
	if len(by) > signals.MaxField {
		by = by[:signals.MaxField]
	}
	if by != "" {
		s.setName(by)
		return by
	}
	return s.Name()
}

// act submits c and waits for the engine's verdict, then shows the
// customer (or answers JSON to the script that asked).
func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, c api.Command, done string) {
	if c.By == "" {
		d.fail(w, r, nil, http.StatusBadRequest, "Say who you are: the \"by\" field is empty.")
		return
	}
	if err := c.Validate(); err != nil {
		d.fail(w, r, err, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err := d.o.Engine.Submit(ctx, c)
	d.book.invalidate()
	if err != nil {
		status, msg := http.StatusServiceUnavailable, "riskd could not record it: "+err.Error()
		switch {
		case errors.Is(err, api.ErrRefused):
			status, msg = http.StatusConflict, "riskd refused it: "+err.Error()
		case errors.Is(err, context.DeadlineExceeded):
			status, msg = http.StatusGatewayTimeout, "riskd did not confirm in time; it may still be applied. Reload in a moment."
		}
		d.fail(w, r, err, status, msg)
		return
	}
	if wantsJSON(r) {
		v, _, _ := d.o.Engine.Customer(r.Context(), c.Customer)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		body, _ := json.Marshal(map[string]string{"ok": done, "status": alertStatus(&v, d.o.Now())})
		_, _ = w.Write(append(body, '\n'))
		return
	}
	http.Redirect(w, r, customerURL(c.Customer)+"?flash="+url.QueryEscape(done), http.StatusSeeOther)
}

func tierName(t rules.Tier) string { return strings.ReplaceAll(t.String(), "_", " ") }
