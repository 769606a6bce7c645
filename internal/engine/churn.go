package engine

import (
	"time"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/churn"
)

// ProbabilityHorizon is the horizon of the churn probabilities that the
// predictive churn rate reads.
const ProbabilityHorizon = 90 * 24 * time.Hour

// probabilitySource names where the probabilities come from, in reports.
const probabilitySource = "score/100, standing in for a calibrated probability"

// probability is a customer's probability of churning within
// ProbabilityHorizon, for the predictive churn rate. The score is not a
// probability: score/100, clamped to [0, 1], stands in for one until the
// score is calibrated on outcomes, and this function is the one place a
// calibrated probability replaces it.
func probability(c *book.Customer) (float64, bool) {
	return min(max(c.Score.Score/100, 0), 1), true
}

// Lifetimes are every customer's lifetime for churn analytics, and what
// they stand at: the book's watermark, and the horizon and the source of
// the probabilities. They are copied under the read lock; the report is
// computed outside it.
func (e *Engine) Lifetimes() ([]churn.Customer, churn.Config) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	cfg := churn.Config{Horizon: ProbabilityHorizon, Source: probabilitySource}
	if wm := e.book.Clock().Watermark; wm != 0 {
		cfg.AsOf = time.Unix(wm, 0).UTC()
	}
	return e.book.Lifetimes(probability), cfg
}
