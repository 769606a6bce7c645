package rules_test

import (
	"hash/maphash"
	"testing"

	"github.com/riskwatch/riskwatch/rules"
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
	// cel is the interpreter alone, as Eval ran before the default rules
	// were compiled; compiled is Eval as it runs now.
	for _, path := range []struct {
		name string
		eval func(*rules.Rule, *rules.Features) (bool, error)
	}{
		{"cel", (*rules.Rule).EvalCEL},
		{"compiled", (*rules.Rule).Eval},
	} {
		b.Run("default-set/"+path.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range s.Rules {
					if _, err := path.eval(r, &f); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	r := defaultSet(b).Rule("usage-drop")
	f := troubled()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Render(&f)
	}
}

// BenchmarkFingerprint is what the scorer pays per evaluation to know
// whether the rules' outcomes can have changed.
func BenchmarkFingerprint(b *testing.B) {
	f := troubled()
	s1, s2 := maphash.MakeSeed(), maphash.MakeSeed()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = f.Fingerprint(s1, s2)
	}
}
