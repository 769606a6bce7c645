package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/synadia-io/orbit.go/natscontext"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
)

const defaultTimeout = 5 * time.Second

// connOpts are the connection flags. They are accepted before the command
// (global) and after it; a value given after the command wins.
type connOpts struct {
	server  string
	creds   string
	context string
	timeout time.Duration
	// inbox is the inbox prefix of the user's role (docs/security.md).
	inbox string
}

func (o *connOpts) register(fs *flag.FlagSet, def connOpts) {
	fs.StringVar(&o.server, "server", def.server, "NATS server URL(s), comma separated (default $NATS_URL, else nats://127.0.0.1:4222)")
	fs.StringVar(&o.creds, "creds", def.creds, "NATS credentials file (default $NATS_CREDS)")
	fs.StringVar(&o.context, "context", def.context, "a saved `nats` CLI context by name (or path); --server and --creds override its settings")
	fs.DurationVar(&o.timeout, "timeout", def.timeout, "how long to wait for the server and for each answer")
	inbox := def.inbox
	if inbox == "" {
		inbox = os.Getenv("NATS_INBOX_PREFIX")
	}
	fs.StringVar(&o.inbox, "inbox-prefix", inbox, "inbox prefix for replies, the role's: _INBOX.csm, _INBOX.csm-<owner> (default $NATS_INBOX_PREFIX)")
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
	if o.inbox != "" {
		extra = append(extra, nats.CustomInboxPrefix(o.inbox))
	}
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
	return client.Connect(client.Options{URL: o.server, Creds: o.creds, Name: "riskctl"}.FromEnv(), extra...)
}

// call asks an endpoint of the riskwatch micro service (api.Endpoint*),
// decodes its answer into out and returns it as it came. A refusal of the
// service is an *api.Error; its message ends with the HTTP status.
func (o *connOpts) call(nc *nats.Conn, endpoint string, req, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	raw, err := client.New(nc).Call(ctx, endpoint, req, out)
	var ae *api.Error
	if errors.As(err, &ae) {
		return nil, fmt.Errorf("%w (%d)", ae, ae.Status)
	}
	return raw, err
}
