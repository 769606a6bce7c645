package engine

import (
	"time"

	"github.com/riskwatch/riskwatch/churn"
)

// Lifetimes are every customer's lifetime for churn analytics, and what
// they stand at: the book's watermark, and the horizon and the source of
// the probabilities (Book.Probability: the calibrated p(churn)). They are copied under the read
// lock; the report is computed outside it.
func (e *Engine) Lifetimes() ([]churn.Customer, churn.Config) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	cfg := churn.Config{Horizon: e.book.ProbabilityHorizon(), Source: e.book.ProbabilitySource()}
	if wm := e.book.Clock().Watermark; wm != 0 {
		cfg.AsOf = time.Unix(wm, 0).UTC()
	}
	return e.book.Lifetimes(e.book.Probability), cfg
}
