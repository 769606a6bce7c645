package rules_test

import (
	"errors"
	"testing"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, must
// return a Set or only *Error problems naming the file, and whatever it
// accepts must evaluate and render without panicking.
func FuzzParse(f *testing.F) {
	f.Add(configs.DefaultRules)
	f.Add([]byte(rule(validRule...)))
	f.Add([]byte("tiers: {watch: 50, at_risk: 40}\nrules:\n  - name: x\n"))
	f.Add([]byte("rules:\n  - &a {name: r, category: c, when: 'true', weight: 1, half_life: 1d}\n  - *a\n"))
	f.Add([]byte("rules:\n  - name: r\n    category: c\n    weight: 1\n    half_life: 1d\n    when: |\n      [1,2].all(x, x > 0)\n    detail: \"{usage.drop_pct:.1f}\"\n"))
	troubledFeatures, healthyFeatures := troubled(), healthy()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("a Set and an error: %v", err)
			}
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			for _, e := range errs {
				var re *rules.Error
				if !errors.As(e, &re) || re.File != "fuzz.yaml" || re.Line < 0 {
					t.Fatalf("problem %T %v is not a *rules.Error about fuzz.yaml", e, e)
				}
			}
			return
		}
		if len(s.Rules) == 0 {
			t.Fatal("accepted a file without rules")
		}
		for _, r := range s.Rules {
			for _, f := range []*rules.Features{&troubledFeatures, &healthyFeatures, {}} {
				_, _ = r.Eval(f) // runtime errors are fine; panics are not
				_ = r.Render(f)
			}
		}
	})
}
