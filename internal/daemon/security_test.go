package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/riskwatch/riskwatch/internal/broker"
	"github.com/riskwatch/riskwatch/internal/daemon"
)

// TestRolesEndToEnd runs riskd with anonymous clients off and a CSM user
// for alice, and goes through what each role may and may not do against
// the real daemon; no password ever reaches the log.
func TestRolesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(t, dir)
	c.NATSAnonymous = false
	c.NATSCSMOwners = []string{"alice"}
	logs := &syncBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	up := make(chan *daemon.Daemon, 1)
	go func() { done <- daemon.Run(ctx, c, log, &bytes.Buffer{}, func(d *daemon.Daemon) { up <- d }) }()
	var d *daemon.Daemon
	select {
	case d = <-up:
	case err := <-done:
		t.Fatalf("riskd did not start: %v", err)
	}
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return d.Node.Ready() == nil }, 20*time.Second, 20*time.Millisecond)

	pw := func(user string) string {
		b, err := os.ReadFile(broker.PasswordFile(filepath.Join(dir, "auth"), user))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	as := func(user string) *nats.Conn {
		opts := []nats.Option{quiet, nats.UserInfo(user, pw(user))}
		if p := broker.InboxPrefix(user); p != "" {
			opts = append(opts, nats.CustomInboxPrefix(p))
		}
		nc, err := nats.Connect(d.ClientURL, opts...)
		require.NoError(t, err, user)
		t.Cleanup(nc.Close)
		return nc
	}
	request := func(nc *nats.Conn, subject, body string) (string, string) {
		msg, err := nc.Request(subject, []byte(body), 10*time.Second)
		require.NoError(t, err, subject)
		return msg.Header.Get(micro.ErrorCodeHeader), string(msg.Data)
	}
	refused := func(nc *nats.Conn, subject string) {
		t.Helper()
		require.NoError(t, nc.Publish(subject, []byte(`{}`)))
		require.NoError(t, nc.Flush())
		require.ErrorIs(t, nc.LastError(), nats.ErrPermissionViolation, subject)
	}

	_, err := nats.Connect(d.ClientURL, quiet)
	require.ErrorIs(t, err, nats.ErrAuthorization, "no anonymous clients when nats_anonymous is off")

	producer := as(broker.RoleProducer)
	now := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	for _, m := range []struct{ subject, body string }{
		{"risk.customers.acme", `{"id":"acme","arr":100000,"owner":"alice"}`},
		{"risk.customers.globex", `{"id":"globex","arr":50000,"owner":"bob"}`},
		{"risk.signals.nps.acme", `{"id":"n1","kind":"nps","customer":"acme","time":"` + now + `","data":{"score":3}}`},
		{"risk.signals.nps.globex", `{"id":"n2","kind":"nps","customer":"globex","time":"` + now + `","data":{"score":3}}`},
	} {
		require.NoError(t, producer.Publish(m.subject, []byte(m.body)))
	}
	require.NoError(t, producer.Flush())
	require.NoError(t, producer.LastError())
	require.Eventually(t, func() bool {
		_, a, _ := d.Node.Customer(context.Background(), "acme")
		_, g, _ := d.Node.Customer(context.Background(), "globex")
		return a && g
	}, 20*time.Second, 20*time.Millisecond, "%s", logs)
	refused(producer, "$JS.API.STREAM.PURGE.RISK_SIGNALS")
	refused(as(broker.RoleProducer), "risk.api.customer.snooze")

	alice := as("csm-alice")
	code, body := request(alice, "risk.api.customer.snooze.alice", `{"id":"acme","for":"3d"}`)
	assert.Empty(t, code, body)
	code, body = request(alice, "risk.api.customer.snooze.alice", `{"id":"globex","for":"3d"}`)
	assert.Equal(t, "403", code, body)
	refused(as("csm-alice"), "risk.api.customer.snooze.bob")
	refused(as("csm-alice"), "risk.api.customer.snooze")
	code, body = request(as("csm-alice"), "risk.api.customer.list", `{"limit":1}`)
	assert.Empty(t, code, body)
	var list struct {
		Customers []json.RawMessage `json:"customers"`
		Next      string            `json:"next"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	assert.Len(t, list.Customers, 1)
	assert.NotEmpty(t, list.Next, "a full page names the next")

	code, body = request(as(broker.RoleOperator), "risk.api.customer.snooze", `{"id":"globex","for":"3d","by":"ops"}`)
	assert.Empty(t, code, body)
	refused(as(broker.RoleCSM), "risk.api.customer.put")

	// The HTTP API refuses a cross-site write.
	req, err := http.NewRequest("POST", "http://"+c.HTTPListen+"/v1/customers/acme/snooze", strings.NewReader(`{"for":"3d","by":"x"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	text := logs.String()
	assert.Contains(t, text, "NATS role credentials created")
	for _, u := range []string{"riskd", "producer", "csm", "operator", "csm-alice"} {
		assert.NotContains(t, text, pw(u), "the password of %s is in the log", u)
	}
}

// TestDemoWithNATSURLHidesThePassword: --demo with --nats-url prints the
// URL in its banner and logs it, never with its password, whichever form
// the URL takes.
func TestDemoWithNATSURLHidesThePassword(t *testing.T) {
	const secret = "s3cret-pw-0123456789"
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir(),
		User: "demo", Password: secret, MaxStore: 1 << 40}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	hostport := strings.TrimPrefix(s.ClientURL(), "nats://")
	for _, url := range []string{"nats://demo:" + secret + "@" + hostport, "demo:" + secret + "@" + hostport} {
		t.Run(url[:4], func(t *testing.T) {
			c := testConfig(t, t.TempDir())
			c.NATSURL, c.Demo, c.DemoSpeed = url, true, 200
			logs := &syncBuffer{}
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
			var out syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- daemon.Run(ctx, c, log, &out, nil) }()
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "NATS ") }, 30*time.Second, 20*time.Millisecond)
			cancel()
			require.NoError(t, <-done)
			assert.Contains(t, out.String(), "***@"+hostport)
			assert.NotContains(t, out.String(), secret)
			assert.NotContains(t, logs.String(), secret)
		})
	}
}
