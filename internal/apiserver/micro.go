package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/riskwatch/riskwatch/api"
)

// endpoint is one request/reply operation of the micro service.
type endpoint struct {
	name, subject, description string
	handle                     func(ctx context.Context, data []byte) (any, error)
}

// StartService registers the micro service "riskwatch" on nc with its
// endpoints under risk.api.*; version must be semver. Stop the returned
// service (or close nc) to remove it. now stamps acks and snoozes.
func StartService(nc *nats.Conn, e Engine, version string, now func() time.Time) (micro.Service, error) {
	o := newOps(e, now)
	svc, err := micro.AddService(nc, micro.Config{
		Name:    api.ServiceName,
		Version: version,
		Description: "Riskwatch churn-risk queries: explained customer scores, lists ranked by revenue at risk, " +
			"profiles, alert acknowledgements and snoozes",
	})
	if err != nil {
		return nil, fmt.Errorf("add micro service %s: %w", api.ServiceName, err)
	}
	group := svc.AddGroup(api.ServiceGroup)
	for _, ep := range o.endpoints() {
		err := group.AddEndpoint(ep.name, microHandler(ep.handle),
			micro.WithEndpointSubject(ep.subject),
			micro.WithEndpointMetadata(map[string]string{"description": ep.description}))
		if err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("add endpoint %s.%s: %w", api.ServiceGroup, ep.subject, err)
		}
	}
	// Subscriptions reach the server asynchronously; one round trip means a
	// caller that sees StartService return (and /readyz turn ready) can
	// already be answered rather than told "no responders".
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register micro service %s: %w", api.ServiceName, err)
	}
	return svc, nil
}

func (o *ops) endpoints() []endpoint {
	get := func(ctx context.Context, data []byte) (any, error) {
		var req api.GetRequest
		if err := decodeStrict(data, &req); err != nil {
			return nil, err
		}
		return o.customer(ctx, req.ID)
	}
	return []endpoint{
		{name: "customer_get", subject: api.EndpointCustomerGet, handle: get,
			description: `One customer's score, tier, reasons and history. Request {"id":"..."}.`},
		{name: "explain", subject: api.EndpointExplain, handle: get,
			description: `Same as customer.get: why a customer scores what it does. Request {"id":"..."}.`},
		{name: "customer_list", subject: api.EndpointCustomerList,
			description: `Customers by revenue at risk. Request {"tier","owner","segment","sort","limit"}, all optional.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				var req api.Filter
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.list(ctx, req)
			}},
		{name: "outcomes", subject: api.EndpointOutcomes,
			description: `What became of the warnings: outcomes by fate, ARR saved and lost, lead times, per owner. Request {"owner","segment","since","until"}, all optional.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				var req api.OutcomesRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.outcomes(ctx, req)
			}},
		{name: "customer_put", subject: api.EndpointCustomerPut,
			description: `Store a customer profile. Request: the profile JSON, id required.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				return o.putProfile(ctx, "", data)
			}},
		{name: "alert_ack", subject: api.EndpointAlertAck,
			description: `Acknowledge an open alert. Request {"alert_id","by","note"}.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				var req api.AckRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.ack(ctx, req)
			}},
		{name: "customer_snooze", subject: api.EndpointCustomerSnooze,
			description: `Snooze a customer's alerts. Request {"id","until" or "for","by","reason"}, or {"id","by","unsnooze":true}.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				var req api.SnoozeRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.snooze(ctx, req)
			}},
		{name: "churn", subject: api.EndpointChurn,
			description: `Churn analytics per period, segment and stage. Request {"by":"month"|"quarter","from","to"}, all optional.`,
			handle: func(ctx context.Context, data []byte) (any, error) {
				var req api.ChurnRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.churn(ctx, req)
			}},
	}
}

// microHandler adapts an operation: the reply is the JSON result, or a
// service error whose code is the HTTP status of the same failure and
// whose body is the same {"error": ...} JSON as over HTTP.
func microHandler(fn func(ctx context.Context, data []byte) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		var (
			v   any
			err error
		)
		if n := len(req.Data()); n > MaxBody {
			err = api.Errorf(http.StatusRequestEntityTooLarge, "request is %d bytes, the limit is %d", n, MaxBody)
		} else {
			v, err = fn(ctx, req.Data())
		}
		if err != nil {
			body, _ := json.Marshal(api.ErrorBody{Error: err.Error()})
			// The description travels in a header: no line breaks.
			desc := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
			_ = req.Error(strconv.Itoa(api.StatusOf(err)), desc, body)
			return
		}
		if err := req.RespondJSON(v); err != nil {
			body, _ := json.Marshal(api.ErrorBody{Error: "encode response: " + err.Error()})
			_ = req.Error(strconv.Itoa(http.StatusInternalServerError), "encode response", body)
		}
	}
}
