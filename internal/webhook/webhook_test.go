package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/rules"
)

// startJetStream runs a real embedded nats-server with the alerts stream
// as riskd creates it.
func startJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "nats-server did not start")
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: alerting.Stream,
		Subjects: []string{"risk.alerts.>", "risk.digest.>"}, Duplicates: time.Hour})
	require.NoError(t, err)
	return js
}

func testAlert(id, owner string) *alerting.Alert {
	days := int64(56)
	return &alerting.Alert{ID: id, Type: alerting.Raised, Severity: "at_risk", Customer: "acme-corp", Name: "Acme Corp",
		Owner: owner, Segment: "enterprise", ARR: 120000, Currency: "USD", RenewalDate: "2027-01-15", DaysToRenewal: &days,
		Score: 65, PreviousScore: 38, Tier: rules.AtRisk, PreviousTier: rules.Healthy, RevenueAtRisk: 78000,
		Time: time.Date(2026, 11, 20, 10, 4, 0, 0, time.UTC),
		Reasons: []alerting.Reason{{Rule: "usage-drop", Category: "usage", Contribution: 40, Detail: "usage down 62%"},
			{Rule: "ticket-spike", Category: "support", Contribution: 25, Detail: "5 tickets"}},
		Playbook: []string{"Call the champion"}}
}

// publish sends a as riskd does and returns the bytes published.
func publish(t testing.TB, js jetstream.JetStream, a *alerting.Alert) []byte {
	t.Helper()
	body, err := json.Marshal(a)
	require.NoError(t, err)
	_, err = js.Publish(context.Background(), alerting.Subject(a), body, jetstream.WithMsgID(a.ID))
	require.NoError(t, err)
	return body
}

// recorder collects report callbacks.
type recorder struct {
	mu  sync.Mutex
	got map[string][]string
	// panicOn, when set, makes the first report of that result panic.
	panicOn string
}

func (r *recorder) report(sink, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]string{}
	}
	r.got[sink] = append(r.got[sink], result)
	if r.panicOn != "" && r.panicOn == result {
		r.panicOn = ""
		panic("recorder: " + result)
	}
}

func (r *recorder) results(sink string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[sink])
}

// startRun runs Run until the test ends and waits for it to return.
func startRun(t *testing.T, js jetstream.JetStream, sinks []config.Webhook, rec *recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, js, sinks, zaptest.NewLogger(t), rec.report) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// settled reports whether the sink's consumer has acknowledged everything.
func settled(t testing.TB, js jetstream.JetStream, sink string) bool {
	c, err := js.Consumer(context.Background(), alerting.Stream, ConsumerName(sink))
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0
}

