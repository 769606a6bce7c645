package push_test

import (
	"fmt"

	"github.com/riskwatch/riskwatch/push"
)

// A customer moved from watch to at_risk: the change is pushed to
// HubSpot in one batch update.
func Example() {
	last := &push.Record{Customer: "acme-corp", Score: 52, Tier: "watch"}
	cur := push.Record{Customer: "acme-corp", Score: 61, Tier: "at_risk", Reasons: "ticket-spike +22"}
	if !push.Changed(last, cur, push.DefaultThresholds) {
		return
	}
	d := push.Destination{Type: push.TypeHubSpot, Token: "pat-example", KeyField: "riskwatch_id"}
	reqs, err := d.Build([]push.Record{cur})
	if err != nil {
		panic(err)
	}
	fmt.Println(reqs[0].Method, reqs[0].URL)
	fmt.Println(string(reqs[0].Body))
	// Output:
	// POST https://api.hubapi.com/crm/v3/objects/companies/batch/update
	// {"inputs":[{"id":"acme-corp","idProperty":"riskwatch_id","properties":{"riskwatch_score":"61","riskwatch_tier":"at_risk","riskwatch_top_reasons":"ticket-spike +22"}}]}
}
