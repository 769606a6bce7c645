// Package api serves riskd's queries and commands twice over: as an HTTP
// API (customer views, lists ranked by revenue at risk, profiles, acks,
// snoozes, health and metrics) and as the NATS micro service "riskwatch"
// under risk.api.*, so that `nats micro ls` finds it. Both transports share
// one set of operations, so a request means the same thing and fails with
// the same status on either.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Engine is what the API needs from the riskd engine. *engine.Engine
// implements it; tests use a small in-memory one.
type Engine interface {
	Customer(id string) (engine.CustomerView, bool)
	List(engine.Filter) []engine.CustomerView
	Submit(ctx context.Context, a engine.Action) error
	PutProfile(ctx context.Context, p signals.Profile) error
	CustomerOfAlert(id string) (string, bool)
	Ready() error
	Healthy() error
}

// riskd serves the real engine: fail the build, not the daemon, if the two
// drift apart.
var _ Engine = (*engine.Engine)(nil)

// Bounds of requests. Bodies carry at most a profile, which the wire
// contract bounds like a signal envelope.
const (
	MaxBody = signals.MaxEnvelope
	// MaxLimit is the largest page a list returns; the engine caps there too.
	MaxLimit = 10_000
	// MaxSnooze bounds a snooze: a longer silence is a decision for the
	// rules, not for one CSM's click.
	MaxSnooze = 366 * 24 * time.Hour
	// writeTimeout bounds how long a command waits for the engine to apply
	// it; the HTTP server's WriteTimeout is longer so the answer still fits.
	writeTimeout = 10 * time.Second
)

// apiError is a failure with the status it maps to on both transports.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// statusOf maps err to an HTTP status; anything unclassified is the
// server's fault.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON every failure carries.
type errorBody struct {
	Error string `json:"error"`
}

