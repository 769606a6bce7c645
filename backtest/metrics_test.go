package backtest

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"perfect", []float64{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		{"inverted", []float64{4, 3, 2, 1}, []bool{false, false, true, true}, 0},
		{"all tied", []float64{5, 5, 5, 5}, []bool{false, true, false, true}, 0.5},
		// Pairs (pos, neg): (.35,.1) 1, (.35,.4) 0, (.8,.1) 1, (.8,.4) 1.
		{"three of four pairs", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75},
		// (1,1) a tie: ½; (1,2) 0.
		{"a tie counts half", []float64{1, 1, 2}, []bool{true, false, false}, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, AUC(tt.scores, tt.labels), 1e-12)
		})
	}
	assert.True(t, math.IsNaN(AUC([]float64{1, 2}, []bool{false, false})), "no churner: undefined")
	assert.True(t, math.IsNaN(AUC(nil, nil)))
}

func TestConfusion(t *testing.T) {
	var c Confusion
	// 3 churners (2 flagged), 7 stayers (1 flagged).
	for _, o := range []struct {
		flagged, churned bool
		arr              float64
	}{
		{true, true, 100}, {true, true, 50}, {false, true, 850},
		{true, false, 10}, {false, false, 0}, {false, false, 0}, {false, false, 0},
		{false, false, 0}, {false, false, 0}, {false, false, 0},
	} {
		c.Add(o.flagged, o.churned, o.arr)
	}
	assert.Equal(t, Confusion{TP: 2, FP: 1, FN: 1, TN: 6, CaughtARR: 150, ChurnedARR: 1000}, c)
	assert.InDelta(t, 2.0/3, c.Recall(), 1e-12)
	assert.InDelta(t, 2.0/3, c.Precision(), 1e-12)
	assert.InDelta(t, 1.0/7, c.FalseAlertRate(), 1e-12)
	assert.InDelta(t, 0.15, c.RevenueRecall(), 1e-12)
	assert.True(t, math.IsNaN(Confusion{}.Recall()))
	assert.True(t, math.IsNaN(Confusion{}.RevenueRecall()))
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 3.0, median([]float64{5, 1, 3}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.True(t, math.IsNaN(median(nil)))
}

func TestNumJSON(t *testing.T) {
	b, err := Num(math.NaN()).MarshalJSON()
	assert.NoError(t, err)
	assert.Equal(t, "null", string(b))
	b, _ = Num(0.123456).MarshalJSON()
	assert.Equal(t, "0.1235", string(b))
	assert.Equal(t, "-", Num(math.NaN()).String())
}
