package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startWithRoles runs an embedded server with the roles and a CSM user for
// alice, and anonymous clients when anonymous is set.
func startWithRoles(t *testing.T, anonymous bool) (*server.Server, Credentials) {
	t.Helper()
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	s, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js"), AuthDir: auth,
		CSMOwners: []string{"alice"}, Anonymous: anonymous}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	creds, created, err := EnsureCredentials(auth, []string{"alice"})
	require.NoError(t, err)
	assert.Empty(t, created, "the server created them already")
	return s, creds
}

var quiet = nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})

// dial connects as user ("" is anonymous) with the role's inbox prefix.
func dial(t *testing.T, s *server.Server, creds Credentials, user string) (*nats.Conn, error) {
	t.Helper()
	opts := []nats.Option{quiet, nats.Name("roles-test-" + user)}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, creds[user]))
		if p := InboxPrefix(user); p != "" {
			opts = append(opts, nats.CustomInboxPrefix(p))
		}
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// try publishes on or subscribes to subject and reports whether the
// server allowed it: a refused PUB or SUB is answered with -ERR before the
// PONG of the next Flush.
func try(t *testing.T, nc *nats.Conn, op, subject string) bool {
	t.Helper()
	var err error
	if op == "pub" {
		err = nc.Publish(subject, []byte(`{}`))
	} else {
		_, err = nc.SubscribeSync(subject)
	}
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	err = nc.LastError()
	if err != nil {
		require.ErrorIs(t, err, nats.ErrPermissionViolation)
	}
	return err == nil
}

// TestRoleMatrix is every role × every subject riskwatch uses, allowed or
// refused as docs/security.md says. "anon" is a client without
// credentials on a loopback listener.
func TestRoleMatrix(t *testing.T) {
	s, creds := startWithRoles(t, true)
	roles := []string{"anon", RoleProducer, RoleCSM, "csm-alice", RoleOperator, RoleRiskd}
	const (
		A = "anon"
		P = RoleProducer
		C = RoleCSM
		O = "csm-alice" // alice's own CSM user
		X = RoleOperator
		R = RoleRiskd
	)
	cases := []struct {
		op, subject string
		allowed     []string
	}{
		// input
		{"pub", "risk.signals.ticket.acme", []string{A, P, X, R}},
		{"pub", "risk.customers.acme", []string{A, P, X, R}},
		{"pub", "risk.actions.acme", []string{A, X, R}},
		{"pub", "risk.clock", []string{A, X, R}},
		// output
		{"pub", "risk.alerts.critical.alice.acme", []string{A, X, R}},
		{"pub", "risk.digest.alice", []string{A, X, R}},
		{"pub", "risk.dlq.unknown", []string{A, X, R}},
		{"sub", "risk.alerts.>", []string{A, C, X, R}},
		{"sub", "risk.alerts.*.alice.>", []string{A, C, O, X, R}},
		{"sub", "risk.alerts.*.bob.>", []string{A, C, X, R}},
		{"sub", "risk.digest.alice", []string{A, C, O, X, R}},
		{"sub", "risk.digest.bob", []string{A, C, X, R}},
		{"sub", "risk.signals.>", []string{A, X, R}},
		{"sub", "risk.actions.>", []string{A, X, R}},
		{"sub", "risk.dlq.>", []string{A, X, R}},
		// JetStream: only riskd and operators touch streams
		{"pub", "$JS.API.STREAM.PURGE.RISK_SIGNALS", []string{A, X, R}},
		{"pub", "$JS.API.STREAM.DELETE.RISK_STATE", []string{A, X, R}},
		{"pub", "$JS.API.STREAM.UPDATE.RISK_ALERTS", []string{A, X, R}},
		{"pub", "$JS.API.CONSUMER.CREATE.RISK_SIGNALS", []string{A, X, R}},
		{"pub", "$KV.risk_customers.acme", []string{A, X, R}},
		// the micro service
		{"pub", "risk.api.customer.get", []string{A, C, O, X, R}},
		{"pub", "risk.api.customer.list", []string{A, C, O, X, R}},
		{"pub", "risk.api.explain", []string{A, C, O, X, R}},
		{"pub", "risk.api.outcomes", []string{A, C, O, X, R}},
		{"pub", "risk.api.churn", []string{A, C, O, X, R}},
		{"pub", "risk.api.customer.put", []string{A, X, R}},
		{"pub", "risk.api.alert.ack", []string{A, C, X, R}},
		{"pub", "risk.api.customer.snooze", []string{A, C, X, R}},
		{"pub", "risk.api.alert.ack.alice", []string{A, O, X, R}},
		{"pub", "risk.api.customer.snooze.alice", []string{A, O, X, R}},
		{"pub", "risk.api.alert.ack.bob", []string{A, X, R}},
		{"pub", "risk.api.customer.snooze.bob", []string{A, X, R}},
		{"pub", "$SRV.INFO.riskwatch", []string{A, X}},
		{"sub", "risk.api.>", []string{A, X, R}},
		// inboxes: each role reads its own replies only
		{"sub", "_INBOX.>", []string{A, X, R}},
		{"sub", "_INBOX.producer.>", []string{A, P, X, R}},
		{"sub", "_INBOX.csm.>", []string{A, C, X, R}},
		{"sub", "_INBOX.csm-alice.>", []string{A, O, X, R}},
		{"sub", ">", []string{A, X}},
	}
	for _, role := range roles {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s %s %s", role, c.op, c.subject), func(t *testing.T) {
				user := role
				if role == "anon" {
					user = ""
				}
				// A fresh connection per case: LastError is sticky.
				nc, err := dial(t, s, creds, user)
				require.NoError(t, err)
				want := slices.Contains(c.allowed, role)
				assert.Equal(t, want, try(t, nc, c.op, c.subject), "allowed")
			})
		}
	}
}

