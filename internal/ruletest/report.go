package ruletest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report writes the results of a suite the way promtool does: every
// failing test with the expectation, what differs (got, want) and the
// explanation of the score that was seen; passing tests only when verbose;
// then a summary line. It returns how many tests failed.
func Report(w io.Writer, s *Suite, results []Result, verbose bool) int {
	failed := 0
	for i := range results {
		r := &results[i]
		if r.Passed() {
			if verbose {
				fmt.Fprintf(w, "ok    %s\n", r.Test.Name)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s  (%s:%d)\n", r.Test.Name, s.Path, r.Test.Line)
		fmt.Fprintf(w, "      customer %s\n", describeCustomer(r.Test))
		if r.Err != nil {
			fmt.Fprintf(w, "      error: %v\n", r.Err)
		}
		for _, f := range r.Failures {
			writeFailure(w, s, &f)
		}
	}
	rules := "the built-in rules"
	if s.RuleFile != "" {
		rules = s.RuleFile
	}
	if failed == 0 {
		fmt.Fprintf(w, "%s: %d tests passed (rules: %s)\n", s.Path, len(results), rules)
	} else {
		fmt.Fprintf(w, "%s: %d of %d tests FAILED (rules: %s)\n", s.Path, failed, len(results), rules)
	}
	return failed
}

func writeFailure(w io.Writer, s *Suite, f *Failure) {
	fmt.Fprintf(w, "      at %s  (%s:%d)\n", f.Expect.At.Format(time.RFC3339), s.Path, f.Expect.Line)
	for _, p := range f.Problems {
		fmt.Fprintf(w, "        %s\n", p)
	}
	fmt.Fprintf(w, "      got score %.1f (raw %.1f), tier %s, previous tier %s\n", f.Got.Score, f.Got.Raw, f.Got.Tier, f.Got.PreviousTier)
	if len(f.Got.Contributions) == 0 {
		fmt.Fprintln(w, "        no rule contributes")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range f.Got.Contributions {
		state := "fading"
		if c.Firing {
			state = "firing"
		}
		ids := ""
		if len(c.Signals) > 0 {
			ids = "[" + strings.Join(c.Signals, " ") + "]"
		}
		fmt.Fprintf(tw, "        %s\t+%.1f\t%s\t%s\t%s\n", c.Rule, c.Contribution, state, c.Detail, ids)
	}
	_ = tw.Flush()
	for _, err := range f.Got.Errors {
		fmt.Fprintf(w, "        rule error: %v\n", err)
	}
	if len(f.Alerts) > 0 {
		fmt.Fprintln(w, "      alerts since the previous expectation:")
		for _, a := range f.Alerts {
			fmt.Fprintf(w, "        %s  %s/%s  score %.1f\n", a.Time.Format(time.RFC3339), a.Type, a.Severity, a.Score)
		}
	}
}

// describeCustomer names the test's customer and the profile facts that
// change weights and thresholds.
func describeCustomer(t *Test) string {
	if t.Profile == nil {
		return t.Customer + " (no profile)"
	}
	parts := []string{t.Customer}
	for _, f := range []struct{ k, v string }{{"segment", t.Profile.Segment}, {"stage", t.Profile.Stage},
		{"renews", t.Profile.RenewalDate}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	return strings.Join(parts, ", ")
}
