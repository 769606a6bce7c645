package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/synadia-io/orbit.go/natscontext"

	"github.com/riskwatch/riskwatch/internal/api"
	"github.com/riskwatch/riskwatch/internal/broker"
)

const defaultTimeout = 5 * time.Second

// connOpts are the connection flags. They are accepted before the command
// (global) and after it; a value given after the command wins.
type connOpts struct {
	server  string
	creds   string
	context string
	timeout time.Duration
}

func (o *connOpts) register(fs *flag.FlagSet, def connOpts) {
	fs.StringVar(&o.server, "server", def.server, "NATS server URL(s), comma separated (default $NATS_URL, else nats://127.0.0.1:4222)")
	fs.StringVar(&o.creds, "creds", def.creds, "NATS credentials file (default $NATS_CREDS)")
	fs.StringVar(&o.context, "context", def.context, "a saved `nats` CLI context by name (or path); --server and --creds override its settings")
	fs.DurationVar(&o.timeout, "timeout", def.timeout, "how long to wait for the server and for each answer")
}

// connFlags adds the connection flags to a command's flag set, starting
// from the global values.
func (e *env) connFlags(fs *flag.FlagSet) *connOpts {
	o := &connOpts{}
	o.register(fs, e.conn)
	return o
}

// connect opens the connection the flags describe: a nats CLI context if
// named, else --server/--creds with the NATS_* environment as defaults.
func (o *connOpts) connect() (*nats.Conn, error) {
	extra := []nats.Option{nats.Name("riskctl"), nats.Timeout(o.timeout)}
	if o.context != "" {
		if o.server != "" {
			extra = append(extra, func(no *nats.Options) error {
				no.Url, no.Servers = o.server, nil
				return nil
			})
		}
		if o.creds != "" {
			extra = append(extra, nats.UserCredentials(o.creds))
		}
		nc, _, err := natscontext.Connect(o.context, extra...)
		if err != nil {
			return nil, fmt.Errorf("connect with nats context %q: %w", o.context, err)
		}
		return nc, nil
	}
	co := broker.ClientOptions{URL: o.server, Creds: o.creds, Name: "riskctl"}.FromEnv()
	return broker.Connect(co, extra...)
}

// serviceError is a failure answered by the riskwatch micro service: the
// code is the HTTP status of the same failure.
type serviceError struct {
	Code string
	Msg  string
}

func (e *serviceError) Error() string { return fmt.Sprintf("%s (%s)", e.Msg, e.Code) }

// request calls an endpoint of the riskwatch micro service (risk.api.*)
// and returns the raw JSON answer.
func (o *connOpts) request(nc *nats.Conn, endpoint string, req any) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	subject := api.ServiceGroup + "." + endpoint
	msg, err := nc.Request(subject, body, o.timeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("no %s service answers on %s: is riskd running and connected to this NATS?", api.ServiceName, subject)
	case errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("%s: no answer within %s (--timeout)", subject, o.timeout)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		var eb struct {
			Error string `json:"error"`
		}
		text := msg.Header.Get(micro.ErrorHeader)
		if json.Unmarshal(msg.Data, &eb) == nil && eb.Error != "" {
			text = eb.Error
		}
		return nil, &serviceError{Code: code, Msg: text}
	}
	return msg.Data, nil
}

// call is request followed by decoding the answer into out.
func (o *connOpts) call(nc *nats.Conn, endpoint string, req, out any) ([]byte, error) {
	raw, err := o.request(nc, endpoint, req)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("%s.%s: decode answer: %w", api.ServiceGroup, endpoint, err)
	}
	return raw, nil
}
