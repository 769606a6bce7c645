// Package client talks to riskd over NATS: it connects with the
// conventions of the NATS tools (NATS_URL, NATS_CREDS, ...) and calls the
// "riskwatch" micro service, answering with the api package's types and
// errors. riskctl is built on it; so can any other program.
package client

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Options describe how to reach a NATS server.
type Options struct {
	URL string
	// Creds is a .creds file (JWT and nkey seed); NKey a seed file.
	Creds, NKey            string
	User, Password, Token  string
	TLSCert, TLSKey, TLSCA string
	Name                   string
}

// FromEnv fills empty fields from the environment variables the NATS tools
// use: NATS_URL, NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD,
// NATS_TOKEN, NATS_CERT, NATS_KEY, NATS_CA. nats.go reads none of them
// itself.
func (o Options) FromEnv() Options {
	set := func(dst *string, env string) {
		if *dst == "" {
			*dst = os.Getenv(env)
		}
	}
	set(&o.URL, "NATS_URL")
	set(&o.Creds, "NATS_CREDS")
	set(&o.NKey, "NATS_NKEY")
	set(&o.User, "NATS_USER")
	set(&o.Password, "NATS_PASSWORD")
	set(&o.Token, "NATS_TOKEN")
	set(&o.TLSCert, "NATS_CERT")
	set(&o.TLSKey, "NATS_KEY")
	set(&o.TLSCA, "NATS_CA")
	return o
}

// NATSOptions turns o into nats.go options. Reconnects never give up: a
// long-running client rides out a NATS restart.
func (o Options) NATSOptions() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", o.NKey, err)
		}
		opts = append(opts, opt)
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	if o.TLSCA != "" || o.TLSCert != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// Connect dials the server of o.URL (nats://127.0.0.1:4222 when empty);
// extra options come after o's.
func Connect(o Options, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := o.NATSOptions()
	if err != nil {
		return nil, err
	}
	url := o.URL
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", RedactURL(url), err)
	}
	return nc, nil
}

// RedactURL hides passwords and tokens in a NATS URL list, so that it can
// be logged or printed.
func RedactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		// nats.go also takes host lists without a scheme ("u:p@h:4222").
		scheme, rest, ok := strings.Cut(p, "://")
		if ok {
			scheme += "://"
		} else {
			scheme, rest = "", p
		}
		hostEnd := strings.IndexByte(rest, '/')
		if hostEnd < 0 {
			hostEnd = len(rest)
		}
		if at := strings.LastIndexByte(rest[:hostEnd], '@'); at >= 0 {
			parts[i] = scheme + "***@" + rest[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
