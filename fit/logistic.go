package fit

import (
	"errors"
	"fmt"
	"math"
)

// Logistic fits p(y) = σ(b0 + Σ b_j x_j) by maximum likelihood with an L2
// penalty l2/2·Σ b_j² on the coefficients (not on the intercept b0), by
// Newton's method. The penalty keeps the fit finite on separable data
// and shrinks the coefficients of rules that rarely fire toward 0.
func Logistic(x [][]float64, y []bool, l2 float64) (b0 float64, b []float64, err error) {
	return LogisticPrior(x, y, l2, nil)
}

// LogisticPrior is Logistic shrinking each coefficient toward prior[j]
// instead of 0 (a Gaussian prior centred there): l2/2·Σ (b_j − prior_j)².
// A nil prior is all zeros.
func LogisticPrior(x [][]float64, y []bool, l2 float64, prior []float64) (b0 float64, b []float64, err error) {
	if len(x) == 0 || len(x) != len(y) {
		return 0, nil, fmt.Errorf("fit: %d rows and %d labels", len(x), len(y))
	}
	p := len(x[0])
	pos := 0
	for i, row := range x {
		if len(row) != p {
			return 0, nil, fmt.Errorf("fit: row %d has %d columns, want %d", i, len(row), p)
		}
		if y[i] {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return 0, nil, errors.New("fit: the labels are all one class: nothing to learn")
	}
	// w[0] is the intercept; the penalty's tiny floor on it only keeps
	// the Hessian invertible when a column is constant.
	if prior == nil {
		prior = make([]float64, p)
	}
	if len(prior) != p {
		return 0, nil, fmt.Errorf("fit: %d prior coefficients for %d columns", len(prior), p)
	}
	w := make([]float64, p+1)
	copy(w[1:], prior)
	w[0] = math.Log(float64(pos) / float64(len(y)-pos))
	n := p + 1
	grad := make([]float64, n)
	hess := make([]float64, n*n)
	xi := make([]float64, n)
	penalised := func(w []float64) float64 {
		loss := 0.0
		for i, row := range x {
			z := w[0] + dot(w[1:], row)
			if y[i] {
				loss -= logSigmoid(z)
			} else {
				loss -= logSigmoid(-z)
			}
		}
		for j, v := range w[1:] {
			loss += l2 / 2 * (v - prior[j]) * (v - prior[j])
		}
		return loss
	}
	loss := penalised(w)
	next := make([]float64, n)
	for iter := 0; iter < 100; iter++ {
		clear(grad)
		clear(hess)
		for i, row := range x {
			xi[0] = 1
			copy(xi[1:], row)
			mu := sigmoid(dot(w, xi))
			r := mu - boolf(y[i])
			s := mu * (1 - mu)
			for j, vj := range xi {
				if vj == 0 {
					continue // activations are mostly 0: skip their products
				}
				grad[j] += r * vj
				for k := 0; k <= j; k++ {
					hess[j*n+k] += s * vj * xi[k]
				}
			}
		}
		for j := 1; j < n; j++ {
			grad[j] += l2 * (w[j] - prior[j-1])
			hess[j*n+j] += l2
		}
		for j := range n {
			hess[j*n+j] += 1e-9 // keeps a constant column from making it singular
			for k := j + 1; k < n; k++ {
				hess[j*n+k] = hess[k*n+j] // mirror the lower triangle
			}
		}
		step, err := solve(hess, grad, n)
		if err != nil {
			return 0, nil, fmt.Errorf("fit: Newton step %d: %w", iter, err)
		}
		// Damped: halve the step until the loss does not rise, so a
		// step overshooting on flat, nearly separable data cannot
		// diverge.
		t := 1.0
		var nl float64
		for range 30 {
			for j := range w {
				next[j] = w[j] - t*step[j]
			}
			if nl = penalised(next); nl <= loss {
				break
			}
			t /= 2
		}
		if nl > loss {
			break // no step improves: at the optimum within rounding
		}
		copy(w, next)
		done := math.Abs(loss-nl) < 1e-10*(1+math.Abs(nl))
		loss = nl
		if done {
			break
		}
	}
	return w[0], w[1:], nil
}

// solve solves A x = b for a symmetric positive definite A (n×n, row
// major) by Cholesky.
func solve(a, b []float64, n int) ([]float64, error) {
	l := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			s := a[i*n+j]
			for k := range j {
				s -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				if s <= 0 {
					return nil, errors.New("the Hessian is not positive definite")
				}
				l[i*n+i] = math.Sqrt(s)
			} else {
				l[i*n+j] = s / l[j*n+j]
			}
		}
	}
	x := make([]float64, n)
	for i := range n { // L y = b
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * x[k]
		}
		x[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- { // Lᵀ x = y
		s := x[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * x[k]
		}
		x[i] = s / l[i*n+i]
	}
	return x, nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// logSigmoid is log σ(z) without overflow for large |z|.
func logSigmoid(z float64) float64 {
	if z < 0 {
		return z - math.Log1p(math.Exp(z))
	}
	return -math.Log1p(math.Exp(-z))
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
