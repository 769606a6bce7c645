// Package broker starts the embedded NATS server and opens client
// connections, embedded or external, with the credentials, TLS and
// environment conventions of the NATS tools.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// EmbeddedOptions configure the embedded server.
type EmbeddedOptions struct {
	// Listen is host:port; an empty host is refused so that exposing the
	// server is always a decision. Port 0 or -1 picks a free port.
	Listen string
	// NoListen runs the server without any TCP port (tests, offline replay).
	NoListen bool
	StoreDir string
	// Optional client auth: a token, or a user and password.
	Token, User, Password string
	// Optional TLS for clients.
	TLSCert, TLSKey, TLSCA string
	// MaxStore bounds JetStream file storage in bytes (0: server default).
	MaxStore int64
}

// StartEmbedded starts a nats-server with JetStream in this process.
func StartEmbedded(o EmbeddedOptions, log *zap.Logger) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded NATS needs a store directory")
	}
	opts := &server.Options{
		ServerName:            "riskd-embedded",
		JetStream:             true,
		StoreDir:              o.StoreDir,
		JetStreamMaxStore:     o.MaxStore,
		DontListen:            o.NoListen,
		NoSigs:                true,
		MaxPayload:            1 << 20,
		Authorization:         o.Token,
		Username:              o.User,
		Password:              o.Password,
		DisableShortFirstPing: true,
	}
	if !o.NoListen {
		host, portStr, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", o.Listen, err)
		}
		if host == "" {
			return nil, fmt.Errorf("nats listen address %q has no host: use 127.0.0.1 for loopback or 0.0.0.0 to expose it on purpose", o.Listen)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", portStr, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey, CaFile: o.TLSCA, Verify: o.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS TLS: %w", err)
		}
		opts.TLSConfig, opts.TLS = tc, true
		opts.TLSVerify = o.TLSCA != ""
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if log != nil {
		s.SetLoggerV2(&zapLogger{log.Named("nats").Sugar()}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not become ready (listen %s, store %s)", o.Listen, o.StoreDir)
	}
	return s, nil
}

// zapLogger bridges the server's logger to zap.
type zapLogger struct{ s *zap.SugaredLogger }

func (l *zapLogger) Noticef(format string, v ...any) { l.s.Debugf(format, v...) }
func (l *zapLogger) Warnf(format string, v ...any)   { l.s.Warnf(format, v...) }
func (l *zapLogger) Fatalf(format string, v ...any)  { l.s.Errorf(format, v...) }
func (l *zapLogger) Errorf(format string, v ...any)  { l.s.Errorf(format, v...) }
func (l *zapLogger) Debugf(format string, v ...any)  { l.s.Debugf(format, v...) }
func (l *zapLogger) Tracef(format string, v ...any)  {}

// ClientOptions describe how to reach an external NATS.
type ClientOptions struct {
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
func (o ClientOptions) FromEnv() ClientOptions {
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

// Options turns o into nats.go options. Reconnects never give up: riskd
// rides out a NATS restart.
func (o ClientOptions) Options() ([]nats.Option, error) {
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

// Connect dials an external NATS.
func Connect(o ClientOptions, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := o.Options()
	if err != nil {
		return nil, err
	}
	url := o.URL
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(url), err)
	}
	return nc, nil
}

// ConnectEmbedded opens an in-process connection to s: no TCP, no auth
// round trip to configure.
func ConnectEmbedded(s *server.Server, o ClientOptions, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := o.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.InProcessServer(s))
	nc, err := nats.Connect("", append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return nc, nil
}

// redactURL hides passwords and tokens in a NATS URL list before it is
// logged.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		scheme, rest, ok := strings.Cut(p, "://")
		if !ok {
			continue
		}
		hostEnd := strings.IndexByte(rest, '/')
		if hostEnd < 0 {
			hostEnd = len(rest)
		}
		if at := strings.LastIndexByte(rest[:hostEnd], '@'); at >= 0 {
			parts[i] = scheme + "://***@" + rest[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
