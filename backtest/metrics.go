package backtest

import (
	"cmp"
	"math"
	"slices"
)

// AUC is the area under the ROC curve of scores against labels: the
// chance that a random positive scores above a random negative, ties
// counting half (the Mann-Whitney U statistic over both counts). NaN
// when either class is empty.
func AUC(scores []float64, labels []bool) float64 {
	type obs struct {
		s   float64
		pos bool
	}
	all := make([]obs, len(scores))
	var npos, nneg float64
	for i, s := range scores {
		all[i] = obs{s, labels[i]}
		if labels[i] {
			npos++
		} else {
			nneg++
		}
	}
	if npos == 0 || nneg == 0 {
		return math.NaN()
	}
	slices.SortFunc(all, func(a, b obs) int { return cmp.Compare(a.s, b.s) })
	// Sum of the positives' ranks, tied scores sharing their mean rank.
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			j++
		}
		mean := float64(i+j+1) / 2 // ranks i+1 … j
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mean
			}
		}
		i = j
	}
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}

// Confusion counts flagged and actual churners.
type Confusion struct {
	TP, FP, FN, TN int
	// Revenue of the churners flagged (TP) and of all churners.
	CaughtARR, ChurnedARR float64
}

// Add counts one observation.
func (c *Confusion) Add(flagged, churned bool, arr float64) {
	switch {
	case flagged && churned:
		c.TP++
		c.CaughtARR += arr
	case flagged:
		c.FP++
	case churned:
		c.FN++
	default:
		c.TN++
	}
	if churned {
		c.ChurnedARR += arr
	}
}

// Recall is the share of churners flagged.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// Precision is the share of flagged customers that churned.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// FalseAlertRate is the share of customers who stayed that were flagged.
func (c Confusion) FalseAlertRate() float64 { return ratio(c.FP, c.FP+c.TN) }

// RevenueRecall is the share of the churners' revenue flagged.
func (c Confusion) RevenueRecall() float64 {
	if c.ChurnedARR == 0 {
		return math.NaN()
	}
	return c.CaughtARR / c.ChurnedARR
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// median of xs (NaN for none); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
