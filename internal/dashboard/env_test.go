package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/sim"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// env is a real engine on a real embedded NATS, fed a simulated base to
// the end, with the dashboard mounted beside the API as riskd does.
type env struct {
	e       *engine.Engine
	js      jetstream.JetStream
	set     *rules.Set
	handler http.Handler
	dash    *Dashboard
}

// newEnv runs an engine over n simulated customers and days days ending
// now, and waits until it has applied all of them.
func newEnv(t testing.TB, n, days int, o Options) *env {
	t.Helper()
	_, nc := natstest.Server(t, "")
	set, err := rules.Parse("configs/rules.yaml (built in)", configs.DefaultRules)
	require.NoError(t, err)
	e, err := engine.New(nc, engine.Config{Rules: set, CheckpointInterval: 100 * time.Millisecond,
		Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "the engine stops cleanly")
	})
	require.Eventually(t, func() bool { return e.Ready() == nil }, 20*time.Second, 10*time.Millisecond)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	base := sim.New(n, days, time.Now().UTC().Truncate(time.Hour), 7)
	var last uint64
	publish := func(subject string, body []byte, opts ...jetstream.PublishOpt) {
		ack, err := js.Publish(ctx, subject, body, opts...)
		require.NoError(t, err, subject)
		last = ack.Sequence
	}
	for _, p := range base.Profiles() {
		body, _ := json.Marshal(p)
		publish(signals.CustomerPrefix+signals.SubjectToken(p.ID), body)
	}
	for d := range days {
		for _, s := range base.Day(d) {
			body, _ := json.Marshal(s)
			publish(signals.Subject(signals.Kind(s.Kind), s.Customer), body, jetstream.WithMsgID(s.ID))
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	require.NoError(t, e.WaitApplied(wctx, last), "the engine applies the simulated base")

	en := &env{e: e, js: js, set: set}
	en.dash, en.handler = en.with(t, o)
	return en
}

// with is another dashboard over the same engine, mounted beside the API
// as riskd does.
func (en *env) with(t testing.TB, o Options) (*Dashboard, http.Handler) {
	t.Helper()
	o.Engine, o.JetStream, o.Rules, o.RulesText = cluster.Single(en.e), en.js, en.set, configs.DefaultRules
	o.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	d, err := New(o)
	require.NoError(t, err)
	api := apiserver.NewHandler(cluster.Single(en.e), nil, o.Token, time.Now, nil)
	return d, Mount(api, d)
}

// browser is a client with a cookie jar against a test server.
type browser struct {
	t      testing.TB
	srv    *httptest.Server
	client *http.Client
}

func newBrowser(t testing.TB, h http.Handler) *browser {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) response {
	b.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	require.NoError(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: sb.String()}
}

func (b *browser) get(path string) response { return b.do("GET", path, nil, nil) }

var csrfRe = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// csrf is the token the page carries for its forms.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, m, "the page carries a CSRF token")
	return m[1]
}

func strconvItoa(n int) string { return strconv.Itoa(n) }

func newTLSServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}
