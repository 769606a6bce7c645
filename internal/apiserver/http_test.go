package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func do(t testing.TB, h http.Handler, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorOf decodes a JSON error body, failing the test on anything else.
func errorOf(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), rec.Body.String())
	var e api.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	require.NotEmpty(t, e.Error)
	return e.Error
}

func viewOf(t testing.TB, rec *httptest.ResponseRecorder) api.CustomerView {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v api.CustomerView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

func newTestHandler(f *fakeEngine, token string) http.Handler {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_test_total", Help: "A counter for the test."})
	c.Add(3)
	reg.MustRegister(c)
	return NewHandler(f, reg, token, clock, nil)
}

func TestGetCustomer(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	tests := []struct {
		name, target string
		wantStatus   int
		wantID       string
		wantErr      string
	}{
		{"plain", "/v1/customers/acme", 200, "acme", ""},
		{"dots and wildcard", "/v1/customers/" + url.PathEscape("a.b.>"), 200, "a.b.>", ""},
		{"wildcard unescaped", "/v1/customers/a.b.>", 200, "a.b.>", ""},
		{"space and escaped slash", "/v1/customers/x%20y%2Fz", 200, "x y/z", ""},
		{"unknown", "/v1/customers/nope", 404, "", `unknown customer "nope"`},
		// The mux cleans "/.." out of paths; an id of dots survives escaped.
		{"dot-dot escaped", "/v1/customers/%2E%2E", 404, "", `unknown customer ".."`},
		{"unknown with slash", "/v1/customers/no%2Fpe", 404, "", `unknown customer "no/pe"`},
		{"empty id", "/v1/customers/", 404, "", "no such endpoint"},
		{"unescaped slash is a path", "/v1/customers/x/z", 404, "", "no such endpoint"},
		{"too long", "/v1/customers/" + strings.Repeat("a", signals.MaxCustomer+1), 400, "", "the limit is 256"},
		{"invalid UTF-8", "/v1/customers/%FF", 400, "", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, "GET", tt.target, "")
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				return
			}
			v := viewOf(t, rec)
			assert.Equal(t, tt.wantID, v.Customer)
		})
	}
}

