package book

import (
	"time"

	"github.com/riskwatch/riskwatch/churn"
)

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