// ListRequest selects customers. Over HTTP its fields are query
// parameters; over NATS it is the JSON request.
type ListRequest struct {
	Tier    string `json:"tier,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Segment string `json:"segment,omitempty"`
	Sort    string `json:"sort,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// ListResponse wraps a list so that it can grow fields (paging) later
// without breaking clients.
type ListResponse struct {
	Customers []engine.CustomerView `json:"customers"`
}

// GetRequest names a customer over NATS; HTTP takes the id from the path.
type GetRequest struct {
	ID string `json:"id"`
}

// AckRequest acknowledges an open alert.
type AckRequest struct {
	AlertID string `json:"alert_id,omitempty"` // NATS only: HTTP takes it from the path
	By      string `json:"by"`
	Note    string `json:"note,omitempty"`
}

// SnoozeRequest silences a customer's alerts until a time or for a
// duration, or lifts a snooze.
type SnoozeRequest struct {
	ID       string `json:"id,omitempty"` // NATS only: HTTP takes it from the path
	Until    string `json:"until,omitempty"`
	For      string `json:"for,omitempty"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
	Unsnooze bool   `json:"unsnooze,omitempty"`
}

// ops are the operations both transports expose.
type ops struct {
	e   Engine
	now func() time.Time
}

func newOps(e Engine, now func() time.Time) *ops {
	if now == nil {
		now = time.Now
	}
	return &ops{e: e, now: now}
}

func checkCustomerID(id string) error {
	switch {
	case id == "":
		return errorf(http.StatusBadRequest, "customer id is required")
	case len(id) > signals.MaxCustomer:
		return errorf(http.StatusBadRequest, "customer id is %d bytes, the limit is %d", len(id), signals.MaxCustomer)
	case !utf8.ValidString(id):
		return errorf(http.StatusBadRequest, "customer id is not valid UTF-8")
	}
	return nil
}

func (o *ops) customer(id string) (engine.CustomerView, error) {
	if err := checkCustomerID(id); err != nil {
		return engine.CustomerView{}, err
	}
	v, ok := o.e.Customer(id)
	if !ok {
		return engine.CustomerView{}, errorf(http.StatusNotFound, "unknown customer %q", id)
	}
	return v, nil
}

func (o *ops) list(q ListRequest) (ListResponse, error) {
	switch q.Tier {
	case "", "risk":
	default:
		if _, err := rules.ParseTier(q.Tier); err != nil {
			return ListResponse{}, errorf(http.StatusBadRequest, "tier %q: want healthy, watch, at_risk, critical or risk (every tier above healthy)", q.Tier)
		}
	}
	switch q.Sort {
	case "", "revenue_at_risk", "score":
	default:
		return ListResponse{}, errorf(http.StatusBadRequest, "sort %q: want revenue_at_risk or score", q.Sort)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return ListResponse{}, errorf(http.StatusBadRequest, "limit %d: want 1 to %d", q.Limit, MaxLimit)
	}
	for _, f := range []struct{ name, v string }{{"owner", q.Owner}, {"segment", q.Segment}} {
		if len(f.v) > signals.MaxField {
			return ListResponse{}, errorf(http.StatusBadRequest, "%s is %d bytes, the limit is %d", f.name, len(f.v), signals.MaxField)
		}
	}
	views := o.e.List(engine.Filter{Tier: q.Tier, Owner: q.Owner, Segment: q.Segment, Sort: q.Sort, Limit: q.Limit})
	if views == nil {
		views = []engine.CustomerView{} // "customers":[] rather than null
	}
	return ListResponse{Customers: views}, nil
}

// putProfile stores a profile. pathID, when not empty, is the id the
// request was addressed to: the body may omit its id or must repeat it.
func (o *ops) putProfile(ctx context.Context, pathID string, body []byte) (signals.Profile, error) {
	if len(body) > MaxBody {
		return signals.Profile{}, errorf(http.StatusRequestEntityTooLarge, "request body is %d bytes, the limit is %d", len(body), MaxBody)
	}
	var (
		p   signals.Profile
		err error
	)
	if pathID != "" {
		if err := checkCustomerID(pathID); err != nil {
			return signals.Profile{}, err
		}
		var head struct {
			ID string `json:"id"`
		}
		// Only to give a clear message on a mismatch; DecodeProfile
		// reports malformed bodies.
		if json.Unmarshal(body, &head) == nil && head.ID != "" && head.ID != pathID {
			return signals.Profile{}, errorf(http.StatusBadRequest, "id %q in the body is not the customer %q in the path", head.ID, pathID)
		}
		// Decoding as if received on the customer's subject fills in a
		// missing id, exactly as for profiles published on NATS.
		p, err = signals.DecodeProfile(signals.CustomerPrefix+signals.SubjectToken(pathID), body)
	} else {
		p, err = signals.DecodeProfile("", body)
	}
	if err != nil {
		return signals.Profile{}, errorf(http.StatusBadRequest, "invalid profile: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := o.e.PutProfile(ctx, p); err != nil {
		return signals.Profile{}, engineError("store profile", err)
	}
	return p, nil
}

func (o *ops) ack(ctx context.Context, req AckRequest) (engine.CustomerView, error) {
	if req.AlertID == "" {
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "alert id is required")
	}
	if len(req.AlertID) > signals.MaxField {
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "alert id is %d bytes, the limit is %d", len(req.AlertID), signals.MaxField)
	}
	cust, ok := o.e.CustomerOfAlert(req.AlertID)
	if !ok {
		return engine.CustomerView{}, errorf(http.StatusNotFound, "no open alert %q", req.AlertID)
	}
	a := engine.Action{Type: "ack", Customer: cust, AlertID: req.AlertID, By: req.By, Note: req.Note, Time: o.now().UTC()}
	return o.submit(ctx, a)
}

func (o *ops) snooze(ctx context.Context, req SnoozeRequest) (engine.CustomerView, error) {
	if err := checkCustomerID(req.ID); err != nil {
		return engine.CustomerView{}, err
	}
	if _, ok := o.e.Customer(req.ID); !ok {
		return engine.CustomerView{}, errorf(http.StatusNotFound, "unknown customer %q", req.ID)
	}
	now := o.now().UTC()
	a := engine.Action{Customer: req.ID, By: req.By, Note: req.Reason, Time: now}
	switch {
	case req.Unsnooze && (req.Until != "" || req.For != ""):
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "unsnooze takes neither until nor for")
	case req.Unsnooze:
		a.Type = "unsnooze"
	case req.Until != "" && req.For != "":
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "give until or for, not both")
	case req.Until != "":
		t, err := time.Parse(time.RFC3339, req.Until)
		if err != nil {
			return engine.CustomerView{}, errorf(http.StatusBadRequest, "until %q: want an RFC 3339 time such as 2026-12-01T09:00:00Z", req.Until)
		}
		a.Type, a.Until = "snooze", t.UTC()
	case req.For != "":
		d, err := rules.ParseDuration(req.For)
		if err != nil {
			return engine.CustomerView{}, errorf(http.StatusBadRequest, "for: %v", err)
		}
		if d <= 0 {
			return engine.CustomerView{}, errorf(http.StatusBadRequest, "for %q: want a positive duration", req.For)
		}
		if d > MaxSnooze {
			return engine.CustomerView{}, errorf(http.StatusBadRequest, "for %q is longer than the limit of 366d", req.For)
		}
		a.Type, a.Until = "snooze", now.Add(d)
	default:
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "give until (RFC 3339) or for (e.g. 72h or 3d), or unsnooze: true")
	}
	if a.Type == "snooze" && a.Until.Sub(now) > MaxSnooze {
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "until %s is more than 366 days ahead", req.Until)
	}
	return o.submit(ctx, a)
}

// submit validates an action here, so that a bad request is a 400 and not
// mistaken for the engine's refusal, then waits for the engine's verdict.
func (o *ops) submit(ctx context.Context, a engine.Action) (engine.CustomerView, error) {
	if err := a.Validate(); err != nil {
		return engine.CustomerView{}, errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := o.e.Submit(ctx, a); err != nil {
		return engine.CustomerView{}, engineError(a.Type, err)
	}
	v, ok := o.e.Customer(a.Customer)
	if !ok {
		return engine.CustomerView{}, errorf(http.StatusNotFound, "unknown customer %q", a.Customer)
	}
	return v, nil
}

// engineError classifies an error of Submit or PutProfile. The engine
// returns its refusals (no open alert, already acknowledged) as plain
// errors and wraps transport failures with %w, so an error that wraps
// nothing is a refusal.
func engineError(what string, err error) error {
	var se *signals.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "%s: the engine did not confirm in time: %v", what, err)
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, "%s: cancelled: %v", what, err)
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "%s: %v", what, err)
	case errors.Unwrap(err) != nil:
		return errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	default:
		return errorf(http.StatusConflict, "%s refused: %v", what, err)
	}
}

// decodeStrict reads one JSON object into v, refusing unknown fields so
// that a typo such as "untill" is an error and not a silent default. An
// empty body is an empty object.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxBody {
		return errorf(http.StatusRequestEntityTooLarge, "request body is %d bytes, the limit is %d", len(data), MaxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid request body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid request body: more than one JSON value")
	}
	return nil
}

// parseLimit reads the limit query parameter; empty means the default.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, errorf(http.StatusBadRequest, "limit %q: want 1 to %d", s, MaxLimit)
	}
	return n, nil
}
