package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

func TestClientChurn(t *testing.T) {
	_, nc := natstest.Server(t, "")
	svc, err := micro.AddService(nc, micro.Config{Name: api.ServiceName, Version: "0.0.1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	var asked []byte
	require.NoError(t, svc.AddGroup(api.ServiceGroup).AddEndpoint("churn", micro.HandlerFunc(func(r micro.Request) {
		asked = r.Data()
		_ = r.Respond([]byte(`{"by":"quarter","as_of":"2026-11-20T00:00:00Z","customers":3,"periods":[` +
			`{"period":"2026-Q4","start":"2026-10-01T00:00:00Z","end":"2027-01-01T00:00:00Z","open":true,` +
			`"rows":[{"group":"all","start":0,"new":3,"lost":1,"lost_new":1,"end":2,"simple":null,"adjusted":1}]}]}`))
	}), micro.WithEndpointSubject(api.EndpointChurn)))
	require.NoError(t, nc.Flush())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := client.New(nc).Churn(ctx, api.ChurnRequest{By: "quarter"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"by":"quarter"}`, string(asked))
	require.Len(t, r.Periods, 1)
	row := r.Periods[0].Rows[0]
	assert.False(t, row.Simple.Valid(), "null is undefined, not a churn rate of 0")
	assert.Equal(t, 1.0, float64(row.Adjusted))
	assert.Equal(t, 3, r.Customers)
}
