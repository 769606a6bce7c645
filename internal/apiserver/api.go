// Package apiserver serves riskd's queries and commands twice over: as an
// HTTP API (customer views, lists ranked by revenue at risk, profiles,
// acks, snoozes, health and metrics) and as the NATS micro service
// "riskwatch" under risk.api.*, so that `nats micro ls` finds it. Both
// transports share one set of operations on the api package's types, so a
// request means the same thing and fails with the same status on either.
package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/signals"
)

// Engine is what the API needs from riskd: the engine of a lone riskd, or
// a group's router, which forwards to the owner of a customer's partition
// (and so may fail where a lone engine cannot: errors are *api.Error
// with their status, 503 while a partition changes owner).
type Engine interface {
	Customer(ctx context.Context, id string) (api.CustomerView, bool, error)
	List(ctx context.Context, f api.Filter) ([]api.CustomerView, error)
	Outcomes(ctx context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error)
	Submit(ctx context.Context, c api.Command) error
	PutProfile(ctx context.Context, p signals.Profile) error
	CustomerOfAlert(ctx context.Context, id string) (string, bool, error)
	Ready() error
	Healthy() error
	// Lifetimes are the customers' lifetimes for churn analytics, with
	// the time they stand at and the horizon of their probabilities.
	Lifetimes(ctx context.Context) ([]churn.Customer, churn.Config, error)
}

// Bounds of requests. Bodies carry at most a profile, which the wire
// contract bounds like a signal envelope.
const (
	MaxBody = signals.MaxEnvelope
	// writeTimeout bounds how long a command waits for the engine to apply
	// it; the HTTP server's WriteTimeout is longer so the answer still fits.
	writeTimeout = 10 * time.Second
)

// ops are the operations both transports expose.
type ops struct {
	e   Engine
	now func() time.Time
	// maxReply bounds a micro reply (0: unbounded, HTTP).
	maxReply int
}

func newOps(e Engine, now func() time.Time) *ops {
	if now == nil {
		now = time.Now
	}
	return &ops{e: e, now: now}
}

func (o *ops) customer(ctx context.Context, id string) (api.CustomerView, error) {
	if err := api.CheckCustomerID(id); err != nil {
		return api.CustomerView{}, err
	}
	v, ok, err := o.e.Customer(ctx, id)
	if err != nil {
		return api.CustomerView{}, err
	}
	if !ok {
		return api.CustomerView{}, api.Errorf(http.StatusNotFound, "unknown customer %q", id)
	}
	return v, nil
}

func (o *ops) list(ctx context.Context, f api.Filter) (api.ListResponse, error) {
	if err := f.Check(); err != nil {
		return api.ListResponse{}, err
	}
	if f.After != "" {
		if _, ok, err := o.e.Customer(ctx, f.After); err != nil {
			return api.ListResponse{}, err
		} else if !ok {
			return api.ListResponse{}, api.Errorf(http.StatusBadRequest, "after %q: no such customer (give the next of the previous page)", f.After)
		}
	}
	views, err := o.e.List(ctx, f)
	if err != nil {
		return api.ListResponse{}, err
	}
	if views == nil {
		views = []api.CustomerView{} // "customers":[] rather than null
	}
	resp := api.ListResponse{Customers: views}
	if len(views) > 0 && len(views) >= f.Size() {
		resp.Next = views[len(views)-1].Customer
	}
	return resp, nil
}

// owns checks that the customer is ownerToken's, the owner a CSM user
// may act for (alerting's owner token: "unassigned" for none).
func (o *ops) owns(ctx context.Context, ownerToken, customer string) (owner string, err error) {
	v, ok, err := o.e.Customer(ctx, customer)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", api.Errorf(http.StatusNotFound, "unknown customer %q", customer)
	}
	tok := alerting.Unassigned
	if v.Owner != "" {
		tok = signals.SubjectToken(v.Owner)
	}
	if tok != ownerToken {
		return "", api.Errorf(http.StatusForbidden, "customer %q is not one of %s's customers", customer, ownerToken)
	}
	return v.Owner, nil
}

