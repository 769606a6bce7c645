package pusher

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// scores is the engine seam with customers set by the test.
type scores struct {
	mu    sync.Mutex
	views map[string]api.CustomerView
}

func (s *scores) List(context.Context, api.Filter) ([]api.CustomerView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.CustomerView
	for _, v := range s.views {
		v.Reasons = nil // lists carry no reasons
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b api.CustomerView) int { return strings.Compare(a.Customer, b.Customer) })
	return out, nil
}

func (s *scores) Customer(_ context.Context, id string) (api.CustomerView, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.views[id]
	return v, ok, nil
}

func (s *scores) set(id string, score float64, tier rules.Tier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views[id] = api.CustomerView{Customer: id, Score: score, Tier: tier, Probability: score / 200, HorizonDays: 90,
		Reasons: []scorer.Contribution{{Rule: "ticket-spike", Contribution: 22}, {Rule: "usage-drop", Contribution: 8}}}
}

func newScores() *scores {
	s := &scores{views: map[string]api.CustomerView{}}
	s.set("acme-corp", 78.5, rules.AtRisk)
	s.set("beta/inc", 12, rules.Healthy)
	return s
}

// vendor is an httptest server that checks each request against the
// vendor's documented shape and records the customers it carried.
type vendor struct {
	t      testing.TB
	mu     sync.Mutex
	got    []string // customers, in order
	reqs   int
	status []int // answers to give first, then 200
}

func (v *vendor) answer() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reqs++
	if len(v.status) > 0 {
		s := v.status[0]
		v.status = v.status[1:]
		return s
	}
	return http.StatusOK
}

func (v *vendor) record(c ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, c...)
}

func (v *vendor) take() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.got
	v.got, v.reqs = nil, 0
	slices.Sort(out)
	return slices.Compact(out)
}

// checks is, per vendor, a check of one request returning its customers.
var checks = map[string]func(t testing.TB, r *http.Request, body []byte) []string{
	"gainsight": func(t testing.TB, r *http.Request, body []byte) []string {
		assert.Equal(t, http.MethodPut, r.Method)
		assert.Equal(t, "/v1/data/objects/Company", r.URL.Path)
		assert.Equal(t, "ExternalId__gc", r.URL.Query().Get("keys"))
		assert.Equal(t, "gs-key", r.Header.Get("accesskey"))
		var b struct {
			Records []map[string]any `json:"records"`
		}
		require.NoError(t, json.Unmarshal(body, &b))
		var out []string
		for _, rec := range b.Records {
			assert.IsType(t, float64(0), rec["Riskwatch_Score__gc"])
			assert.IsType(t, "", rec["Riskwatch_Tier__gc"])
			assert.Contains(t, rec["Riskwatch_Top_Reasons__gc"], "ticket-spike +22")
			out = append(out, rec["ExternalId__gc"].(string))
		}
		return out
	},
	"vitally": func(t testing.TB, r *http.Request, body []byte) []string {
		assert.Equal(t, http.MethodPut, r.Method)
		id, ok := strings.CutPrefix(r.URL.EscapedPath(), "/resources/accounts/")
		assert.True(t, ok, r.URL.Path)
		user, pass, ok := r.BasicAuth()
		assert.True(t, ok && user == "vt-key" && pass == "", "basic auth with the key as user")
		var b struct {
			Traits map[string]any `json:"traits"`
		}
		require.NoError(t, json.Unmarshal(body, &b))
		assert.IsType(t, float64(0), b.Traits["riskwatchScore"])
		assert.IsType(t, float64(0), b.Traits["riskwatchChurnProbability"])
		cust, err := url.PathUnescape(id)
		require.NoError(t, err)
		return []string{cust}
	},
	"churnzero": func(t testing.TB, r *http.Request, body []byte) []string {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/i", r.URL.Path)
		assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		f, err := url.ParseQuery(string(body))
		require.NoError(t, err)
		assert.Equal(t, "cz-key", f.Get("appKey"))
		assert.Equal(t, "setAttribute", f.Get("action"))
		assert.Equal(t, "account", f.Get("entity"))
		assert.True(t, strings.HasPrefix(f.Get("name"), "Riskwatch "), f.Get("name"))
		return []string{f.Get("accountExternalId")}
	},
	"hubspot": func(t testing.TB, r *http.Request, body []byte) []string {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/crm/v3/objects/companies/batch/update", r.URL.Path)
		assert.Equal(t, "Bearer hs-token", r.Header.Get("Authorization"))
		var b struct {
			Inputs []struct {
				ID         string            `json:"id"`
				IDProperty string            `json:"idProperty"`
				Properties map[string]string `json:"properties"`
			} `json:"inputs"`
		}
		require.NoError(t, json.Unmarshal(body, &b))
		var out []string
		for _, in := range b.Inputs {
			assert.Equal(t, "riskwatch_id", in.IDProperty)
			assert.NotEmpty(t, in.Properties["riskwatch_score"])
			assert.NotEmpty(t, in.Properties["riskwatch_tier"])
			out = append(out, in.ID)
		}
		return out
	},
}