// A webhook that fails a few times still gets the alert, once by its
// idempotency key, with the alert itself as the body; when the attempts of
// one round run out the alert comes back from the stream.
func TestRunRetriesUntilDelivered(t *testing.T) {
	tests := []struct {
		name        string
		failures    int
		maxAttempts int
		want        []string
	}{
		{"fails twice then succeeds", 2, 5, []string{ResultRetry, ResultRetry, ResultDelivered}},
		{"a new round from the stream after the attempts run out", 4, 3,
			[]string{ResultRetry, ResultRetry, ResultDeferred, ResultRetry, ResultDelivered}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := startJetStream(t)
			var mu sync.Mutex
			var keys, ids []string
			accepted := map[string][]byte{} // what an idempotent receiver keeps
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				keys = append(keys, r.Header.Get(HeaderIdempotencyKey))
				ids = append(ids, r.Header.Get(HeaderAlertID))
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				assert.Equal(t, "s3cret", r.Header.Get("X-Token"), "configured headers are sent")
				if len(keys) <= tc.failures {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				if _, dup := accepted[r.Header.Get(HeaderIdempotencyKey)]; !dup {
					accepted[r.Header.Get(HeaderIdempotencyKey)] = body
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(srv.Close)

			publish(t, js, testAlert("aaaa", "bob"))
			a := testAlert("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "alice")
			published := publish(t, js, a)
			// The same alert again, as after a crash: the stream drops it.
			ack, err := js.Publish(context.Background(), alerting.Subject(a), published, jetstream.WithMsgID(a.ID))
			require.NoError(t, err)
			assert.True(t, ack.Duplicate)

			rec := &recorder{}
			sink := config.Webhook{Name: "ops", URL: srv.URL, Match: config.Match{Owners: []string{"alice"}}, MaxAttempts: tc.maxAttempts,
				Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Headers: map[string]string{"X-Token": "s3cret"}}
			stop := startRun(t, js, []config.Webhook{sink}, rec)
			require.Eventually(t, func() bool { return settled(t, js, "ops") }, 10*time.Second, 10*time.Millisecond)
			stop()

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, keys, tc.failures+1, "attempts until the first success, none after")
			for i := range keys {
				assert.Equal(t, a.ID, keys[i], "attempt %d Idempotency-Key", i)
				assert.Equal(t, a.ID, ids[i], "attempt %d alert id header", i)
			}
			require.Len(t, accepted, 1)
			assert.JSONEq(t, string(published), string(accepted[a.ID]), "the body is the alert itself")
			assert.Equal(t, append([]string{ResultSkipped}, tc.want...), rec.results("ops"),
				"bob's alert is not for this sink; then the attempts")
		})
	}
}

// A webhook that never answers holds its own consumer only: another sink
// receives every alert meanwhile.
func TestRunHangingSinkDoesNotBlockOthers(t *testing.T) {
	js := startJetStream(t)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) }) // before hanging.Close, which waits for handlers

	var mu sync.Mutex
	var got []string
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alerting.Alert
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&a))
		mu.Lock()
		got = append(got, a.ID)
		mu.Unlock()
	}))
	t.Cleanup(fast.Close)

	rec := &recorder{}
	startRun(t, js, []config.Webhook{
		{Name: "hanging", URL: hanging.URL, Timeout: time.Hour},
		{Name: "fast", URL: fast.URL},
	}, rec)
	for _, id := range []string{"a1", "a2", "a3"} {
		publish(t, js, testAlert(id, "alice"))
	}
	require.Eventually(t, func() bool { return settled(t, js, "fast") }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []string{"a1", "a2", "a3"}, got, "in order, while the other sink hangs on a1")
	mu.Unlock()
	assert.Empty(t, rec.results("hanging"), "nothing delivered, nothing given up")
	assert.False(t, settled(t, js, "hanging"))
}

func TestDeliverStatusHandling(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		header   http.Header
		rejected bool
		attempts int
		results  []string
	}{
		{"2xx on first attempt", []int{200}, nil, false, 1, []string{ResultDelivered}},
		{"5xx is retried", []int{503, 502, 201}, nil, false, 3, []string{ResultRetry, ResultRetry, ResultDelivered}},
		{"408 and 429 are retried", []int{408, 429, 200}, http.Header{"Retry-After": {"1"}}, false, 3, []string{ResultRetry, ResultRetry, ResultDelivered}},
		{"400 is permanent", []int{400}, nil, true, 1, []string{ResultRejected}},
		{"404 is permanent", []int{404}, nil, true, 1, []string{ResultRejected}},
		{"a redirect is not followed", []int{302}, http.Header{"Location": {"/elsewhere"}}, true, 1, []string{ResultRejected}},
		{"attempts run out", []int{500, 500, 500, 500}, nil, false, 3, []string{ResultRetry, ResultRetry}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses)-1)])
				n++
			}))
			t.Cleanup(srv.Close)
			rec := &recorder{}
			d := &Deliverer{Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
				Log: zaptest.NewLogger(t), Report: rec.report}
			// Retry-After is capped by MaxBackoff, so the test stays fast.
			s := config.Webhook{Name: "s", URL: srv.URL, MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
			err := d.Deliver(context.Background(), s, testAlert("id-1", "alice"), nil)
			switch {
			case tc.results[len(tc.results)-1] == ResultDelivered:
				require.NoError(t, err)
			case tc.rejected:
				require.ErrorIs(t, err, ErrRejected)
			default:
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrRejected)
			}
			mu.Lock()
			assert.Equal(t, tc.attempts, n)
			mu.Unlock()
			assert.Equal(t, tc.results, rec.results("s"))
		})
	}
}

