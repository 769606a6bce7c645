package rules

// EvalCEL is Eval without the compiled evaluator, the way Eval ran before
// it: for the benchmarks of package rules_test, which compare the two.
func (r *Rule) EvalCEL(f *Features) (bool, error) {
	return r.evalCEL(f, r.fast != nil && stringsBounded(f))
}
