package backtest_test

import (
	"fmt"

	"github.com/riskwatch/riskwatch/backtest"
)

func ExampleAUC() {
	// Scores of four customers at one date, and who churned after it.
	scores := []float64{12, 55, 40, 81}
	churned := []bool{false, false, true, true}
	fmt.Printf("%.2f\n", backtest.AUC(scores, churned))
	// Output: 0.75
}

func ExampleConfusion() {
	var c backtest.Confusion
	c.Add(true, true, 120_000) // flagged, churned
	c.Add(true, false, 40_000) // flagged, stayed: a false alert
	c.Add(false, true, 30_000) // missed
	c.Add(false, false, 80_000)
	fmt.Printf("recall %.2f, precision %.2f, false alerts %.2f, revenue recall %.2f\n",
		c.Recall(), c.Precision(), c.FalseAlertRate(), c.RevenueRecall())
	// Output: recall 0.50, precision 0.50, false alerts 0.50, revenue recall 0.80
}