func TestDeliverSlackFormat(t *testing.T) {
	a := testAlert("id-2", "alice")
	want, err := alerting.Slack(a)
	require.NoError(t, err)
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(srv.Close)
	d := &Deliverer{Client: srv.Client(), Log: zaptest.NewLogger(t)}
	require.NoError(t, d.Deliver(context.Background(), config.Webhook{Name: "slack", URL: srv.URL, Format: config.FormatSlack}, a, []byte(`{"ignored":true}`)))
	assert.JSONEq(t, string(want), string(got))
}

// Slack webhook URLs carry their secret in the path; errors end up in logs.
func TestDeliverErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/SECRET"
	srv.Close() // nothing listens any more
	d := &Deliverer{Client: &http.Client{}, Log: zaptest.NewLogger(t)}
	err := d.Deliver(context.Background(), config.Webhook{Name: "s", URL: url, MaxAttempts: 1}, testAlert("id-3", ""), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
	assert.NotContains(t, config.Webhook{Name: "s", URL: "ftp://x/SECRET"}.Validate().Error(), "SECRET")
}

func TestMatch(t *testing.T) {
	a := testAlert("id", "alice") // at_risk, enterprise
	unowned := testAlert("id", "")
	tests := []struct {
		name string
		m    config.Match
		a    *alerting.Alert
		want bool
	}{
		{"empty matches all", config.Match{}, a, true},
		{"severity", config.Match{Severities: []string{"critical", "at_risk"}}, a, true},
		{"other severity", config.Match{Severities: []string{"critical"}}, a, false},
		{"segment ignores case", config.Match{Segments: []string{"Enterprise"}}, a, true},
		{"other segment", config.Match{Segments: []string{"smb"}}, a, false},
		{"owner", config.Match{Owners: []string{"bob", "alice"}}, a, true},
		{"other owner", config.Match{Owners: []string{"bob"}}, a, false},
		{"unassigned", config.Match{Owners: []string{"unassigned"}}, unowned, true},
		{"all must hold", config.Match{Severities: []string{"at_risk"}, Owners: []string{"bob"}}, a, false},
		{"team", config.Match{Teams: []string{"emea-cs"}}, withTeam(a, "emea-cs"), true},
		{"other team", config.Match{Teams: []string{"emea-cs"}}, withTeam(a, "us-cs"), false},
		{"no team is unassigned", config.Match{Teams: []string{"unassigned"}}, a, true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, matches(tc.m, tc.a), tc.name)
	}
}

func TestRunRefusesASinkNameTwice(t *testing.T) {
	ok := config.Webhook{Name: "ops", URL: "https://hooks.example.com/x"}
	err := Run(context.Background(), nil, []config.Webhook{ok, ok}, nil, nil)
	require.ErrorContains(t, err, "used twice")
}

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	s := config.Webhook{Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
	for n, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 4: 4 * time.Second, 7: 30 * time.Second, 200: 30 * time.Second} {
		got := Backoff(s.Backoff, s.MaxBackoff, n)
		assert.GreaterOrEqual(t, got, want/2, "attempt %d", n)
		assert.LessOrEqual(t, got, want, "attempt %d", n)
	}
}

