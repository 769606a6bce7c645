package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/rules"
)

// The calibrated probability reaches every view of the real engine: the
// customer (HTTP and the explain endpoint), and each item of the list,
// which ranks by it (through the raw score), not by the capped score.
func TestAPIProbabilityWithRealEngine(t *testing.T) {
	_, nc := startNATS(t)
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	e, err := engine.New(nc, engine.Config{Rules: set, CheckpointInterval: 50 * time.Millisecond, Registry: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-runDone, "the engine stops cleanly")
	})
	h := NewHandler(cluster.Single(e), reg, "", time.Now, nil)
	require.Eventually(t, func() bool { return do(t, h, "GET", "/readyz", "").Code == http.StatusOK },
		20*time.Second, 20*time.Millisecond, "the engine becomes ready")
	svc, err := StartService(nc, cluster.Single(e), "0.1.0", time.Now)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, svc.Stop()) })

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	// Four customers with more and more bad news, the last one sent the
	// one every view waits for. "worst" and "bad" both score 100, and by
	// id "bad" would come first.
	news := []struct{ kind, data string }{
		{"commercial", `{"type":"cancellation_inquiry"}`},
		{"champion", `{"type":"left","contact":"Jo"}`},
		{"nps", `{"score":2,"comment":"leaving"}`},
		{"commercial", `{"type":"downgrade_request","change_pct":-40}`},
		{"billing", `{"type":"payment_failed"}`},
		{"rating", `{"value":"red","by":"alice"}`},
	}
	customers := map[string]int{"few": 1, "some": 3, "bad": 5, "worst": len(news)}
	n := 0
	for _, id := range []string{"few", "some", "bad", "worst"} {
		for i, s := range news[:customers[id]] {
			n++
			publishSignal(t, js, fmt.Sprintf("%s-%d", id, i), s.kind, id, base.Add(time.Duration(n)*time.Minute), s.data)
		}
	}
	require.Eventually(t, func() bool {
		v, ok := e.Customer("worst")
		return ok && v.LastEvent.Equal(base.Add(time.Duration(n)*time.Minute))
	}, 20*time.Second, 20*time.Millisecond, "the signals are scored")

	cal := set.Calibration
	views := map[string]api.CustomerView{}
	for id := range customers {
		v := viewOf(t, do(t, h, "GET", "/v1/customers/"+id, ""))
		assert.Equal(t, min(max(v.RawScore, 0), 100), v.Score, "%s: the score is the raw score clamped", id)
		assert.InDelta(t, cal.Probability(v.RawScore), v.Probability, 1e-12, "%s: p from the raw score", id)
		assert.Equal(t, 90.0, v.HorizonDays, id)
		views[id] = v

		var raw map[string]any
		require.NoError(t, json.Unmarshal(do(t, h, "GET", "/v1/customers/"+id, "").Body.Bytes(), &raw))
		for _, k := range []string{"probability", "horizon_days", "raw_score"} {
			assert.Contains(t, raw, k, "%s: field %s", id, k)
		}
	}
	for _, id := range []string{"few", "some", "bad", "worst"} {
		t.Logf("%s: score %v, raw %v, p %.3f", id, views[id].Score, views[id].RawScore, views[id].Probability)
	}
	assert.Equal(t, 100.0, views["worst"].Score)
	assert.Equal(t, 100.0, views["bad"].Score, "both at the cap")
	assert.Greater(t, views["worst"].Probability, views["bad"].Probability, "the cap ties the scores, not the probabilities")
	assert.Greater(t, views["bad"].Probability, views["some"].Probability, "more bad news, a higher probability")
	assert.Greater(t, views["some"].Probability, views["few"].Probability)

	// The explain endpoint, through the Go client.
	c := client.New(nc)
	var explained api.CustomerView
	_, err = c.Call(context.Background(), api.EndpointExplain, api.GetRequest{ID: "worst"}, &explained)
	require.NoError(t, err)
	assert.Equal(t, views["worst"].Probability, explained.Probability)
	assert.Equal(t, 90.0, explained.HorizonDays)
	assert.NotEmpty(t, explained.Reasons)

	for _, sort := range []string{"score", "probability", ""} {
		var resp api.ListResponse
		rec := do(t, h, "GET", "/v1/customers?sort="+sort, "")
		if sort == "" {
			rec = do(t, h, "GET", "/v1/customers", "")
		}
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		require.Len(t, resp.Customers, 4, "sort %q", sort)
		var ids []string
		for _, v := range resp.Customers {
			ids = append(ids, v.Customer)
			assert.Equal(t, views[v.Customer].Probability, v.Probability, "sort %q: %s in the list as in its view", sort, v.Customer)
		}
		// No profile, no ARR: no revenue at risk, so every sort ranks by
		// the raw score and its probability.
		assert.Equal(t, []string{"worst", "bad", "some", "few"}, ids, "sort %q", sort)
	}
}
