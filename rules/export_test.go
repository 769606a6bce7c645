package rules

import (
	"os"
	"testing"
)

// EvalCEL is Eval without the compiled evaluator, the way Eval ran before
// it: for the benchmarks of package rules_test, which compare the two.
func (r *Rule) EvalCEL(f *Features) (bool, error) {
	return r.evalCEL(f, r.fast != nil && stringsBounded(f))
}

// defaultRulesYAML is configs/rules.yaml, read from disk: the configs
// package embeds it but imports this one, so this package's own tests
// cannot import it.
func defaultRulesYAML(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
