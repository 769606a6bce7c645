package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// publishSignal sends one envelope the way producers do: on
// risk.signals.<kind>.<customer-token> with its id as Nats-Msg-Id.
func publishSignal(t testing.TB, js jetstream.JetStream, id, kind, customer string, at time.Time, data string) {
	t.Helper()
	env, err := json.Marshal(map[string]any{"id": id, "kind": kind, "customer": customer,
		"time": at.Format(time.RFC3339), "source": "api-test", "data": json.RawMessage(data)})
	require.NoError(t, err)
	subject := "risk.signals." + kind + "." + signals.SubjectToken(customer)
	_, err = js.Publish(context.Background(), subject, env, jetstream.WithMsgID(id))
	require.NoError(t, err, subject)
}

// TestAPIWithRealEngine runs the handler and the micro service over a real
// engine on a real embedded nats-server: what riskd does, minus the flags.
func TestAPIWithRealEngine(t *testing.T) {
	_, nc := startNATS(t)
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	e, err := engine.New(nc, engine.Config{Rules: set,
		CheckpointInterval: 50 * time.Millisecond, Registry: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-runDone, "the engine stops cleanly")
	})

	h := NewHandler(cluster.Single(e), reg, "", time.Now, nil)
	require.Eventually(t, func() bool {
		return do(t, h, "GET", "/readyz", "").Code == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "the engine becomes ready")

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// Within the engine's far-future bound: event time must not run ahead
	// of the wall clock by more than a day.
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	publishSignal(t, js, "crm-1-cancel", "commercial", "acme-corp", base, `{"type":"cancellation_inquiry"}`)
	publishSignal(t, js, "crm-2-champion", "champion", "acme-corp", base.Add(time.Hour), `{"type":"left","contact":"Jo"}`)
	publishSignal(t, js, "nps-3", "nps", "acme-corp", base.Add(2*time.Hour), `{"score":3,"comment":"meh"}`)
	odd := "a.b.>"
	publishSignal(t, js, "use-1", "usage", odd, base.Add(3*time.Hour), `{"events":4}`)

	var acme api.CustomerView
	require.Eventually(t, func() bool {
		rec := do(t, h, "GET", "/v1/customers/acme-corp", "")
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &acme) != nil {
			return false
		}
		_, oddKnown := e.Customer(odd)
		return len(acme.Reasons) >= 3 && oddKnown
	}, 20*time.Second, 20*time.Millisecond, "the signals are scored")
	assert.Equal(t, "acme-corp", acme.Customer)
	// 45 + 30 + 20 with the default rules: past critical (70).
	assert.GreaterOrEqual(t, acme.Score, 70.0, "cancellation inquiry + champion lost + detractor")
	assert.Equal(t, rules.Critical, acme.Tier)

	t.Run("escaped id", func(t *testing.T) {
		v := viewOf(t, do(t, h, "GET", "/v1/customers/"+url.PathEscape(odd), ""))
		assert.Equal(t, odd, v.Customer)
	})

	t.Run("unknown customer", func(t *testing.T) {
		rec := do(t, h, "GET", "/v1/customers/globex", "")
		require.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, `unknown customer "globex"`, errorOf(t, rec))
	})

	t.Run("put profile, then read it back", func(t *testing.T) {
		rec := do(t, h, "PUT", "/v1/customers/acme-corp",
			`{"name":"Acme","arr":120000,"owner":"alice","segment":"enterprise","currency":"EUR"}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		// PutProfile waits until the engine applied it: no polling needed.
		v := viewOf(t, do(t, h, "GET", "/v1/customers/acme-corp", ""))
		assert.Equal(t, "alice", v.Owner)
		assert.Equal(t, "Acme", v.Name)
		assert.InDelta(t, 120000*v.Score/100, v.RevenueAtRisk, 0.01)

		rec = do(t, h, "PUT", "/v1/customers/acme-corp", `{"arr":-1}`)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
	})

	t.Run("list with filters", func(t *testing.T) {
		var resp api.ListResponse
		rec := do(t, h, "GET", "/v1/customers?owner=alice", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		require.Len(t, resp.Customers, 1)
		assert.Equal(t, "acme-corp", resp.Customers[0].Customer)

		rec = do(t, h, "GET", "/v1/customers?tier=risk&sort=score", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		ids := make([]string, 0, len(resp.Customers))
		for _, c := range resp.Customers {
			ids = append(ids, c.Customer)
		}
		assert.Equal(t, []string{"acme-corp"}, ids, "the healthy customer is filtered out")
	})

	t.Run("ack the open alert", func(t *testing.T) {
		// The alert open now: the profile put above re-evaluates the
		// customer, and a new owner or segment may raise a new one.
		alertID := viewOf(t, do(t, h, "GET", "/v1/customers/acme-corp", "")).Alerting.LastID
		require.NotEmpty(t, alertID, "a critical customer has an open alert")
		v := viewOf(t, do(t, h, "POST", "/v1/alerts/"+url.PathEscape(alertID)+"/ack", `{"by":"alice","note":"called them"}`))
		require.NotNil(t, v.Alerting.Ack)
		assert.Equal(t, "alice", v.Alerting.Ack.By)

		rec := do(t, h, "POST", "/v1/alerts/no-such-alert/ack", `{"by":"alice"}`)
		assert.Equal(t, http.StatusNotFound, rec.Code)
	})

	t.Run("snooze and unsnooze", func(t *testing.T) {
		v := viewOf(t, do(t, h, "POST", "/v1/customers/acme-corp/snooze", `{"for":"72h","by":"alice","reason":"on holiday"}`))
		require.NotNil(t, v.Alerting.Snooze)
		v = viewOf(t, do(t, h, "POST", "/v1/customers/acme-corp/snooze", `{"unsnooze":true,"by":"alice"}`))
		assert.Nil(t, v.Alerting.Snooze)

		// The engine's refusal, through the stream and back, is a 409.
		rec := do(t, h, "POST", "/v1/customers/acme-corp/snooze", `{"unsnooze":true,"by":"alice"}`)
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		assert.Contains(t, errorOf(t, rec), "not snoozed")
	})

	t.Run("metrics", func(t *testing.T) {
		rec := do(t, h, "GET", "/metrics", "")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), "riskwatch_")
	})

	t.Run("micro service", func(t *testing.T) {
		svc, err := StartService(nc, cluster.Single(e), "0.1.0", time.Now)
		require.NoError(t, err)
		defer func() { require.NoError(t, svc.Stop()) }()

		// A plain request, as `nats req` sends it.
		msg, err := nc.Request("risk.api.customer.get", []byte(`{"id":"acme-corp"}`), 5*time.Second)
		require.NoError(t, err)
		require.Empty(t, msg.Header.Get(micro.ErrorCodeHeader), string(msg.Data))
		var v api.CustomerView
		require.NoError(t, json.Unmarshal(msg.Data, &v))
		assert.Equal(t, "acme-corp", v.Customer)
		assert.Equal(t, "alice", v.Owner)

		msg, err = nc.Request("risk.api.customer.get", []byte(`{"id":"globex"}`), 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "404", msg.Header.Get(micro.ErrorCodeHeader))

		// Discovery, as `nats micro ls` does it.
		msg, err = nc.Request("$SRV.PING.riskwatch", nil, 5*time.Second)
		require.NoError(t, err)
		var ping micro.Ping
		require.NoError(t, json.Unmarshal(msg.Data, &ping))
		assert.Equal(t, "riskwatch", ping.Name)
		assert.Equal(t, "0.1.0", ping.Version)

		msg, err = nc.Request("$SRV.INFO.riskwatch", nil, 5*time.Second)
		require.NoError(t, err)
		var info micro.Info
		require.NoError(t, json.Unmarshal(msg.Data, &info))
		subjects := make([]string, 0, len(info.Endpoints))
		for _, ep := range info.Endpoints {
			subjects = append(subjects, ep.Subject)
		}
		assert.ElementsMatch(t, []string{"risk.api.customer.get", "risk.api.explain", "risk.api.customer.list",
			"risk.api.customer.put", "risk.api.alert.ack", "risk.api.alert.ack.*", "risk.api.customer.snooze", "risk.api.customer.snooze.*", "risk.api.churn", "risk.api.outcomes"}, subjects)
	})

	t.Run("churn", func(t *testing.T) {
		publishSignal(t, js, "crm-9-churned", "outcome", odd, base.Add(4*time.Hour), `{"type":"churned"}`)
		var r api.ChurnReport
		require.Eventually(t, func() bool {
			rec := do(t, h, "GET", "/v1/churn", "")
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &r) != nil {
				return false
			}
			lost := 0
			for _, p := range r.Periods {
				lost += p.Rows[0].Lost
			}
			return lost == 1
		}, 20*time.Second, 20*time.Millisecond, "the churn outcome is counted")
		assert.Equal(t, 2, r.Customers)
		open := r.Periods[len(r.Periods)-1]
		require.True(t, open.Open, "the last period holds the engine's time")
		require.NotNil(t, open.Rows[0].Predictive)
		assert.Equal(t, 1, open.Rows[0].Predictive.Customers, "acme-corp, scored; the churned one is gone")
		assert.Positive(t, open.Rows[0].Predictive.ExpectedLosses, "acme-corp is at risk")
	})

	t.Run("outcomes and fates", func(t *testing.T) {
		// initech turns at_risk ten days ago and churns a week later;
		// hooli churns with no warning.
		before := do(t, h, "GET", "/metrics", "").Body.String()
		day := base.Add(-10 * 24 * time.Hour)
		at := func(d, h int) time.Time { return day.Add(time.Duration(d*24+h) * time.Hour) }
		rec := do(t, h, "PUT", "/v1/customers/initech", `{"arr":80000,"owner":"bob"}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		rec = do(t, h, "PUT", "/v1/customers/hooli", `{"arr":30000,"owner":"bob"}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		publishSignal(t, js, "in-cancel", "commercial", "initech", at(0, 1), `{"type":"cancellation_inquiry"}`)
		publishSignal(t, js, "in-champion", "champion", "initech", at(0, 2), `{"type":"left","contact":"Bill"}`)
		publishSignal(t, js, "in-nps", "nps", "initech", at(0, 3), `{"score":3}`)
		for d := 0; d <= 8; d++ {
			publishSignal(t, js, fmt.Sprintf("in-use-%d", d), "usage", "initech", at(d, 12), `{"events":3}`)
			publishSignal(t, js, fmt.Sprintf("ho-use-%d", d), "usage", "hooli", at(d, 12), `{"events":30}`)
		}
		publishSignal(t, js, "in-churn", "outcome", "initech", at(7, 15), `{"type":"churned"}`)
		publishSignal(t, js, "ho-churn", "outcome", "hooli", at(7, 16), `{"type":"churned"}`)

		var sum api.OutcomesSummary
		require.Eventually(t, func() bool {
			rec := do(t, h, "GET", "/v1/outcomes?owner=bob", "")
			return rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &sum) == nil && sum.Outcomes == 2
		}, 20*time.Second, 20*time.Millisecond, "the outcomes are recorded")
		assert.Equal(t, 1, sum.Fates[scorer.FateChurnedAfterAlert], "initech was warned")
		assert.Equal(t, 1, sum.Fates[scorer.FateChurnedWithoutAlert], "hooli was not")
		assert.Equal(t, 80000.0, sum.ARRLostAfterAlert)
		assert.Equal(t, 30000.0, sum.ARRLostWithoutAlert)
		require.Equal(t, 1, sum.LeadTime.Count)
		// From the start of the calendar day the warning came in: 7.5 to
		// 8.5 days before the churn, as the wall clock's hour places the
		// signals in their days.
		assert.Greater(t, sum.LeadTime.Median, 3.0, "warned days before the churn")
		assert.LessOrEqual(t, sum.LeadTime.Median, 8.6)

		v := viewOf(t, do(t, h, "GET", "/v1/customers/initech", ""))
		assert.Equal(t, scorer.FateChurnedAfterAlert, v.Fate)
		require.Len(t, v.Outcomes, 1)
		assert.Equal(t, "churned", v.Outcomes[0].Type)
		require.NotNil(t, v.Outcomes[0].LeadTimeDays)
		assert.Equal(t, sum.LeadTime.Median, *v.Outcomes[0].LeadTimeDays)

		after := do(t, h, "GET", "/metrics", "").Body.String()
		grew := func(series string) float64 { return metricValue(t, after, series) - metricValue(t, before, series) }
		assert.Equal(t, 2.0, grew(`riskwatch_outcomes_total{type="churned"}`))
		assert.Equal(t, 1.0, grew(`riskwatch_alert_fates_total{fate="churned_after_alert"}`))
		assert.Equal(t, 1.0, grew(`riskwatch_alert_fates_total{fate="churned_without_alert"}`))
		assert.Equal(t, 1.0, grew("riskwatch_churn_lead_time_days_count"))

		svc, err := StartService(nc, cluster.Single(e), "0.1.0", time.Now)
		require.NoError(t, err)
		defer func() { require.NoError(t, svc.Stop()) }()
		msg, err := nc.Request("risk.api.outcomes", []byte(`{"owner":"bob"}`), 5*time.Second)
		require.NoError(t, err)
		require.Empty(t, msg.Header.Get(micro.ErrorCodeHeader), string(msg.Data))
		var viaNATS api.OutcomesSummary
		require.NoError(t, json.Unmarshal(msg.Data, &viaNATS))
		assert.Equal(t, sum, viaNATS, "the same summary over NATS")
	})
}

// metricValue reads one series of a Prometheus text exposition.
func metricValue(t testing.TB, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no series %s in the metrics", series)
	return 0
}
