package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/scorer"
)

// A stand-in for riskd's service on a real server: it answers
// customer.get for "acme" and refuses everything else as riskd does.
func startService(t *testing.T) *client.Client {
	t.Helper()
	_, nc := natstest.Server(t, "")
	svc, err := micro.AddService(nc, micro.Config{Name: api.ServiceName, Version: "0.0.1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	g := svc.AddGroup(api.ServiceGroup)
	require.NoError(t, g.AddEndpoint("customer_get", micro.HandlerFunc(func(r micro.Request) {
		var req api.GetRequest
		_ = json.Unmarshal(r.Data(), &req)
		if req.ID != "acme" {
			body, _ := json.Marshal(api.ErrorBody{Error: `unknown customer "` + req.ID + `"`})
			_ = r.Error("404", "unknown customer", body)
			return
		}
		_ = r.RespondJSON(api.CustomerView{Customer: "acme", Score: 63})
	}), micro.WithEndpointSubject(api.EndpointCustomerGet)))
	require.NoError(t, g.AddEndpoint("outcomes", micro.HandlerFunc(func(r micro.Request) {
		var req api.OutcomesRequest
		_ = json.Unmarshal(r.Data(), &req)
		b := api.NewOutcomesBuilder(req)
		b.Add(&scorer.Outcome{T: 1795000000, ID: "o1", Type: scorer.OutcomeRenewed, ARR: 50000, Prior: 40000, Alert: 1794000000}, nil)
		_ = r.RespondJSON(b.Summary())
	}), micro.WithEndpointSubject(api.EndpointOutcomes)))
	require.NoError(t, nc.Flush())
	return client.New(nc)
}

func TestClientAnswersAndRefusals(t *testing.T) {
	c := startService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Customer(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, 63.0, v.Score)

	_, err = c.Customer(ctx, "nobody")
	var ae *api.Error
	require.ErrorAs(t, err, &ae, "a refusal is an *api.Error")
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.Equal(t, `unknown customer "nobody"`, ae.Msg, "the message is the body's, as over HTTP")

	_, err = c.List(ctx, api.Filter{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no riskwatch service answers on risk.api.customer.list")
}

func TestClientOutcomes(t *testing.T) {
	c := startService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Outcomes(ctx, api.OutcomesRequest{Owner: "alice"})
	require.NoError(t, err)
	assert.Equal(t, api.OutcomesRequest{Owner: "alice"}, s.Request, "the request reaches the service")
	assert.Equal(t, 1, s.Fates[scorer.FateSaved])
	assert.Equal(t, 50000.0, s.ARRSaved)
	require.NotNil(t, s.SaveRate)
	assert.Equal(t, 1.0, *s.SaveRate)
}
