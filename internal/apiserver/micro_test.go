package apiserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// startNATS runs an in-process nats-server with JetStream and no TCP
// port, and connects to it.
func startNATS(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), DontListen: true,
		NoSigs: true, NoLog: true, ServerName: "api-test"})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "nats-server did not start")
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc, err := nats.Connect("", nats.InProcessServer(s))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return s, nc
}

// request sends a request and splits the reply into a service error code
// ("" on success) and the body.
func request(t testing.TB, nc *nats.Conn, subject, body string) (string, []byte) {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 5*time.Second)
	require.NoError(t, err, subject)
	return msg.Header.Get(micro.ErrorCodeHeader), msg.Data
}

func TestServiceEndpoints(t *testing.T) {
	_, nc := startNATS(t)
	tests := []struct {
		name, subject, body string
		submitErr           error
		wantCode            string
		wantErr             string
		check               func(t *testing.T, f *fakeEngine, body []byte)
	}{
		{name: "get", subject: "risk.api.customer.get", body: `{"id":"acme"}`, check: func(t *testing.T, _ *fakeEngine, body []byte) {
			var v api.CustomerView
			require.NoError(t, json.Unmarshal(body, &v))
			assert.Equal(t, "acme", v.Customer)
			assert.Equal(t, 75600.0, v.RevenueAtRisk)
		}},
		{name: "explain a wildcard id", subject: "risk.api.explain", body: `{"id":"a.b.>"}`, check: func(t *testing.T, _ *fakeEngine, body []byte) {
			var v api.CustomerView
			require.NoError(t, json.Unmarshal(body, &v))
			assert.Equal(t, "a.b.>", v.Customer)
		}},
		{name: "get unknown", subject: "risk.api.customer.get", body: `{"id":"nope"}`, wantCode: "404", wantErr: `unknown customer "nope"`},
		{name: "get without id", subject: "risk.api.customer.get", body: ``, wantCode: "400", wantErr: "customer id is required"},
		{name: "get malformed", subject: "risk.api.customer.get", body: `{"id":`, wantCode: "400", wantErr: "invalid request body"},
		{name: "get unknown field", subject: "risk.api.customer.get", body: `{"customer":"acme"}`, wantCode: "400", wantErr: `unknown field "customer"`},
		{name: "list by owner", subject: "risk.api.customer.list", body: `{"owner":"alice","sort":"score","limit":3}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			var resp api.ListResponse
			require.NoError(t, json.Unmarshal(body, &resp))
			require.Len(t, resp.Customers, 1)
			assert.Equal(t, "acme", resp.Customers[0].Customer)
			assert.Equal(t, []api.Filter{{Owner: "alice", Sort: "score", Limit: 3}}, f.filters)
		}},
		{name: "list everything", subject: "risk.api.customer.list", body: ``, check: func(t *testing.T, f *fakeEngine, body []byte) {
			var resp api.ListResponse
			require.NoError(t, json.Unmarshal(body, &resp))
			assert.Len(t, resp.Customers, 4)
		}},
		{name: "list bad sort", subject: "risk.api.customer.list", body: `{"sort":"name"}`, wantCode: "400", wantErr: `sort "name"`},
		{name: "list bad limit", subject: "risk.api.customer.list", body: `{"limit":20000}`, wantCode: "400", wantErr: "limit 20000"},
		{name: "outcomes", subject: "risk.api.outcomes", body: `{"owner":"alice","since":"2026-01-01"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			var s api.OutcomesSummary
			require.NoError(t, json.Unmarshal(body, &s))
			assert.Equal(t, 1, s.Fates[scorer.FateChurnedAfterAlert])
			assert.Equal(t, 9.0, s.LeadTime.Median)
			assert.Equal(t, []api.OutcomesRequest{{Owner: "alice", Since: "2026-01-01"}}, f.outcomes)
		}},
		{name: "outcomes of everyone", subject: "risk.api.outcomes", body: ``, check: func(t *testing.T, f *fakeEngine, body []byte) {
			var s api.OutcomesSummary
			require.NoError(t, json.Unmarshal(body, &s))
			assert.Equal(t, 1, s.Outcomes)
		}},
		{name: "outcomes bad date", subject: "risk.api.outcomes", body: `{"since":"yesterday"}`, wantCode: "400", wantErr: `since "yesterday"`},
		{name: "put", subject: "risk.api.customer.put", body: `{"id":"x y/z","arr":5000,"owner":"bob"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			want := signals.Profile{ID: "x y/z", ARR: 5000, Owner: "bob"}
			want.Intern()
			var got signals.Profile
			require.NoError(t, json.Unmarshal(body, &got))
			got.Intern()
			assert.Equal(t, want, got)
			assert.Equal(t, []signals.Profile{want}, f.profiles)
		}},
		{name: "put without id", subject: "risk.api.customer.put", body: `{"name":"Acme"}`, wantCode: "400", wantErr: "missing_field: id"},
		{name: "ack", subject: "risk.api.alert.ack", body: `{"alert_id":"al-1","by":"alice","note":"called"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			var v api.CustomerView
			require.NoError(t, json.Unmarshal(body, &v))
			assert.Equal(t, "acme", v.Customer)
			assert.Equal(t, []api.Command{{Type: "ack", Customer: "acme", AlertID: "al-1", By: "alice", Note: "called", Time: fixedNow}}, f.actions)
		}},
		{name: "ack unknown alert", subject: "risk.api.alert.ack", body: `{"alert_id":"al-9","by":"alice"}`, wantCode: "404", wantErr: `no open alert "al-9"`},
		{name: "ack without alert", subject: "risk.api.alert.ack", body: `{"by":"alice"}`, wantCode: "400", wantErr: "alert id is required"},
		{name: "ack refused", subject: "risk.api.alert.ack", body: `{"alert_id":"al-1","by":"alice"}`, submitErr: fmt.Errorf("%w: already acknowledged", api.ErrRefused),
			wantCode: "409", wantErr: "already acknowledged"},
		{name: "snooze", subject: "risk.api.customer.snooze", body: `{"id":"acme","for":"72h","by":"alice","reason":"holiday"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			assert.Equal(t, []api.Command{{Type: "snooze", Customer: "acme", By: "alice", Note: "holiday",
				Until: fixedNow.Add(72 * time.Hour), Time: fixedNow}}, f.actions)
		}},
		{name: "unsnooze", subject: "risk.api.customer.snooze", body: `{"id":"acme","by":"alice","unsnooze":true}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			assert.Equal(t, []api.Command{{Type: "unsnooze", Customer: "acme", By: "alice", Time: fixedNow}}, f.actions)
		}},
		{name: "snooze without duration", subject: "risk.api.customer.snooze", body: `{"id":"acme","by":"alice"}`, wantCode: "400", wantErr: "give until"},
		{name: "snooze unknown customer", subject: "risk.api.customer.snooze", body: `{"id":"nope","for":"1h","by":"alice"}`, wantCode: "404", wantErr: `unknown customer "nope"`},
		// Owner-scoped endpoints: the server lets only alice's CSM user
		// publish on .alice; riskd checks the customer is alice's.
		{name: "owner ack", subject: "risk.api.alert.ack.alice", body: `{"alert_id":"al-1","note":"called"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			assert.Equal(t, []api.Command{{Type: "ack", Customer: "acme", AlertID: "al-1", By: "alice", Note: "called", Time: fixedNow}}, f.actions)
		}},
		{name: "owner ack of another's customer", subject: "risk.api.alert.ack.bob", body: `{"alert_id":"al-1"}`, wantCode: "403", wantErr: "not one of bob's customers"},
		{name: "owner ack as someone else", subject: "risk.api.alert.ack.alice", body: `{"alert_id":"al-1","by":"mallory"}`, wantCode: "403", wantErr: `acts as "alice"`},
		{name: "owner ack unknown alert", subject: "risk.api.alert.ack.alice", body: `{"alert_id":"al-9"}`, wantCode: "404", wantErr: `no open alert "al-9"`},
		{name: "owner snooze", subject: "risk.api.customer.snooze.alice", body: `{"id":"acme","for":"3d","by":"alice"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			assert.Equal(t, []api.Command{{Type: "snooze", Customer: "acme", By: "alice", Until: fixedNow.Add(72 * time.Hour), Time: fixedNow}}, f.actions)
		}},
		{name: "owner snooze of another's customer", subject: "risk.api.customer.snooze.bob", body: `{"id":"acme","for":"3d"}`, wantCode: "403", wantErr: "not one of bob's customers"},
		{name: "owner snooze of an unassigned customer", subject: "risk.api.customer.snooze.alice", body: `{"id":"x y/z","for":"3d"}`, wantCode: "403", wantErr: "not one of alice's"},
		{name: "unassigned customers' owner token", subject: "risk.api.customer.snooze.unassigned", body: `{"id":"x y/z","for":"3d"}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			require.Len(t, f.actions, 1)
			assert.Equal(t, "unassigned", f.actions[0].By)
		}},
		{name: "owner snooze beyond 366 days", subject: "risk.api.customer.snooze.alice", body: `{"id":"acme","for":"400d"}`, wantCode: "400", wantErr: "366d"},
		{name: "a panic is a 500", subject: "risk.api.customer.get", body: `{"id":"boom"}`, wantCode: "500", wantErr: "internal error"},
		{name: "list after", subject: "risk.api.customer.list", body: `{"after":"acme","limit":2}`, check: func(t *testing.T, f *fakeEngine, body []byte) {
			assert.Equal(t, []api.Filter{{After: "acme", Limit: 2}}, f.filters)
		}},
		{name: "list after an unknown customer", subject: "risk.api.customer.list", body: `{"after":"nope"}`, wantCode: "400", wantErr: `after "nope"`},
		{name: "too large", subject: "risk.api.customer.put", body: `{"id":"acme","name":"` + strings.Repeat("a", MaxBody) + `"}`,
			wantCode: "413", wantErr: "the limit is 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine()
			f.submitErr = tt.submitErr
			svc, err := StartService(nc, f, "0.1.0", clock)
			require.NoError(t, err)
			defer func() { require.NoError(t, svc.Stop()) }()

			code, body := request(t, nc, tt.subject, tt.body)
			require.Equal(t, tt.wantCode, code, string(body))
			if tt.wantCode != "" {
				var e api.ErrorBody
				require.NoError(t, json.Unmarshal(body, &e), string(body))
				assert.Contains(t, e.Error, tt.wantErr)
				return
			}
			tt.check(t, f, body)
		})
	}
}

func TestServiceErrorHeaderHasNoLineBreaks(t *testing.T) {
	_, nc := startNATS(t)
	f := newFakeEngine()
	f.submitErr = fmt.Errorf("%w: line one\nline two", api.ErrRefused)
	svc, err := StartService(nc, f, "0.1.0", clock)
	require.NoError(t, err)
	defer func() { _ = svc.Stop() }()
	msg, err := nc.Request("risk.api.alert.ack", []byte(`{"alert_id":"al-1","by":"alice"}`), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "409", msg.Header.Get(micro.ErrorCodeHeader))
	assert.Equal(t, "ack refused: line one line two", msg.Header.Get(micro.ErrorHeader))
}

// TestServiceInfoGolden pins what `nats micro info riskwatch` shows: the
// endpoint names and subjects are a contract with scripts.
func TestServiceInfoGolden(t *testing.T) {
	_, nc := startNATS(t)
	svc, err := StartService(nc, newFakeEngine(), "0.1.0", clock)
	require.NoError(t, err)
	defer func() { _ = svc.Stop() }()

	msg, err := nc.Request("$SRV.INFO.riskwatch", nil, 5*time.Second)
	require.NoError(t, err)
	var info micro.Info
	require.NoError(t, json.Unmarshal(msg.Data, &info))
	assert.Equal(t, "riskwatch", info.Name)
	assert.Equal(t, "0.1.0", info.Version)
	assert.Contains(t, info.Description, "churn-risk")
	out, err := json.MarshalIndent(info.Endpoints, "", "  ")
	require.NoError(t, err)
	golden(t, "service_endpoints.golden.json", string(out)+"\n")
}

func TestStartServiceRejectsBadVersion(t *testing.T) {
	_, nc := startNATS(t)
	_, err := StartService(nc, newFakeEngine(), "v1", clock)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "add micro service riskwatch")
}

// TestListPagesFitTheMaxPayload: a list too large for one NATS reply is
// cut, and Next names where the next page starts.
func TestListPagesFitTheMaxPayload(t *testing.T) {
	resp := api.ListResponse{}
	for i := range 200 {
		resp.Customers = append(resp.Customers, api.CustomerView{Customer: fmt.Sprintf("c%03d", i), Name: strings.Repeat("n", 100)})
	}
	tests := []struct {
		limit    int
		wantAll  bool
		wantNext bool
	}{
		{limit: 1 << 20, wantAll: true},
		{limit: 8 << 10, wantNext: true},
		{limit: 10, wantNext: true}, // never less than one customer
	}
	for _, tt := range tests {
		body, err := fitPage(resp, tt.limit)
		require.NoError(t, err)
		var got api.ListResponse
		require.NoError(t, json.Unmarshal(body, &got))
		if tt.wantAll {
			assert.Len(t, got.Customers, 200)
			assert.Empty(t, got.Next)
			continue
		}
		require.NotEmpty(t, got.Customers)
		assert.True(t, len(body) <= tt.limit || len(got.Customers) == 1, "%d bytes for limit %d", len(body), tt.limit)
		assert.Equal(t, got.Customers[len(got.Customers)-1].Customer, got.Next)
	}
}