func TestGetCustomerJSONShape(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	rec := do(t, h, "GET", "/v1/customers/acme", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	// The design promises at least these fields.
	for _, k := range []string{"customer", "score", "tier", "reasons", "history"} {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, "at_risk", m["tier"])
}

func TestListCustomers(t *testing.T) {
	tests := []struct {
		name, query string
		wantStatus  int
		wantFilter  api.Filter
		wantErr     string
	}{
		{"no filter", "", 200, api.Filter{}, ""},
		{"all fields", "?tier=at_risk&owner=alice&segment=enterprise&sort=score&limit=5", 200,
			api.Filter{Tier: "at_risk", Owner: "alice", Segment: "enterprise", Sort: "score", Limit: 5}, ""},
		{"risk tiers", "?tier=risk&sort=revenue_at_risk", 200, api.Filter{Tier: "risk", Sort: "revenue_at_risk"}, ""},
		{"bad tier", "?tier=doomed", 400, api.Filter{}, `tier "doomed"`},
		{"bad sort", "?sort=name", 400, api.Filter{}, `sort "name"`},
		{"limit not a number", "?limit=ten", 400, api.Filter{}, `limit "ten"`},
		{"limit zero", "?limit=0", 400, api.Filter{}, `limit "0"`},
		{"limit too big", "?limit=10001", 400, api.Filter{}, `limit "10001"`},
		{"unknown parameter", "?teir=critical", 400, api.Filter{}, `unknown query parameter "teir"`},
		{"repeated parameter", "?tier=watch&tier=critical", 400, api.Filter{}, `"tier" given 2 times`},
		{"owner too long", "?owner=" + strings.Repeat("o", signals.MaxField+1), 400, api.Filter{}, "owner is 257 bytes"},
		{"the next page", "?limit=2&after=acme", 200, api.Filter{Limit: 2, After: "acme"}, ""},
		{"after an unknown customer", "?after=nope", 400, api.Filter{}, `after "nope": no such customer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			h := newTestHandler(f, "")
			rec := do(t, h, "GET", "/v1/customers"+tt.query, "")
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				assert.Empty(t, f.filters, "a refused request must not reach the engine")
				return
			}
			require.Len(t, f.filters, 1)
			assert.Equal(t, tt.wantFilter, f.filters[0])
			var resp api.ListResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
			assert.NotEmpty(t, resp.Customers)
		})
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name, query string
		wantStatus  int
		wantReq     api.OutcomesRequest
		wantErr     string
	}{
		{"no filter", "", 200, api.OutcomesRequest{}, ""},
		{"all fields", "?owner=alice&segment=enterprise&since=2026-01-01&until=2026-06-30", 200,
			api.OutcomesRequest{Owner: "alice", Segment: "enterprise", Since: "2026-01-01", Until: "2026-06-30"}, ""},
		{"bad since", "?since=last-week", 400, api.OutcomesRequest{}, `since "last-week": want a date`},
		{"bad until", "?until=2026-13-01", 400, api.OutcomesRequest{}, `until "2026-13-01"`},
		{"since after until", "?since=2026-02-01&until=2026-01-01", 400, api.OutcomesRequest{}, "since 2026-02-01 is after until 2026-01-01"},
		{"unknown parameter", "?tier=critical", 400, api.OutcomesRequest{}, `unknown query parameter "tier"`},
		{"repeated parameter", "?owner=a&owner=b", 400, api.OutcomesRequest{}, `"owner" given 2 times`},
		{"owner too long", "?owner=" + strings.Repeat("o", signals.MaxField+1), 400, api.OutcomesRequest{}, "owner is 257 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			h := newTestHandler(f, "")
			rec := do(t, h, "GET", "/v1/outcomes"+tt.query, "")
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				assert.Empty(t, f.outcomes, "a refused request must not reach the engine")
				return
			}
			assert.Equal(t, []api.OutcomesRequest{tt.wantReq}, f.outcomes)
			var m map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
			for _, k := range []string{"outcomes", "fates", "by_type", "arr_saved", "arr_lost_after_alert", "arr_lost_without_alert", "lead_time", "owners"} {
				assert.Contains(t, m, k)
			}
			assert.Equal(t, 120000.0, m["arr_lost_after_alert"])
		})
	}
	rec := do(t, newTestHandler(newFakeEngine(), ""), "POST", "/v1/outcomes", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET", rec.Header().Get("Allow"))
}

// A full page names where the next starts; a short one does not.
func TestListNamesTheNextPage(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	var full, short api.ListResponse
	rec := do(t, h, "GET", "/v1/customers?limit=4", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &full))
	require.Len(t, full.Customers, 4)
	assert.Equal(t, full.Customers[3].Customer, full.Next)
	rec = do(t, h, "GET", "/v1/customers?limit=5", "")
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &short))
	assert.Len(t, short.Customers, 4)
	assert.Empty(t, short.Next)
}

func TestListEmptyIsArray(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	rec := do(t, h, "GET", "/v1/customers?owner=nobody", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"customers":[]}`, rec.Body.String())
}

func TestPutProfile(t *testing.T) {
	tests := []struct {
		name, target, body string
		putErr             error
		wantStatus         int
		want               signals.Profile
		wantErr            string
	}{
		{"id from path", "/v1/customers/acme", `{"name":"Acme","arr":120000,"owner":"alice","renewal_date":"2027-01-15"}`, nil, 200,
			signals.Profile{ID: "acme", Name: "Acme", ARR: 120000, Owner: "alice", RenewalDate: "2027-01-15"}, ""},
		{"same id in body", "/v1/customers/acme", `{"id":"acme","segment":"smb"}`, nil, 200,
			signals.Profile{ID: "acme", Segment: "smb"}, ""},
		{"escaped id", "/v1/customers/x%20y%2Fz", `{"plan":"pro"}`, nil, 200,
			signals.Profile{ID: "x y/z", Plan: "pro"}, ""},
		{"wildcard id", "/v1/customers/" + url.PathEscape("a.b.>"), `{"id":"a.b.>"}`, nil, 200,
			signals.Profile{ID: "a.b.>"}, ""},
		{"id mismatch", "/v1/customers/acme", `{"id":"globex"}`, nil, 400, signals.Profile{}, `id "globex" in the body is not the customer "acme"`},
		{"negative arr", "/v1/customers/acme", `{"arr":-5}`, nil, 400, signals.Profile{}, "arr"},
		{"bad stage", "/v1/customers/acme", `{"stage":"dormant"}`, nil, 400, signals.Profile{}, "stage"},
		// Profiles follow the wire contract: CRM exports carry fields
		// Riskwatch does not use, and they are ignored.
		{"unknown field ignored", "/v1/customers/acme", `{"name":"Acme","crm_stage":"won"}`, nil, 200,
			signals.Profile{ID: "acme", Name: "Acme"}, ""},
		{"wrong type", "/v1/customers/acme", `{"arr":"lots"}`, nil, 400, signals.Profile{}, "invalid profile"},
		{"malformed", "/v1/customers/acme", `{"name":`, nil, 400, signals.Profile{}, "invalid profile"},
		{"too large", "/v1/customers/acme", `{"name":"` + strings.Repeat("a", MaxBody) + `"}`, nil, 413, signals.Profile{}, "limit of 65536 bytes"},
		{"engine unavailable", "/v1/customers/acme", `{"name":"Acme"}`, fmt.Errorf("publish profile: %w", errors.New("nats: no responders")), 503,
			signals.Profile{}, "no responders"},
		{"engine too slow", "/v1/customers/acme", `{"name":"Acme"}`, fmt.Errorf("waiting: %w", context.DeadlineExceeded), 504,
			signals.Profile{}, "did not confirm in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			f.putErr = tt.putErr
			h := newTestHandler(f, "")
			rec := do(t, h, "PUT", tt.target, tt.body)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				if tt.putErr == nil {
					assert.Empty(t, f.profiles)
				}
				return
			}
			var got signals.Profile
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			got.Intern()
			want := tt.want
			want.Intern()
			assert.Equal(t, want, got)
			require.Len(t, f.profiles, 1)
			assert.Equal(t, want, f.profiles[0])
		})
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		name, target, body string
		submitErr          error
		wantStatus         int
		wantErr            string
	}{
		{"ok", "/v1/alerts/al-1/ack", `{"by":"alice","note":"called them"}`, nil, 200, ""},
		{"unknown alert", "/v1/alerts/al-9/ack", `{"by":"alice"}`, nil, 404, `no open alert "al-9"`},
		{"by missing", "/v1/alerts/al-1/ack", `{"note":"x"}`, nil, 400, `needs "by"`},
		{"empty body", "/v1/alerts/al-1/ack", ``, nil, 400, `needs "by"`},
		{"unknown field", "/v1/alerts/al-1/ack", `{"by":"alice","notes":"x"}`, nil, 400, `unknown field "notes"`},
		{"alert id in body", "/v1/alerts/al-1/ack", `{"by":"alice","alert_id":"al-2"}`, nil, 400, "belongs in the path"},
		{"two values", "/v1/alerts/al-1/ack", `{"by":"alice"} {"by":"bob"}`, nil, 400, "more than one JSON value"},
		{"note too long", "/v1/alerts/al-1/ack", `{"by":"alice","note":"` + strings.Repeat("n", signals.MaxText+1) + `"}`, nil, 400, "note is"},
		{"refused", "/v1/alerts/al-1/ack", `{"by":"alice"}`, fmt.Errorf("%w: alert al-1 is already acknowledged", api.ErrRefused), 409, "already acknowledged"},
		{"unavailable", "/v1/alerts/al-1/ack", `{"by":"alice"}`, fmt.Errorf("publish ack: %w", errors.New("nats: connection closed")), 503, "connection closed"},
		{"timeout", "/v1/alerts/al-1/ack", `{"by":"alice"}`, fmt.Errorf("waiting: %w", context.DeadlineExceeded), 504, "did not confirm in time"},
		{"too large", "/v1/alerts/al-1/ack", `{"by":"` + strings.Repeat("b", MaxBody) + `"}`, nil, 413, "limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			f.submitErr = tt.submitErr
			h := newTestHandler(f, "")
			rec := do(t, h, "POST", tt.target, tt.body)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				assert.Empty(t, f.actions)
				return
			}
			v := viewOf(t, rec)
			assert.Equal(t, "acme", v.Customer)
			a, err := f.lastAction()
			require.NoError(t, err)
			assert.Equal(t, api.Command{Type: "ack", Customer: "acme", AlertID: "al-1", By: "alice", Note: "called them", Time: fixedNow}, a)
		})
	}
}

