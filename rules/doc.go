// Package rules loads and checks Riskwatch rule files and evaluates their
// conditions against one customer's derived features.
//
// A rule file is YAML: tier thresholds, optional per-segment thresholds and a
// list of rules. Each rule's `when` is a CEL expression over the variables
// that Schema lists (tickets.opened_7d, usage.drop_pct, profile.segment, ...),
// type-checked to bool at load time and bounded twice: statically, by the
// estimated cost, and at run time, by a cost limit on every evaluation. CEL
// has no I/O and no unbounded loops, so a rule file cannot do more than read
// the Features the scorer hands it.
//
// Conditions made only of variables, constants, logic, comparisons and
// arithmetic are also compiled to Go closures, which Eval runs instead of
// the CEL interpreter; wherever CEL would report an error (an overflow, a
// division by zero) they step aside and CEL answers, so the results and
// errors are CEL's either way.
//
// The package is pure: no clock, no NATS, no I/O beyond Load reading a file.
// Decay, scores and explanations belong to the scorer, which calls Eval,
// WeightFor and Render.
package rules
