// Package broker starts the NATS server riskd embeds by default, and opens
// in-process connections to it (api/client connects to any other).
package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/riskwatch/riskwatch/api/client"
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

// ConnectEmbedded opens an in-process connection to s: no TCP, no auth
// round trip to configure.
func ConnectEmbedded(s *server.Server, o client.Options, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := o.NATSOptions()
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
