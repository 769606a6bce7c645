package backtest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/backtest"
)

// BenchmarkRun is a backtest of a 120-customer, 240-day base: ns per
// signal applied (the dates' observations included).
func BenchmarkRun(b *testing.B) {
	h, err := backtest.Read(bytes.NewReader(base(1, 120, 240, time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC))), nil)
	if err != nil {
		b.Fatal(err)
	}
	m := defaultModel(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backtest.Run(context.Background(), h, backtest.Config{Models: []backtest.Model{m}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(h.Signals)), "ns/signal")
}
