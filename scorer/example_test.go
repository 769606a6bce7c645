package scorer_test

import (
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

func Example() {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := scorer.NewModel(set)
	p := &signals.Profile{ID: "acme", ARR: 120000, Segment: "enterprise", Owner: "alice", RenewalDate: "2026-12-20"}
	st := scorer.NewState("acme")

	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	five := int64(5)
	for i, s := range []signals.Signal{
		{Kind: signals.KindNPS, Time: start, NPS: signals.NPS{Score: &five}},
		{Kind: signals.KindCommercial, Time: start.Add(48 * time.Hour), Commercial: signals.Commercial{Type: signals.DiscountRequest}},
		{Kind: signals.KindChampion, Time: start.Add(72 * time.Hour), Champion: signals.Champion{Type: "left"}},
	} {
		s.ID, s.Customer = fmt.Sprintf("sig-%d", i), "acme"
		if err := m.Apply(st, &s, p); err != nil {
			fmt.Println(err)
			return
		}
	}
	res := m.Evaluate(st, p, start.Add(96*time.Hour))
	fmt.Printf("score %.0f, %s\n", res.Score, res.Tier)
	for _, c := range res.Contributions {
		fmt.Printf("%5.1f %s: %s %v\n", c.Contribution, c.Rule, c.Detail, c.Signals)
	}
	// Output:
	// score 85, critical
	//  40.0 price-pressure-near-renewal: 1 discount, 0 downgrade and 0 contract reduction requests in 90 days, the latest 47 days before renewal [sig-1]
	//  35.0 champion-lost: the champion left 1 day ago and no new one is known [sig-2]
	//  10.0 nps-detractor: NPS answer 5 (detractor) 4 days ago [sig-0]
}