func TestSnooze(t *testing.T) {
	tests := []struct {
		name, target, body string
		submitErr          error
		wantStatus         int
		want               api.Command
		wantErr            string
	}{
		{"for hours", "/v1/customers/acme/snooze", `{"for":"72h","by":"alice","reason":"on holiday"}`, nil, 200,
			api.Command{Type: "snooze", Customer: "acme", By: "alice", Note: "on holiday", Until: fixedNow.Add(72 * time.Hour), Time: fixedNow}, ""},
		{"for days", "/v1/customers/acme/snooze", `{"for":"3d","by":"alice"}`, nil, 200,
			api.Command{Type: "snooze", Customer: "acme", By: "alice", Until: fixedNow.Add(72 * time.Hour), Time: fixedNow}, ""},
		{"until", "/v1/customers/acme/snooze", `{"until":"2026-12-01T11:00:00+01:00","by":"alice"}`, nil, 200,
			api.Command{Type: "snooze", Customer: "acme", By: "alice", Until: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Time: fixedNow}, ""},
		{"unsnooze", "/v1/customers/acme/snooze", `{"unsnooze":true,"by":"alice"}`, nil, 200,
			api.Command{Type: "unsnooze", Customer: "acme", By: "alice", Time: fixedNow}, ""},
		{"escaped id", "/v1/customers/x%20y%2Fz/snooze", `{"for":"1h","by":"bob"}`, nil, 200,
			api.Command{Type: "snooze", Customer: "x y/z", By: "bob", Until: fixedNow.Add(time.Hour), Time: fixedNow}, ""},
		{"id ending in /snooze", "/v1/customers/x%2Fsnooze/snooze", `{"for":"1h","by":"bob"}`, nil, 200,
			api.Command{Type: "snooze", Customer: "x/snooze", By: "bob", Until: fixedNow.Add(time.Hour), Time: fixedNow}, ""},
		{"escaped slash is not a path", "/v1/customers/x%2Fsnooze", `{"for":"1h","by":"bob"}`, nil, 405, api.Command{}, "not allowed"},
		{"no verb", "/v1/customers/acme", `{"for":"1h","by":"bob"}`, nil, 405, api.Command{}, "not allowed"},
		{"unknown customer", "/v1/customers/nope/snooze", `{"for":"1h","by":"bob"}`, nil, 404, api.Command{}, `unknown customer "nope"`},
		{"neither until nor for", "/v1/customers/acme/snooze", `{"by":"alice"}`, nil, 400, api.Command{}, "give until"},
		{"both", "/v1/customers/acme/snooze", `{"for":"1h","until":"2026-12-01T00:00:00Z","by":"alice"}`, nil, 400, api.Command{}, "not both"},
		{"unsnooze with for", "/v1/customers/acme/snooze", `{"unsnooze":true,"for":"1h","by":"alice"}`, nil, 400, api.Command{}, "unsnooze takes neither"},
		{"bad until", "/v1/customers/acme/snooze", `{"until":"next week","by":"alice"}`, nil, 400, api.Command{}, "RFC 3339"},
		{"until in the past", "/v1/customers/acme/snooze", `{"until":"2026-11-01T00:00:00Z","by":"alice"}`, nil, 400, api.Command{}, "is not after"},
		{"until too far", "/v1/customers/acme/snooze", `{"until":"2030-01-01T00:00:00Z","by":"alice"}`, nil, 400, api.Command{}, "more than 366 days"},
		{"bad for", "/v1/customers/acme/snooze", `{"for":"a while","by":"alice"}`, nil, 400, api.Command{}, "want e.g. 14d"},
		{"negative for", "/v1/customers/acme/snooze", `{"for":"-1h","by":"alice"}`, nil, 400, api.Command{}, "positive"},
		{"for too long", "/v1/customers/acme/snooze", `{"for":"400d","by":"alice"}`, nil, 400, api.Command{}, "longer than the limit"},
		{"by missing", "/v1/customers/acme/snooze", `{"for":"1h"}`, nil, 400, api.Command{}, `needs "by"`},
		{"id in body", "/v1/customers/acme/snooze", `{"id":"acme","for":"1h","by":"a"}`, nil, 400, api.Command{}, "belongs in the path"},
		{"not JSON", "/v1/customers/acme/snooze", `for=1h`, nil, 400, api.Command{}, "invalid request body"},
		{"refused", "/v1/customers/acme/snooze", `{"unsnooze":true,"by":"alice"}`, fmt.Errorf("%w: not snoozed", api.ErrRefused), 409, api.Command{}, "unsnooze refused: not snoozed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			f.submitErr = tt.submitErr
			h := newTestHandler(f, "")
			rec := do(t, h, "POST", tt.target, tt.body)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			if tt.wantErr != "" {
				assert.Contains(t, errorOf(t, rec), tt.wantErr)
				assert.Empty(t, f.actions)
				return
			}
			v := viewOf(t, rec)
			assert.Equal(t, tt.want.Customer, v.Customer)
			a, err := f.lastAction()
			require.NoError(t, err)
			assert.Equal(t, tt.want, a)
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name           string
		ready, healthy error
		path           string
		wantStatus     int
		wantBody       string
	}{
		{"healthy", nil, nil, "/healthz", 200, "ok\n"},
		{"unhealthy", nil, errors.New("checkpoint failed: disk full"), "/healthz", 503, `{"error":"unhealthy: checkpoint failed: disk full"}`},
		{"ready", nil, nil, "/readyz", 200, "ok\n"},
		{"catching up", errors.New("catching up: applied 3 of 9"), nil, "/readyz", 503, `{"error":"not ready: catching up: applied 3 of 9"}`},
		{"health ignores readiness", errors.New("catching up"), nil, "/healthz", 200, "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			f.ready, f.healthy = tt.ready, tt.healthy
			// The token must not guard probes.
			rec := do(t, newTestHandler(f, "s3cret"), "GET", tt.path, "")
			require.Equal(t, tt.wantStatus, rec.Code)
			if tt.wantStatus == 200 {
				assert.Equal(t, tt.wantBody, rec.Body.String())
			} else {
				assert.JSONEq(t, tt.wantBody, rec.Body.String())
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	rec := do(t, newTestHandler(newFakeEngine(), ""), "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "riskwatch_test_total 3")

	rec = do(t, NewHandler(newFakeEngine(), nil, "", clock, nil), "GET", "/metrics", "")
	assert.Equal(t, http.StatusNotFound, rec.Code, "no gatherer, no /metrics")
}

func TestBearerToken(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "s3cret")
	tests := []struct {
		name, method, path, auth string
		wantStatus               int
		wantChallenge            string
	}{
		{"missing", "GET", "/v1/customers/acme", "", 401, `Bearer realm="riskwatch"`},
		{"wrong", "GET", "/v1/customers/acme", "Bearer nope", 401, `Bearer realm="riskwatch", error="invalid_token"`},
		{"prefix of the token", "GET", "/v1/customers/acme", "Bearer s3cre", 401, `Bearer realm="riskwatch", error="invalid_token"`},
		{"basic scheme", "GET", "/v1/customers/acme", "Basic czNjcmV0", 401, `Bearer realm="riskwatch"`},
		{"accepted", "GET", "/v1/customers/acme", "Bearer s3cret", 200, ""},
		{"scheme is case-insensitive", "GET", "/v1/customers/acme", "bearer s3cret", 200, ""},
		{"metrics guarded", "GET", "/metrics", "", 401, `Bearer realm="riskwatch"`},
		{"metrics accepted", "GET", "/metrics", "Bearer s3cret", 200, ""},
		{"list guarded", "GET", "/v1/customers", "", 401, `Bearer realm="riskwatch"`},
		{"writes guarded", "PUT", "/v1/customers/acme", "", 401, `Bearer realm="riskwatch"`},
		{"ack guarded", "POST", "/v1/alerts/al-1/ack", "", 401, `Bearer realm="riskwatch"`},
		{"unknown paths guarded", "GET", "/debug/pprof/", "", 401, `Bearer realm="riskwatch"`},
		{"healthz open", "GET", "/healthz", "", 200, ""},
		{"readyz open", "GET", "/readyz", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			rec := do(t, h, tt.method, tt.path, "", hdr...)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			assert.Equal(t, tt.wantChallenge, rec.Header().Get("WWW-Authenticate"))
			if tt.wantStatus == 401 {
				assert.Contains(t, errorOf(t, rec), "bearer token")
			}
		})
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantAllow          string
	}{
		{"unknown path", "GET", "/v2/customers", 404, ""},
		{"delete customer", "DELETE", "/v1/customers/acme", 405, "GET, PUT"},
		{"get snooze", "GET", "/v1/customers/acme/snooze", 405, "POST"},
		{"post list", "POST", "/v1/customers", 405, "GET"},
		{"get ack", "GET", "/v1/alerts/al-1/ack", 405, "POST"},
		{"post healthz", "POST", "/healthz", 405, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, tt.method, tt.path, "")
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			assert.NotEmpty(t, errorOf(t, rec))
			assert.Equal(t, tt.wantAllow, rec.Header().Get("Allow"))
		})
	}
}

func TestPanicBecomesJSON500(t *testing.T) {
	rec := do(t, newTestHandler(newFakeEngine(), ""), "GET", "/v1/customers/"+panicID, "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "internal error", errorOf(t, rec))
}

// TestErrorMessagesGolden keeps the wording of client-facing errors in
// one reviewable file: they are part of what operators script against.
func TestErrorMessagesGolden(t *testing.T) {
	h := newTestHandler(newFakeEngine(), "")
	requests := []struct{ method, target, body string }{
		{"GET", "/v1/customers/nope", ""},
		{"GET", "/v1/customers?tier=doomed", ""},
		{"GET", "/v1/customers?sort=name", ""},
		{"GET", "/v1/customers?limit=-1", ""},
		{"PUT", "/v1/customers/acme", `{"id":"globex"}`},
		{"PUT", "/v1/customers/acme", `{"arr":-5}`},
		{"PUT", "/v1/customers/acme", `{"currency":"euro"}`},
		{"PUT", "/v1/customers/acme", `{"renewal_date":"soon"}`},
		{"POST", "/v1/alerts/al-9/ack", `{"by":"alice"}`},
		{"POST", "/v1/alerts/al-1/ack", `{}`},
		{"POST", "/v1/customers/acme/snooze", `{"by":"alice"}`},
		{"POST", "/v1/customers/acme/snooze", `{"until":"tomorrow","by":"alice"}`},
		{"POST", "/v1/customers/acme/snooze", `{"untill":"2026-12-01T00:00:00Z","by":"alice"}`},
		{"DELETE", "/v1/customers/acme", ""},
	}
	var b strings.Builder
	for _, r := range requests {
		rec := do(t, h, r.method, r.target, r.body)
		fmt.Fprintf(&b, "%s %s %s\n=> %d %s\n", r.method, r.target, r.body, rec.Code, rec.Body.String())
	}
	golden(t, "errors.golden", b.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/api/ -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}
