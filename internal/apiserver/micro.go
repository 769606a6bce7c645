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
	"go.uber.org/zap"
)

// endpoint is one request/reply operation of the micro service. handle
// gets the subject the request came on: owner-scoped endpoints read the
// owner from it.
type endpoint struct {
	name, subject, description string
	handle                     func(ctx context.Context, subject string, data []byte) (any, error)
}

// ServiceOption configures StartService.
type ServiceOption func(*serviceConfig)

type serviceConfig struct{ log *zap.Logger }

// WithLogger logs the panics of handlers (recovered as a 500) to log.
func WithLogger(log *zap.Logger) ServiceOption { return func(c *serviceConfig) { c.log = log } }

// StartService registers the micro service "riskwatch" on nc with its
// endpoints under risk.api.*; version must be semver. Stop the returned
// service (or close nc) to remove it. now stamps acks and snoozes.
func StartService(nc *nats.Conn, e Engine, version string, now func() time.Time, opts ...ServiceOption) (micro.Service, error) {
	cfg := serviceConfig{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&cfg)
	}
	o := newOps(e, now)
	// A reply larger than the server's max payload would be refused: a
	// list is cut to fit, with Next to go on. The margin covers headers.
	o.maxReply = max(int(nc.MaxPayload())-4096, 4096)
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
		err := group.AddEndpoint(ep.name, microHandler(ep.handle, cfg.log),
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
	get := func(ctx context.Context, _ string, data []byte) (any, error) {
		var req api.GetRequest
		if err := decodeStrict(data, &req); err != nil {
			return nil, err
		}
		return o.customer(ctx, req.ID)
	}
	ack := func(ctx context.Context, subject string, data []byte) (any, error) {
		var req api.AckRequest
		if err := decodeStrict(data, &req); err != nil {
			return nil, err
		}
		if owner, scoped := ownerOf(subject, api.EndpointAlertAck); scoped {
			return o.ackAs(ctx, owner, req)
		}
		return o.ack(ctx, req)
	}
	snooze := func(ctx context.Context, subject string, data []byte) (any, error) {
		var req api.SnoozeRequest
		if err := decodeStrict(data, &req); err != nil {
			return nil, err
		}
		if owner, scoped := ownerOf(subject, api.EndpointCustomerSnooze); scoped {
			return o.snoozeAs(ctx, owner, req)
		}
		return o.snooze(ctx, req)
	}
	return []endpoint{
		{name: "customer_get", subject: api.EndpointCustomerGet, handle: get,
			description: `One customer's score, tier, reasons and history. Request {"id":"..."}.`},
		{name: "explain", subject: api.EndpointExplain, handle: get,
			description: `Same as customer.get: why a customer scores what it does. Request {"id":"..."}.`},
		{name: "customer_list", subject: api.EndpointCustomerList,
			description: `Customers by revenue at risk. Request {"tier","owner","segment","sort","limit","after"}, all optional; a full page names the next's "after" in "next".`,
			handle: func(ctx context.Context, _ string, data []byte) (any, error) {
				var req api.Filter
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				resp, err := o.list(ctx, req)
				if err != nil {
					return nil, err
				}
				return fitPage(resp, o.maxReply)
			}},
		{name: "outcomes", subject: api.EndpointOutcomes,
			description: `What became of the warnings: outcomes by fate, ARR saved and lost, lead times, per owner. Request {"owner","segment","since","until"}, all optional.`,
			handle: func(ctx context.Context, _ string, data []byte) (any, error) {
				var req api.OutcomesRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.outcomes(ctx, req)
			}},
		{name: "customer_put", subject: api.EndpointCustomerPut,
			description: `Store a customer profile. Request: the profile JSON, id required.`,
			handle: func(ctx context.Context, _ string, data []byte) (any, error) {
				return o.putProfile(ctx, "", data)
			}},
		{name: "alert_ack", subject: api.EndpointAlertAck, handle: ack,
			description: `Acknowledge an open alert. Request {"alert_id","by","note"}.`},
		{name: "alert_ack_owner", subject: api.EndpointAlertAck + ".*", handle: ack,
			description: `A CSM acknowledges an open alert of one of their own customers, on alert.ack.<owner-token>. Request {"alert_id","note"}.`},
		{name: "customer_snooze", subject: api.EndpointCustomerSnooze, handle: snooze,
			description: `Snooze a customer's alerts. Request {"id","until" or "for","by","reason"}, or {"id","by","unsnooze":true}.`},
		{name: "customer_snooze_owner", subject: api.EndpointCustomerSnooze + ".*", handle: snooze,
			description: `A CSM snoozes one of their own customers, on customer.snooze.<owner-token>. Request as customer.snooze.`},
		{name: "churn", subject: api.EndpointChurn,
			description: `Churn analytics per period, segment and stage. Request {"by":"month"|"quarter","from","to"}, all optional.`,
			handle: func(ctx context.Context, _ string, data []byte) (any, error) {
				var req api.ChurnRequest
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
				return o.churn(ctx, req)
			}},
	}
}

// ownerOf reads the owner token of an owner-scoped endpoint's subject
// (risk.api.alert.ack.<owner-token>). The server's permissions let only
// that owner's CSM user publish there (docs/security.md).
func ownerOf(subject, endpoint string) (string, bool) {
	owner, ok := strings.CutPrefix(subject, api.ServiceGroup+"."+endpoint+".")
	return owner, ok && owner != ""
}

// fitPage cuts a list until its JSON fits in limit bytes, naming the
// rest's start in Next: a NATS reply cannot exceed the max payload.
func fitPage(resp api.ListResponse, limit int) (json.RawMessage, error) {
	for {
		body, err := json.Marshal(resp)
		if err != nil {
			return nil, err
		}
		if len(body) <= limit || len(resp.Customers) <= 1 {
			return body, nil
		}
		resp.Customers = resp.Customers[:len(resp.Customers)/2]
		resp.Next = resp.Customers[len(resp.Customers)-1].Customer
	}
}

// microHandler adapts an operation: the reply is the JSON result, or a
// service error whose code is the HTTP status of the same failure and
// whose body is the same {"error": ...} JSON as over HTTP.
//
// A panic is answered with a 500 and logged: one bad request must not take
// riskd down (micro runs handlers on the connection's goroutines).
func microHandler(fn func(ctx context.Context, subject string, data []byte) (any, error), log *zap.Logger) micro.HandlerFunc {
	return func(req micro.Request) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in micro handler", zap.String("subject", req.Subject()), zap.Any("panic", p), zap.Stack("stack"))
				body, _ := json.Marshal(api.ErrorBody{Error: "internal error"})
				_ = req.Error(strconv.Itoa(http.StatusInternalServerError), "internal error", body)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		var (
			v   any
			err error
		)
		if n := len(req.Data()); n > MaxBody {
			err = api.Errorf(http.StatusRequestEntityTooLarge, "request is %d bytes, the limit is %d", n, MaxBody)
		} else {
			v, err = fn(ctx, req.Subject(), req.Data())
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
