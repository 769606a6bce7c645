package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

// Client calls the riskwatch micro service on a connection.
type Client struct {
	nc *nats.Conn
}

// New is a client on nc; the caller keeps and closes nc.
func New(nc *nats.Conn) *Client { return &Client{nc: nc} }

// Call sends req as JSON to endpoint (one of the api.Endpoint* subjects),
// decodes the answer into out (unless nil) and returns it as it came.
// A refusal of the service is an *api.Error with the HTTP status of the
// same failure; ctx bounds the wait.
func (c *Client) Call(ctx context.Context, endpoint string, req, out any) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	subject := api.ServiceGroup + "." + endpoint
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("no %s service answers on %s: is riskd running and connected to this NATS?", api.ServiceName, subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("%s: no answer in time: %w", subject, err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, serviceError(msg, code)
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			return nil, fmt.Errorf("%s: decode answer: %w", subject, err)
		}
	}
	return msg.Data, nil
}

// serviceError turns a micro service error into the *api.Error it stands
// for: its code is the HTTP status, its body an api.ErrorBody.
func serviceError(msg *nats.Msg, code string) error {
	status, err := strconv.Atoi(code)
	if err != nil || status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	text := msg.Header.Get(micro.ErrorHeader)
	var eb api.ErrorBody
	if json.Unmarshal(msg.Data, &eb) == nil && eb.Error != "" {
		text = eb.Error
	}
	return &api.Error{Status: status, Msg: text}
}

// Customer is one customer's view, explained: its reasons, playbook and
// history.
func (c *Client) Customer(ctx context.Context, id string) (api.CustomerView, error) {
	var v api.CustomerView
	_, err := c.Call(ctx, api.EndpointCustomerGet, api.GetRequest{ID: id}, &v)
	return v, err
}

// List returns the customers f selects, in its order.
func (c *Client) List(ctx context.Context, f api.Filter) ([]api.CustomerView, error) {
	var resp api.ListResponse
	_, err := c.Call(ctx, api.EndpointCustomerList, f, &resp)
	return resp.Customers, err
}

// Outcomes sums up the outcomes r selects: what became of riskd's
// warnings, by fate, with the ARR saved and lost and the lead times.
func (c *Client) Outcomes(ctx context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	var s api.OutcomesSummary
	_, err := c.Call(ctx, api.EndpointOutcomes, r, &s)
	return s, err
}

// PutProfile stores p once riskd has applied it, and returns it as stored.
func (c *Client) PutProfile(ctx context.Context, p signals.Profile) (signals.Profile, error) {
	var out signals.Profile
	_, err := c.Call(ctx, api.EndpointCustomerPut, p, &out)
	return out, err
}

// Ack acknowledges an open alert and returns the customer as it is then.
func (c *Client) Ack(ctx context.Context, req api.AckRequest) (api.CustomerView, error) {
	var v api.CustomerView
	_, err := c.Call(ctx, api.EndpointAlertAck, req, &v)
	return v, err
}

// Snooze snoozes a customer, or lifts a snooze, and returns the customer
// as it is then.
func (c *Client) Snooze(ctx context.Context, req api.SnoozeRequest) (api.CustomerView, error) {
	var v api.CustomerView
	_, err := c.Call(ctx, api.EndpointCustomerSnooze, req, &v)
	return v, err
}

// Churn is riskd's churn analytics, per period, segment and stage.
func (c *Client) Churn(ctx context.Context, req api.ChurnRequest) (*api.ChurnReport, error) {
	var r api.ChurnReport
	if _, err := c.Call(ctx, api.EndpointChurn, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
