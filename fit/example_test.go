package fit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/fit"
	"github.com/riskwatch/riskwatch/rules"
)

// Fit a hand-weighed rule file to a history with outcomes, and write the
// fitted file unless it validates worse than the input.
func ExampleFit() {
	src, _ := os.ReadFile("testdata/rules.yaml")
	input, err := rules.Parse("rules.yaml", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := backtest.Read(bytes.NewReader(small(3, 200)), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := fit.Fit(context.Background(), h, input, src, fit.Config{Horizon: 30 * 24 * time.Hour, Holdout: 0.3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range r.Coefficients {
		fmt.Printf("%s: %g -> %g\n", c.Rule, c.Input, c.Weight)
	}
	fmt.Printf("tiers %g/%g/%g\n", r.Tiers.Watch, r.Tiers.AtRisk, r.Tiers.Critical)
	fmt.Printf("AUC %.3f, input %.3f; worse: %v\n", r.FittedFigures.AUC, r.InputFigures.AUC, r.Worse())
	if !r.Worse() {
		_ = r.File("history.ndjson") // the rule file to write
	}
	// Output:
	// ticket-spike: 45 -> 68.8
	// usage-drop: 20 -> 30.8
	// promoter: -5 -> -7.7
	// tiers 14/27/41
	// AUC 0.795, input 0.795; worse: false
}
