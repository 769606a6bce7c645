package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/daemon"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

type running struct {
	d    *daemon.Daemon
	stop context.CancelFunc
	done chan error
	http string
}

func start(t *testing.T, c *config.Config, out io.Writer) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stop: cancel, done: make(chan error, 1), http: c.HTTPListen}
	up := make(chan *daemon.Daemon, 1)
	go func() { r.done <- daemon.Run(ctx, c, zap.NewNop(), out, func(d *daemon.Daemon) { up <- d }) }()
	select {
	case r.d = <-up:
	case err := <-r.done:
		t.Fatalf("riskd did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("riskd did not start in 30s")
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + c.HTTPListen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 20*time.Millisecond)
	return r
}

func (r *running) shutdown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		require.NoError(t, err, "clean shutdown")
	case <-time.After(30 * time.Second):
		t.Fatal("riskd did not stop")
	}
}

func testConfig(t *testing.T, dir string) *config.Config {
	c := config.Defaults()
	c.DataDir = dir
	c.NATSListen = "127.0.0.1:0"
	c.HTTPListen = freeAddr(t)
	c.CheckpointInterval = 50 * time.Millisecond
	return &c
}

// A signal published with plain `nats pub` (core NATS, no JetStream ack)
// on a TCP connection reaches an alert on `nats sub risk.alerts.>`, and the
// state survives a restart on the same data dir.
func TestPlainPublishReachesAlertAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(t, dir)
	r := start(t, c, io.Discard)

	nc, err := nats.Connect(r.d.ClientURL)
	require.NoError(t, err)
	defer nc.Close()
	alerts := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("risk.alerts.>", alerts)
	require.NoError(t, err)
	defer sub.Unsubscribe()

	customer := "a.b.> x*" // must never become a wildcard
	end := time.Now().UTC().Add(-time.Hour)
	pub := func(kind, id string, at time.Time, data string) {
		body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"data":%s}`, id, kind, customer, at.Format(time.RFC3339), data)
		require.NoError(t, nc.Publish("risk.signals."+kind, []byte(body)))
	}
	require.NoError(t, nc.Publish("risk.customers.=YS5iLj4geCo", []byte(`{"id":"a.b.> x*","arr":50000,"owner":"bob.smith"}`)))
	pub("nps", "n1", end.Add(-3*time.Hour), `{"score":2}`)
	pub("champion", "c1", end.Add(-2*time.Hour), `{"type":"left"}`)
	pub("rating", "r1", end.Add(-time.Hour), `{"value":"red","by":"bob"}`)
	pub("billing", "b1", end, `{"type":"payment_failed"}`)
	require.NoError(t, nc.Flush())

	var a alerting.Alert
	select {
	case m := <-alerts:
		require.NoError(t, json.Unmarshal(m.Data, &a))
		tokens := strings.Split(m.Subject, ".")
		require.Len(t, tokens, 5, m.Subject)
		assert.Equal(t, "=Ym9iLnNtaXRo", tokens[3], "owner token")
		assert.Equal(t, "=YS5iLj4geCo", tokens[4], "customer token")
		for _, tok := range tokens {
			assert.NotContains(t, []string{"*", ">"}, tok)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert")
	}
	assert.Equal(t, customer, a.Customer)
	assert.NotEqual(t, "healthy", a.Tier.String())

	// The alert may come before the last signal is applied: compare
	// states once it is.
	var before map[string]any
	require.Eventually(t, func() bool {
		before = getCustomer(t, c.HTTPListen, customer)
		return before["last_event"] == end.Truncate(time.Second).Format(time.RFC3339)
	}, 20*time.Second, 10*time.Millisecond, "every signal applied")
	r.shutdown(t)

	c2 := testConfig(t, dir)
	r2 := start(t, c2, io.Discard)
	defer r2.shutdown(t)
	after := getCustomer(t, c2.HTTPListen, customer)
	assert.Equal(t, before["score"], after["score"])
	assert.Equal(t, before["tier"], after["tier"])
}

func getCustomer(t *testing.T, addr, id string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/customers/" + strings.ReplaceAll(urlPathEscape(id), "/", "%2F"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

func urlPathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoPrintsAlerts(t *testing.T) {
	c := testConfig(t, t.TempDir())
	c.Demo = true
	c.DemoSpeed = 200
	var out syncBuffer
	r := start(t, c, &out)
	defer r.shutdown(t)
	require.Eventually(t, func() bool {
		s := out.String()
		return strings.Contains(s, "raised") && strings.Contains(s, "score")
	}, 90*time.Second, 100*time.Millisecond, "demo output so far:\n%s", out.String())
	assert.Contains(t, out.String(), "Riskwatch demo")
	assert.Contains(t, out.String(), "Dashboard  http://"+c.HTTPListen+"/", "the banner gives the dashboard's URL")
	// The demo's customers are on the page: its rows link to them.
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + c.HTTPListen + "/?tier=all")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(body), `href="/ui/customers/cust-`)
	}, 30*time.Second, 100*time.Millisecond, "the dashboard lists the demo's customers")
}

func TestBadRuleFileFailsFast(t *testing.T) {
	c := testConfig(t, t.TempDir())
	c.Rules = "/does/not/exist.yaml"
	err := daemon.Run(context.Background(), c, zap.NewNop(), io.Discard, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/does/not/exist.yaml")
}