func TestAnonymousOnlyWhenAsked(t *testing.T) {
	s, creds := startWithRoles(t, false)
	_, err := dial(t, s, creds, "")
	require.ErrorIs(t, err, nats.ErrAuthorization, "no anonymous clients unless asked for")
	_, err = nats.Connect(s.ClientURL(), nats.UserInfo(RoleOperator, "guess"))
	require.ErrorIs(t, err, nats.ErrAuthorization)
	_, err = nats.Connect(s.ClientURL(), nats.UserInfo("anonymous", ""))
	require.ErrorIs(t, err, nats.ErrAuthorization)
	for _, u := range []string{RoleProducer, RoleCSM, "csm-alice", RoleOperator, RoleRiskd} {
		_, err := dial(t, s, creds, u)
		require.NoError(t, err, u)
	}
}

// TestProtectedMode: beyond loopback, no anonymous clients, no listener
// without auth, no passwords without TLS unless --insecure.
func TestProtectedMode(t *testing.T) {
	cert, key := selfSigned(t)
	cases := []struct {
		name string
		o    EmbeddedOptions
		err  string
	}{
		{"anonymous beyond loopback", EmbeddedOptions{Listen: "0.0.0.0:0", Anonymous: true, AuthDir: "auth"}, "anonymous clients are never accepted"},
		{"no auth beyond loopback", EmbeddedOptions{Listen: "0.0.0.0:0", TLSCert: cert, TLSKey: key}, "without authentication"},
		{"no TLS beyond loopback", EmbeddedOptions{Listen: "0.0.0.0:0", AuthDir: "auth"}, "without TLS"},
		{"roles and TLS", EmbeddedOptions{Listen: "0.0.0.0:0", AuthDir: "auth", TLSCert: cert, TLSKey: key}, ""},
		{"insecure lab", EmbeddedOptions{Listen: "0.0.0.0:0", AuthDir: "auth", Insecure: true}, ""},
		{"anonymous on loopback", EmbeddedOptions{Listen: "127.0.0.1:0", AuthDir: "auth", Anonymous: true}, ""},
		{"anonymous on localhost", EmbeddedOptions{Listen: "localhost:0", AuthDir: "auth", Anonymous: true}, ""},
		{"token with roles", EmbeddedOptions{Listen: "127.0.0.1:0", AuthDir: "auth", Token: "s3cret-token"}, "cannot be combined"},
		{"user named like a role", EmbeddedOptions{Listen: "127.0.0.1:0", AuthDir: "auth", User: "producer", Password: "pw"}, "is a role"},
		{"bad owner", EmbeddedOptions{Listen: "127.0.0.1:0", AuthDir: "auth", CSMOwners: []string{"a.b"}}, "CSM owner"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o := c.o
			o.StoreDir = filepath.Join(dir, "js")
			if o.AuthDir != "" {
				o.AuthDir = filepath.Join(dir, o.AuthDir)
			}
			s, err := StartEmbedded(o, nil)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
}

func TestCredentialsFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	creds, created, err := EnsureCredentials(dir, []string{"alice", "bob"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"riskd", "producer", "csm", "operator", "csm-alice", "csm-bob"}, created)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	for u, pw := range creds {
		fi, err := os.Stat(PasswordFile(dir, u))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), u)
		assert.Len(t, pw, 64, u)
	}
	assert.NotEqual(t, creds["producer"], creds["csm"], "every user has its own secret")

	// A second start reads the same passwords and creates nothing.
	again, created, err := EnsureCredentials(dir, []string{"alice", "bob"})
	require.NoError(t, err)
	assert.Empty(t, created)
	assert.Equal(t, creds, again)

	// A file others can read is refused, as ssh does.
	require.NoError(t, os.Chmod(PasswordFile(dir, "producer"), 0o644))
	_, _, err = EnsureCredentials(dir, nil)
	require.ErrorContains(t, err, "readable by others")
	require.NoError(t, os.Chmod(PasswordFile(dir, "producer"), 0o600))

	// A short password an operator wrote by hand is refused.
	require.NoError(t, os.WriteFile(PasswordFile(dir, "csm"), []byte("short\n"), 0o600))
	_, _, err = EnsureCredentials(dir, nil)
	require.ErrorContains(t, err, "at least 16")
}

// TestRolesMatchTheExampleConfig holds the embedded server's roles and
// configs/nats-server.conf together: same users, same allow lists.
func TestRolesMatchTheExampleConfig(t *testing.T) {
	for _, r := range Roles {
		t.Setenv("RISKWATCH_NATS_"+strings.ToUpper(r)+"_PASSWORD", "pw-"+r)
	}
	opts, err := server.ProcessConfigFile("../../configs/nats-server.conf")
	require.NoError(t, err)
	require.Len(t, opts.Users, len(Roles))
	norm := func(p *server.SubjectPermission) []string {
		if p == nil {
			return nil
		}
		out := slices.Clone(p.Allow)
		slices.Sort(out)
		return out
	}
	for _, u := range opts.Users {
		require.Contains(t, Roles, u.Username)
		want := Permissions(u.Username)
		if want == nil {
			assert.Nil(t, u.Permissions, u.Username)
			continue
		}
		require.NotNil(t, u.Permissions, u.Username)
		assert.Equal(t, norm(want.Publish), norm(u.Permissions.Publish), "%s publish", u.Username)
		assert.Equal(t, norm(want.Subscribe), norm(u.Permissions.Subscribe), "%s subscribe", u.Username)
		assert.Equal(t, want.Response != nil, u.Permissions.Response != nil, "%s responses", u.Username)
	}
}
