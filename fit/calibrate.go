package fit

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
)

// Platt fits p = σ(A + B·raw) to the labels: a one-feature logistic
// regression, unpenalised but for a floor that keeps it finite when the
// scores separate the classes. The raw scores are scaled to about unit
// size first, so that the floor means the same at any scale.
func Platt(raw []float64, y []bool, horizon time.Duration) (rules.Calibration, error) {
	scale := 0.0
	for _, r := range raw {
		scale = max(scale, math.Abs(r))
	}
	if scale == 0 {
		scale = 1
	}
	x := make([][]float64, len(raw))
	for i, r := range raw {
		x[i] = []float64{r / scale}
	}
	a, b, err := Logistic(x, y, 1e-6)
	if err != nil {
		return rules.Calibration{}, fmt.Errorf("platt: %w", err)
	}
	c := rules.Calibration{Method: rules.MethodPlatt, Intercept: a, Slope: b[0] / scale, Horizon: horizon}
	if c.Slope < 0 {
		return c, fmt.Errorf("platt: the churn rate falls as the score rises (slope %.4g): the score does not predict churn", c.Slope)
	}
	return c, nil
}

// Brier is the mean squared error of the probabilities against the
// outcomes: 0 is perfect, p·(1-p) is what the base rate p alone scores.
func Brier(p []float64, y []bool) float64 {
	if len(p) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i, v := range p {
		d := v - boolf(y[i])
		s += d * d
	}
	return s / float64(len(p))
}

// CalibrationError is the expected calibration error over bins of equal
// count (ten, or fewer for few observations): the mean, weighted by bin
// size, of |mean predicted − observed churn rate|.
func CalibrationError(p []float64, y []bool) float64 {
	n := len(p)
	if n == 0 {
		return math.NaN()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(p[a], p[b]) })
	bins := min(10, n)
	total := 0.0
	for b := range bins {
		lo, hi := b*n/bins, (b+1)*n/bins
		var sp, sy float64
		for _, i := range idx[lo:hi] {
			sp += p[i]
			sy += boolf(y[i])
		}
		total += math.Abs(sp - sy) // = size × |mean p − rate|
	}
	return total / float64(n)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
