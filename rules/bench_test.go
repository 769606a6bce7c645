package rules_test

import (
	"testing"
)

func BenchmarkEval(b *testing.B) {
	s := defaultSet(b)
	f := troubled()
	b.Run("ticket-spike", func(b *testing.B) {
		r := s.Rule("ticket-spike")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Eval(&f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("default-set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range s.Rules {
				if _, err := r.Eval(&f); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkRender(b *testing.B) {
	r := defaultSet(b).Rule("usage-drop")
	f := troubled()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Render(&f)
	}
}
