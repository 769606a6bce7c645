package book

import (
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/rules"
)

// Probability is a customer's probability of churning within
// ProbabilityHorizon as of its last evaluation, for the predictive churn
// rate: its raw score through the rule set's calibration
// (scorer.Model.Probability), the figure the API, alerts and digests
// show. Every customer has one: a rule set without a calibration block
// uses rules.DefaultCalibration.
func (b *Book) Probability(c *Customer) (float64, bool) {
	return b.model.Probability(&c.Score), true
}

// ProbabilityHorizon is the horizon of the probabilities Probability
// gives: the calibration's.
func (b *Book) ProbabilityHorizon() time.Duration { return b.model.Horizon() }

// ProbabilitySource names where Probability's figures come from, for
// reports: the calibration, and whether it is the unfitted default.
func (b *Book) ProbabilitySource() string {
	c := b.model.Calibration()
	what := "the rules' calibration"
	if c == rules.DefaultCalibration {
		what = "the default calibration (not fitted to outcomes)"
	}
	return fmt.Sprintf("%s of the raw score: %s, intercept %g, slope %g, horizon %gd",
		what, c.Method, c.Intercept, c.Slope, c.Horizon.Hours()/24)
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