// actor is "by" of a command sent by a CSM user: their owner name, which
// the request may repeat but not change.
func actor(by, owner, ownerToken string) (string, error) {
	if owner == "" {
		owner = ownerToken
	}
	if by != "" && by != owner {
		return "", api.Errorf(http.StatusForbidden, "by %q: on this endpoint the CSM acts as %q", by, owner)
	}
	return owner, nil
}

// ackAs is ack by the CSM user of ownerToken: only an alert of one of
// their customers.
func (o *ops) ackAs(ctx context.Context, ownerToken string, req api.AckRequest) (api.CustomerView, error) {
	if err := req.Check(); err != nil {
		return api.CustomerView{}, err
	}
	cust, ok, err := o.e.CustomerOfAlert(ctx, req.AlertID)
	if err != nil {
		return api.CustomerView{}, err
	}
	if !ok {
		return api.CustomerView{}, api.Errorf(http.StatusNotFound, "no open alert %q", req.AlertID)
	}
	owner, err := o.owns(ctx, ownerToken, cust)
	if err != nil {
		return api.CustomerView{}, err
	}
	if req.By, err = actor(req.By, owner, ownerToken); err != nil {
		return api.CustomerView{}, err
	}
	return o.ack(ctx, req)
}

// snoozeAs is snooze by the CSM user of ownerToken: only one of their
// customers.
func (o *ops) snoozeAs(ctx context.Context, ownerToken string, req api.SnoozeRequest) (api.CustomerView, error) {
	if err := api.CheckCustomerID(req.ID); err != nil {
		return api.CustomerView{}, err
	}
	owner, err := o.owns(ctx, ownerToken, req.ID)
	if err != nil {
		return api.CustomerView{}, err
	}
	if req.By, err = actor(req.By, owner, ownerToken); err != nil {
		return api.CustomerView{}, err
	}
	return o.snooze(ctx, req)
}

