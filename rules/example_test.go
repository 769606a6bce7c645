package rules_test

import (
	"fmt"

	"github.com/riskwatch/riskwatch/rules"
)

func ExampleParse() {
	file := []byte(`
rules:
  - name: ticket-spike
    category: support
    kind: ticket
    when: tickets.opened_7d >= 3 && tickets.spike_ratio >= 2
    weight: 22
    half_life: 14d
    segments: {enterprise: 28}
    detail: "{tickets.opened_7d} tickets opened in 7 days, {tickets.spike_ratio:.1f}x the usual rate"
`)
	set, err := rules.Parse("rules.yaml", file)
	if err != nil {
		fmt.Println(err)
		return
	}
	var f rules.Features
	f.Tickets.Opened7d, f.Tickets.SpikeRatio = 5, 4.14
	f.Profile.Segment = "enterprise"

	r := set.Rules[0]
	fires, err := r.Eval(&f)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fires, r.WeightFor(f.Profile.Segment, f.Profile.Stage), r.HalfLife)
	fmt.Println(r.Render(&f))
	fmt.Println(set.ThresholdsFor("enterprise").Classify(r.WeightFor("enterprise", ""), rules.Healthy))
	// Output:
	// true 28 336h0m0s
	// 5 tickets opened in 7 days, 4.1x the usual rate
	// healthy
}

func ExampleParse_errors() {
	_, err := rules.Parse("rules.yaml", []byte(`
rules:
  - name: ticket-spike
    category: support
    when: tickets.opend_7d >= 3
    weight: 220
    half_life: 14d
`))
	fmt.Println(err)
	// Output:
	// rules.yaml:5: rule "ticket-spike": when: undeclared reference to 'tickets.opend_7d' (did you mean 'tickets.opened_7d'?) (column 18)
	// rules.yaml:6: rule "ticket-spike": weight: 220 must be in [-100, 100] and not 0 (a negative weight protects)
}