func destination(typ, url string) config.PushDestination {
	d := config.PushDestination{Name: typ, URL: url, Rate: 1000, Burst: 100, MaxAttempts: 3}
	switch typ {
	case "gainsight":
		d.Token, d.KeyField = "gs-key", "ExternalId__gc"
	case "vitally":
		d.Token = "vt-key"
	case "churnzero":
		d.Token = "cz-key"
	case "hubspot":
		d.Token, d.KeyField = "hs-token", "riskwatch_id"
	}
	return d
}

func startVendor(t testing.TB, typ string) (*vendor, *httptest.Server) {
	v := &vendor{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := v.answer()
		if status == http.StatusOK {
			v.record(checks[typ](t, r, body)...)
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return v, srv
}

func bucket(t testing.TB) jetstream.KeyValue {
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := openBucket(context.Background(), js, nil)
	require.NoError(t, err)
	return kv
}

func testWorker(t testing.TB, d config.PushDestination, s Scores, kv jetstream.KeyValue) *worker {
	return testWorkerWith(t, d, s, kv, Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, RefusedWait: -1})
}

func testWorkerWith(t testing.TB, d config.PushDestination, s Scores, kv jetstream.KeyValue, o Options) *worker {
	m, err := newMetrics(nil)
	require.NoError(t, err)
	w, err := newWorker(d, s, kv, o.withDefaults(), m)
	require.NoError(t, err)
	require.NoError(t, w.load(context.Background()))
	return w
}

// TestEachVendor: the first round pushes every customer in the vendor's
// documented shape; an unchanged score is not pushed again; a meaningful
// change pushes that customer only; a restarted pusher remembers.
func TestEachVendor(t *testing.T) {
	for typ := range checks {
		t.Run(typ, func(t *testing.T) {
			ctx := context.Background()
			v, srv := startVendor(t, typ)
			s, kv := newScores(), bucket(t)
			w := testWorker(t, destination(typ, srv.URL), s, kv)

			n, err := w.round(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			assert.Equal(t, []string{"acme-corp", "beta/inc"}, v.take())

			n, err = w.round(ctx)
			require.NoError(t, err)
			assert.Zero(t, n)
			assert.Empty(t, v.take())

			s.set("acme-corp", 80, rules.AtRisk) // +1.5: not meaningful
			s.set("beta/inc", 41, rules.Watch)   // a new tier
			n, err = w.round(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			assert.Equal(t, []string{"beta/inc"}, v.take())

			restarted := testWorker(t, destination(typ, srv.URL), s, kv)
			assert.Len(t, restarted.last, 2)
			n, err = restarted.round(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "a restart pushed again")
			assert.Empty(t, v.take())
		})
	}
}

// TestRetries: a 429 and a 503 are retried within the round; a 400 is
// not, the customer is not recorded, and the next round pushes it.
func TestRetries(t *testing.T) {
	ctx := context.Background()
	v, srv := startVendor(t, "vitally")
	v.status = []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}
	s := &scores{views: map[string]api.CustomerView{}}
	s.set("acme-corp", 70, rules.AtRisk)
	w := testWorker(t, destination("vitally", srv.URL), s, bucket(t))

	n, err := w.round(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 2.0, testutil.ToFloat64(w.m.requests.WithLabelValues("vitally", ResultRetry)))
	assert.Equal(t, []string{"acme-corp"}, v.take())

	s.set("acme-corp", 90, rules.Critical)
	v.status = []int{http.StatusBadRequest}
	n, err = w.round(ctx)
	require.Error(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1.0, testutil.ToFloat64(w.m.requests.WithLabelValues("vitally", ResultRejected)))

	n, err = w.round(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"acme-corp"}, v.take())
}

// TestRefusedIsLeftAlone: a customer the platform refused is not asked
// for again every round, until its record changes.
func TestRefusedIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	v, srv := startVendor(t, "vitally")
	v.status = []int{http.StatusNotFound}
	s := &scores{views: map[string]api.CustomerView{}}
	s.set("unknown-co", 70, rules.AtRisk)
	w := testWorkerWith(t, destination("vitally", srv.URL), s, bucket(t), Options{Backoff: time.Millisecond, RefusedWait: time.Hour})

	_, err := w.round(ctx)
	require.Error(t, err)
	v.take()
	n, err := w.round(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	v.mu.Lock()
	assert.Zero(t, v.reqs, "the refused customer was asked for again")
	v.mu.Unlock()

	s.set("unknown-co", 90, rules.Critical) // a new record is tried at once
	n, err = w.round(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"unknown-co"}, v.take())
}

// TestRunStopsWithContext runs the whole loop once and stops it.
func TestRunStopsWithContext(t *testing.T) {
	v, srv := startVendor(t, "hubspot")
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, newScores(), js, []config.PushDestination{destination("hubspot", srv.URL)}, Options{Interval: time.Hour})
	}()
	require.Eventually(t, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.got) == 2
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
