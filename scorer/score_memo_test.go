package scorer

import (
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// BenchmarkScoreMemo is BenchmarkEvaluateMemo without the explanation:
// what the engine pays per signal for a customer with many contributions.
func BenchmarkScoreMemo(b *testing.B) {
	m := memoModel(b)
	p := &signals.Profile{ID: "acme", ARR: 80000, Segment: "mid_market", Owner: "alice",
		RenewalDate: memoStart.AddDate(0, 3, 0).Format(time.DateOnly)}
	st := NewState("acme")
	sigs := memoSignals()
	for i := range sigs {
		if err := m.Apply(st, &sigs[i], p); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Unix(st.Watermark, 0)
	if r := m.Score(st, p, at); len(r.Contributions) < 3 {
		b.Fatalf("%d contributions: the customer should be one with much to explain", len(r.Contributions))
	}
	b.Run("hit", func(b *testing.B) {
		m.Score(st, p, at)
		b.ReportAllocs()
		for b.Loop() {
			m.Score(st, p, at)
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.memo = ruleMemo{}
			m.Score(st, p, at)
		}
	})
}