// A panic while delivering is recovered: the worker goes on, and the alert
// comes back from the stream and is delivered.
func TestRunRecoversFromAPanic(t *testing.T) {
	js := startJetStream(t)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	publish(t, js, testAlert("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "alice"))
	rec := &recorder{panicOn: ResultDelivered}
	sink := config.Webhook{Name: "ops", URL: srv.URL, MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	stop := startRun(t, js, []config.Webhook{sink}, rec)
	require.Eventually(t, func() bool { return settled(t, js, "ops") }, 10*time.Second, 10*time.Millisecond)
	stop()
	assert.Equal(t, []string{ResultDelivered, ResultDelivered}, rec.results("ops"), "the panic on the first, then a new round")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, calls)
}

func withTeam(a *alerting.Alert, team string) *alerting.Alert {
	c := *a
	c.Team = team
	return &c
}

// A sink with digests gets each owner's daily digest beside the alerts:
// as published for JSON, as a Slack message for Slack, with the digest's
// id as the idempotency key; match.owners selects the digests too. A sink
// without digests sees none of them.
func TestRunDeliversDigests(t *testing.T) {
	js := startJetStream(t)
	type request struct {
		key  string
		body []byte
	}
	var mu sync.Mutex
	got := map[string][]request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got[r.URL.Path] = append(got[r.URL.Path], request{r.Header.Get(HeaderIdempotencyKey), body})
	}))
	t.Cleanup(srv.Close)

	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	alice := alerting.BuildDigest("alice", day, []alerting.DigestEntry{{Customer: "acme-corp", Score: 65, Tier: rules.AtRisk,
		ARR: 120000, RevenueAtRisk: 78000, DaysToRenewal: -1, Probability: 0.3, HorizonDays: 90, Deferred: true}})
	alice.Budget = &alerting.Budget{Date: "2026-11-20", Limit: 5, Used: 5}
	bob := alerting.BuildDigest("bob", day, nil)
	var published []byte
	for _, d := range []alerting.Digest{alice, bob} {
		body, err := json.Marshal(d)
		require.NoError(t, err)
		if d.Owner == "alice" {
			published = body
		}
		_, err = js.Publish(context.Background(), alerting.DigestSubject(d.Owner), body, jetstream.WithMsgID(alerting.DigestID(d)))
		require.NoError(t, err)
	}
	a := testAlert("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "alice")
	publish(t, js, a)

	rec := &recorder{}
	sinks := []config.Webhook{
		{Name: "json", URL: srv.URL + "/json", Digests: true, Match: config.Match{Owners: []string{"alice"}}},
		{Name: "slack", URL: srv.URL + "/slack", Format: config.FormatSlack, Digests: true, Match: config.Match{Owners: []string{"alice"}}},
		{Name: "alerts-only", URL: srv.URL + "/alerts-only"},
	}
	stop := startRun(t, js, sinks, rec)
	require.Eventually(t, func() bool {
		return settled(t, js, "json") && settled(t, js, "slack") && settled(t, js, "alerts-only")
	}, 10*time.Second, 10*time.Millisecond)
	stop()

	mu.Lock()
	defer mu.Unlock()
	id := alerting.DigestID(alice)
	require.Len(t, got["/json"], 2, "alice's digest and alert; bob's digest is not for this sink")
	assert.Equal(t, id, got["/json"][0].key)
	assert.JSONEq(t, string(published), string(got["/json"][0].body), "the digest as published")
	assert.Equal(t, a.ID, got["/json"][1].key)

	require.Len(t, got["/slack"], 2)
	want, err := alerting.SlackDigest(&alice)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got["/slack"][0].body))
	assert.Contains(t, string(got["/slack"][0].body), "Waiting for the budget (no alert yet): acme-corp")

	require.Len(t, got["/alerts-only"], 1, "no digests without digests: true")
	assert.Equal(t, a.ID, got["/alerts-only"][0].key)
	assert.Equal(t, []string{ResultDelivered, ResultSkipped, ResultDelivered}, rec.results("json"), "in stream order: bob's digest is skipped")
}
