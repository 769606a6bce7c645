package apiserver

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/churn"
)

// churnEngine has three customers: x since September, y from September
// until it churned on 15 October, z new in October.
func churnEngine() *fakeEngine {
	f := newFakeEngine()
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 9, 0, 0, 0, time.UTC) }
	f.lifetimes = []churn.Customer{
		{ID: "x", Segment: "smb", ARR: 200, First: day(9, 10), Probability: 0.3, HasProbability: true},
		{ID: "y", Segment: "enterprise", ARR: 1000, First: day(9, 20), Churned: day(10, 15), Probability: 0.9, HasProbability: true},
		{ID: "z", Segment: "smb", ARR: 500, First: day(10, 5), Probability: 0.1, HasProbability: true},
	}
	f.asOf = fixedNow
	return f
}

func churnOf(t *testing.T, body []byte) api.ChurnReport {
	t.Helper()
	var r api.ChurnReport
	require.NoError(t, json.Unmarshal(body, &r), string(body))
	return r
}

func TestChurnHTTP(t *testing.T) {
	h := newTestHandler(churnEngine(), "")
	rec := do(t, h, "GET", "/v1/churn?by=month", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	r := churnOf(t, rec.Body.Bytes())
	assert.Equal(t, churn.Month, r.By)
	assert.Equal(t, fixedNow, r.AsOf, "as of the engine's time")
	require.Len(t, r.Periods, 3)
	oct := r.Periods[1].Rows[0]
	assert.Equal(t, "2026-10", r.Periods[1].Label)
	// x and y at the start, z new, y lost.
	assert.Equal(t, []int{2, 1, 1, 0, 2}, []int{oct.Start, oct.New, oct.Lost, oct.LostNew, oct.End})
	assert.InDelta(t, 0.5, float64(oct.Simple), 1e-9)
	assert.InDelta(t, 1000.0/1200, float64(oct.Revenue), 1e-6)
	nov := r.Periods[2]
	assert.True(t, nov.Open)
	require.NotNil(t, nov.Rows[0].Predictive, "the open period is predicted")
	assert.Equal(t, 2, nov.Rows[0].Predictive.Customers, "x and z; y is gone")
	assert.Nil(t, r.Periods[1].Rows[0].Predictive)
	assert.False(t, r.Periods[0].Rows[0].Simple.Valid(), "nobody at September's start: null")
	assert.Contains(t, rec.Body.String(), `"simple":null`)

	rec = do(t, h, "GET", "/v1/churn?by=quarter&from=2026-07-01", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	r = churnOf(t, rec.Body.Bytes())
	require.Len(t, r.Periods, 2)
	assert.Equal(t, []string{"2026-Q3", "2026-Q4"}, []string{r.Periods[0].Label, r.Periods[1].Label})

	for _, tc := range []struct{ target, want string }{
		{"/v1/churn?by=week", `by "week": want month or quarter`},
		{"/v1/churn?from=yesterday", `from "yesterday": want a date`},
		{"/v1/churn?from=2026-10-01&to=2026-09-01", "before from"},
		{"/v1/churn?by=month&by=quarter", `"by" given 2 times`},
		{"/v1/churn?per=month", `unknown query parameter "per"`},
	} {
		rec := do(t, h, "GET", tc.target, "")
		assert.Equal(t, http.StatusBadRequest, rec.Code, tc.target)
		assert.Contains(t, errorOf(t, rec), tc.want, tc.target)
	}
	rec = do(t, h, "POST", "/v1/churn", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET", rec.Header().Get("Allow"))

	empty := newFakeEngine()
	rec = do(t, newTestHandler(empty, ""), "GET", "/v1/churn", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Empty(t, churnOf(t, rec.Body.Bytes()).Periods, "no customers, no periods")
	assert.Contains(t, rec.Body.String(), `"periods":[]`)
}

func TestChurnService(t *testing.T) {
	_, nc := startNATS(t)
	svc, err := StartService(nc, churnEngine(), "0.1.0", clock)
	require.NoError(t, err)
	defer func() { require.NoError(t, svc.Stop()) }()

	code, body := request(t, nc, "risk.api.churn", `{"by":"quarter"}`)
	require.Empty(t, code, string(body))
	r := churnOf(t, body)
	require.Len(t, r.Periods, 2)
	q4 := r.Periods[1].Rows[0]
	assert.Equal(t, []int{2, 1, 1}, []int{q4.Start, q4.New, q4.Lost})

	code, body = request(t, nc, "risk.api.churn", `{"by":"year"}`)
	assert.Equal(t, "400", code, string(body))
	code, body = request(t, nc, "risk.api.churn", `{"per":"month"}`)
	assert.Equal(t, "400", code, string(body))
}
