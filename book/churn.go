package book

import (
	"time"

	"github.com/riskwatch/riskwatch/churn"
)

// ProbabilityHorizon is the horizon of the churn probabilities that
// Probability gives and the predictive churn rate reads.
const ProbabilityHorizon = 90 * 24 * time.Hour

// ProbabilitySource names where Probability's figures come from, for
// reports.
const ProbabilitySource = "score/100, standing in for a calibrated probability"

// Probability is a customer's probability of churning within
// ProbabilityHorizon, for the predictive churn rate. The score is not a
// probability: score/100, clamped to [0, 1], stands in for one until the
// score is calibrated on outcomes, and this function is the one place a
// calibrated probability replaces it.
func Probability(c *Customer) (float64, bool) {
	return min(max(c.Score.Score/100, 0), 1), true
}

// Lifetimes are every customer's lifetime as churn analytics read it:
// first seen at its earliest event, churned at its first churn outcome,
// segment, stage and ARR from its profile, and its churn probability from
// prob when prob is set and says it has one. Customers with a profile but
// no signal are not counted: they were never seen. The book keeps no
// history of ARR changes, so the lifetimes carry none.
func (b *Book) Lifetimes(prob func(*Customer) (float64, bool)) []churn.Customer {
	out := make([]churn.Customer, 0, len(b.customers))
	for id, c := range b.customers {
		l := churn.Customer{ID: id, First: time.Unix(c.Score.First, 0).UTC()}
		if c.Score.First == 0 {
			l.First = time.Time{}
		}
		if c.Score.Churned != 0 {
			l.Churned = time.Unix(c.Score.Churned, 0).UTC()
		}
		if p := c.Profile; p != nil {
			l.Segment, l.Stage, l.ARR = p.Segment, p.Stage, p.ARR
		}
		if prob != nil {
			if p, ok := prob(c); ok {
				l.Probability, l.HasProbability = p, true
			}
		}
		out = append(out, l)
	}
	return out
}
