package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
)

// Connect as the NATS tools do (NATS_URL, NATS_CREDS, ...) and list the
// customers at risk of one CSM, largest revenue at risk first.
func Example() {
	nc, err := client.Connect(client.Options{Name: "my-report"}.FromEnv())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	views, err := client.New(nc).List(ctx, api.Filter{Tier: "risk", Owner: "alice", Limit: 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range views {
		fmt.Printf("%s %s %.0f\n", v.Customer, v.Tier, v.RevenueAtRisk)
	}
}