// churn computes the churn report the request asks for over the
// engine's customers, outside the engine's lock.
func (o *ops) churn(ctx context.Context, req api.ChurnRequest) (*api.ChurnReport, error) {
	cfg, err := req.Config()
	if err != nil {
		return nil, err
	}
	customers, at, err := o.e.Lifetimes(ctx)
	if err != nil {
		return nil, err
	}
	cfg.AsOf, cfg.Horizon, cfg.Source = at.AsOf, at.Horizon, at.Source
	r, err := churn.Compute(customers, cfg)
	if err != nil {
		return nil, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	return r, nil
}

func (o *ops) outcomes(ctx context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	if err := r.Check(); err != nil {
		return api.OutcomesSummary{}, err
	}
	return o.e.Outcomes(ctx, r)
}

// putProfile stores a profile. pathID, when not empty, is the id the
// request was addressed to: the body may omit its id or must repeat it.
func (o *ops) putProfile(ctx context.Context, pathID string, body []byte) (signals.Profile, error) {
	if len(body) > MaxBody {
		return signals.Profile{}, api.Errorf(http.StatusRequestEntityTooLarge, "request body is %d bytes, the limit is %d", len(body), MaxBody)
	}
	var (
		p   signals.Profile
		err error
	)
	if pathID != "" {
		if err := api.CheckCustomerID(pathID); err != nil {
			return signals.Profile{}, err
		}
		var head struct {
			ID string `json:"id"`
		}
		// Only to give a clear message on a mismatch; DecodeProfile
		// reports malformed bodies.
		if json.Unmarshal(body, &head) == nil && head.ID != "" && head.ID != pathID {
			return signals.Profile{}, api.Errorf(http.StatusBadRequest, "id %q in the body is not the customer %q in the path", head.ID, pathID)
		}
		// Decoding as if received on the customer's subject fills in a
		// missing id, exactly as for profiles published on NATS.
		p, err = signals.DecodeProfile(signals.CustomerPrefix+signals.SubjectToken(pathID), body)
	} else {
		p, err = signals.DecodeProfile("", body)
	}
	if err != nil {
		return signals.Profile{}, api.Errorf(http.StatusBadRequest, "invalid profile: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := o.e.PutProfile(ctx, p); err != nil {
		return signals.Profile{}, engineError("store profile", err)
	}
	return p, nil
}

func (o *ops) ack(ctx context.Context, req api.AckRequest) (api.CustomerView, error) {
	if err := req.Check(); err != nil {
		return api.CustomerView{}, err
	}
	cust, ok, err := o.e.CustomerOfAlert(ctx, req.AlertID)
	if err != nil {
		return api.CustomerView{}, err
	}
	if !ok {
		return api.CustomerView{}, api.Errorf(http.StatusNotFound, "no open alert %q", req.AlertID)
	}
	return o.submit(ctx, req.Command(cust, o.now()))
}

func (o *ops) snooze(ctx context.Context, req api.SnoozeRequest) (api.CustomerView, error) {
	if err := api.CheckCustomerID(req.ID); err != nil {
		return api.CustomerView{}, err
	}
	if _, ok, err := o.e.Customer(ctx, req.ID); err != nil {
		return api.CustomerView{}, err
	} else if !ok {
		return api.CustomerView{}, api.Errorf(http.StatusNotFound, "unknown customer %q", req.ID)
	}
	c, err := req.Command(o.now())
	if err != nil {
		return api.CustomerView{}, err
	}
	return o.submit(ctx, c)
}

// submit validates a command here, so that a bad request is a 400 and not
// mistaken for the engine's refusal, then waits for the engine's verdict.
func (o *ops) submit(ctx context.Context, c api.Command) (api.CustomerView, error) {
	if err := c.Validate(); err != nil {
		return api.CustomerView{}, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := o.e.Submit(ctx, c); err != nil {
		return api.CustomerView{}, engineError(c.Type, err)
	}
	v, ok, err := o.e.Customer(ctx, c.Customer)
	if err != nil {
		return api.CustomerView{}, err
	}
	if !ok {
		return api.CustomerView{}, api.Errorf(http.StatusNotFound, "unknown customer %q", c.Customer)
	}
	return v, nil
}

// engineError classifies an error of Submit or PutProfile.
func engineError(what string, err error) error {
	var (
		se *signals.Error
		ae *api.Error
	)
	switch {
	case errors.Is(err, api.ErrRefused):
		return api.Errorf(http.StatusConflict, "%s %v", what, err)
	case errors.Is(err, context.DeadlineExceeded):
		return api.Errorf(http.StatusGatewayTimeout, "%s: the engine did not confirm in time: %v", what, err)
	case errors.Is(err, context.Canceled):
		return api.Errorf(http.StatusServiceUnavailable, "%s: cancelled: %v", what, err)
	case errors.As(err, &se):
		return api.Errorf(http.StatusBadRequest, "%s: %v", what, err)
	case errors.As(err, &ae):
		return err // forwarded to a partition's owner, status and all
	default:
		return api.Errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	}
}

// decodeStrict reads one JSON object into v, refusing unknown fields so
// that a typo such as "untill" is an error and not a silent default. An
// empty body is an empty object.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxBody {
		return api.Errorf(http.StatusRequestEntityTooLarge, "request body is %d bytes, the limit is %d", len(data), MaxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid request body: %v", err)
	}
	if dec.More() {
		return api.Errorf(http.StatusBadRequest, "invalid request body: more than one JSON value")
	}
	return nil
}

// parseLimit reads the limit query parameter; empty means the default.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > api.MaxLimit {
		return 0, api.Errorf(http.StatusBadRequest, "limit %q: want 1 to %d", s, api.MaxLimit)
	}
	return n, nil
}
