// Package broker starts the NATS server riskd embeds by default, and opens
// in-process connections to it (api/client connects to any other).
package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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
	// AuthDir, when set, turns on the roles (RoleRiskd, RoleProducer,
	// RoleCSM, RoleOperator and a CSM user per owner in CSMOwners): their
	// passwords are read from, or created in, this directory.
	AuthDir   string
	CSMOwners []string
	// Anonymous lets clients without credentials in with every right. It
	// is refused unless the server listens on loopback only (or not at
	// all): beyond this machine every client needs a role.
	Anonymous bool
	// Insecure accepts a non-loopback listener without TLS (a lab).
	Insecure bool
	// Token, or User and Password: one more client identity with every
	// right. A token cannot be combined with the roles.
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
		DisableShortFirstPing: true,
	}
	if err := o.configureAuth(opts); err != nil {
		return nil, err
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
		if err := o.protect(host); err != nil {
			return nil, err
		}
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
func (l *zapLogger) Warnf(format string, v ...any) {
	// The roles' passwords live in 0600 files of the data directory that
	// riskd reads anyway: hashing them in the server's memory would hide
	// nothing, so the server's advice to do so is not a warning here.
	if strings.HasPrefix(format, "Plaintext passwords detected") {
		l.s.Debugf(format, v...)
		return
	}
	l.s.Warnf(format, v...)
}
func (l *zapLogger) Fatalf(format string, v ...any) { l.s.Errorf(format, v...) }
func (l *zapLogger) Errorf(format string, v ...any) { l.s.Errorf(format, v...) }
func (l *zapLogger) Debugf(format string, v ...any) { l.s.Debugf(format, v...) }
func (l *zapLogger) Tracef(format string, v ...any) {}

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

// configureAuth sets the server's users: the roles when AuthDir is set,
// the extra user or token, and the anonymous user.
func (o EmbeddedOptions) configureAuth(opts *server.Options) error {
	if o.AuthDir == "" {
		if len(o.CSMOwners) > 0 {
			return errors.New("CSM owners need the roles (an auth directory)")
		}
		opts.Authorization, opts.Username, opts.Password = o.Token, o.User, o.Password
		if o.Anonymous && (o.Token != "" || o.User != "") {
			return errors.New("anonymous clients and a token or user exclude each other")
		}
		return nil
	}
	if o.Token != "" {
		return errors.New("a NATS token cannot be combined with the embedded server's roles: " +
			"give clients a role's password (see docs/security.md), or --nats-user and --nats-password")
	}
	creds, _, err := EnsureCredentials(o.AuthDir, o.CSMOwners)
	if err != nil {
		return err
	}
	opts.Users = creds.users()
	if o.User != "" {
		if _, taken := creds[o.User]; taken || o.User == anonymousUser {
			return fmt.Errorf("NATS user %q is a role of the embedded server: pick another name", o.User)
		}
		if o.Password == "" {
			return fmt.Errorf("NATS user %q needs a password", o.User)
		}
		opts.Users = append(opts.Users, &server.User{Username: o.User, Password: o.Password})
	}
	if o.Anonymous {
		if o.User != "" {
			return errors.New("anonymous clients and --nats-user exclude each other")
		}
		// A user nobody can log in as by name: the password is random and
		// never kept. Clients without credentials become it.
		pw, err := newPassword()
		if err != nil {
			return err
		}
		opts.Users = append(opts.Users, &server.User{Username: anonymousUser, Password: pw})
		opts.NoAuthUser = anonymousUser
	}
	return nil
}

// anonymousUser is who clients without credentials are on loopback.
const anonymousUser = "anonymous"

// protect refuses a listener beyond loopback that anonymous clients could
// reach, or that would carry passwords in clear text.
func (o EmbeddedOptions) protect(host string) error {
	if IsLoopback(host) {
		return nil
	}
	if o.Anonymous {
		return fmt.Errorf("NATS listens on %s, beyond loopback, where anonymous clients are never accepted: "+
			"clients use a role's credentials (docs/security.md)", host)
	}
	if o.AuthDir == "" && o.Token == "" && o.User == "" {
		return fmt.Errorf("NATS listens on %s, beyond loopback, without authentication: "+
			"turn on the roles (docs/security.md)", host)
	}
	if o.TLSCert == "" && !o.Insecure {
		return fmt.Errorf("NATS listens on %s, beyond loopback, without TLS: passwords would cross the network in clear text; "+
			"give --nats-tls-cert and --nats-tls-key (docs/security.md), or --insecure for a lab", host)
	}
	return nil
}

// IsLoopback reports whether a listen host reaches this machine only:
// localhost or a loopback IP. An empty host, 0.0.0.0 or :: listen everywhere.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
