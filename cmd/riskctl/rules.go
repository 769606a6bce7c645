package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/ruletest"
	"github.com/riskwatch/riskwatch/rules"
)

var rulesCheckCmd = &command{
	name:    "rules check",
	args:    "[--json] [FILE...]",
	summary: "validate rule files: CEL types, unknown features, thresholds",
	help: `Parses and type-checks each rule file as riskd would load it: YAML
structure, unknown keys, CEL conditions (types, unknown features, cost),
detail templates, weights, half-lives and tier thresholds. Every problem is
printed on its own line as FILE:LINE: rule "NAME": message, the form
editors and CI annotators jump to. Without FILE, checks the built-in rules.
Exits 1 if any file has a problem.`,
	example: `riskctl rules check configs/rules.yaml
configs/rules.yaml: 27 rules OK`,
	run: runRulesCheck,
}

type checkResult struct {
	File   string        `json:"file"`
	Rules  int           `json:"rules"`
	OK     bool          `json:"ok"`
	Errors []*checkError `json:"errors,omitempty"`
}

type checkError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
	Text    string `json:"text"`
}

func runRulesCheck(e *env, c *command, args []string) int {
	fs := e.flags(c)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	files, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		files = []string{""}
	}
	var results []checkResult
	failed := false
	for _, f := range files {
		var (
			set *rules.Set
			err error
		)
		name := f
		if f == "" {
			name = "configs/rules.yaml (built in)"
			set, err = rules.Parse(name, configs.DefaultRules)
		} else {
			set, err = rules.Load(f)
		}
		r := checkResult{File: name, OK: err == nil}
		if err != nil {
			failed = true
			r.Errors = ruleErrors(name, err)
		} else {
			r.Rules = len(set.Rules)
		}
		results = append(results, r)
		if *asJSON {
			continue
		}
		if r.OK {
			fmt.Fprintf(e.stdout, "%s: %d rules OK\n", name, r.Rules)
			continue
		}
		for _, ce := range r.Errors {
			fmt.Fprintln(e.stdout, ce.Text)
		}
		fmt.Fprintf(e.stderr, "%s: %d problems\n", name, len(r.Errors))
	}
	if *asJSON {
		if err := writeJSON(e.stdout, results); err != nil {
			return e.fail(c, err)
		}
	}
	if failed {
		return exitFail
	}
	return exitOK
}

// ruleErrors splits the joined error of rules.Parse into one entry per
// problem. A file that cannot be read is one entry without a line.
func ruleErrors(file string, err error) []*checkError {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*checkError, 0, len(errs))
	for _, err := range errs {
		var re *rules.Error
		if errors.As(err, &re) {
			out = append(out, &checkError{File: re.File, Line: re.Line, Rule: re.Rule, Message: re.Msg, Text: re.Error()})
			continue
		}
		var te *ruletest.Error
		if errors.As(err, &te) {
			out = append(out, &checkError{File: te.File, Line: te.Line, Message: te.Msg, Text: te.Error()})
			continue
		}
		out = append(out, &checkError{File: file, Message: err.Error(), Text: file + ": " + err.Error()})
	}
	return out
}

var rulesTestCmd = &command{
	name:    "rules test",
	args:    "[-v] FILE...",
	summary: "run rule unit tests (YAML, like promtool test rules)",
	help: `Runs the rule unit tests in each FILE: for one customer, a series of
input signals with event times, and the score, tier, firing rules,
contributions and alerts expected at given evaluation times. The tests run
the scorer and the alert policy directly: no NATS, no clock. A failing test
prints the expectation, what was seen against what was wanted, and the
explanation of the score. Exits 1 if any test fails or a file is invalid.
The format is in docs/riskctl.md; configs/rules_test.yaml tests every
default rule.`,
	example: `riskctl rules test configs/rules_test.yaml
configs/rules_test.yaml: 58 tests passed (rules: configs/rules.yaml)`,
	run: runRulesTest,
}

func runRulesTest(e *env, c *command, args []string) int {
	fs := e.flags(c)
	verbose := fs.Bool("v", false, "list passing tests too")
	files, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return e.usageError(c, "name at least one test file")
	}
	result := exitOK
	for _, f := range files {
		suite, err := ruletest.Load(f)
		if err != nil {
			for _, ce := range ruleErrors(f, err) {
				fmt.Fprintln(e.stdout, ce.Text)
			}
			fmt.Fprintf(e.stdout, "%s: FAILED to load\n", f)
			result = exitFail
			continue
		}
		if ruletest.Report(e.stdout, suite, suite.Run(), *verbose) > 0 {
			result = exitFail
		}
	}
	return result
}

var rulesFeaturesCmd = &command{
	name:    "rules features",
	args:    "[--json]",
	summary: "list the features a rule's when and detail can use",
	help: `Prints every CEL variable a rule condition or detail template may use,
with its type and meaning: the same table as docs/rules.md.`,
	example: `riskctl rules features | grep usage.`,
	run:     runRulesFeatures,
}

func runRulesFeatures(e *env, c *command, args []string) int {
	fs := e.flags(c)
	asJSON := fs.Bool("json", false, "print the features as JSON")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.usageError(c, "unexpected argument %q", pos[0])
	}
	feats := rules.Schema()
	if *asJSON {
		type feature struct {
			Name string `json:"name"`
			Type string `json:"type"`
			Doc  string `json:"doc"`
		}
		out := make([]feature, len(feats))
		for i, f := range feats {
			out[i] = feature{f.Name, f.Type, f.Doc}
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return e.fail(c, err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tMEANING")
	for _, f := range feats {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Type, f.Doc)
	}
	if err := tw.Flush(); err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

// writeJSON writes v indented, for --json output meant for people and jq.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}
